import numpy as np
import pytest

from sksearch.data.digits import make_digits
from sksearch.data.load import load_data
from sksearch.data.spec import DataSpec


def test_same_seed_same_set_other_seed_other_set():
    a, b = make_digits(200, 100, seed=3), make_digits(200, 100, seed=3)
    c = make_digits(200, 100, seed=4)
    for name in ("x_train", "y_train", "x_val", "y_val", "scales_train", "scales_val"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.x_train, c.x_train)


def test_balanced_classes_and_shapes():
    d = make_digits(300, 120, canvas=28)
    assert d.x_train.shape == (300, 1, 28, 28) and d.x_val.shape == (120, 1, 28, 28)
    assert d.x_train.dtype == np.uint8 and d.y_train.dtype == np.int64
    assert np.bincount(d.y_train).tolist() == [30] * 10
    assert np.bincount(d.y_val).tolist() == [12] * 10


def test_recorded_scales_match_the_drawn_digits():
    d = make_digits(400, 100, canvas=24, min_scale=1.0, max_scale=2.5)
    sides = np.round(d.scales_train * 8).astype(int)
    assert sides.min() >= 8 and sides.max() <= 20
    assert len(np.unique(sides)) >= 10  # the whole range is used
    for img, (top, left, side), s in zip(d.x_train[:, 0], d.boxes_train, sides):
        assert side == s
        outside = img.copy()
        outside[top:top + side, left:left + side] = 0
        assert outside.max() == 0, "ink outside the recorded box"
        rows = np.flatnonzero(img.max(1) > 32)
        # The handwritten digits fill their 8x8 frame's height, so the ink spans most of the box.
        assert rows.max() - rows.min() + 1 >= 0.6 * side


def test_validation_uses_other_source_digits():
    # Scale a digit back down to 8x8: validation images must not be copies of training ones.
    d = make_digits(400, 200, canvas=8, min_scale=1.0, max_scale=1.0)
    train = {img.tobytes() for img in d.x_train}
    assert not any(img.tobytes() in train for img in d.x_val)


def test_limits_take_balanced_subsets():
    d = load_data(DataSpec(train_size=400, val_size=100, train_limit=50, val_limit=20))
    assert np.bincount(d.y_train).tolist() == [5] * 10 and len(d.scales_train) == 50
    assert np.bincount(d.y_val).tolist() == [2] * 10


def test_scales_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match="fit"):
        make_digits(100, 100, canvas=16, max_scale=2.5)
