"""Fetching an official file: kept only when its md5 is the published one."""

import hashlib
import io

import pytest

from sksearch.data import download
from sksearch.errors import UserError

PAYLOAD = b"official bytes" * 1000


@pytest.fixture
def served(monkeypatch):
    monkeypatch.setattr(download.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(PAYLOAD))


def test_a_file_with_the_published_md5_is_kept(served, tmp_path):
    path = tmp_path / "train.gz"
    download.fetch("https://example.invalid/train.gz", str(path), hashlib.md5(PAYLOAD).hexdigest(), str(tmp_path))
    assert path.read_bytes() == PAYLOAD and download.md5(str(path)) == hashlib.md5(PAYLOAD).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.gz"]


def test_a_corrupted_download_leaves_nothing(served, tmp_path):
    with pytest.raises(UserError, match="checksum mismatch .* nothing was kept"):
        download.fetch("https://example.invalid/train.gz", str(tmp_path / "train.gz"), "0" * 32, str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_server_says_where_to_put_the_file(monkeypatch, tmp_path):
    def refuse(url, timeout):
        raise OSError("no route to host")

    monkeypatch.setattr(download.urllib.request, "urlopen", refuse)
    with pytest.raises(UserError, match=f"place the file in {tmp_path} instead"):
        download.fetch("https://example.invalid/x", str(tmp_path / "x"), "0" * 32, str(tmp_path))
