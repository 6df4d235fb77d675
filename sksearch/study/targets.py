"""Where a command may write: a new or empty folder, or one that sksearch itself wrote for the
same purpose, never over a user's files unless ``--force`` says so, and never a folder with a
link out of it (``nofollow.py``). Every check runs before anything is written. Where an export
may be written (an earlier export of the same trial, ...) is ``exports/targets.py``."""

from __future__ import annotations

import os

from ..errors import UserError
from .nofollow import refuse_links_out


def check_folder_target(path: str, option: str, ours: bool | None = None, force: bool = False,
                        what: str = "folder", ignore: frozenset[str] = frozenset()) -> None:
    """Refuse to write into ``path`` when it is a file, or a folder holding entries (beyond
    ``ignore``) that is not ``ours`` (an earlier output of the same kind), unless ``force``."""
    if os.path.isfile(path) or (os.path.exists(path) and not os.path.isdir(path)):
        raise UserError(f"{option} {path}: a file is there, not a folder")
    refuse_links_out(path, option)  # with --force too: files written there would land where a link points
    entries = sorted(set(os.listdir(path)) - ignore) if os.path.isdir(path) else []
    if not entries or ours or force:
        return
    raise UserError(f"{option} {path}: the folder is not empty and is not {what} sksearch wrote "
                    f"(it holds {os.path.join(path, entries[0])}); choose a new or empty folder, or pass --force "
                    f"to write over it")


def check_file_target(path: str, option: str) -> None:
    """A file path to write (atomically): its folder exists and it is not a folder itself."""
    if os.path.isdir(path):
        raise UserError(f"{option} {path}: is a folder; give a file path such as {os.path.join(path, 'report.html')}")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UserError(f"{option} {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UserError(f"{option} {path}: the folder {parent} is not writable")


def check_no_links(base: str, path: str) -> None:
    """Refuse to write into ``path``, a folder inside ``base`` that the command did not create,
    when it or a folder between is a symbolic link: files written there would land wherever the
    link points (another study, a user's files)."""
    current = base
    for part in os.path.relpath(path, base).split(os.sep):
        current = os.path.join(current, part)
        if os.path.islink(current):
            raise UserError(f"{current}: is a symbolic link (to {os.readlink(current)}); sksearch writes only into "
                            f"real folders inside {base}: remove the link, or give --out a folder of your own")
