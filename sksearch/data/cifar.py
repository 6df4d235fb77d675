"""CIFAR-10 and CIFAR-100 from their official python archives, read directly.

torchvision is not used: its PyPI builds do not import beside a CPU torch, and the format
is small and documented (pickled dicts of uint8 rows and label lists). The archives are
unpickled with an allow-list that admits only numpy arrays and builtins, so a tampered file
cannot run code.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import UserError
from .arrays import ArrayData
from .download import fetch, md5 as file_md5


@dataclass(frozen=True)
class CifarFormat:
    name: str
    url: str
    md5: str
    folder: str
    train_files: tuple[str, ...]
    test_file: str
    label_key: bytes
    meta_file: str
    names_key: bytes


CIFAR10 = CifarFormat(
    "cifar10", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
    "cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch", b"labels",
    "batches.meta", b"label_names",
)
CIFAR100 = CifarFormat(
    "cifar100", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85",
    "cifar-100-python", ("train",), "test", b"fine_labels", "meta", b"fine_label_names",
)
FORMATS = {"cifar10": CIFAR10, "cifar100": CIFAR100}
PIXELS = 3 * 32 * 32


class _ArrayUnpickler(pickle.Unpickler):
    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:  # pickle's own signature returns Any
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR archive")


def _unpickle(path: str) -> dict:
    with open(path, "rb") as fh:
        return _ArrayUnpickler(fh, encoding="bytes").load()


def download(fmt: CifarFormat, root: str, url: str | None = None, md5: str | None = None) -> None:
    """Fetch and unpack the archive into ``root`` (skipped when already there)."""
    if os.path.exists(os.path.join(root, fmt.folder, fmt.test_file)):
        return
    os.makedirs(root, exist_ok=True)
    url = url or fmt.url
    md5 = fmt.md5 if md5 is None else md5
    archive = os.path.join(root, os.path.basename(url))
    if not (os.path.exists(archive) and file_md5(archive) == md5):
        fetch(url, archive, md5, root)
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(root, filter="data")


def check_pixels(path: str, data: np.ndarray) -> np.ndarray:
    """A batch's ``data`` as (N, 3, 32, 32) uint8: N rows of 3,072 whole numbers 0..255, else
    ``UserError`` naming the file (a float or a 300 would be cut or wrapped without a word)."""
    if data.ndim != 2 or data.shape[1] != PIXELS or len(data) == 0:
        raise UserError(f"{path}: data of shape {data.shape}; a CIFAR batch holds N >= 1 rows of {PIXELS:,} "
                        f"pixels (3 x 32 x 32)")
    if data.dtype != np.uint8:
        if data.dtype.kind not in "iu":
            raise UserError(f"{path}: pixels of type {data.dtype}; CIFAR pixels are whole numbers 0..255")
        if data.min() < 0 or data.max() > 255:
            bad = int(data.min()) if data.min() < 0 else int(data.max())
            raise UserError(f"{path}: pixel value {bad}; CIFAR pixels are 0..255")
    return data.astype(np.uint8, copy=False).reshape(-1, 3, 32, 32)


def check_labels(path: str, labels: np.ndarray, count: int, num_classes: int) -> np.ndarray:
    """A batch's labels as int64: one whole number 0..num_classes-1 per image, else ``UserError``."""
    if labels.ndim != 1 or len(labels) != count:
        raise UserError(f"{path}: {count:,} images but {labels.size:,} labels (shape {labels.shape})")
    if labels.dtype.kind not in "iu":
        raise UserError(f"{path}: labels of type {labels.dtype}; labels are whole numbers 0..{num_classes - 1}")
    if labels.min() < 0 or labels.max() >= num_classes:
        bad = int(labels.min()) if labels.min() < 0 else int(labels.max())
        raise UserError(f"{path}: label {bad} out of range; this set has {num_classes} classes (0..{num_classes - 1})")
    return labels.astype(np.int64)


def load_cifar(name: str, root: str, download_missing: bool = False, test: bool = True) -> ArrayData:
    """CIFAR's training batches as ``train`` and, with ``test``, its test batch as ``test``;
    ``val`` is left empty for ``load_data`` to hold out of ``train`` (or, for a study written
    before the three splits, to fill with the test batch as it then did)."""
    fmt = FORMATS[name]
    folder = os.path.join(root, fmt.folder)
    if download_missing:
        download(fmt, root)
    needed = [os.path.join(folder, f) for f in (*fmt.train_files, fmt.test_file)]
    missing = [p for p in needed if not os.path.exists(p)]
    if missing:
        raise UserError(
            f"data.root: {name} not found: {missing[0]} is missing. Set data.download: true to fetch "
            f"{fmt.url}, or unpack that archive into {root}"
        )
    num_classes = 10 if name == "cifar10" else 100

    def read(files: list[str]) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for path in files:
            try:
                batch = _unpickle(path)
                data, labels = np.asarray(batch[b"data"]), np.asarray(batch[fmt.label_key])
            except (pickle.UnpicklingError, KeyError, TypeError, ValueError, EOFError, IndexError) as exc:
                raise UserError(f"{path}: not a {name} batch file ({exc})") from None
            xs.append(check_pixels(path, data))
            ys.append(check_labels(path, labels, len(xs[-1]), num_classes))
        return np.concatenate(xs), np.concatenate(ys)

    x_train, y_train = read(needed[:-1])
    # The test batch is opened only when asked for: a search never asks.
    x_test, y_test = read(needed[-1:]) if test else (None, None)
    meta_path = os.path.join(folder, fmt.meta_file)
    names = [str(i) for i in range(num_classes)]
    if os.path.exists(meta_path):
        try:
            meta = _unpickle(meta_path)
            raw_names = meta[fmt.names_key]
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in raw_names]
        except (pickle.UnpicklingError, KeyError, TypeError, ValueError, EOFError, UnicodeDecodeError) as exc:
            raise UserError(f"{meta_path}: not a {name} meta file ({exc})") from None
        if len(names) != num_classes:
            raise UserError(f"{meta_path}: names {len(names)} classes, {name} has {num_classes}")
    return ArrayData(name=name, x_train=x_train, y_train=y_train, x_val=x_train[:0], y_val=y_train[:0],
                     x_test=x_test, y_test=y_test, num_classes=num_classes, class_names=names, augment="crop_flip")


def write_archive(path: str, name: str, train: list[tuple[np.ndarray, list[int]]],
                  test: tuple[np.ndarray, list[int]], names: list[str]) -> None:
    """Write a CIFAR-format .tar.gz (for tests and for packing your own data in this format)."""
    fmt = FORMATS[name]
    files = dict(zip(fmt.train_files, train)) if len(train) == len(fmt.train_files) else None
    if files is None:
        raise ValueError(f"{name} has {len(fmt.train_files)} training batch files, got {len(train)}")
    files[fmt.test_file] = test
    with tarfile.open(path, "w:gz") as tar:
        def add(member: str, obj: dict) -> None:
            blob = pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(f"{fmt.folder}/{member}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))

        for member, (x, y) in files.items():
            add(member, {b"data": np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.uint8), fmt.label_key: list(y)})
        add(fmt.meta_file, {fmt.names_key: [n.encode() for n in names]})
