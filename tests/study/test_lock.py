"""The folder lock never opens a link: a ``.sksearch.lock`` planted as a link is refused, and
the file it points to keeps every byte."""

from __future__ import annotations

import os

import pytest

from sksearch.errors import UserError
from sksearch.study.lock import LOCK_FILE, FolderLock, is_held


@pytest.mark.parametrize("where", ["outside", "inside"])
def test_a_lock_file_that_is_a_link_is_refused_and_its_target_kept(tmp_path, where):
    folder = tmp_path / "study"
    folder.mkdir()
    target = (tmp_path if where == "outside" else folder) / "precious.txt"
    target.write_bytes(b"12345 not a lock\n")
    os.symlink(target, folder / LOCK_FILE)
    assert not is_held(str(folder))
    with pytest.raises(UserError, match=f"{folder / LOCK_FILE}: is a symbolic link"), FolderLock(str(folder)):
        pass
    assert target.read_bytes() == b"12345 not a lock\n" and os.path.islink(folder / LOCK_FILE)


def test_a_dangling_link_makes_no_file_at_its_target(tmp_path):
    os.symlink(tmp_path / "made", tmp_path / LOCK_FILE)
    with pytest.raises(UserError, match="is a symbolic link"), FolderLock(str(tmp_path)):
        pass
    assert not (tmp_path / "made").exists()


def test_the_lock_still_locks(tmp_path):
    with FolderLock(str(tmp_path)) as lock:
        assert lock.created and is_held(str(tmp_path))
        assert (tmp_path / LOCK_FILE).read_text() == str(os.getpid())
    assert not is_held(str(tmp_path))
