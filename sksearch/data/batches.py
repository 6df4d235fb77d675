"""Batches on the trial's device.

Small in-memory sets (the digits, CIFAR) are copied to the device once as uint8 and every
batch is a slice of them: no loader workers, no host-to-device copy per step (airbench's
recipe). Crops, flips and random erasing are index arithmetic on the device, one batch at
a time. Image folders stream through a DataLoader with workers instead.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from .arrays import ArrayData
from .imagefolder import ImageFolder

Batch = tuple[torch.Tensor, torch.Tensor]


def random_crop_flip(x: torch.Tensor, pad: int, gen: torch.Generator, flip: bool = True,
                     mode: str = "reflect") -> torch.Tensor:
    """Per-sample random crop from a padded batch (``mode`` reflect or constant zeros), plus a
    random horizontal flip when ``flip``."""
    b, c, h, w = x.shape
    dev = x.device
    xp = F.pad(x, (pad, pad, pad, pad), mode=mode)
    dy = torch.randint(0, 2 * pad + 1, (b, 1), generator=gen, device=dev)
    dx = torch.randint(0, 2 * pad + 1, (b, 1), generator=gen, device=dev)
    rows = dy + torch.arange(h, device=dev)
    cols = dx + torch.arange(w, device=dev)
    if flip:
        flipped = torch.rand(b, 1, generator=gen, device=dev) < 0.5
        cols = torch.where(flipped, cols.flip(1), cols)
    bi = torch.arange(b, device=dev)[:, None, None, None]
    ci = torch.arange(c, device=dev)[None, :, None, None]
    return xp[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]


# Random erasing's aspect ratios (height / width), log-uniform between these (Zhong et al. 2020).
ERASE_ASPECT = (0.3, 1 / 0.3)


def random_erase(x: torch.Tensor, p: float, area: tuple[float, float], gen: torch.Generator) -> torch.Tensor:
    """Random erasing of a normalised batch: each image, with probability ``p``, has one
    rectangle of ``area`` (min, max fractions of the image, uniform) and a log-uniform aspect
    ratio set to 0, the training images' mean. One mask for the batch, no per-image loop."""
    b, _, h, w = x.shape
    dev = x.device
    u = torch.rand(b, 5, generator=gen, device=dev)
    frac = area[0] + (area[1] - area[0]) * u[:, 0]
    lo, hi = math.log(ERASE_ASPECT[0]), math.log(ERASE_ASPECT[1])
    aspect = torch.exp(lo + (hi - lo) * u[:, 1])
    eh = torch.sqrt(frac * h * w * aspect).round().clamp(1, h)
    ew = (frac * h * w / eh).round().clamp(1, w)  # from the rounded height: the area stays frac's
    top = ((h - eh + 1) * u[:, 2]).floor()
    left = ((w - ew + 1) * u[:, 3]).floor()
    rows = torch.arange(h, device=dev)[None, :]
    cols = torch.arange(w, device=dev)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < (top + eh)[:, None])
    in_cols = (cols >= left[:, None]) & (cols < (left + ew)[:, None])
    mask = in_rows[:, :, None] & in_cols[:, None, :] & (u[:, 4] < p)[:, None, None]
    return x.masked_fill(mask[:, None], 0.0)


def shifted(x: torch.Tensor, dy: int, dx: int, fill: torch.Tensor | None) -> torch.Tensor:
    """``x`` moved by (dy, dx) pixels, the uncovered border filled as training's crop pads it:
    reflected (``fill`` None) or with ``fill`` per channel (the normalised black)."""
    _, _, h, w = x.shape
    p = max(abs(dy), abs(dx))
    if fill is None:
        xp = F.pad(x, (p, p, p, p), mode="reflect")
    else:
        xp = F.pad(x - fill, (p, p, p, p)) + fill
    return xp[:, :, p - dy:p - dy + h, p - dx:p - dx + w]


