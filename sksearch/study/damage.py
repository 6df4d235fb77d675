"""Values read from a study's database checked before any table is built from them.

A damaged or hand-edited ``optuna.db`` can hold what no search writes: an infinite objective
value, ``NaN`` where a count belongs, a trial state Optuna does not know, a parameter index
past its choices, a curve that is not a list of epochs. Each would surface as a traceback
deep in pandas or numpy (``OverflowError``, ``TypeError: ... NAType``, ``KeyError``); here it is
one ``UserError`` naming the database, the trial and the value, before anything is built.

``Damaged`` is what the reader's decoders raise; ``reader.py`` adds the database's name.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Iterable, Sequence

from ..errors import UserError, show
from ..objectives import OBJECTIVES
from .table import CURVE, INTEGER_COLUMNS, METRICS, TrialRecord

STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")
# Whole counts: the table holds them as Int64, so past 2**53 they stop being exact.
COUNTS = INTEGER_COLUMNS
LARGEST_COUNT = 2 ** 53
TEXTS = ("status", "reason", "node", "ray_trial_id", "run_id", "baseline", "imported")
# Years pandas' timestamps can hold (1677-09-21 to 2262-04-11).
YEARS = (1678, 2261)


class Damaged(Exception):
    """A value read from a study's database that no search writes (the message says which)."""


def is_number(value: Any) -> bool:
    """A real number (bool is not one), finite; an integer within int64, as pandas holds it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return -2 ** 63 < value < 2 ** 63 if isinstance(value, int) else math.isfinite(value)


def metric_problem(name: str, value: Any) -> str | None:
    """Why ``value`` cannot be the metric ``name`` (None: it can; None itself is "not measured")."""
    if value is None:
        return None
    if not is_number(value):
        return "not a finite number"
    if name not in METRICS and name not in OBJECTIVES:
        return None  # a study made without sksearch: its values_0... may be anything finite
    if value < 0:
        return "negative"
    if name == "accuracy" and value > 1:
        return "above 1 (accuracy is a fraction)"
    if name in COUNTS and (value > LARGEST_COUNT or not float(value).is_integer()):
        return f"not a whole number up to {LARGEST_COUNT:,}"
    return None


_PLAIN = (int, float, type(None))  # by exact type: bool is no measurement
CURVE_COLUMNS = ("accuracy", "loss", "train_loss", "lr", "epoch_time")  # what curves.py reads of an epoch


def _curve_problem(curve: Any) -> str | None:
    # Checked by exact type in one pass: a report reads every epoch of every trial (10,000
    # trials of 50 epochs are half a million entries).
    if curve is None:
        return None
    if type(curve) is not list:
        return f"must be a list of epochs, got {type(curve).__name__}"
    for entry in curve:
        if type(entry) is not dict:
            return f"an epoch must be an object, got {show(entry)}"
        epoch = entry.get("epoch")
        if type(epoch) is not int or not 0 <= epoch <= LARGEST_COUNT:
            if not (type(epoch) is float and epoch.is_integer() and 0 <= epoch <= LARGEST_COUNT):
                return f"epoch {show(epoch)} is not a whole number"
        for key in CURVE_COLUMNS:
            # NaN is what a diverging loss reports; text or objects are no measurement.
            if type(entry.get(key)) not in _PLAIN:
                return f"{key} {show(entry[key])} is not a number"
    return None


def _when(value: Any) -> datetime | None:
    """A trial's start or end as a datetime (SQLite gives text)."""
    if value is None or isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise Damaged(f"time {show(value)} is not a date and time") from None
    else:
        raise Damaged(f"time {show(value)} is not a date and time")
    if moment is not None and not YEARS[0] <= moment.year <= YEARS[1]:
        raise Damaged(f"time {show(value)} is out of range")
    return moment


def check_metric_names(names: Any) -> list[str]:
    """The study's metric names (its system attribute): a list of names (sksearch's objectives;
    a study that Optuna made without sksearch has ``values_0``...)."""
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise Damaged(f"the study's metric names are {show(names)}; allowed: a list of {', '.join(OBJECTIVES)}")
    return names


def check_record(record: TrialRecord, metric_names: Sequence[str]) -> None:
    """``record`` as a search writes it, its times parsed; ``Damaged`` naming the trial and value."""
    if isinstance(record.number, bool) or not isinstance(record.number, int):
        raise Damaged(f"a trial is numbered {show(record.number)}")
    trial = f"trial {record.number}"
    if record.state not in STATES:
        raise Damaged(f"{trial} has state {show(record.state)}; allowed: {', '.join(STATES)}")
    if record.values is not None:
        for name, value in zip(metric_names, record.values):
            problem = metric_problem(name, value)
            if value is None or problem:
                raise Damaged(f"{trial}'s objective {name} is {show(value)}: {problem or 'missing'}")
    attrs = record.user_attrs
    for key in METRICS:
        problem = metric_problem(key, attrs.get(key))
        if problem:
            raise Damaged(f"{trial}'s {key} is {show(attrs[key])}: {problem}")
    for key in TEXTS:
        if attrs.get(key) is not None and not isinstance(attrs[key], str):
            raise Damaged(f"{trial}'s {key} is {show(attrs[key])}: must be text")
    problem = _curve_problem(attrs.get(CURVE))
    if problem:
        raise Damaged(f"{trial}'s {CURVE}: {problem}")
    try:
        record.datetime_start = _when(record.datetime_start)
        record.datetime_complete = _when(record.datetime_complete)
    except Damaged as exc:
        raise Damaged(f"{trial}'s {exc}") from None


def check_records(records: Iterable[TrialRecord], metric_names: Any, database: str) -> None:
    """Every record checked (``check_record``); ``UserError`` naming ``database`` otherwise."""
    try:
        check_metric_names(metric_names)
        for record in records:
            check_record(record, metric_names)
    except Damaged as exc:
        raise damaged_error(database, exc) from None


def damaged_error(database: str, exc: Damaged) -> UserError:
    return UserError(f"{database}: {exc}; the study database is damaged or was edited by hand "
                     f"(restore it from a copy)")
