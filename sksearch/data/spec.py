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
IDX_SETS = ("fashion_mnist", "mnist", "kmnist")  # 28x28 grayscale, 10 classes, official IDX files
NAMES = (*DIGIT_SETS, "fashion_mnist", "mnist", "kmnist", "cifar10", "cifar100", "imagefolder", "synthetic_cifar")
CIFAR_CLASSES = {"cifar10": 10, "cifar100": 100}
# Sets that ship a test split: their ``val`` is a class-balanced, seeded hold-out of the training
# split, ``val_size`` images (10% of it unless the data section says otherwise), and the official
# test split is ``test``.
HOLDOUT_SETS: dict[str, int] = {"fashion_mnist": 6000, "mnist": 6000, "kmnist": 6000, "cifar10": 5000,
                                "cifar100": 5000}
VAL_SPLITS = ("holdout", "test")
# Digits are generated in memory: at most MAX_DIGIT_BYTES of images (10^6 images of 24 px are 0.6 GB).
MAX_DIGIT_BYTES = 2 * 10**9
DIGIT_PX = 8  # the embedded digits' side before scaling (data/digits.py draws sides of round(8 * scale))
AUGMENTS = ("none", "crop", "crop_flip")


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
    ``image_size``, ``workers`` and ``follow_symlinks`` serve image folders.

    ``val_split`` says where ``val`` comes from for sets with an official test split:
    ``holdout`` (``val_size`` images held out of the training split; ``test`` is the test split)
    or ``test`` (``val`` *is* the test split, with the whole training split for training): how
    CIFAR studies written before the three splits read CIFAR, kept so that they reopen and resume
    as they ran. A space file cannot ask for ``test``. ``augment`` overrides the set's own
    training-time augmentation (None: the set's); ``erase`` adds random erasing to it: the
    probability that an image has a rectangle of ``erase_min`` to ``erase_max`` of its area
    set to the mean (0 = off)."""

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
    val_split: str = "holdout"
    augment: str | None = None
    erase: float = 0.0
    erase_min: float = 0.02
    erase_max: float = 0.25

    @classmethod
    def from_record(cls, record: dict) -> DataSpec:
        """The spec a study or export recorded. A CIFAR record without ``val_split`` was written
        before the three splits, when ``val`` was CIFAR's test batch: it says so now."""
        record = dict(record)
        if "val_split" not in record and record.get("name") in CIFAR_CLASSES:
            record["val_split"] = "test"
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in record.items() if k in known})

    @classmethod
    def named(cls, name: str = "digits", **given: object) -> DataSpec:
        """The data set ``name`` with the settings its name stands for; ``given`` wins."""
        defaults = {**DIGIT_SETS.get(name, {}), **({"val_size": HOLDOUT_SETS[name]} if name in HOLDOUT_SETS else {})}
        return cls(name=name, **{**defaults, **given})

    @property
    def is_digits(self) -> bool:
        return self.name in DIGIT_SETS

    def problem(self) -> tuple[str, str] | None:
        """The first settings that do not go together, as (key, what is wrong and what is
        allowed); None where they all do. Every place that configures data (a space file, run's
        and train's --set, an export's record) asks before anything is written: the digits' own
        guard in ``make_digits`` stops only when the data are generated, with a traceback."""
        if self.min_scale > self.max_scale:
            return "data.min_scale", f"{self.min_scale} is above max_scale {self.max_scale}; allowed: <= max_scale"
        if not self.is_digits:
            return None
        smallest, largest = round(DIGIT_PX * self.min_scale), round(DIGIT_PX * self.max_scale)
        if smallest < 1:
            return "data.min_scale", f"{self.min_scale} makes digits of 0 px; allowed: > {0.5 / DIGIT_PX}"
        if largest > self.canvas:
            return ("data.max_scale", f"{self.max_scale} makes digits of {largest} px, larger than the {self.canvas} "
                                      f"px canvas; allowed: <= {self.canvas / DIGIT_PX} (or data.canvas >= {largest})")
        if (self.train_size + self.val_size) * self.canvas ** 2 > MAX_DIGIT_BYTES:
            return ("data.train_size", f"{self.train_size:,} + {self.val_size:,} digits of {self.canvas} px need "
                                       f"{(self.train_size + self.val_size) * self.canvas ** 2 / 1e9:.1f} GB; "
                                       f"at most {MAX_DIGIT_BYTES / 1e9:.0f} GB of images")
        return None

    def to_dict(self) -> dict:
        return asdict(self)

    def shape(self, num_classes: int | None = None) -> DataShape:
        """The input and label shape the data set gives, known without reading it (image
        folders need their class count from the scan; 2 stands in for feasibility checks)."""
        if self.is_digits:
            return DataShape(1, self.canvas, 10)
        if self.name in IDX_SETS:
            return DataShape(1, 28, 10)
        if self.name in CIFAR_CLASSES:
            return DataShape(3, 32, CIFAR_CLASSES[self.name])
        if self.name == "synthetic_cifar":
            return DataShape(3, 32, 10)
        return DataShape(3, self.image_size, num_classes or 2)
