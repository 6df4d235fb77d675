"""Read a data set that a ``DataSpec`` names, describe what a model trained on it expects, and
put it on a device as batches."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import UserError
from .arrays import ArrayData
from .batches import DeviceBatches, LoaderBatches
from .cifar import load_cifar
from .digits import make_digits
from .synthetic import make_synthetic
from .imagefolder import IMAGENET_MEAN, IMAGENET_STD, ImageFolder, scan
from .spec import NAMES, DataSpec


@dataclass
class FolderData:
    """An image folder, not in memory: paths and labels per split."""

    name: str
    train: ImageFolder
    val: ImageFolder
    num_classes: int
    class_names: list[str]

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


def load_data(spec: DataSpec) -> ArrayData | FolderData:
    if spec.is_digits:
        data = make_digits(spec.train_size, spec.val_size, spec.canvas, spec.min_scale, spec.max_scale, spec.seed,
                           spec.clutter, name=spec.name)
    elif spec.name == "synthetic_cifar":
        data = make_synthetic(spec.train_size, spec.val_size, spec.seed)
    elif spec.name in ("cifar10", "cifar100"):
        root = os.path.expanduser(spec.root or "~/.cache/sksearch/data")
        data = load_cifar(spec.name, root, spec.download)
    elif spec.name == "imagefolder":
        if not spec.root:
            raise UserError("data.root: an imagefolder data set needs root: a folder with train/ and val/ inside")
        root = os.path.expanduser(spec.root)
        tp, tl, classes = scan(root, "train", spec.follow_symlinks)
        vp, vl, vclasses = scan(root, "val", spec.follow_symlinks)
        if vclasses != classes:
            raise UserError(f"data.root: {root}/val has classes {vclasses[:5]}... but train has {classes[:5]}...")
        tp, tl = _subset_paths(tp, tl, spec.train_limit, spec.seed)
        vp, vl = _subset_paths(vp, vl, spec.val_limit, spec.seed)
        return FolderData(spec.name, ImageFolder(tp, tl, spec.image_size, True, spec.seed),
                          ImageFolder(vp, vl, spec.image_size, False, spec.seed), len(classes), classes)
    else:
        raise UserError(f"data.name: {spec.name!r} is not a data set; allowed: {', '.join(NAMES)}")
    _subset(data, "train", spec.train_limit, spec.seed)
    _subset(data, "val", spec.val_limit, spec.seed)
    return data


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


def make_batches(data: ArrayData | FolderData, device: torch.device | str, batch_size: int, seed: int = 0,
                 channels_last: bool = False, workers: int = 4) -> DeviceBatches | LoaderBatches:
    if isinstance(data, ArrayData):
        return DeviceBatches(data, device, batch_size, seed, channels_last)
    return LoaderBatches(data.train, data.val, data.num_classes, device, batch_size, workers,
                         IMAGENET_MEAN, IMAGENET_STD, seed, channels_last)
