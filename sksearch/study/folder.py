"""A study folder opened for reading: its run record (``run.json``), its space as it ran, and
the trials, curves and Optuna study read from its database on first use. Where its files lie
is ``layout.py``'s.

Nothing here imports Ray or torch: every read command starts from this module.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ..data.spec import DataSpec
from ..errors import UserError, show
from ..files import check_regular
from ..space.parsed import SearchSpace
from ..space.schema import load_space
from .curves import curves_table
from .jsonfile import read_json
from .layout import Layout
from .reader import read_curves, read_distributions, read_subnet_table, read_table
from .store import StudyRef, load_study, sqlite_file

if TYPE_CHECKING:
    import optuna as optuna_lib  # the property below is named optuna
    import pandas as pd

T = TypeVar("T")


def inside_study(root: str, path: str, what: str, trials: str | None = None) -> str:
    """``path`` resolved (links followed, ``..`` collapsed); ``UserError`` when that leaves the
    study folder ``root`` (or, given ``trials``, the study's Ray experiment in its trial
    storage), as a hostile or careless copy of a study can make it."""
    base = trials or root
    real_root, real = os.path.realpath(base), os.path.realpath(path)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        where = f"the study's trial storage {trials}" if trials else "the study folder"
        raise UserError(f"{root}: {what} {path} resolves to {real}, outside {where}; a study's files must lie "
                        f"inside it (replace the link or the folder name with the real files)")
    return real


@dataclass(frozen=True)
class RunInfo:
    """``run.json``: what a later command needs to find the study again."""

    study_name: str
    storage: str | None = None     # a database URL; None: the folder's own optuna.db
    address: str | None = None     # the Ray cluster the run joined; None: a local one
    source: str | None = None      # the space file the run started from
    created: str | None = None
    sksearch: str | None = None    # the version that made the study
    run_id: str | None = None      # the driver's id: its trials carry it (None: a study from sksearch 0.1)
    trial_storage: str | None = None  # the Ray experiment's folder outside the study; None: ray/ in it
    extra: dict[str, Any] = field(default_factory=dict)  # keys a newer version wrote

    def layout(self, root: str) -> Layout:
        """The study folder ``root``'s layout, its Ray experiment where this run put it."""
        return Layout(root, self.trial_storage)

    def study(self, root: str) -> StudyRef:
        """The study of the folder ``root`` that this run.json belongs to."""
        return StudyRef(self.storage_url(Layout(root)), self.study_name, root)

    def storage_url(self, layout: Layout) -> str:
        if self.storage is None:
            return layout.default_storage()
        path = sqlite_file(self.storage)
        if path and os.path.basename(path) == "optuna.db" and os.path.exists(layout.optuna_db):
            # The absolute path of the folder's own database (sksearch 0.1 wrote it, and so does
            # `run --storage sqlite:///DIR/optuna.db --out DIR`): after the folder moved or was
            # copied, the database beside run.json is the one meant, never the first folder's.
            # A study sharing another folder's database holds no optuna.db of its own.
            return layout.default_storage()
        return self.storage

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(out.pop("extra"))
        return out

    @classmethod
    def from_dict(cls, data: Any, path: str) -> "RunInfo":
        if not isinstance(data, dict):
            raise UserError(f"{path}: must be a JSON object with study_name and storage, got {type(data).__name__}")
        name = data.get("study_name")
        if not isinstance(name, str) or not name:
            raise UserError(f"{path}: study_name must be a non-empty string, got {name!r}")
        known = {k: data.get(k) for k in ("storage", "address", "source", "created", "sksearch", "run_id",
                                          "trial_storage")}
        for key, value in known.items():
            if value is not None and not isinstance(value, str):
                raise UserError(f"{path}: {key} must be a string or null, got {value!r}")
        extra = {k: v for k, v in data.items() if k not in known and k != "study_name"}
        return cls(study_name=name, extra=extra, **known)


def masked(url: str) -> str:
    """A database URL with its password (``user:PASSWORD@``, ``password=`` in the query) shown as ``***``."""
    url = re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)
    return re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", url)


