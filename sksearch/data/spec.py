"""Which data set a search trains on, and the input and label shape it gives (no data read)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

NAMES = ("digits", "cifar10", "cifar100", "imagefolder")
CIFAR_CLASSES = {"cifar10": 10, "cifar100": 100}


@dataclass(frozen=True)
class DataShape:
    in_channels: int
    input_size: int
    num_classes: int


@dataclass(frozen=True)
class DataSpec:
    """Which data set and how to read it. ``root`` is needed by cifar10/cifar100/imagefolder;
    ``train_size``/``val_size``/``canvas``/``min_scale``/``max_scale`` shape the digits;
    ``train_limit``/``val_limit`` take class-balanced subsets of in-memory sets (short trials);
    ``image_size``, ``workers`` and ``follow_symlinks`` serve image folders."""

    name: str = "digits"
    root: str | None = None
    download: bool = False
    train_size: int = 4000
    val_size: int = 1000
    canvas: int = 24
    min_scale: float = 1.0
    max_scale: float = 2.5
    seed: int = 0
    train_limit: int | None = None
    val_limit: int | None = None
    image_size: int = 224
    workers: int = 4
    follow_symlinks: bool = False   # imagefolder: read class folders and images that are symlinks

    def to_dict(self) -> dict:
        return asdict(self)

    def shape(self, num_classes: int | None = None) -> DataShape:
        """The input and label shape the data set gives, known without reading it (image
        folders need their class count from the scan; 2 stands in for feasibility checks)."""
        if self.name == "digits":
            return DataShape(1, self.canvas, 10)
        if self.name in CIFAR_CLASSES:
            return DataShape(3, 32, CIFAR_CLASSES[self.name])
        return DataShape(3, self.image_size, num_classes or 2)
