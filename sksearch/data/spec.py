"""Which data set a search trains on, and the input and label shape it gives (no data read)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# The embedded digits under two names: each name stands for a setting of the digits' knobs,
# and a knob the data section (or DataSpec) gives wins. ``digits`` is the first round's set,
# kept as it was; ``cluttered_digits`` is the quickstart's (benchmarks/RESULTS.md, "SK payoff").
DIGIT_SETS: dict[str, dict[str, float]] = {
    "digits": {},
    "cluttered_digits": {"canvas": 32, "min_scale": 0.75, "max_scale": 3.75, "clutter": 1},
}
NAMES = (*DIGIT_SETS, "cifar10", "cifar100", "imagefolder", "synthetic_cifar")
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
    clutter: int = 0                # digits: fragments of other digits added to every image
    train_limit: int | None = None
    val_limit: int | None = None
    image_size: int = 224
    workers: int = 4
    follow_symlinks: bool = False   # imagefolder: read class folders and images that are symlinks

    @classmethod
    def named(cls, name: str = "digits", **given: object) -> DataSpec:
        """The data set ``name`` with the settings its name stands for; ``given`` wins."""
        return cls(name=name, **{**DIGIT_SETS.get(name, {}), **given})

    @property
    def is_digits(self) -> bool:
        return self.name in DIGIT_SETS

    def to_dict(self) -> dict:
        return asdict(self)

    def shape(self, num_classes: int | None = None) -> DataShape:
        """The input and label shape the data set gives, known without reading it (image
        folders need their class count from the scan; 2 stands in for feasibility checks)."""
        if self.is_digits:
            return DataShape(1, self.canvas, 10)
        if self.name in CIFAR_CLASSES:
            return DataShape(3, 32, CIFAR_CLASSES[self.name])
        if self.name == "synthetic_cifar":
            return DataShape(3, 32, 10)
        return DataShape(3, self.image_size, num_classes or 2)
