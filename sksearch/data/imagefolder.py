"""Image folders (``root/train/<class>/*.jpg`` and ``root/val/<class>/*.jpg``) read with Pillow.

Large sets stream through a ``torch.utils.data.DataLoader`` with worker processes; each
worker decodes, crops and flips with Pillow and hands back uint8 tensors, which are
normalised on the trial's device.
"""

from __future__ import annotations

import math
import os
import random

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import UserError

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def scan(root: str, split: str, follow_symlinks: bool = False) -> tuple[list[str], list[int], list[str]]:
    """Image paths, labels and class names under ``root/split`` (classes sorted by name).

    A class folder or image that is a symbolic link may lead anywhere on the machine, so it is
    refused unless ``follow_symlinks`` (``data.follow_symlinks: true``) says to read it."""
    base = os.path.join(root, split)
    if not os.path.isdir(base):
        raise UserError(f"data.root: {base} is not a folder; expected {root}/train/<class>/... and {root}/val/<class>/...")
    classes = sorted(d for d in os.listdir(base) if os.path.isdir(os.path.join(base, d)))
    if not classes:
        raise UserError(f"data.root: {base} holds no class folders")
    paths, labels = [], []
    for label, cls in enumerate(classes):
        for dirpath, dirs, files in sorted(os.walk(os.path.join(base, cls), followlinks=follow_symlinks)):
            if not follow_symlinks:
                linked = [p for p in (dirpath, *(os.path.join(dirpath, n) for n in [*dirs, *files]))
                          if os.path.islink(p)]
                if linked:
                    raise UserError(f"data.root: {linked[0]} is a symbolic link (to {os.path.realpath(linked[0])}); "
                                    f"set data.follow_symlinks: true to read linked images and class folders")
            for f in sorted(files):
                if f.lower().endswith(EXTENSIONS):
                    paths.append(os.path.join(dirpath, f))
                    labels.append(label)
    if not paths:
        raise UserError(f"data.root: no images ({', '.join(EXTENSIONS)}) under {base}")
    return paths, labels, classes


class ImageFolder(Dataset):
    """uint8 CHW tensors of side ``size``: random-resized crop + flip when training,
    resize to size/0.875 and centre crop otherwise (the usual ImageNet recipe)."""

    def __init__(self, paths: list[str], labels: list[int], size: int, train: bool, seed: int = 0) -> None:
        self.paths, self.labels, self.size, self.train, self.seed = paths, labels, size, train, seed

    def __len__(self) -> int:
        return len(self.paths)

    def _random_resized_crop(self, img, rng: random.Random):  # noqa: ANN001, ANN202 - PIL types
        w, h = img.size
        area = w * h
        for _ in range(10):
            target = area * rng.uniform(0.08, 1.0)
            ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
            cw, ch = int(round(math.sqrt(target * ratio))), int(round(math.sqrt(target / ratio)))
            if 0 < cw <= w and 0 < ch <= h:
                x0, y0 = rng.randint(0, w - cw), rng.randint(0, h - ch)
                return img.resize((self.size, self.size), box=(x0, y0, x0 + cw, y0 + ch))
        side = min(w, h)
        x0, y0 = (w - side) // 2, (h - side) // 2
        return img.resize((self.size, self.size), box=(x0, y0, x0 + side, y0 + side))

    def _centre_crop(self, img):  # noqa: ANN001, ANN202
        w, h = img.size
        short = int(round(self.size / 0.875))
        scale = short / min(w, h)
        img = img.resize((max(self.size, round(w * scale)), max(self.size, round(h * scale))))
        w, h = img.size
        x0, y0 = (w - self.size) // 2, (h - self.size) // 2
        return img.crop((x0, y0, x0 + self.size, y0 + self.size))

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        with Image.open(self.paths[i]) as im:
            img = im.convert("RGB")
        if self.train:
            rng = random.Random(hash((self.seed, i, torch.initial_seed())))
            img = self._random_resized_crop(img, rng)
            if rng.random() < 0.5:
                img = img.transpose(Image.FLIP_LEFT_RIGHT)
        else:
            img = self._centre_crop(img)
        arr = np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy()
        return torch.from_numpy(arr), self.labels[i]
