"""Fetching a data set's official file, checked against its published md5 before it is kept."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import urllib.request

from ..errors import UserError


def md5(path: str) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, path: str, expected_md5: str, root: str) -> None:
    """Download ``url`` to ``path`` through a ``.part`` file that becomes ``path`` only once its
    md5 is ``expected_md5``: a cut or corrupted download leaves nothing to mistake for data."""
    print(f"downloading {url} -> {path}", file=sys.stderr, flush=True)
    tmp = path + ".part"
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as out:
            shutil.copyfileobj(resp, out)
    except OSError as exc:
        raise UserError(f"data.download: could not fetch {url} ({exc}); place the file in {root} instead") from None
    if md5(tmp) != expected_md5:
        os.remove(tmp)
        raise UserError(f"{url}: checksum mismatch (expected md5 {expected_md5}); nothing was kept, try again")
    os.replace(tmp, path)