def own_storage(root: str, run: RunInfo, follow: str = "pass --storage URL (in Python, storage=URL)") -> str:
    """The database a read command opens for the study folder ``root``: its own ``optuna.db``.

    A folder is read on the word of its ``run.json``, and a copied or hostile one may name any
    database: opening a server it names would connect to a host it chose (where libpq may offer
    a password from the environment or ``~/.pgpass``). So a ``run.json`` naming another database
    (a shared study's server, or a SQLite file outside the folder) is shown, not followed; the
    user who wants it read names it (``--storage URL``, ``sksearch.open(..., storage=URL)``;
    ``follow`` says how in the message)."""
    layout = Layout(root)
    url = run.storage_url(layout)
    path = sqlite_file(url)
    if url == layout.default_storage() or (path is not None and os.path.basename(path) == "optuna.db" and (
            os.path.realpath(os.path.dirname(os.path.abspath(path))) == os.path.realpath(root))):
        return layout.default_storage()
    raise UserError(f"{root}: its run.json names the database {masked(url)}, not the folder's own optuna.db; it is "
                    f"not followed (a folder can name any server): to read the study there, {follow}")


def read_run(root: str) -> RunInfo:
    layout = Layout(root)
    if not os.path.isdir(root):
        if os.path.exists(root):
            raise UserError(f"{root}: not a folder (a study folder holds run.json, space.yaml and optuna.db)")
        raise UserError(f"{root}: no such folder")
    if not os.path.exists(layout.run_json):
        raise UserError(f"{root}: not a study folder (no run.json); start one with "
                        f"`sksearch run SPACE.yaml --out {root}`")
    return RunInfo.from_dict(read_json(layout.run_json), layout.run_json)


class StudyFolder:
    """A study folder opened for reading: its layout, run record and space. The trials table
    and the Optuna study are read on first use, without writing to the database, and kept
    until ``refresh()``."""

    def __init__(self, root: str, run: RunInfo, space: SearchSpace, table: pd.DataFrame | None = None,
                 storage: str | None = None) -> None:
        self.root = root
        self.layout = run.layout(root)
        self.run = run
        self.space = space
        # The database the trials are read from; None: the one run.json names (a search that
        # just wrote it, whose run the user started).
        self._storage = storage
        # What was read so far, by property name; ``table`` may be handed over (a search that
        # just read it).
        self._read: dict[str, Any] = {} if table is None else {"table": table}

    @classmethod
    def open(cls, root: str, storage: str | None = None) -> StudyFolder:
        """The study folder at ``root``, its run record and space read and checked, its trials
        read from ``storage`` (a database URL) or else from the folder's own ``optuna.db``
        (``own_storage``: a run.json naming another database is an error that shows it)."""
        run = read_run(root)
        if storage is not None and not storage.strip():
            raise UserError(f"{root}: --storage is empty; give a database URL, e.g. postgresql://user@host/db")
        return cls(root, run, study_space(root), storage=storage or own_storage(root, run))

    @property
    def name(self) -> str:
        return self.run.study_name

    @property
    def objectives(self) -> list[str]:
        return self.space.metric_names

    @property
    def storage_url(self) -> str:
        return self._storage or self.run.storage_url(self.layout)

    @property
    def ref(self) -> StudyRef:
        """Where the trials are read from: the database, the study's name, this folder."""
        return StudyRef(self.storage_url, self.run.study_name, self.root)

    def _once(self, key: str, read: Callable[[], T]) -> T:
        if key not in self._read:
            self._read[key] = read()
        return self._read[key]

    @property
    def table(self) -> pd.DataFrame:
        """The trials table, read from the study (the source of truth, current even when
        ``trials.csv`` is not)."""
        return self._once("table", lambda: read_table(self.ref))

    @property
    def optuna(self) -> optuna_lib.Study:
        """The Optuna study, opened read-only where the storage allows it (kept by ``refresh()``:
        it reads the database on every use)."""
        return self._once("optuna", lambda: load_study(self.ref))

    @property
    def completed_table(self) -> pd.DataFrame:
        """The completed trials' rows of the table (all a front needs): read alone when the full
        table has not been read."""
        if "table" in self._read:
            return self._once("completed_table", lambda: self.table[self.table["status"] == "completed"])
        return self._once("completed_table", lambda: read_table(self.ref,
                                                                states=("COMPLETE",)))

    @property
    def status_table(self) -> pd.DataFrame:
        """The table without the searched values (all a status needs)."""
        if "table" in self._read:
            return self.table
        return self._once("status_table", lambda: read_table(self.ref,
                                                             params=False))

    @property
    def learning_curves(self) -> pd.DataFrame:
        """Every epoch every trial reported (``curves.py`` names the columns)."""
        return self._once("learning_curves", lambda: curves_table(
            read_curves(self.ref), self.table, self.space.scheduler.rungs()))

    @property
    def subnet_table(self) -> pd.DataFrame | None:
        """The trials table of the one-shot study beside this one (``NAME:one_shot``: subnets
        evaluated with the supernet's weights); None when the study ran no one-shot search."""
        return self._once("subnet_table", lambda: read_subnet_table(self.ref))

    @property
    def distributions(self) -> dict[str, dict[str, Any]]:
        """How each searched parameter was sampled: kind (choice, int, float), log scale, choices."""
        return self._once("distributions", lambda: read_distributions(self.ref))

    def refresh(self) -> None:
        """Forget what was read so far: the next use reads the study again."""
        self._read = {k: v for k, v in self._read.items() if k == "optuna"}

    def require_completed(self) -> None:
        if self.completed_table.empty:
            raise UserError(f"{self.root}: no trial has completed its full budget yet, so there is no front; "
                            f"see `sksearch status {self.root}`")

    def data_info(self) -> dict[str, Any] | None:
        """``data.json``: what a model trained here expects (shape, classes, normalisation)."""
        if not os.path.exists(self.layout.data_json):
            return None
        return check_data_record(read_json(self.layout.data_json, mapping=True), self.layout.data_json)


