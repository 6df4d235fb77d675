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


def test_the_first_rounds_digits_are_unchanged():
    """``digits`` names the first round's set, bit for bit (its hash before clutter existed)."""
    import hashlib

    d = make_digits(200, 100, seed=3)
    assert hashlib.sha256(d.x_train.tobytes() + d.x_val.tobytes()).hexdigest()[:16] == "1b0c880e20105e93"


def test_clutter_adds_ink_outside_the_digit_and_keeps_the_digit():
    clean = make_digits(200, 100, canvas=32, min_scale=0.75, max_scale=3.75, seed=1)
    busy = make_digits(200, 100, canvas=32, min_scale=0.75, max_scale=3.75, seed=1, clutter=2)
    outside = []
    for img, (top, left, side) in zip(busy.x_train[:, 0], busy.boxes_train):
        rest = img.copy()
        rest[top:top + side, left:left + side] = 0
        outside.append(rest.max() > 0)
    assert np.mean(outside) > 0.8
    assert np.bincount(busy.y_train).tolist() == np.bincount(clean.y_train).tolist()
    assert busy.x_train.mean() > 1.2 * clean.x_train.mean()


def test_a_digits_name_stands_for_its_settings_and_a_given_knob_wins(tmp_path):
    import yaml

    from sksearch.space import parse
    from tests.conftest import TINY_SPACE

    spec = DataSpec.named("cluttered_digits")
    assert (spec.canvas, spec.min_scale, spec.max_scale, spec.clutter) == (32, 0.75, 3.75, 1)
    assert DataSpec.named("cluttered_digits", canvas=40).canvas == 40 and DataSpec.named("digits") == DataSpec()
    raw = yaml.safe_load(TINY_SPACE)
    raw["data"] = {"name": "cluttered_digits", "train_size": 100, "val_size": 50, "clutter": 3}
    space = parse(raw, "x.yaml")
    assert (space.data.canvas, space.data.clutter, space.data.shape().input_size) == (32, 3, 32)
    data = load_data(space.data)
    assert data.name == "cluttered_digits" and data.x_train.shape[-1] == 32


# Edges of each rule: sides of round(8 * scale) from 0 px up to the canvas and one past it.
SCALE_CASES = [(12, 1.0, 1.5), (12, 1.0, 1.56), (12, 1.0, 1.57), (12, 1.0, 2.5), (8, 1.0, 1.0), (8, 0.06, 1.0),
               (8, 0.0625, 1.0), (8, 0.07, 1.0), (8, 0.2, 0.1), (24, 1.0, 2.5), (24, 0.75, 3.75)]


@pytest.mark.parametrize("canvas,min_scale,max_scale", SCALE_CASES)
def test_the_data_spec_refuses_exactly_the_digits_that_cannot_be_drawn(canvas, min_scale, max_scale):
    """``DataSpec.problem`` is what a space file, --set and an export's record are checked by,
    before anything is written; ``make_digits`` draws every setting it passes and refuses (a
    ValueError and a traceback, the late failure it stands in front of) every one it names."""
    problem = DataSpec.named("digits", train_size=10, val_size=10, canvas=canvas, min_scale=min_scale,
                             max_scale=max_scale).problem()
    if problem is None:
        d = make_digits(10, 10, canvas=canvas, min_scale=min_scale, max_scale=max_scale)
        assert d.x_train.shape == (10, 1, canvas, canvas)
    else:
        key, message = problem
        assert key in ("data.min_scale", "data.max_scale") and "allowed: " in message
        with pytest.raises(ValueError, match="must fit in"):
            make_digits(10, 10, canvas=canvas, min_scale=min_scale, max_scale=max_scale)


def test_the_problems_name_the_key_and_what_is_allowed():
    assert DataSpec.named("digits", canvas=12).problem() == (
        "data.max_scale", "2.5 makes digits of 20 px, larger than the 12 px canvas; allowed: <= 1.5 "
                          "(or data.canvas >= 20)")
    assert DataSpec.named("digits", min_scale=0.05).problem() == (
        "data.min_scale", "0.05 makes digits of 0 px; allowed: > 0.0625")
    assert DataSpec.named("cluttered_digits", canvas=24).problem()[0] == "data.max_scale"
    assert DataSpec.named("digits", train_size=10**7, canvas=24).problem()[0] == "data.train_size"
    assert DataSpec.named("digits").problem() is None and DataSpec.named("cluttered_digits").problem() is None
    # Scales mean nothing to other sets (their canvas is theirs), but the order of the two is kept.
    assert DataSpec.named("mnist", canvas=8).problem() is None
    assert DataSpec.named("mnist", min_scale=2.0, max_scale=1.0).problem()[0] == "data.min_scale"
