import pickle

import numpy as np
import pytest

from sksearch.data.cifar import CIFAR10, CIFAR100, download, load_cifar, write_archive
from sksearch.data.download import md5 as _md5
from sksearch.data.load import load_data
from sksearch.data.spec import DataSpec
from sksearch.errors import UserError


def fake_batches(rng, n_files, n, classes):
    return [(rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8), rng.integers(0, classes, n).tolist())
            for _ in range(n_files)]


@pytest.mark.parametrize("fmt,classes", [(CIFAR10, 10), (CIFAR100, 100)])
def test_download_from_a_url_then_load(tmp_path, fmt, classes):
    rng = np.random.default_rng(0)
    train = fake_batches(rng, len(fmt.train_files), 6, classes)
    test = fake_batches(rng, 1, 4, classes)[0]
    archive = tmp_path / "served" / "archive.tar.gz"
    archive.parent.mkdir()
    write_archive(str(archive), fmt.name, train, test, [f"class{i}" for i in range(classes)])
    root = tmp_path / "root"
    download(fmt, str(root), url=archive.as_uri(), md5=_md5(str(archive)))
    data = load_cifar(fmt.name, str(root))
    assert data.x_train.shape == (6 * len(fmt.train_files), 3, 32, 32)
    assert np.array_equal(data.x_train, np.concatenate([x for x, _ in train]))
    assert data.y_train.tolist() == sum((y for _, y in train), [])
    # The test batch is the test split, never val; load_data holds val out of the training batches.
    assert np.array_equal(data.x_test, test[0]) and data.y_test.tolist() == test[1] and len(data.y_val) == 0
    assert data.num_classes == classes and data.class_names[3] == "class3"
    assert data.augment == "crop_flip"
    assert load_cifar(fmt.name, str(root), test=False).x_test is None


def test_val_is_a_balanced_hold_out_of_the_training_batches(tmp_path):
    rng = np.random.default_rng(0)
    train = [(rng.integers(0, 256, (20, 3, 32, 32), dtype=np.uint8), [i % 10 for i in range(20)]) for _ in range(5)]
    test = (rng.integers(0, 256, (10, 3, 32, 32), dtype=np.uint8), list(range(10)))
    archive = tmp_path / "a.tar.gz"
    write_archive(str(archive), "cifar10", train, test, [f"c{i}" for i in range(10)])
    download(CIFAR10, str(tmp_path), url=archive.as_uri(), md5=_md5(str(archive)))
    data = load_data(DataSpec.named("cifar10", root=str(tmp_path), val_size=30), test=True)
    assert len(data.y_train) == 70 and np.bincount(data.y_val).tolist() == [3] * 10
    every = {bytes(x) for x, _ in train for x in x}
    val = {bytes(x) for x in data.x_val}
    assert val <= every and not val & {bytes(x) for x in data.x_train}
    assert np.array_equal(data.x_test, test[0])
    assert DataSpec.named("cifar10").val_size == 5000
    # A study written before the three splits recorded no val_split: its val was the test batch, and stays so.
    old = DataSpec.named("cifar10", root=str(tmp_path)).to_dict()
    del old["val_split"]
    legacy = DataSpec.from_record(old)
    assert legacy.val_split == "test"
    data = load_data(legacy)
    assert len(data.y_train) == 100 and np.array_equal(data.x_val, test[0])
    assert DataSpec.from_record(DataSpec.named("cifar10").to_dict()).val_split == "holdout"


def test_a_bad_checksum_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    archive = tmp_path / "a.tar.gz"
    write_archive(str(archive), "cifar10", fake_batches(rng, 5, 2, 10), fake_batches(rng, 1, 2, 10)[0], ["x"] * 10)
    with pytest.raises(UserError, match="checksum mismatch"):
        download(CIFAR10, str(tmp_path / "root"), url=archive.as_uri(), md5="0" * 32)


def test_missing_data_names_the_file_and_the_fix(tmp_path):
    with pytest.raises(UserError, match=r"data.root: cifar10 not found: .*data_batch_1 is missing.*download: true"):
        load_cifar("cifar10", str(tmp_path))


def test_an_archive_cannot_run_code(tmp_path):
    folder = tmp_path / CIFAR10.folder
    folder.mkdir()

    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    for f in (*CIFAR10.train_files, CIFAR10.test_file):
        (folder / f).write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(UserError, match="not a cifar10 batch file.*not allowed"):
        load_cifar("cifar10", str(tmp_path))


def batch_files(root, first_data=None, first_labels=None, n=20):
    """CIFAR-10 batch files in ``root`` (20 images each, labels 0..9), the first batch's data
    or labels replaced by ``first_data``/``first_labels``; the first batch's path."""
    rng = np.random.default_rng(0)
    folder = root / CIFAR10.folder
    folder.mkdir(exist_ok=True)
    for i, f in enumerate((*CIFAR10.train_files, CIFAR10.test_file)):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [j % 10 for j in range(n)]
        if i == 0:
            data = data if first_data is None else first_data
            labels = labels if first_labels is None else first_labels
        (folder / f).write_bytes(pickle.dumps({b"data": data, b"labels": labels}, protocol=2))
    return folder / CIFAR10.train_files[0]


@pytest.mark.parametrize("data,labels,words", [
    (None, [200] + [0] * 19, "label 200 out of range; this set has 10 classes (0..9)"),
    (None, [-1] + [0] * 19, "label -1 out of range"),
    (np.zeros((100, 3072), np.uint8), [0] * 50, "100 images but 50 labels"),
    (None, [1.0, 2.5] + [0.0] * 18, "labels of type float64; labels are whole numbers 0..9"),
    (np.full((20, 3072), 0.5), None, "pixels of type float64; CIFAR pixels are whole numbers 0..255"),
    (np.full((20, 3072), 300), None, "pixel value 300; CIFAR pixels are 0..255"),
    (np.zeros((20, 1024), np.uint8), None, "data of shape (20, 1024); a CIFAR batch holds N >= 1 rows of 3,072"),
])
def test_bad_batches_are_refused_at_load_by_file(tmp_path, data, labels, words):
    # Before: labels 200 or -1 failed every trial (Target 200 is out of bounds), 100 images with
    # 50 labels were an IndexError, and float labels and pixels were cut or wrapped silently.
    first = batch_files(tmp_path, data, labels)
    with pytest.raises(UserError) as err:
        load_data(DataSpec.named("cifar10", root=str(tmp_path), val_size=20))
    assert str(err.value).startswith(f"{first}: ") and words in str(err.value), str(err.value)


def test_good_batches_of_whole_numbers_still_load(tmp_path):
    batch_files(tmp_path, np.full((20, 3072), 255, np.int64), np.arange(20) % 10)
    data = load_data(DataSpec.named("cifar10", root=str(tmp_path), val_size=20))
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64 and len(data.y_train) + 20 == 100
    assert int(data.x_train.max()) == 255
