"""Fashion-MNIST, MNIST and KMNIST from their official IDX files, read directly.

The IDX format is four bytes of magic (two zero bytes, the element type, 0x08 for unsigned
bytes, and the number of dimensions), one big-endian int32 per dimension, then the elements.
Images are ``0x00000803`` (N x 28 x 28), labels ``0x00000801`` (N). Each set ships a training
split (60,000) and a test split (10,000); the files may be gzipped (``.gz``, as published)
or not. The test files are opened only when a caller asks for the test split, so a search
(which never asks) cannot read them.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from .arrays import ArrayData
from .download import fetch

# Debian's `dataset-fashion-mnist` installs the four files here.
DEBIAN_FASHION_ROOT = "/usr/share/datasets/fashion-mnist"
IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801
HEADER = {IMAGES_MAGIC: 16, LABELS_MAGIC: 8}
IMAGE_SIDE = 28  # every IDX set here: the size DataSpec.shape gives its networks
# The most data one IDX file may announce in its header, refused before anything is read:
# 1 GiB is 1.3 million 28x28 images, 22 times the largest official file (47 MB).
MAX_IDX_BYTES = 1 << 30


@dataclass(frozen=True)
class IdxFormat:
    name: str
    base_url: str
    md5: dict[str, str]           # official .gz file -> its md5
    class_names: tuple[str, ...]
    debian_root: str | None = None
    debian_package: str | None = None


FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
FILE_NAMES = tuple(f"{f}.gz" for pair in FILES.values() for f in pair)

FASHION_MNIST = IdxFormat(
    "fashion_mnist", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    dict(zip(FILE_NAMES, ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                          "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"))),
    ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    DEBIAN_FASHION_ROOT, "dataset-fashion-mnist",
)
MNIST = IdxFormat(
    "mnist", "https://ossci-datasets.s3.amazonaws.com/mnist/",
    dict(zip(FILE_NAMES, ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                          "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"))),
    tuple(str(i) for i in range(10)),
)
KMNIST = IdxFormat(
    "kmnist", "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
    dict(zip(FILE_NAMES, ("bdb82020997e1d708af4cf47b453dcf7", "e144d726b3acfaa3e44228e80efcd344",
                          "5c965bf0a639b31b8f53240b1b52f4d7", "7320c461ea6c1c855c0b718fb2a4b134"))),
    ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
)
FORMATS = {f.name: f for f in (FASHION_MNIST, MNIST, KMNIST)}


def default_root(name: str) -> str:
    """Where a set is read with no ``data.root``: Debian's folder when installed, else the cache."""
    fmt = FORMATS[name]
    if fmt.debian_root and os.path.isdir(fmt.debian_root):
        return fmt.debian_root
    return os.path.expanduser(os.path.join("~/.cache/sksearch/data", name))


def _find(root: str, stem: str) -> str | None:
    for path in (os.path.join(root, stem + ".gz"), os.path.join(root, stem)):
        if os.path.isfile(path):
            return path
    return None


def _missing_message(fmt: IdxFormat, root: str, missing: list[str]) -> str:
    ways = []
    if fmt.debian_package:
        ways.append(f"`apt-get install {fmt.debian_package}` (Debian/Ubuntu; installs them in {fmt.debian_root})")
    ways.append(f"data.download: true (fetches them from {fmt.base_url}, md5 checked)")
    ways.append(f"placing them in {root} yourself (gzipped or not)")
    return (f"data.root: {fmt.name} not found in {root}: {', '.join(missing)} missing. It needs the four files "
            f"{', '.join(FILE_NAMES)}. Get them by " + ", or ".join(ways))


def download(fmt: IdxFormat, root: str, base_url: str | None = None, md5: dict[str, str] | None = None) -> None:
    """Fetch the official .gz files that ``root`` lacks, each checked against its md5."""
    base_url = base_url or fmt.base_url
    md5 = fmt.md5 if md5 is None else md5
    os.makedirs(root, exist_ok=True)
    for name in FILE_NAMES:
        if _find(root, name[:-3]):
            continue
        fetch(base_url + name, os.path.join(root, name), md5[name], root)


