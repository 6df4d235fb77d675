"""Faults of the machine during a command (a full disk, a read-only or unwritable folder), told
in one line with how to go on, instead of a traceback: nothing already written is lost, and
``resume`` (or the same command) continues once the fault is fixed."""

from __future__ import annotations

import errno
import os
from typing import Any

from .study.layout import Layout

_ERRNOS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
           errno.EROFS: "the file system is read-only", errno.EACCES: "a file or folder is not writable",
           errno.EPERM: "a file or folder is not writable", errno.EIO: "the disk reported an I/O error"}
# What SQLite (through SQLAlchemy and Optuna) and libraries that lose the errno say instead.
_WORDS = {"database or disk is full": "the disk is full", "no space left on device": "the disk is full",
          "read-only file system": "the file system is read-only",
          "attempt to write a readonly database": "the study's database is read-only",
          "disk i/o error": "the disk reported an I/O error"}


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen and len(seen) < 20:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__ or getattr(exc, "orig", None)
    return seen


def describe(exc: BaseException) -> str | None:
    """What went wrong, when ``exc`` (or an exception it wraps) is such a fault; None otherwise."""
    for link in _chain(exc):
        if isinstance(link, OSError) and link.errno in _ERRNOS:
            where = f" ({link.filename})" if link.filename else ""
            return f"{_ERRNOS[link.errno]}{where}: {os.strerror(link.errno)}"
        text = str(link).lower()
        for words, what in _WORDS.items():
            if words in text:
                return f"{what} ({words})"
    return None


def how_to_go_on(args: Any) -> str:
    """The sentence after the fault: what is kept and the command that continues."""
    command = getattr(args, "command", None)
    if command == "resume":
        return f"nothing already written is lost; fix it, then continue with `sksearch resume {args.folder}`"
    if command == "run":
        out = getattr(args, "out", None)
        if out and os.path.exists(Layout(out).run_json):
            return f"nothing already written is lost; fix it, then continue with `sksearch resume {out}`"
        return "nothing already written is lost; fix it, then run the same command again"
    if command == "train":
        return "nothing already written is lost; fix it, then run the same command again to resume from the last epoch"
    return "nothing already written is lost; fix it, then run the same command again"
