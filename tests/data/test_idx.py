"""IDX sets (Fashion-MNIST, MNIST, KMNIST): the reader, its refusals, the three splits."""

import gzip
import os
import struct
import tracemalloc

import numpy as np
import pytest

from sksearch.data import idx
from sksearch.data.download import md5 as _md5
from sksearch.data.idx import FASHION_MNIST, FILE_NAMES, IMAGES_MAGIC, LABELS_MAGIC, read_idx, write_idx, write_idx_set
from sksearch.data.load import load_data
from sksearch.data.spec import DataSpec
from sksearch.errors import UserError

REAL = idx.DEBIAN_FASHION_ROOT
needs_real = pytest.mark.skipif(not all(os.path.exists(os.path.join(REAL, f)) for f in FILE_NAMES),
                                reason=f"Fashion-MNIST is not installed in {REAL} "
                                       "(apt-get install dataset-fashion-mnist)")


def fake_set(root, n_train=60, n_test=20, gz=True, seed=0):
    """A small IDX set in ``root``: each image's first pixel is its label, so splits are checkable."""
    rng = np.random.default_rng(seed)
    splits = []
    for n in (n_train, n_test):
        y = np.arange(n) % 10
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        x[:, 0, 0] = y
        splits.append((x, y))
    write_idx_set(str(root), splits[0], splits[1], gz=gz)
    return splits


@pytest.mark.parametrize("gz", [True, False])
def test_round_trip_gzipped_or_not(tmp_path, gz):
    (xt, yt), (xs, ys) = fake_set(tmp_path, gz=gz)
    data = load_data(DataSpec.named("fashion_mnist", root=str(tmp_path), val_size=20), test=True)
    assert data.x_train.shape == (40, 1, 28, 28) and data.x_val.shape == (20, 1, 28, 28)
    assert np.array_equal(data.x_test[:, 0], xs) and data.y_test.tolist() == ys.tolist()
    # val is a class-balanced hold-out of the training split, disjoint from what trains.
    assert np.bincount(data.y_val).tolist() == [2] * 10
    train_ids = {bytes(x) for x in data.x_train}
    assert not any(bytes(x) in train_ids for x in data.x_val)
    assert sorted(bytes(x) for x in np.concatenate([data.x_train, data.x_val])[:, 0]) == sorted(bytes(x) for x in xt)
    assert data.class_names[0] == "T-shirt/top" and data.num_classes == 10 and data.in_channels == 1
    assert data.augment == "crop" and data.pad_mode == "constant"


def test_the_hold_out_is_seeded_and_limits_apply_after_it(tmp_path):
    fake_set(tmp_path, n_train=200)
    a = load_data(DataSpec.named("mnist", root=str(tmp_path), val_size=50, seed=1))
    b = load_data(DataSpec.named("mnist", root=str(tmp_path), val_size=50, seed=1))
    c = load_data(DataSpec.named("mnist", root=str(tmp_path), val_size=50, seed=2))
    assert np.array_equal(a.x_val, b.x_val) and not np.array_equal(a.x_val, c.x_val)
    assert a.x_test is None and a.augment == "crop"  # a mirrored digit is another digit
    small = load_data(DataSpec.named("mnist", root=str(tmp_path), val_size=50, seed=1, train_limit=30, val_limit=10))
    assert len(small.y_train) == 30 and len(small.y_val) == 10
    assert {bytes(x) for x in small.x_val} <= {bytes(x) for x in a.x_val}
    assert DataSpec.named("fashion_mnist").val_size == 6000  # 10% of the 60,000 training images


def test_a_search_never_opens_the_test_files(tmp_path, monkeypatch):
    fake_set(tmp_path)
    opened = []
    real = idx.read_idx
    monkeypatch.setattr(idx, "read_idx", lambda path, magic: opened.append(os.path.basename(path)) or real(path, magic))
    load_data(DataSpec.named("fashion_mnist", root=str(tmp_path), val_size=20))
    assert opened == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]


