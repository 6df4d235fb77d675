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
                arr = np.full((size[1], size[0], 3), colour, dtype=np.uint8) + rng.integers(0, 5, (size[1], size[0], 3), dtype=np.uint8)
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
