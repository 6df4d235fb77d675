"""Image folders (``root/train/<class>/*.jpg`` and ``root/val/<class>/*.jpg``) read with Pillow.

Large sets stream through a ``torch.utils.data.DataLoader`` with worker processes; each
worker decodes, crops and flips with Pillow and hands back uint8 tensors, which are
normalised on the trial's device.
"""

from __future__ import annotations

import math
import os
import random
import re
import stat
import struct
import warnings

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import UserError

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# Pillow's own DecompressionBomb threshold (about 0.25 GB as RGB): a larger image is refused
# from its header, before anything is decoded.
MAX_PIXELS = 89_478_485
# How far from a PNG's or JPEG's end its closing marker is looked for.
TAIL_BYTES = 4096
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def _class_files(base: str, cls: str, follow_symlinks: bool, seen: dict[tuple[int, int], str]) -> list[str]:
    """The image paths under one class folder, in sorted order; ``seen`` maps each folder
    already walked (device, inode) to its path, so a link back to one is refused, not walked
    again and again."""
    def unreadable(exc: OSError) -> None:
        raise UserError(f"data.root: {exc.filename}: unreadable folder ({exc.strerror})")

    top = os.path.join(base, cls)
    found = []
    for dirpath, dirs, files in os.walk(top, onerror=unreadable, followlinks=follow_symlinks):
        if not follow_symlinks:
            linked = [p for p in (dirpath, *(os.path.join(dirpath, n) for n in [*dirs, *files]))
                      if os.path.islink(p)]
            if linked:
                raise UserError(f"data.root: {linked[0]} is a symbolic link (to {os.path.realpath(linked[0])}); "
                                f"set data.follow_symlinks: true to read linked images and class folders")
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen:
            raise UserError(f"data.root: {dirpath} is the folder {seen[st.st_dev, st.st_ino]} again (a symbolic link "
                            f"loop, or two links to one folder); each folder may be read once")
        seen[st.st_dev, st.st_ino] = dirpath
        found.extend(os.path.join(dirpath, f) for f in files if f.lower().endswith(EXTENSIONS))
    if not found:
        raise UserError(f"data.root: class folder {top} holds no images ({', '.join(EXTENSIONS)}); "
                        f"every class needs at least one")
    return sorted(found)


def scan(root: str, split: str, follow_symlinks: bool = False) -> tuple[list[str], list[int], list[str]]:
    """Image paths, labels and class names under ``root/split`` (classes sorted by name).

    A class folder or image that is a symbolic link may lead anywhere on the machine, so it is
    refused unless ``follow_symlinks`` (``data.follow_symlinks: true``) says to read it. A class
    folder with no image, an unreadable folder and a link loop are refused by name."""
    base = os.path.join(root, split)
    if not os.path.isdir(base):
        raise UserError(f"data.root: {base} is not a folder; "
                        f"expected {root}/train/<class>/... and {root}/val/<class>/...")
    try:
        classes = sorted(d for d in os.listdir(base) if os.path.isdir(os.path.join(base, d)))
    except OSError as exc:
        raise UserError(f"data.root: {base}: unreadable folder ({exc.strerror})") from None
    if not classes:
        raise UserError(f"data.root: {base} holds no class folders")
    paths, labels = [], []
    seen: dict[tuple[int, int], str] = {}
    for label, cls in enumerate(classes):
        found = _class_files(base, cls, follow_symlinks, seen)
        paths.extend(found)
        labels.extend([label] * len(found))
    return paths, labels, classes


def _ends_whole(fh, fmt: str | None, scan_start: int) -> bool:  # noqa: ANN001 - a binary file
    """Whether a PNG, JPEG or WebP file still has its end (a truncated one does not; the
    header alone says nothing of it). Other formats are taken as whole."""
    size = os.fstat(fh.fileno()).st_size
    if fmt == "WEBP":  # RIFF: the header gives the file's length
        fh.seek(4)
        return size >= struct.unpack("<I", fh.read(4))[0] + 8
    if fmt not in ("PNG", "JPEG"):
        return True
    start = max(size - TAIL_BYTES, scan_start if fmt == "JPEG" else 0)
    fh.seek(start)
    tail = fh.read(TAIL_BYTES)
    # PNG's last chunk is IEND with its fixed CRC; a JPEG's scans end in the EOI marker, which
    # byte stuffing keeps out of the coded data after the first scan's start.
    return (b"IEND\xaeB`\x82" if fmt == "PNG" else b"\xff\xd9") in tail


def check_image(path: str) -> None:
    """``UserError`` naming ``path`` unless it is a regular file whose header Pillow reads, of
    at most ``MAX_PIXELS``, and (PNG, JPEG, WebP) not cut short. Only the header and the
    file's last bytes are read: nothing is decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise UserError(f"data.root: {path} is not a regular file")
        with open(path, "rb") as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(fh) as im:
                # A JPEG's header is read up to its first scan: the coded data starts here.
                (w, h), fmt, scan_start = im.size, im.format, fh.tell()
            if w * h > MAX_PIXELS:
                raise UserError(f"data.root: {path} is {w}x{h} px; images of up to {MAX_PIXELS:,} pixels are read")
            if not _ends_whole(fh, fmt, scan_start):
                raise UserError(f"data.root: {path}: a truncated {fmt} image (its end is missing)")
    except Image.DecompressionBombError as exc:
        # Pillow refuses past twice its limit from the header alone; its message gives the pixel count.
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        count = f"{int(pixels[1]):,}" if pixels else "too many"
        raise UserError(f"data.root: {path} has {count} pixels; images of up to "
                        f"{MAX_PIXELS:,} pixels are read") from None
    except UnidentifiedImageError:
        raise UserError(f"data.root: {path} is not an image Pillow can read (empty, or another kind of file)") from None
    except (OSError, SyntaxError, ValueError, struct.error) as exc:
        raise UserError(f"data.root: {path}: unreadable image ({exc})") from None


def check_images(paths: list[str]) -> None:
    """Every image's header, before any trial: a bad file is named at load, not when an
    epoch reaches it (or never, when ``drop_last`` happens to skip it)."""
    for path in paths:
        check_image(path)


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
