"""CIFAR-shaped synthetic images (3 x 32 x 32, 10 classes), generated offline in a second.

For speed measurements where CIFAR cannot be downloaded (an offline GPU machine): the images
have CIFAR's shape, dtype and size, and the task is learnable but not trivial. Each class is
a fixed pattern of coloured Gaussian blobs; a sample is its class's pattern, shifted by up to
``MAX_SHIFT`` px, at a random contrast, on a random background colour, with pixel noise. The
accuracies it gives say nothing about CIFAR: use it for throughput, memory and harness
figures only.
"""

from __future__ import annotations

import numpy as np

from .arrays import ArrayData

SIDE, CHANNELS, CLASSES = 32, 3, 10
BLOBS, MAX_SHIFT, NOISE = 4, 4, 40.0


def _patterns(rng: np.random.RandomState) -> np.ndarray:
    """(CLASSES, 3, SIDE, SIDE) float patterns in [-1, 1]."""
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    out = np.zeros((CLASSES, CHANNELS, SIDE, SIDE), np.float32)
    for c in range(CLASSES):
        for _ in range(BLOBS):
            cy, cx = rng.uniform(4, SIDE - 4, 2)
            sigma = rng.uniform(2.0, 6.0)
            colour = rng.uniform(-1, 1, CHANNELS).astype(np.float32)
            blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
            out[c] += colour[:, None, None] * blob
    return np.clip(out, -1, 1)


def _render(patterns: np.ndarray, per_class: int, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    labels = np.repeat(np.arange(CLASSES), per_class)
    n = len(labels)
    images = np.empty((n, CHANNELS, SIDE, SIDE), np.uint8)
    shifts = rng.randint(-MAX_SHIFT, MAX_SHIFT + 1, (n, 2))
    contrast = rng.uniform(40, 110, n).astype(np.float32)
    background = rng.uniform(60, 196, (n, CHANNELS)).astype(np.float32)
    for start in range(0, n, 4096):  # chunks keep the float copy small
        idx = np.arange(start, min(n, start + 4096))
        x = patterns[labels[idx]]
        for k, i in enumerate(idx):
            x[k] = np.roll(x[k], tuple(shifts[i]), axis=(1, 2))
        x = x * contrast[idx, None, None, None] + background[idx, :, None, None]
        x += rng.normal(0, NOISE, x.shape).astype(np.float32)
        images[idx] = np.clip(x, 0, 255).astype(np.uint8)
    order = rng.permutation(n)
    return images[order], labels[order].astype(np.int64)


def make_synthetic(train_size: int = 50000, val_size: int = 10000, seed: int = 0, test: bool = False) -> ArrayData:
    """A pure function of its arguments; sizes are rounded down to whole samples per class.
    With ``test``, ``val_size`` more samples from a random stream of their own (train and val
    are the same either way)."""
    rng = np.random.RandomState(seed)
    patterns = _patterns(rng)
    xt, yt = _render(patterns, train_size // CLASSES, rng)
    xv, yv = _render(patterns, val_size // CLASSES, rng)
    xs, ys = _render(patterns, val_size // CLASSES, np.random.RandomState(seed + 1)) if test else (None, None)
    return ArrayData(x_test=xs, y_test=ys, name="synthetic_cifar", x_train=xt, y_train=yt, x_val=xv, y_val=yv,
                     num_classes=CLASSES,
                     class_names=[f"pattern_{c}" for c in range(CLASSES)], augment="crop_flip")
