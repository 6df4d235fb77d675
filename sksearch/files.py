"""Files that sksearch reads from a folder it was given: only regular files, never more bytes
than their kind may hold.

A study or export folder may be damaged or hostile: a ``run.json`` that is a link to
``/dev/zero`` would be read until memory runs out, and a ``data.json`` that is a FIFO would
block the read forever. ``read_limited`` opens with ``O_NONBLOCK`` (opening a FIFO then returns
at once, where a plain open waits for a writer), checks the opened file is a regular one, and
reads at most ``limit + 1`` bytes; ``check_regular`` is the same check for a file read by
another library (safetensors weights are memory-mapped, CSV and parquet tables are parsed).
"""

from __future__ import annotations

import os
import stat

from .errors import UserError

# The limits, documented in docs/files.md. A JSON file sksearch writes is a page of settings;
# a searcher state or a trial's result.json grows with the trials but stays far below this.
JSON_LIMIT = 16 * 2**20  # 16 MiB
# Files that grow with a study's trials or a schedule's epochs: a searcher's saved state (one
# entry per trial, at most 10^6 trials), a trial's result.json and train_log.csv (a line per
# epoch, at most 10,000 epochs).
LOG_LIMIT = 256 * 2**20  # 256 MiB


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _refuse_irregular(path: str, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise UserError(f"{path}: {_kind(mode)}, not a regular file; sksearch reads only regular files")


def check_regular(path: str) -> None:
    """``UserError`` naming ``path`` unless it is (or links to) a regular file; a missing file
    passes (its reader says it is missing)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None
    _refuse_irregular(path, mode)


def read_limited(path: str, limit: int) -> bytes:
    """The bytes of the regular file ``path``; ``UserError`` naming it when it cannot be
    opened, is not a regular file (a FIFO, a device, a directory) or holds more than ``limit``
    bytes. ``FileNotFoundError`` passes through for callers that treat a missing file apart."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)  # of what was opened: a link swapped after a stat cannot slip past
        _refuse_irregular(path, info.st_mode)
        if info.st_size > limit:
            raise UserError(f"{path}: {info.st_size:,} bytes, more than the {limit:,} bytes sksearch reads of it")
        chunks, size = [], 0
        while size <= limit:  # a file that grows while read (or says 0 bytes) still stops here
            chunk = os.read(fd, min(2**20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if size > limit:
        raise UserError(f"{path}: more than the {limit:,} bytes sksearch reads of it")
    return b"".join(chunks)
