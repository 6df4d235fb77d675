import io
import os

import numpy as np
import pytest
import torch
from PIL import Image

from sksearch.data.load import load_data, make_batches
from sksearch.data.spec import DataSpec
from sksearch.errors import UserError


@pytest.fixture
def image_root(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 5), ("val", 2)):
        for cls, colour in (("cat", 30), ("dog", 220)):
            d = tmp_path / split / cls
            d.mkdir(parents=True)
            for i in range(n):
                size = (40 + 7 * i, 30 + 5 * i)
                arr = (np.full((size[1], size[0], 3), colour, dtype=np.uint8)
                       + rng.integers(0, 5, (size[1], size[0], 3), dtype=np.uint8))
                Image.fromarray(arr).save(d / f"{i}.{'png' if i % 2 else 'jpg'}")
            (d / "notes.txt").write_text("not an image")
    return tmp_path


def test_scan_and_decode(image_root):
    data = load_data(DataSpec(name="imagefolder", root=str(image_root), image_size=16))
    assert data.class_names == ["cat", "dog"] and data.num_classes == 2
    assert len(data.train) == 10 and len(data.val) == 4
    x, y = data.val[0]
    assert x.shape == (3, 16, 16) and x.dtype == torch.uint8 and y == 0
    x, y = data.train[7]
    assert x.shape == (3, 16, 16) and y == 1 and abs(float(x.float().mean()) - 222) < 5


def test_limits_take_balanced_subsets_of_the_files(image_root):
    data = load_data(DataSpec(name="imagefolder", root=str(image_root), image_size=16, train_limit=4, val_limit=2))
    assert sorted(data.train.labels) == [0, 0, 1, 1] and sorted(data.val.labels) == [0, 1]


def test_loader_batches_are_normalised_on_the_device(image_root):
    data = load_data(DataSpec(name="imagefolder", root=str(image_root), image_size=16))
    batches = make_batches(data, "cpu", batch_size=4, workers=0)
    xs = list(batches.train(1))
    assert len(xs) == 2 and all(x.shape == (4, 3, 16, 16) and x.dtype == torch.float32 for x, _ in xs)
    val = list(batches.val())
    assert sum(len(y) for _, y in val) == 4
    # ImageNet normalisation: a dark cat (30/255) maps well below zero.
    assert val[0][0][0].mean() < -1


def test_bad_roots_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="is not a folder"):
        load_data(DataSpec(name="imagefolder", root=str(tmp_path)))
    (tmp_path / "train" / "a").mkdir(parents=True)
    (tmp_path / "val" / "a").mkdir(parents=True)
    with pytest.raises(UserError, match="no images"):
        load_data(DataSpec(name="imagefolder", root=str(tmp_path)))


