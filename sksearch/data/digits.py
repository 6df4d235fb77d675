"""The embedded default data set: scikit-learn's handwritten digits at many scales.

Each 8x8 digit is enlarged to a random side of ``8 * scale`` pixels and pasted at a random
position on a blank square canvas. Small digits are recognised by small receptive fields
and large ones need wide ones, so the set rewards an SK unit that selects its kernel by
object size, and each sample keeps its scale (and box) so analyses can group by it.
Everything ships with scikit-learn and is generated from a seed: no download.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .arrays import ArrayData
from .spec import DIGIT_PX

NUM_CLASSES = 10


def _sources(seed: int, val_fraction: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per class, the source digits for training and for validation (disjoint writers' samples)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    rng = np.random.RandomState(seed)
    train, val = [], []
    for c in range(NUM_CLASSES):
        idx = np.flatnonzero(digits.target == c)
        rng.shuffle(idx)
        n_val = max(1, int(round(len(idx) * val_fraction)))
        val.append(images[idx[:n_val]])
        train.append(images[idx[n_val:]])
    return train, val


def _resize(pieces: np.ndarray, side: int) -> np.ndarray:
    """Float pieces (N, h, w) in [0, 1] resized to side x side, as uint8."""
    big = F.interpolate(torch.from_numpy(np.ascontiguousarray(pieces))[:, None], size=(side, side), mode="bilinear",
                        align_corners=False)
    return (big.clamp(0, 1) * 255).round().to(torch.uint8).numpy()[:, 0]


def _paste_clutter(images: np.ndarray, labels: np.ndarray, sources: list[np.ndarray], clutter: int,
                   sizes: tuple[int, int], rng: np.random.RandomState) -> None:
    """Add ``clutter`` fragments to every image: a random half (4x4 window) of a digit of
    another class, at a random scale from the same range, pasted (pixel-wise max) anywhere."""
    n, canvas = len(labels), images.shape[-1]
    count = n * clutter
    owners = np.repeat(np.arange(n), clutter)
    classes = (labels[owners] + rng.randint(1, NUM_CLASSES, count)) % NUM_CLASSES
    picks = np.array([rng.randint(0, len(sources[c])) for c in classes])
    rows, cols = rng.randint(0, DIGIT_PX // 2 + 1, count), rng.randint(0, DIGIT_PX // 2 + 1, count)
    half = DIGIT_PX // 2
    pieces = np.stack([sources[c][i][r:r + half, q:q + half] for c, i, r, q in zip(classes, picks, rows, cols)])
    side = np.maximum(1, rng.randint(sizes[0], sizes[1] + 1, count) // 2)
    top = rng.randint(0, canvas - side + 1)
    left = rng.randint(0, canvas - side + 1)
    for s in np.unique(side):
        which = np.flatnonzero(side == s)
        resized = _resize(pieces[which], int(s))
        for k, j in enumerate(which):
            window = images[owners[j], 0, top[j]:top[j] + s, left[j]:left[j] + s]
            np.maximum(window, resized[k], out=window)


def _render(sources: list[np.ndarray], per_class: int, canvas: int, sizes: tuple[int, int],
            rng: np.random.RandomState, clutter: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``per_class`` samples of every class: images (N,1,canvas,canvas) uint8, labels, sizes, boxes."""
    labels = np.repeat(np.arange(NUM_CLASSES), per_class)
    picks = np.concatenate([rng.randint(0, len(sources[c]), per_class) for c in range(NUM_CLASSES)])
    side = rng.randint(sizes[0], sizes[1] + 1, len(labels))
    top = np.array([rng.randint(0, canvas - s + 1) for s in side])
    left = np.array([rng.randint(0, canvas - s + 1) for s in side])
    images = np.zeros((len(labels), 1, canvas, canvas), dtype=np.uint8)
    if clutter:
        _paste_clutter(images, labels, sources, clutter, sizes, rng)
    src = np.stack([sources[c][i] for c, i in zip(labels, picks)])
    for s in np.unique(side):  # one resize call per distinct size
        rows = np.flatnonzero(side == s)
        big = _resize(src[rows], int(s))
        for k, r in enumerate(rows):
            window = images[r, 0, top[r]:top[r] + s, left[r]:left[r] + s]
            np.maximum(window, big[k], out=window)
    order = rng.permutation(len(labels))
    boxes = np.stack([top, left, side], axis=1)
    return images[order], labels[order].astype(np.int64), side[order], boxes[order]


def make_digits(
    train_size: int = 4000,
    val_size: int = 1000,
    canvas: int = 24,
    min_scale: float = 1.0,
    max_scale: float = 2.5,
    seed: int = 0,
    clutter: int = 0,
    name: str = "digits",
    test: bool = False,
) -> ArrayData:
    """The multi-scale digits set; sizes are rounded down to whole samples per class.

    Scales are drawn uniformly over the integer sides round(8*min_scale) .. round(8*max_scale)
    and recorded exactly (side / 8). ``clutter`` adds that many fragments of other digits to
    every image. Validation digits come from source images never used for training. With
    ``test``, a test split of ``val_size`` more renders of those held-out sources, drawn from a
    random stream of its own, so train and val are the same with or without it (the embedded
    set has only 1,797 source digits: val and test share writers, never training's).
    """
    sizes = (int(round(DIGIT_PX * min_scale)), int(round(DIGIT_PX * max_scale)))
    if sizes[0] < 1 or sizes[1] > canvas or sizes[0] > sizes[1]:
        raise ValueError(f"scales {min_scale}..{max_scale} give sides {sizes}, which must fit in 1..{canvas}")
    train_src, val_src = _sources(seed, val_fraction=0.2)
    rng = np.random.RandomState(seed + 1)
    xt, yt, st, bt = _render(train_src, train_size // NUM_CLASSES, canvas, sizes, rng, clutter)
    xv, yv, sv, bv = _render(val_src, val_size // NUM_CLASSES, canvas, sizes, rng, clutter)
    xs = ys = None
    if test:
        xs, ys, _, _ = _render(val_src, val_size // NUM_CLASSES, canvas, sizes, np.random.RandomState(seed + 2),
                               clutter)
    return ArrayData(x_test=xs, y_test=ys,
        name=name, x_train=xt, y_train=yt, x_val=xv, y_val=yv, num_classes=NUM_CLASSES,
        class_names=[str(c) for c in range(NUM_CLASSES)],
        scales_train=(st / DIGIT_PX).astype(np.float32), scales_val=(sv / DIGIT_PX).astype(np.float32),
        boxes_train=bt, boxes_val=bv,
    )
