"""Read a data set that a ``DataSpec`` names, describe what a model trained on it expects, and
put it on a device as batches."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..errors import UserError
from .arrays import ArrayData
from .batches import DeviceBatches, LoaderBatches
from .cifar import load_cifar
from .digits import make_digits
from .idx import default_root, load_idx
from .imagefolder import IMAGENET_MEAN, IMAGENET_STD, ImageFolder, check_images, scan
from .spec import AUGMENTS, DataSpec
from .synthetic import make_synthetic


@dataclass
class FolderData:
    """An image folder, not in memory: paths and labels per split. ``test`` is ``None`` unless
    asked for, or when the folder has no ``test/`` (``test_note`` says which)."""

    name: str
    train: ImageFolder
    val: ImageFolder
    num_classes: int
    class_names: list[str]
    test: ImageFolder | None = None
    test_note: str | None = None
    erase: float = 0.0          # random erasing, as ArrayData's
    erase_min: float = 0.02
    erase_max: float = 0.25

    @property
    def in_channels(self) -> int:
        return 3

    @property
    def input_size(self) -> int:
        return self.train.size


def balanced_subset(y: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Indices of at most ``limit`` samples, as equal per class as the counts allow, in order."""
    rng = np.random.RandomState(seed)
    classes = np.unique(y)
    per_class = max(1, limit // len(classes))
    keep = []
    for c in classes:
        idx = np.flatnonzero(y == c)
        keep.append(np.sort(rng.permutation(idx)[:per_class]))
    return np.sort(np.concatenate(keep))


def _subset(data: ArrayData, split: str, limit: int | None, seed: int) -> None:
    if limit is None:
        return
    y = getattr(data, f"y_{split}")
    if limit >= len(y):
        return
    idx = balanced_subset(y, limit, seed)
    for attr in ("x", "y", "scales", "boxes"):
        arr = getattr(data, f"{attr}_{split}")
        if arr is not None:
            setattr(data, f"{attr}_{split}", arr[idx])


def _subset_paths(paths: list[str], labels: list[int], limit: int | None, seed: int) -> tuple[list[str], list[int]]:
    if limit is None or limit >= len(paths):
        return paths, labels
    idx = balanced_subset(np.asarray(labels), limit, seed)
    return [paths[i] for i in idx], [labels[i] for i in idx]


def _hold_out(data: ArrayData, spec: DataSpec) -> None:
    """``val`` for a set that ships a test split: with ``holdout``, ``val_size`` images held
    out of the training split, equal per class, chosen by ``seed`` (the rest train); with
    ``test`` (a study written before the three splits), the test split itself, as it was."""
    if spec.val_split == "test":
        data.x_val, data.y_val = data.x_test, data.y_test
        return
    n = len(data.y_train)
    if not data.num_classes <= spec.val_size <= n - data.num_classes:
        raise UserError(f"data.val_size: {spec.val_size:,} of {spec.name}'s {n:,} training images; allowed: "
                        f"{data.num_classes}..{n - data.num_classes:,} (the hold-out that is val, the rest train)")
    val = balanced_subset(data.y_train, spec.val_size, spec.seed)
    train = np.ones(n, dtype=bool)
    train[val] = False
    data.x_val, data.y_val = data.x_train[val], data.y_train[val]
    data.x_train, data.y_train = data.x_train[train], data.y_train[train]


def _digits(spec: DataSpec, test: bool) -> ArrayData:
    return make_digits(spec.train_size, spec.val_size, spec.canvas, spec.min_scale, spec.max_scale, spec.seed,
                       spec.clutter, name=spec.name, test=test)


def _synthetic(spec: DataSpec, test: bool) -> ArrayData:
    return make_synthetic(spec.train_size, spec.val_size, spec.seed, test=test)


def _cifar(spec: DataSpec, test: bool) -> ArrayData:
    return load_cifar(spec.name, os.path.expanduser(spec.root or "~/.cache/sksearch/data"), spec.download, test=test)


def _idx(spec: DataSpec, test: bool) -> ArrayData:
    root = os.path.expanduser(spec.root) if spec.root else default_root(spec.name)
    return load_idx(spec.name, root, spec.download, test=test)


def _imagefolder(spec: DataSpec, test: bool) -> FolderData:
    if not spec.root:
        raise UserError("data.root: an imagefolder data set needs root: a folder with train/ and val/ inside")
    root = os.path.expanduser(spec.root)
    tp, tl, classes = scan(root, "train", spec.follow_symlinks)
    vp, vl, vclasses = scan(root, "val", spec.follow_symlinks)
    if vclasses != classes:
        raise UserError(f"data.root: {root}/val has classes {vclasses[:5]}... but train has {classes[:5]}...")
    test_set, note = None, None
    if not os.path.isdir(os.path.join(root, "test")):
        note = f"{root} has no test/ folder, so there is no test split"
    elif test:
        sp, sl, sclasses = scan(root, "test", spec.follow_symlinks)
        if sclasses != classes:
            raise UserError(f"data.root: {root}/test has classes {sclasses[:5]}... but train has {classes[:5]}...")
        test_set = ImageFolder(sp, sl, spec.image_size, False, spec.seed)
    tp, tl = _subset_paths(tp, tl, spec.train_limit, spec.seed)
    vp, vl = _subset_paths(vp, vl, spec.val_limit, spec.seed)
    # Every image that will be read, header and end, before anything is written or trained.
    check_images([*tp, *vp, *(test_set.paths if test_set is not None else [])])
    return FolderData(spec.name, ImageFolder(tp, tl, spec.image_size, True, spec.seed),
                      ImageFolder(vp, vl, spec.image_size, False, spec.seed), len(classes), classes,
                      test_set, note, spec.erase, spec.erase_min, spec.erase_max)


# The readers ``DATASETS`` rows name (``DataSet.reader``): each reads the sets of one format,
# ``train`` and ``val`` (empty for sets with a test split: ``load_data`` holds it out), and
# ``test`` when asked for. An in-memory set's subsets, augmentation and shape check follow in
# ``load_data``; an image folder, read as it trains, takes its own subsets.
READERS: dict[str, Callable[[DataSpec, bool], ArrayData | FolderData]] = {
    "digits": _digits, "synthetic": _synthetic, "cifar": _cifar, "idx": _idx, "imagefolder": _imagefolder,
}


def load_data(spec: DataSpec, test: bool = False) -> ArrayData | FolderData:
    """The ``train`` and ``val`` splits of the set ``spec`` names, and ``test`` when asked for.

    A search never asks: its data holds no test split, and for the sets that ship one (IDX,
    CIFAR) the test files are not even opened. ``train_limit``/``val_limit`` take balanced
    subsets of train and val; ``test`` is always the whole test split."""
    row = spec.dataset
    if spec.val_split == "test":
        test = True  # an old study's val is the test split: it cannot be left out
    data = READERS[row.reader](spec, test)
    if isinstance(data, FolderData):
        return data
    if row.holdout is not None:
        _hold_out(data, spec)
    if spec.augment is not None:
        if spec.augment not in AUGMENTS:
            raise UserError(f"data.augment: {spec.augment!r}; allowed: {', '.join(AUGMENTS)}")
        data.augment = spec.augment
    data.erase, data.erase_min, data.erase_max = spec.erase, spec.erase_min, spec.erase_max
    _subset(data, "train", spec.train_limit, spec.seed)
    _subset(data, "val", spec.val_limit, spec.seed)
    _check_shape(data, spec)
    return data


def _check_shape(data: ArrayData, spec: DataSpec) -> None:
    """The images are the size and channels ``spec.shape`` promised: the networks are built,
    and their MACs and budgets counted, for that shape before any image is seen. The readers
    refuse a mismatch by file; this is the guard that no set slips past them."""
    want = spec.shape(data)
    for split in ("train", "val", "test"):
        x = getattr(data, f"x_{split}")
        if x is not None and len(x) and x.shape[1:] != (want.in_channels, want.input_size, want.input_size):
            raise UserError(f"data: {spec.name}'s {split} images are {' x '.join(map(str, x.shape[1:]))}; its networks "
                            f"take {want.in_channels} x {want.input_size} x {want.input_size}")


def describe(data: ArrayData | FolderData, spec: DataSpec | None = None) -> dict:
    """What a model trained on ``data`` expects: input shape, classes and normalisation
    (x = (pixel / 255 - mean) / std per channel), and the ``DataSpec`` that reads the data
    again (for analyses of the trained model)."""
    if isinstance(data, ArrayData):
        mean, std = data.mean_std()
    else:
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    out = {"name": data.name, "in_channels": data.in_channels, "input_size": data.input_size,
           "num_classes": data.num_classes, "class_names": list(data.class_names),
           "mean": [float(m) for m in mean], "std": [float(v) for v in std]}
    if spec is not None:
        out["data_spec"] = spec.to_dict()
    return out


def fold_val_into_train(data: ArrayData | FolderData) -> int:
    """A refit's split: ``val``'s images join ``train`` (nothing is chosen on val any more; the
    test split is untouched). ``val`` keeps its images, which nothing then reads. Returns the
    training images now."""
    if isinstance(data, FolderData):
        train = data.train
        data.train = ImageFolder(train.paths + data.val.paths, train.labels + data.val.labels, train.size, True,
                                 train.seed)
        return len(data.train)
    for attr in ("x", "y", "scales", "boxes"):
        tr, va = getattr(data, f"{attr}_train"), getattr(data, f"{attr}_val")
        both = None if tr is None or va is None else np.concatenate([tr, va])
        setattr(data, f"{attr}_train", both)
    return len(data.y_train)


def make_batches(data: ArrayData | FolderData, device: torch.device | str, batch_size: int, seed: int = 0,
                 channels_last: bool = False, workers: int = 4) -> DeviceBatches | LoaderBatches:
    if isinstance(data, ArrayData):
        return DeviceBatches(data, device, batch_size, seed, channels_last)
    batches = LoaderBatches(data.train, data.val, data.num_classes, device, batch_size, workers,
                            IMAGENET_MEAN, IMAGENET_STD, seed, channels_last, test=data.test)
    batches.erase, batches.erase_area = data.erase, (data.erase_min, data.erase_max)
    return batches
