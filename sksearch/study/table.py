"""The trials table: one row per trial of a study, built from the study's trials alone.

Columns: ``trial_id`` (the Optuna trial number; a baseline's is negative), ``status``
(completed, stopped_early, failed, rejected, running, queued), ``epochs`` reached, the metrics
(``accuracy``, ``loss``, ``params``, ``macs``, ``latency`` when measured, ``train_time``,
``peak_memory``: bytes the trial held at most on its GPU, CUDA trials only; ``peak_rss``:
bytes of resident memory its process held at most by the trial's end, earlier trials of a
reused Ray worker included),
bookkeeping (``reason``, ``node``, ``ray_trial_id``, ``run_id`` of the driver that trained it,
``baseline`` name, ``imported`` from, ``started``, ``finished``, ``duration_s``), then one column
per searched parameter, named as in the space file (``sk.M``, ``stages.0.depth``, ``lr``...).

Searched trials are the rows that are neither baselines nor imported (``searched``); fronts
and the hypervolume are theirs.

The rows come from ``TrialRecord``s, which ``reader.py`` reads from the database directly and
``records_from_study`` takes from an ``optuna.Study``; both give the same table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from ..objectives import COUNTED, MEASURED, OBJECTIVES
from .layout import Layout, atomic_write

# pandas is imported where a table is built: ``import sksearch`` loads this module (through
# StudyFolder), and ``sksearch models`` answers without pandas.
if TYPE_CHECKING:
    import optuna
    import pandas as pd

# ``interrupted``: RUNNING in the study while the driver that ran it has stopped (Ctrl-C,
# SIGTERM, a crash); ``sksearch resume`` continues it. The study itself keeps it RUNNING, so
# that the resume can hand it out again; the table says what it is (``stopped_runs``).
STATUSES = ("completed", "stopped_early", "failed", "rejected", "running", "interrupted", "queued")
# What a trial reports that the table keeps: the searcher stores these as user attributes.
METRICS = ("epochs", *OBJECTIVES, "train_time", "peak_memory", "peak_rss")
BOOKKEEPING = ("reason", "node", "ray_trial_id", "run_id", "baseline", "imported", "started", "finished", "duration_s")
# The per-epoch record of a trial, kept in the study as the user attribute CURVE: a list of
# {epoch, accuracy, loss, ...} with these keys, one entry per epoch reported (schedulers
# rebuild their rungs from it on a resume, so it holds every objective; it survives a
# SIGKILL, Ray's result.json may not).
CURVE = "curve"
CURVE_KEYS = ("epoch", *OBJECTIVES, "train_loss", "train_time", "epoch_time", "lr")
INTEGER_COLUMNS = ("epochs", *COUNTED)
FLOAT_COLUMNS = (*MEASURED, "train_time", "duration_s", "peak_memory", "peak_rss")
# A one-shot study's subnet table adds these (``subnet_table``): the network key of each draw and,
# for a draw of a network drawn before, that first draw's number. Its status is then ``repeat``
# (answered from the first evaluation), a status only subnet tables have.
SUBNET_COLUMNS = ("arch", "repeat_of")
REPEAT = "repeat"
_STATE_STATUS = {"COMPLETE": "completed", "PRUNED": "stopped_early", "FAIL": "failed", "RUNNING": "running",
                 "WAITING": "queued"}


@dataclass
class TrialRecord:
    """What the table needs of one Optuna trial."""

    number: int
    state: str                                  # an Optuna TrialState name: COMPLETE, PRUNED, FAIL, RUNNING...
    values: list[float] | None = None           # the objective values of a COMPLETE trial
    params: dict[str, Any] = field(default_factory=dict)      # in the order they were sampled
    user_attrs: dict[str, Any] = field(default_factory=dict)
    datetime_start: datetime | None = None
    datetime_complete: datetime | None = None


def records_from_study(study: optuna.Study) -> list[TrialRecord]:
    return [TrialRecord(t.number, t.state.name, t.values, dict(t.params), dict(t.user_attrs), t.datetime_start,
                        t.datetime_complete) for t in study.get_trials(deepcopy=False)]


def status_of(state: str, user_attrs: dict[str, Any]) -> str:
    # A rejected sample was never trained; Optuna holds it PRUNED with a violated constraint
    # (sksearch 0.1: FAIL) so that samplers learn to avoid its region.
    if user_attrs.get("status") == "rejected" and state in ("FAIL", "PRUNED"):
        return "rejected"
    if user_attrs.get("status") == REPEAT and state == "COMPLETE":
        return REPEAT
    return _STATE_STATUS[state]


def searched(df: pd.DataFrame, include_imported: bool = False) -> pd.Series:
    """The rows of the search itself: not baselines, and not imported unless asked (a table
    without those columns is all search)."""
    import pandas as pd

    mask = pd.Series(True, index=df.index)
    if "baseline" in df.columns:
        mask &= df["baseline"].isna()
    if not include_imported and "imported" in df.columns:
        mask &= df["imported"].isna()
    return mask


def of_run(df: pd.DataFrame, run_id: str | None) -> pd.DataFrame:
    """The rows of the driver ``run_id`` (``None``: a study from sksearch 0.1, whose trials
    carry no run id); other drivers may share the study."""
    return df[df["run_id"] == run_id] if run_id else df[df["run_id"].isna()]


def stopped_runs(df: pd.DataFrame, run_id: str | None) -> pd.DataFrame:
    """The table with the ``running`` rows of the driver ``run_id`` shown as ``interrupted``:
    for a driver known to have stopped (its folder's lock is free, or it is ending now)."""
    rows = (df["status"] == "running") & (df["run_id"] == run_id if run_id else df["run_id"].isna())
    if not rows.any():
        return df
    df = df.copy()
    df.loc[rows, "status"] = "interrupted"
    return df


def trials_table(records: Iterable[TrialRecord], metric_names: Sequence[str]) -> pd.DataFrame:
    import pandas as pd

    ordered = sorted(records, key=lambda r: r.number)
    n = len(ordered)
    param_names = list(dict.fromkeys(name for t in ordered for name in t.params))
    # Built column by column: a study of 50,000 trials is a second faster than from row dicts.
    columns: dict[str, list[Any]] = {
        "trial_id": [t.number for t in ordered],
        "status": [status_of(t.state, t.user_attrs) for t in ordered],
        **{key: [t.user_attrs.get(key) for t in ordered]
           for key in (*METRICS, "reason", "node", "ray_trial_id", "run_id", "baseline", "imported")},
        "started": [t.datetime_start for t in ordered],
        "finished": [t.datetime_complete for t in ordered],
    }
    for i, t in enumerate(ordered):
        if t.state == "COMPLETE" and t.values is not None:
            for name, value in zip(metric_names, t.values):
                if name in columns:  # a study made without sksearch names its values values_0...
                    columns[name][i] = value
    for name in param_names:
        columns[name] = [t.params.get(name) for t in ordered]
    df = pd.DataFrame(columns, index=range(n))
    df["started"] = pd.to_datetime(df["started"])
    df["finished"] = pd.to_datetime(df["finished"])
    df["duration_s"] = (df["finished"] - df["started"]).dt.total_seconds()
    for col in INTEGER_COLUMNS:
        df[col] = pd.to_numeric(df[col], errors="coerce").round().astype("Int64")
    for col in FLOAT_COLUMNS:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    df = df[["trial_id", "status", *METRICS, *BOOKKEEPING, *param_names]]
    if df["latency"].isna().all():
        df = df.drop(columns=["latency"])
    return df


def subnet_table(records: Iterable[TrialRecord], metric_names: Sequence[str]) -> pd.DataFrame:
    """The trials table of a one-shot study, with ``SUBNET_COLUMNS`` after the bookkeeping
    (None where a study from before them lacks them)."""
    import pandas as pd

    records = list(records)
    df = trials_table(records, metric_names)
    attrs = {r.number: r.user_attrs for r in records}
    at = df.columns.get_loc("duration_s") + 1
    for i, name in enumerate(SUBNET_COLUMNS):
        df.insert(at + i, name, [attrs[n].get(name) for n in df["trial_id"]])
    df["repeat_of"] = pd.to_numeric(df["repeat_of"], errors="coerce").astype("Int64")
    # A repeat draw stores its values and the number of its network's first evaluation, not a
    # copy of that evaluation's other measurements: they are the first's.
    repeats = (df["status"] == REPEAT) & df["repeat_of"].notna()
    if repeats.any():
        first = df.set_index("trial_id")
        of = df.loc[repeats, "repeat_of"].astype("int64")
        for col in METRICS:
            if col in df.columns:
                theirs = pd.Series(first[col].reindex(of.to_numpy()).to_numpy(), index=of.index, dtype=df[col].dtype)
                df.loc[repeats, col] = df.loc[repeats, col].fillna(theirs)
        df.loc[repeats, "reason"] = df.loc[repeats, "reason"].fillna(
            of.map(lambda n: f"the network of subnet {n}, evaluated there"))
    return df


# What a front table gains after ``sksearch confirm`` (``confirmations.with_stats``): the runs of
# each repeated trial and its accuracy's mean and standard error over them.
STATS_COLUMNS = ("runs", "accuracy_mean", "accuracy_se")


def param_columns(df: pd.DataFrame) -> list[str]:
    """The searched-parameter columns of a trials table, in the order they were sampled."""
    fixed = {"trial_id", "status", *METRICS, *BOOKKEEPING, *SUBNET_COLUMNS, *STATS_COLUMNS, "front"}
    return [c for c in df.columns if c not in fixed]


def write_table(df: pd.DataFrame, root: str) -> None:
    """``trials.csv`` and ``trials.parquet``, each replaced atomically (a reader never sees half)."""
    layout = Layout(root)
    atomic_write(layout.trials_csv, lambda p: df.to_csv(p, index=False))
    atomic_write(layout.trials_parquet, lambda p: df.to_parquet(p, index=False))


def counts(df: pd.DataFrame) -> dict[str, int]:
    """Searched trials by status."""
    mine = df[searched(df)]
    return {s: int((mine["status"] == s).sum()) for s in STATUSES}


def best_trial(df: pd.DataFrame) -> dict[str, Any] | None:
    """The most accurate completed searched trial: trial_id, accuracy, params, macs."""
    # Its cost is part of the answer: a row without one (a damaged record) is none.
    done = df[(df["status"] == "completed") & searched(df)].dropna(subset=["accuracy", "params", "macs"])
    if done.empty:
        return None
    row = done.loc[done["accuracy"].idxmax()]
    return {"trial_id": int(row["trial_id"]), "accuracy": float(row["accuracy"]),
            "params": int(row["params"]), "macs": int(row["macs"])}


def summary(df: pd.DataFrame) -> dict[str, Any]:
    """Counts of the searched trials by status, their ``total`` (baselines and imported trials
    are counted apart, by those who list them), and the best completed trial (by accuracy)."""
    c = counts(df)
    return {"counts": c, "total": sum(c.values()), "best": best_trial(df)}

