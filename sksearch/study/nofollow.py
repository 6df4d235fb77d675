"""Nothing written through a link: the one way sksearch writes a file in a study or output folder
(``atomic_write``), and the check every writing command makes of its folder before it writes
anything (``refuse_links_out``).

A folder can hold links its owner never meant sksearch to write through: an earlier export whose
files link to another export, a copied study whose ``ray/`` links to the original's. Writing
``open(path, "w")`` or ``shutil.copyfile`` there rewrites the link's target, outside the folder
the user named. So a file is written to a fresh temporary file and renamed over its name (a
rename replaces a name, never what a link there points to), after refusing a link in its place;
and a command refuses a folder in which any entry, at any depth, links out of it.

The bottom of the study wing with ``store.py``: it imports nothing else of the package but
``errors``.
"""

from __future__ import annotations

import os
import tempfile
from typing import Callable

from ..errors import UserError


def _inside(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def refuse_link(path: str) -> None:
    """``UserError`` naming ``path`` when it is a symbolic link (dangling ones included)."""
    if os.path.islink(path):
        raise UserError(f"{path}: is a symbolic link (to {os.readlink(path)}); sksearch never writes through a "
                        f"link: remove it, or write to another folder")


def atomic_write(path: str, data: str | bytes | Callable[[str], None]) -> str:
    """Write a file so that a reader sees the old one or the new one, never half, and nothing is
    written through a link: ``data`` is the text or bytes, or a function that writes a given
    temporary path. A link at ``path`` is refused (``UserError``). Returns ``path``."""
    refuse_link(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix="-" + os.path.basename(path))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; a replaced file gets the usual mode
    try:
        if callable(data):
            os.close(fd)
            data(tmp)
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)
    return path


def refuse_links_out(folder: str, option: str | None = None) -> None:
    """Refuse to write into ``folder`` when an entry in it, at any depth, is a symbolic link that
    leads out of it (or nowhere: a file written through a dangling link is made at its target).
    One ``UserError`` line names the first such link; ``option`` (``--to``, ``--out``) says how
    the user named the folder. Links that stay inside are left alone. Runs before anything is
    written, so a refused command changes nothing."""
    if not os.path.isdir(folder):
        return
    real_root = os.path.realpath(folder)
    # os.walk does not enter linked folders (followlinks=False) but lists them among the folders.
    for here, dirs, files in os.walk(folder):
        for name in sorted(dirs + files):
            path = os.path.join(here, name)
            if not os.path.islink(path):
                continue
            real = os.path.realpath(path)
            if _inside(real, real_root) and os.path.lexists(real):
                continue
            where = "outside it" if not _inside(real, real_root) else "to nothing"
            named = f"{option} {folder}" if option else folder
            raise UserError(f"{named}: {path} is a symbolic link to {os.readlink(path)}, {where}; sksearch never "
                            f"writes through a link out of the folder it writes: remove the link, or choose "
                            f"another folder")