class DeviceBatches:
    """An ``ArrayData`` resident on ``device``; yields normalised float batches."""

    def __init__(self, data: ArrayData, device: torch.device | str, batch_size: int, seed: int = 0,
                 channels_last: bool = False, eval_batch_size: int | None = None) -> None:
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or max(batch_size, 512)
        self.seed = seed
        self.channels_last = channels_last
        self.augment, self.crop_pad, self.pad_mode = data.augment, data.crop_pad, data.pad_mode
        self.erase, self.erase_area = data.erase, (data.erase_min, data.erase_max)
        self.num_classes, self.in_channels, self.input_size = data.num_classes, data.in_channels, data.input_size
        mean, std = data.mean_std()
        self.mean = torch.from_numpy(mean).to(self.device).view(1, -1, 1, 1)
        self.std = torch.from_numpy(std).to(self.device).view(1, -1, 1, 1)
        self.x_train = torch.from_numpy(data.x_train).to(self.device)
        self.y_train = torch.from_numpy(data.y_train).to(self.device)
        self.x_val = torch.from_numpy(data.x_val).to(self.device)
        self.y_val = torch.from_numpy(data.y_val).to(self.device)
        self.has_test = data.x_test is not None
        if self.has_test:
            self.x_test = torch.from_numpy(data.x_test).to(self.device)
            self.y_test = torch.from_numpy(data.y_test).to(self.device)

    @property
    def train_size(self) -> int:
        return len(self.y_train)

    def steps_per_epoch(self) -> int:
        return max(1, self.train_size // self.batch_size)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.float() / 255.0 - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def train(self, epoch: int) -> Iterator[Batch]:
        """One epoch in a fixed order for (seed, epoch); the last partial batch is dropped."""
        gen = torch.Generator(device=self.device)
        gen.manual_seed(self.seed * 100_003 + epoch)
        order = torch.randperm(self.train_size, generator=gen, device=self.device)
        for s in range(self.steps_per_epoch()):
            idx = order[s * self.batch_size:(s + 1) * self.batch_size]
            x = self.x_train[idx]
            if self.augment in ("crop", "crop_flip"):
                # Cropped in pixel values, before normalising, so constant padding is black.
                x = random_crop_flip(x.float(), self.crop_pad, gen, self.augment == "crop_flip", self.pad_mode)
            x = self._prepare(x)
            if self.erase > 0:
                x = random_erase(x, self.erase, self.erase_area, gen)
            yield x, self.y_train[idx]

    def tta_views(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The views of a normalised eval batch that test-time augmentation averages over: only
        what training's augmentation shows the network. crop_flip: the image and its mirror
        (airbench's); crop: the image and its 1 px shifts down-right and up-left, the border
        padded as the crop pads it (Fashion-MNIST: black); none: the image alone."""
        if self.augment == "crop_flip":
            return [x, x.flip(3)]
        if self.augment == "crop":
            fill = None if self.pad_mode == "reflect" else -self.mean / self.std
            return [x, shifted(x, 1, 1, fill), shifted(x, -1, -1, fill)]
        return [x]

    def _eval(self, x: torch.Tensor, y: torch.Tensor) -> Iterator[Batch]:
        for s in range(0, len(y), self.eval_batch_size):
            yield self._prepare(x[s:s + self.eval_batch_size]), y[s:s + self.eval_batch_size]

    def val(self) -> Iterator[Batch]:
        return self._eval(self.x_val, self.y_val)

    def test(self) -> Iterator[Batch]:
        if not self.has_test:
            raise RuntimeError("these batches hold no test split (load the data with test=True)")
        return self._eval(self.x_test, self.y_test)


class LoaderBatches:
    """Image-folder batches through DataLoader workers, normalised on ``device``."""

    def __init__(self, train: ImageFolder, val: ImageFolder, num_classes: int, device: torch.device | str,
                 batch_size: int, workers: int, mean: np.ndarray, std: np.ndarray, seed: int = 0,
                 channels_last: bool = False, test: ImageFolder | None = None) -> None:
        self.device = torch.device(device)
        self.batch_size, self.seed, self.channels_last = batch_size, seed, channels_last
        self.num_classes, self.in_channels, self.input_size = num_classes, 3, train.size
        self.train_set, self.val_set, self.test_set = train, val, test
        self.has_test = test is not None
        self.workers = workers
        self.erase, self.erase_area = 0.0, (0.0, 0.0)  # set by make_batches from the data spec
        self.mean = torch.from_numpy(mean).to(self.device).view(1, -1, 1, 1)
        self.std = torch.from_numpy(std).to(self.device).view(1, -1, 1, 1)

    @property
    def train_size(self) -> int:
        return len(self.train_set)

    def steps_per_epoch(self) -> int:
        return max(1, self.train_size // self.batch_size)

    def _loader(self, dataset: ImageFolder, shuffle: bool, epoch: int) -> DataLoader:
        gen = torch.Generator()
        gen.manual_seed(self.seed * 100_003 + epoch)
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle, generator=gen,
                          num_workers=self.workers, pin_memory=self.device.type == "cuda",
                          drop_last=shuffle and len(dataset) >= self.batch_size)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        x = (x.float() / 255.0 - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def train(self, epoch: int) -> Iterator[Batch]:
        gen = torch.Generator(device=self.device)
        gen.manual_seed(self.seed * 100_003 + epoch)
        for x, y in self._loader(self.train_set, True, epoch):
            x = self._prepare(x)
            if self.erase > 0:
                x = random_erase(x, self.erase, self.erase_area, gen)
            yield x, y.to(self.device, non_blocking=True)

    def tta_views(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Image folders train on random-resized crops with flips: the image and its mirror."""
        return [x, x.flip(3)]

    def val(self) -> Iterator[Batch]:
        for x, y in self._loader(self.val_set, False, 0):
            yield self._prepare(x), y.to(self.device, non_blocking=True)

    def test(self) -> Iterator[Batch]:
        if self.test_set is None:
            raise RuntimeError("these batches hold no test split")
        for x, y in self._loader(self.test_set, False, 0):
            yield self._prepare(x), y.to(self.device, non_blocking=True)