def test_missing_files_name_the_folder_the_files_and_both_fixes(tmp_path):
    with pytest.raises(UserError) as err:
        load_data(DataSpec.named("fashion_mnist", root=str(tmp_path)))
    message = str(err.value)
    assert str(tmp_path) in message and all(f in message for f in FILE_NAMES)
    assert "apt-get install dataset-fashion-mnist" in message and "data.download: true" in message
    fake_set(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    # A missing test file is refused up front, even though a search would not read it.
    with pytest.raises(UserError, match=r"t10k-labels-idx1-ubyte.gz missing"):
        load_data(DataSpec.named("fashion_mnist", root=str(tmp_path), val_size=20))


def test_malformed_files_are_refused_by_name(tmp_path):
    fake_set(tmp_path)
    images = tmp_path / "train-images-idx3-ubyte.gz"
    write_idx(str(images), np.zeros((60, 28, 28), np.uint8), magic=LABELS_MAGIC)
    with pytest.raises(UserError, match=r"train-images-idx3-ubyte.gz: not an IDX images file \(magic number "
                                        r"0x00000801, expected 0x00000803\)"):
        load_data(DataSpec.named("fashion_mnist", root=str(tmp_path), val_size=20))
    write_idx(str(images), np.zeros((60, 28, 28), np.uint8), truncate=100)
    with pytest.raises(UserError, match=r"truncated: 46,940 bytes of data, its header \(60 x 28 x 28\) says 47,040"):
        load_data(DataSpec.named("fashion_mnist", root=str(tmp_path), val_size=20))
    write_idx(str(images), np.zeros((50, 28, 28), np.uint8))
    with pytest.raises(UserError, match="holds 50 images but .*train-labels-idx1-ubyte.gz holds 60 labels"):
        load_data(DataSpec.named("fashion_mnist", root=str(tmp_path), val_size=20))
    images.write_bytes(gzip.compress(b"\x00\x00\x08\x03\x00\x00")[:-6])  # a cut gzip stream
    with pytest.raises(UserError, match="unreadable.*truncated or corrupt"):
        load_data(DataSpec.named("fashion_mnist", root=str(tmp_path), val_size=20))


def test_bad_val_sizes_name_the_key(tmp_path):
    fake_set(tmp_path)
    with pytest.raises(UserError, match=r"data.val_size: 60 of fashion_mnist's 60 training images; allowed: 10..50"):
        load_data(DataSpec.named("fashion_mnist", root=str(tmp_path), val_size=60))


def test_download_checks_the_md5(tmp_path):
    served = tmp_path / "served"
    fake_set(served)
    md5 = {name: _md5(str(served / name)) for name in FILE_NAMES}
    idx.download(FASHION_MNIST, str(tmp_path / "root"), base_url=served.as_uri() + "/", md5=md5)
    assert sorted(os.listdir(tmp_path / "root")) == sorted(FILE_NAMES)
    with pytest.raises(UserError, match="checksum mismatch"):
        idx.download(FASHION_MNIST, str(tmp_path / "other"), base_url=served.as_uri() + "/",
                     md5={**md5, FILE_NAMES[0]: "0" * 32})
    assert not os.listdir(tmp_path / "other")  # nothing half-checked is kept


def test_read_idx_gives_the_header_shape(tmp_path):
    path = str(tmp_path / "labels")
    write_idx(path, np.array([3, 1, 4], np.uint8))
    assert read_idx(path, LABELS_MAGIC).tolist() == [3, 1, 4]
    with pytest.raises(UserError, match="not an IDX images file"):
        read_idx(path, IMAGES_MAGIC)


def header_only(path, magic, *dims, data=b""):
    """An IDX file (gzipped) whose header gives ``dims`` and whose data is ``data``."""
    with gzip.open(path, "wb") as fh:
        fh.write(struct.pack(f">I{len(dims)}I", magic, *dims) + data)


@pytest.mark.parametrize("dims,words", [
    ((2**31, 2**31, 4), "2147483648x4 px images; fashion_mnist images are 28x28"),  # 2^64 bytes: 0 in int64
    ((2000, 0, 0), "0x0 px images"),
    ((60, 1, 1), "1x1 px images"),
    ((60, 32, 32), "32x32 px images"),
])
def test_image_sizes_other_than_28_px_are_refused_by_the_header(tmp_path, dims, words):
    # Before, 1x1 and 32x32 images were read, data.json said so, and every trial was costed at
    # 28 px; 2000 x 0 x 0 failed in every trial's first conv; 2^31 x 2^31 x 4 was a ValueError.
    fake_set(tmp_path)
    images = tmp_path / "train-images-idx3-ubyte.gz"
    n, h, w = dims
    header_only(images, IMAGES_MAGIC, *dims, data=bytes(n * h * w) if n * h * w < 10**6 else b"")
    with pytest.raises(UserError) as err:
        load_data(DataSpec.named("fashion_mnist", root=str(tmp_path), val_size=20))
    assert str(images) in str(err.value) and words in str(err.value)


def test_a_header_too_large_for_memory_is_refused_before_reading(tmp_path):
    path = tmp_path / "labels.gz"
    header_only(path, IMAGES_MAGIC, 2**31, 2**31, 4)
    with pytest.raises(UserError, match=r"labels.gz: its header \(2147483648 x 2147483648 x 4\) says "
                                        r"18,446,744,073,709,551,616 bytes of data; sksearch reads IDX files of up "
                                        r"to 1,073,741,824 bytes"):
        read_idx(str(path), IMAGES_MAGIC)
    header_only(path, IMAGES_MAGIC, 1_500_000, 28, 28)  # 1.2 GB announced; the reader had read what came
    with pytest.raises(UserError, match="says 1,176,000,000 bytes of data; sksearch reads IDX files of up to"):
        read_idx(str(path), IMAGES_MAGIC)


def test_only_the_bytes_the_header_gives_are_read(tmp_path):
    # A few kilobytes of gzip that unpack to 50 MB of zeros after a valid 100-image header: the
    # reader stops one byte past the images (and refuses the rest) instead of holding all of it.
    path = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(struct.pack(">IIII", IMAGES_MAGIC, 100, 28, 28))
        for _ in range(50):
            fh.write(bytes(2**20))
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(UserError, match=r"more data than its header \(100 x 28 x 28\) says: 78,400 bytes"):
            read_idx(str(path), IMAGES_MAGIC)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 * 2**20, peak


def test_a_damaged_crc_is_still_found(tmp_path):
    # Reading only the announced bytes must not skip the gzip CRC check at the stream's end.
    path = tmp_path / "labels.gz"
    write_idx(str(path), np.array([3, 1, 4], np.uint8))
    blob = bytearray(path.read_bytes())
    blob[-8] ^= 0xFF  # the CRC32 in the gzip trailer
    path.write_bytes(bytes(blob))
    with pytest.raises(UserError, match="labels.gz: unreadable .*CRC"):
        read_idx(str(path), LABELS_MAGIC)


@needs_real
def test_the_installed_fashion_mnist():
    data = load_data(DataSpec.named("fashion_mnist", train_limit=500, val_limit=100), test=True)
    assert data.x_train.shape == (500, 1, 28, 28) and data.x_val.shape == (100, 1, 28, 28)
    assert data.x_test.shape == (10000, 1, 28, 28) and np.bincount(data.y_test).tolist() == [1000] * 10
    assert data.x_train.dtype == np.uint8 and 60 < data.x_test.mean() < 80  # Fashion-MNIST's mean pixel is ~73


def test_data_of_another_size_than_the_networks_take_is_refused(tmp_path, monkeypatch):
    # The networks, their MACs and budgets are sized by DataSpec.shape before any image is seen:
    # data of another size (from any reader) is refused rather than costed at the wrong size.
    from sksearch.data import load
    from sksearch.data.arrays import ArrayData

    x, y = np.zeros((40, 1, 32, 32), np.uint8), np.arange(40) % 10
    monkeypatch.setattr(load, "load_idx", lambda *a, **k: ArrayData("mnist", x, y, x[:0], y[:0], 10))
    with pytest.raises(UserError, match="data: mnist's train images are 1 x 32 x 32; its networks take 1 x 28 x 28"):
        load_data(DataSpec.named("mnist", root=str(tmp_path), val_size=10))
