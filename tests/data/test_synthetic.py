"""The CIFAR-shaped synthetic set: CIFAR's shape and dtype, balanced, reproducible, and a task
that is learnable but not trivial."""

import numpy as np

from sksearch.data.load import load_data, make_batches
from sksearch.data.spec import DataSpec
from sksearch.data.synthetic import make_synthetic


def test_cifar_shaped_balanced_and_a_function_of_its_seed():
    a, b, c = make_synthetic(200, 100, seed=1), make_synthetic(200, 100, seed=1), make_synthetic(200, 100, seed=2)
    assert a.x_train.shape == (200, 3, 32, 32) and a.x_val.shape == (100, 3, 32, 32) and a.x_train.dtype == np.uint8
    assert np.bincount(a.y_train).tolist() == [20] * 10 and a.augment == "crop_flip"
    assert np.array_equal(a.x_train, b.x_train) and not np.array_equal(a.x_train, c.x_train)


def test_learnable_but_not_trivial():
    """A nearest-class-mean classifier on raw pixels: well above chance (10%), far below 100%."""
    d = make_synthetic(2000, 1000, seed=0)
    x = d.x_train.reshape(len(d.x_train), -1).astype(np.float32)
    v = d.x_val.reshape(len(d.x_val), -1).astype(np.float32)
    x -= x.mean(1, keepdims=True)
    v -= v.mean(1, keepdims=True)
    means = np.stack([x[d.y_train == c].mean(0) for c in range(10)])
    accuracy = ((v @ means.T - 0.5 * (means * means).sum(1)).argmax(1) == d.y_val).mean()
    assert 0.3 < accuracy < 0.8


def test_it_is_a_data_set_name_like_the_others():
    spec = DataSpec(name="synthetic_cifar", train_size=100, val_size=50)
    assert (spec.shape().in_channels, spec.shape().input_size, spec.shape().num_classes) == (3, 32, 10)
    batches = make_batches(load_data(spec), "cpu", 32)
    x, y = next(iter(batches.train(1)))
    assert x.shape == (32, 3, 32, 32) and x.dtype.is_floating_point and abs(float(x.mean())) < 1.0