def _open_idx(path: str):  # noqa: ANN202 - a binary file object, gzipped or not
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def _unreadable(path: str, exc: BaseException) -> UserError:
    return UserError(f"{path}: unreadable ({exc}); a truncated or corrupt download? Delete it and fetch it again")


def _header(fh, path: str, magic: int) -> tuple[int, ...]:  # noqa: ANN001 - a binary file object
    kind = "images" if magic == IMAGES_MAGIC else "labels"
    head = fh.read(4)
    if len(head) < 4 or struct.unpack(">I", head)[0] != magic:
        found = f"0x{struct.unpack('>I', head)[0]:08x}" if len(head) == 4 else "nothing"
        raise UserError(f"{path}: not an IDX {kind} file (magic number {found}, expected 0x{magic:08x})")
    ndim = head[3]  # fixed by the magic number: 3 for images, 1 for labels
    raw = fh.read(4 * ndim)
    if len(raw) < 4 * ndim:
        raise UserError(f"{path}: truncated: the header ends after {4 + len(raw)} bytes")
    return struct.unpack(f">{ndim}I", raw)


def idx_header(path: str, magic: int) -> tuple[int, ...]:
    """The dimensions an IDX file's header gives (nothing else is read)."""
    try:
        with _open_idx(path) as fh:
            return _header(fh, path, magic)
    except (OSError, EOFError, zlib.error) as exc:
        raise _unreadable(path, exc) from None


def read_idx(path: str, magic: int) -> np.ndarray:
    """The uint8 array an IDX file holds; ``UserError`` naming the file for anything malformed.

    Only as many bytes as the header announces are read (and one more, to refuse trailing
    data), after the header's size is checked against ``MAX_IDX_BYTES``: a small gzipped file
    may unpack to gigabytes of zeros."""
    try:
        with _open_idx(path) as fh:
            dims = _header(fh, path, magic)
            # Python integers: a product of four-byte dimensions overflows numpy's int64 (2^31 x 2^31 x 4 is 0 there).
            size = math.prod(dims)
            if size > MAX_IDX_BYTES:
                raise UserError(f"{path}: its header ({' x '.join(map(str, dims))}) says {size:,} bytes of data; "
                                f"sksearch reads IDX files of up to {MAX_IDX_BYTES:,} bytes")
            blob = fh.read(size + 1)  # at the end of a gzip stream this read also checks its CRC
    except (OSError, EOFError, zlib.error) as exc:
        raise _unreadable(path, exc) from None
    if len(blob) < size:
        raise UserError(f"{path}: truncated: {len(blob):,} bytes of data, its header "
                        f"({' x '.join(map(str, dims))}) says {size:,}")
    if len(blob) > size:
        raise UserError(f"{path}: more data than its header ({' x '.join(map(str, dims))}) says: "
                        f"{size:,} bytes; a damaged or wrongly packed file")
    return np.frombuffer(blob, np.uint8, size).reshape(dims)


def read_split(fmt: IdxFormat, root: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, H, W) uint8 and labels (N,) int64 of ``split`` (train or test).

    Both headers are checked (image size, counts) before either file's data is read."""
    images_path, labels_path = (_find(root, stem) for stem in FILES[split])
    if images_path is None or labels_path is None:
        raise UserError(_missing_message(fmt, root, [s + ".gz" for s, p in zip(FILES[split], (images_path, labels_path))
                                                     if p is None]))
    count, rows, cols = idx_header(images_path, IMAGES_MAGIC)
    if (rows, cols) != (IMAGE_SIDE, IMAGE_SIDE):
        raise UserError(f"{images_path}: {rows}x{cols} px images; {fmt.name} images are {IMAGE_SIDE}x{IMAGE_SIDE} "
                        f"(the size its networks are built and costed for)")
    if count == 0:
        raise UserError(f"{images_path}: holds no images")
    (labels,) = idx_header(labels_path, LABELS_MAGIC)
    if labels != count:
        raise UserError(f"{images_path} holds {count:,} images but {labels_path} holds {labels:,} labels")
    x = read_idx(images_path, IMAGES_MAGIC)
    y = read_idx(labels_path, LABELS_MAGIC)
    if int(y.max()) >= len(fmt.class_names):
        raise UserError(f"{labels_path}: label {int(y.max())} out of range; {fmt.name} has "
                        f"{len(fmt.class_names)} classes (0..{len(fmt.class_names) - 1})")
    return x[:, None].copy(), y.astype(np.int64)


