"""The Optuna study behind a study folder: opened read-only for the read commands, created or
loaded by a search; and the SQLite housekeeping both need (the file of a URL, a hot journal).

Read commands never create a database or a study: a missing, empty or foreign database is a
``UserError`` that says what was expected.
"""

from __future__ import annotations

import os
import sqlite3
import warnings
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import quote

from ..errors import UserError
from ..scoped import optuna_warnings_only

if TYPE_CHECKING:
    import optuna

    from ..space.parsed import SearchSpace


@dataclass(frozen=True)
class StudyRef:
    """Where a study's trials are read from: the database ``url``, the study's ``name`` there,
    and ``where``, what an error names (the study folder, or the argument the user gave)."""

    url: str
    name: str
    where: str

    def beside(self, name: str) -> StudyRef:
        """The study ``name`` in the same database (its baselines, its one-shot subnets)."""
        return replace(self, name=name)


# A study's baselines are trials of their own study beside it, so that the samplers, which
# learn from a study's trials, never see a network that is not a sample of the space.
BASELINES_SUFFIX = ":baselines"


def baselines_study(name: str) -> str:
    return name + BASELINES_SUFFIX


# A one-shot search's subnet evaluations (inherited weights, thousands of them) are a study of
# their own too: the main study holds only trials that trained a network stand-alone.
ONE_SHOT_SUFFIX = ":one_shot"


def one_shot_study(name: str) -> str:
    """The study of a space's subnet evaluations, beside its main study."""
    return name + ONE_SHOT_SUFFIX


# ``sksearch confirm``'s runs (a front trial trained again with a new seed, a stopped trial
# trained to the full budget) are a study of their own too, each linked to its trial by the
# user attribute ``trial_id``: the samplers must never learn from a second run of a sample.
CONFIRM_SUFFIX = ":confirm"


def confirm_study(name: str) -> str:
    """The study of a study's confirmation runs, beside its main study."""
    return name + CONFIRM_SUFFIX


def beside(name: str) -> bool:
    """Whether a study name is one kept beside a main study (its baselines, subnets or
    confirmation runs), which may be absent: a read of it that finds none reads no trials."""
    return name.endswith((BASELINES_SUFFIX, ONE_SHOT_SUFFIX, CONFIRM_SUFFIX))


def is_baseline(number: int) -> bool:
    """Whether a trial number (as the table, the searcher and the trial folders give it) is a
    baseline's: baselines are numbered -1, -2, ... so that they never meet a searched trial's."""
    return number < 0


def baseline_number(number: int) -> int:
    """A baseline's number in the table (-1, -2, ...) from its number in the baselines study
    (0, 1, ...), and back: the map is its own inverse."""
    return -number - 1


def sqlite_file(url: str) -> str | None:
    """The file of a ``sqlite:///path`` URL (absolute as ``sqlite:////abs``); None for other
    databases and in-memory SQLite."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///"):].split("?", 1)[0]
    if path.startswith("file:"):
        path = path[len("file:"):]
    return path or None


def check_sqlite(url: str, where: str) -> str | None:
    """For a SQLite URL, the database file after checking that it exists and is not empty;
    ``where`` names the study folder in the message."""
    path = sqlite_file(url)
    if path is None:
        return None
    if not os.path.isfile(path):
        raise UserError(f"{where}: its study database {path} does not exist (run.json names {url}); "
                        f"a moved folder keeps its optuna.db beside run.json")
    if os.path.getsize(path) == 0:
        raise UserError(f"{where}: its study database {path} is empty (0 bytes): the study's trials are lost; "
                        f"restore optuna.db from a copy")
    return path


def recover_hot_journal(path: str) -> None:
    """Roll back what a writer killed mid-transaction left in ``path-journal``.

    A read-only connection cannot do that rollback and SQLite then refuses to read at all
    ("attempt to write a readonly database"); any later writer would do it first thing. It
    restores the last committed state and changes no committed row, so a read command may do
    it: one read-write connection, opened and closed here."""
    journal = path + "-journal"
    if os.path.exists(journal) and os.path.getsize(journal) > 0:
        con = sqlite3.connect(path)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchall()
        finally:
            con.close()


def read_only_url(url: str) -> str:
    """A SQLite URL that opens the file read-only (SQLite's URI mode=ro); others unchanged."""
    path = sqlite_file(url)
    if path is None:
        return url
    return f"sqlite:///file:{quote(os.path.abspath(path))}?mode=ro&uri=true"


@optuna_warnings_only()
def load_study(study: StudyRef) -> optuna.Study:
    """The study ``study.name`` in the database at ``study.url``, opened for reading only."""
    import optuna
    import sqlalchemy.exc

    url, name, where = study.url, study.name, study.where
    path = check_sqlite(url, where)
    if path:
        recover_hot_journal(path)
    try:
        storage = optuna.storages.RDBStorage(read_only_url(url), skip_table_creation=True)
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        raise UserError(f"{where}: the database {url} holds no study named {name!r} (run.json's study_name)") from None
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.OptunaError, RuntimeError, ValueError,
            ImportError) as exc:  # ImportError: a URL whose database driver is not installed
        raise UserError(f"{where}: cannot read the Optuna study in {url} ({str(exc).splitlines()[0]})") from None


@optuna_warnings_only()
def open_for_search(url: str, name: str, space: SearchSpace,
                    sampler: optuna.samplers.BaseSampler | None = None) -> optuna.Study:
    """The study a search writes: created on the first run, loaded on later ones; its
    objectives must be the space's."""
    import time

    import optuna
    import sqlalchemy.exc

    for attempt in range(6):
        try:
            # Drivers that start together on a new database race to create its tables and
            # the study; whoever loses finds them made a moment later.
            storage = optuna.storages.RDBStorage(url) if "://" in url else url
            study = optuna.create_study(storage=storage, study_name=name, directions=space.directions,
                                        sampler=sampler, load_if_exists=True)
            break
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError,
                optuna.exceptions.StorageInternalError):
            if attempt == 5:
                raise
            time.sleep(0.3 * (attempt + 1))
    wanted = [optuna.study.StudyDirection.MAXIMIZE if d == "maximize" else optuna.study.StudyDirection.MINIMIZE
              for d in space.directions]
    # Directions alone cannot tell [accuracy, params] from [accuracy, macs]: a study's
    # recorded names are its objectives, and another driver's values would be read under them.
    recorded = study.metric_names
    if study.directions != wanted or (recorded is not None and list(recorded) != space.metric_names):
        theirs = ", ".join(recorded) if recorded else " and ".join(d.name.lower() for d in study.directions)
        raise UserError(f"study {name!r} in {url} has the objectives {theirs}; this space's are "
                        f"{', '.join(space.metric_names)}: a shared study needs the same objectives (use another "
                        f"--storage or space name)")
    if recorded is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(space.metric_names)
    return study
