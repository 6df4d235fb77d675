"""Which data set a search trains on, and the input and label shape it gives (no data read)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..errors import UserError

# Digits are generated in memory: at most MAX_DIGIT_BYTES of images (10^6 images of 24 px are 0.6 GB).
MAX_DIGIT_BYTES = 2 * 10**9
DIGIT_PX = 8  # the embedded digits' side before scaling (data/digits.py draws sides of round(8 * scale))


@dataclass(frozen=True)
class DataShape:
    in_channels: int
    input_size: int
    num_classes: int


@dataclass(frozen=True)
class DataSet:
    """One data set a space can name: what it is, which reader in ``load.READERS`` reads it,
    and the shape it gives, known without reading it. ``side`` is the image side in px, or the
    ``DataSpec`` field that sets it; ``classes`` is None where the class count is only known
    once read (an image folder's class folders). ``holdout``: for a set that ships a test
    split, ``val_size``'s default, the class-balanced hold-out of the training split that is
    ``val``. ``settings``: the ``DataSpec`` knobs the name stands for (a knob the data section
    gives wins). ``reads``: the data section's keys that only some sets read, those this one does."""

    name: str
    about: str
    reader: str
    in_channels: int
    side: int | str
    classes: int | None
    holdout: int | None = None
    settings: dict[str, float] = field(default_factory=dict)
    reads: tuple[str, ...] = ()

    def shape(self, spec: DataSpec, num_classes: int | None = None) -> DataShape:
        side = self.side if isinstance(self.side, int) else getattr(spec, self.side)
        return DataShape(self.in_channels, side, self.classes or num_classes or 2)


_DIGITS = ("train_size", "val_size", "canvas", "min_scale", "max_scale", "clutter")
_FILES = ("root", "download", "val_size")
# Every data set, in the order the CLI and the errors list them. The embedded digits stand
# under two names, each a setting of the digits' knobs: ``digits`` is the first round's set,
# kept as it was; ``cluttered_digits`` is the quickstart's (benchmarks/RESULTS.md, "SK payoff").
DATASETS: dict[str, DataSet] = {d.name: d for d in (
    DataSet("digits", "embedded multi-scale digits, the first round's set: 8 px x 1.0-2.5 on a 24 px canvas",
            "digits", 1, "canvas", 10, reads=_DIGITS),
    DataSet("cluttered_digits", "embedded digits at 8 px x 0.75-3.75 on a 32 px canvas, each with a fragment of "
            "another class (the quickstart's)", "digits", 1, "canvas", 10,
            settings={"canvas": 32, "min_scale": 0.75, "max_scale": 3.75, "clutter": 1}, reads=_DIGITS),
    DataSet("fashion_mnist", "Fashion-MNIST, the official IDX files", "idx", 1, 28, 10, 6000, reads=_FILES),
    DataSet("mnist", "MNIST, the official IDX files", "idx", 1, 28, 10, 6000, reads=_FILES),
    DataSet("kmnist", "Kuzushiji-MNIST, the official IDX files", "idx", 1, 28, 10, 6000, reads=_FILES),
    DataSet("cifar10", "CIFAR-10, the official python archives", "cifar", 3, 32, 10, 5000, reads=_FILES),
    DataSet("cifar100", "CIFAR-100, the official python archives", "cifar", 3, 32, 100, 5000, reads=_FILES),
    DataSet("imagefolder", "an image folder: root/train/CLASS/, root/val/CLASS/ and optionally root/test/CLASS/",
            "imagefolder", 3, "image_size", None, reads=("root", "image_size", "workers", "follow_symlinks")),
    DataSet("synthetic_cifar", "CIFAR-shaped generated images (coloured blobs per class), for speed figures",
            "synthetic", 3, 32, 10, reads=("train_size", "val_size")),
)}
NAMES = tuple(DATASETS)
VAL_SPLITS = ("holdout", "test")
AUGMENTS = ("none", "crop", "crop_flip")


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
        row = DATASETS.get(record.get("name"))  # type: ignore[arg-type]
        if "val_split" not in record and row is not None and row.reader == "cifar":
            record["val_split"] = "test"
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in record.items() if k in known})

    @classmethod
    def named(cls, name: str = "digits", **given: object) -> DataSpec:
        """The data set ``name`` with the settings its name stands for; ``given`` wins."""
        row = DATASETS.get(name)
        defaults = {} if row is None else {**row.settings, **({} if row.holdout is None else {"val_size": row.holdout})}
        return cls(name=name, **{**defaults, **given})

    @property
    def dataset(self) -> DataSet:
        """This set's row of ``DATASETS``; a name not in the table is refused with the names that are."""
        try:
            return DATASETS[self.name]
        except KeyError:
            raise UserError(f"data.name: {self.name!r} is not a data set; allowed: {', '.join(NAMES)}") from None

    @property
    def is_digits(self) -> bool:
        row = DATASETS.get(self.name)
        return row is not None and row.reader == "digits"

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

    def shape(self, data: object = None) -> DataShape:
        """The input and label shape the data set gives, known without reading it. An image
        folder's class count comes from ``data``, the set once loaded (scanned); before, 2
        stands in for feasibility checks."""
        return self.dataset.shape(self, getattr(data, "num_classes", None))