def check_files(fmt: IdxFormat, root: str, download_missing: bool = False) -> None:
    """All four files are there (fetched first with ``download_missing``), before any is read:
    a search must fail on a missing test file up front, not when someone evaluates later."""
    if download_missing:
        download(fmt, root)
    missing = [name for name in FILE_NAMES if _find(root, name[:-3]) is None]
    if missing:
        raise UserError(_missing_message(fmt, root, missing))


def write_idx(path: str, array: np.ndarray, magic: int | None = None, truncate: int | None = None) -> None:
    """Write an IDX file (gzipped when ``path`` ends in .gz): for tests, and for packing your own
    28x28 images in this format. ``magic`` overrides the right one and ``truncate`` cuts that many
    bytes from the end (to build the malformed files the reader must refuse)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = (0x0800 + array.ndim) if magic is None else magic
    blob = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    if truncate:
        blob = blob[:-truncate]
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as fh:
        fh.write(blob)


def write_idx_set(root: str, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                  gz: bool = True) -> None:
    """The four files of an IDX set in ``root``; images (N, H, W) or (N, 1, H, W), labels (N,)."""
    os.makedirs(root, exist_ok=True)
    for split, (x, y) in (("train", train), ("test", test)):
        x = np.asarray(x)
        x = x[:, 0] if x.ndim == 4 else x
        images, labels = FILES[split]
        suffix = ".gz" if gz else ""
        write_idx(os.path.join(root, images + suffix), x)
        write_idx(os.path.join(root, labels + suffix), np.asarray(y))


def load_idx(name: str, root: str, download_missing: bool = False, test: bool = True) -> ArrayData:
    """The training split as ``train`` and, with ``test``, the test split as ``test``; ``val``
    is left empty for ``load_data`` to hold out of ``train``. The test files must exist either
    way, but are opened only when asked for: a search never asks."""
    fmt = FORMATS[name]
    check_files(fmt, root, download_missing)
    x_train, y_train = read_split(fmt, root, "train")
    x_test, y_test = read_split(fmt, root, "test") if test else (None, None)
    if x_test is not None and x_test.shape[1:] != x_train.shape[1:]:
        raise UserError(f"{root}: test images are {x_test.shape[2]}x{x_test.shape[3]} px, training images "
                        f"{x_train.shape[2]}x{x_train.shape[3]}")
    # Augmentation: a random crop from a 2 px zero-padded image (objects are centred on a black
    # ground, so the padding is black, not a reflection of the object's edge), which shifts by
    # up to 2 px. No horizontal flip, although the published >95% Fashion-MNIST results use one:
    # measured here (benchmarks/RESULTS.md, "SK payoff", three nets x three seeds, 12 epochs on
    # 12,000 images) adding the flip lowered every net's test accuracy by 0.3-0.6 points and its
    # val accuracy by 0.2-0.9; a mirrored digit or kana is another class anyway.
    # `data.augment: crop_flip` asks for the flip.
    augment = "crop"
    return ArrayData(name=name, x_train=x_train, y_train=y_train, x_val=x_train[:0], y_val=y_train[:0],
                     x_test=x_test, y_test=y_test, num_classes=len(fmt.class_names),
                     class_names=list(fmt.class_names), augment=augment, crop_pad=2, pad_mode="constant")
