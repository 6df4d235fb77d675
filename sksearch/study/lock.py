"""One search at a time in a study folder: ``run`` and ``resume`` hold an OS file lock on
``.sksearch.lock`` for their whole life. The kernel drops the lock when the process ends, even
by SIGKILL, so a crashed search never leaves the folder locked. The lock file is opened with
``O_NOFOLLOW``: a link in its place (a hostile or careless copy of a folder) is refused, never
opened, so the file it points to is never truncated."""

from __future__ import annotations

import errno
import fcntl
import os

from ..errors import UserError

LOCK_FILE = ".sksearch.lock"


def is_held(root: str) -> bool:
    """Whether a search holds the folder's lock now (this process's own included). Opens the
    lock file read-only and asks for a shared lock, which an exclusive holder refuses."""
    try:
        fd = os.open(os.path.join(root, LOCK_FILE), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        # No lock file: no search ever held it; a link there: FolderLock refuses it, so no
        # search holds it either (or it cannot be read: say free).
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the shared lock if we got it
    return False


class FolderLock:
    """``with FolderLock(root):`` holds the study folder's lock, or raises ``UserError`` naming
    the process that holds it."""

    def __init__(self, root: str) -> None:
        self.path = os.path.join(root, LOCK_FILE)
        self.created = False  # whether this lock made the lock file (a failed run removes it)
        self._fd: int | None = None

    def __enter__(self) -> "FolderLock":
        self.created = not os.path.lexists(self.path)
        try:
            # O_NONBLOCK: a FIFO planted here must not hang the open.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            raise UserError(f"{self.path}: is a symbolic link (to {os.readlink(self.path)}); the lock file must be "
                            f"sksearch's own: remove the link and run the command again") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise UserError(f"{os.path.dirname(self.path)}: another sksearch command (a search or a training) is "
                            f"running in this folder (pid {holder}); wait for it to end, or stop it first") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