def check_data_record(record: dict[str, Any], path: str) -> dict[str, Any]:
    """A ``data.json`` (an export's ``preprocess.json``) whose values have the types its readers
    use (a damaged file's list or NaN would otherwise surface deep in a README or a loader);
    ``UserError`` naming the file and key."""
    def numbers(value: Any) -> bool:
        return isinstance(value, list) and bool(value) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0 for v in value)

    checks = {"name": lambda v: isinstance(v, str), "data_spec": lambda v: isinstance(v, dict),
              "mean": numbers, "std": lambda v: numbers(v) and all(x > 0 for x in v),
              "class_names": lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v),
              **{k: lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 1_000_000
                 for k in ("in_channels", "input_size", "num_classes")}}
    for key, ok in checks.items():
        if key in record and not ok(record[key]):
            raise UserError(f"{path}: {key}: unexpected value {show(record[key])} (a damaged file; sksearch writes "
                            f"it when the data is first loaded)")
    return record


def study_space(root: str) -> SearchSpace:
    """The space a study ran, as it ran: a CIFAR study written before the three splits (its
    data.json's data spec has no ``val_split``) ranked on CIFAR's test batch, and reopens and
    resumes so (``val_split: test``), not on the hold-out a new study would use."""
    layout = Layout(root)
    space = load_space(layout.space_yaml)
    if not os.path.exists(layout.data_json):
        return space
    # Damaged content is left to data_info(), but no study of sksearch's has a FIFO or a device
    # there: a planted one is refused by name, as run.json's would be.
    check_regular(layout.data_json)
    try:
        record = read_json(layout.data_json, mapping=True).get("data_spec")
    except UserError:
        return space  # data_info() reports an unreadable data.json where it is needed
    if isinstance(record, dict) and DataSpec.from_record(record).val_split == "test":
        return dataclasses.replace(space, data=dataclasses.replace(space.data, val_split="test"))
    return space