def png_header(width, height):
    """A PNG of ``width`` x ``height`` px as far as its header goes (no pixel data): what
    Pillow's open reads, without writing gigabytes."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def small_root(tmp_path):
    """train/ and val/ with two classes of two good 8 px images each."""
    for split in ("train", "val"):
        for cls in ("a", "b"):
            d = tmp_path / split / cls
            d.mkdir(parents=True)
            for i in range(2):
                Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(d / f"{i}.{'png' if i else 'jpg'}")
    return tmp_path


def whole(**save):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, **save)
    return buf.getvalue()


@pytest.mark.parametrize("name,content,words", [
    ("text.png", b"not an image, whatever its name says\n", "is not an image Pillow can read"),
    ("empty.jpg", b"", "is not an image Pillow can read"),
    ("cut.png", whole(format="PNG")[:-400], "a truncated PNG image (its end is missing)"),
    ("cut.jpg", whole(format="JPEG", quality=95)[:-300], "a truncated JPEG image (its end is missing)"),
    ("huge.png", png_header(20000, 20000), "has 400,000,000 pixels; images of up to 89,478,485 pixels are read"),
    ("large.png", png_header(10000, 10000), "is 10000x10000 px; images of up to 89,478,485 pixels are read"),
])
def test_every_image_is_checked_at_load_by_its_header_and_end(tmp_path, name, content, words):
    # Before, these were found when an epoch reached them, or never (a 1-epoch run whose
    # drop_last skipped the file "succeeded"), and the 20000x20000 PNG was decoded.
    root = small_root(tmp_path)
    bad = root / "train" / "b" / name
    bad.write_bytes(content)
    with pytest.raises(UserError) as err:
        load_data(DataSpec(name="imagefolder", root=str(root), image_size=8))
    assert f"data.root: {bad}" in str(err.value) and words in str(err.value), str(err.value)


def test_whole_images_of_every_kind_pass(tmp_path):
    root = small_root(tmp_path)
    for name, save in (("p.jpg", {"format": "JPEG", "progressive": True}), ("w.webp", {"format": "WEBP"}),
                       ("g.gif", {"format": "GIF"}), ("i.png", {"format": "PNG"}), ("b.bmp", {"format": "BMP"})):
        (root / "val" / "a" / name).write_bytes(whole(**save))
    data = load_data(DataSpec(name="imagefolder", root=str(root), image_size=8))
    assert len(data.val) == 9 and data.val[0][0].shape == (3, 8, 8)


def test_a_fifo_or_a_dangling_link_is_named_not_waited_on(tmp_path):
    root = small_root(tmp_path)
    fifo = root / "val" / "a" / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match=f"data.root: {fifo} is not a regular file"):
        load_data(DataSpec(name="imagefolder", root=str(root), image_size=8))
    fifo.unlink()
    gone = root / "val" / "a" / "gone.png"
    os.symlink(root / "nowhere.png", gone)
    with pytest.raises(UserError, match=f"data.root: {gone}: unreadable image"):
        load_data(DataSpec(name="imagefolder", root=str(root), image_size=8, follow_symlinks=True))


def test_a_class_folder_without_images_is_refused(tmp_path):
    # Before, an empty class became a class that no image trains.
    root = small_root(tmp_path)
    (root / "train" / "c").mkdir()
    (root / "train" / "c" / "readme.txt").write_text("nothing here")
    (root / "val" / "c").mkdir()
    with pytest.raises(UserError, match=f"data.root: class folder {root}/train/c holds no images"):
        load_data(DataSpec(name="imagefolder", root=str(root), image_size=8))


def test_a_link_loop_is_refused_not_walked_forever(tmp_path):
    root = small_root(tmp_path)
    os.symlink(root / "train" / "a", root / "train" / "a" / "again")
    with pytest.raises(UserError, match=f"data.root: {root}/train/a/again is the folder {root}/train/a again"):
        load_data(DataSpec(name="imagefolder", root=str(root), image_size=8, follow_symlinks=True))


def test_a_bad_image_leaves_no_study_folder(tmp_path):
    # End to end: the run stops at load, exit 2, one line naming the file, before --out exists.
    from tests.conftest import TINY_SPACE, run_cli, write_space

    root = small_root(tmp_path / "images")
    bad = root / "train" / "a" / "text.png"
    bad.write_text("not an image")
    space = write_space(tmp_path, TINY_SPACE, data=f"data: {{name: imagefolder, root: {root}, image_size: 8}}")
    out = tmp_path / "out"
    proc = run_cli("run", str(space), "--out", str(out), "--trials", "1")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("sksearch: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert str(bad) in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_an_unreadable_class_folder_is_named(tmp_path, monkeypatch):
    # The suite runs as root, for whom no mode makes a folder unreadable: the walk's listing fails instead.
    root = small_root(tmp_path)
    locked = root / "train" / "b" / "locked"
    locked.mkdir()
    real = os.scandir

    def scandir(path="."):
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(locked))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(UserError, match=f"data.root: {locked}: unreadable folder \\(Permission denied\\)"):
        load_data(DataSpec(name="imagefolder", root=str(root), image_size=8))
