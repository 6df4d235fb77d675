"""The trials table: one row per trial of a study, built from the Optuna study alone.

Columns: ``trial_id`` (the Optuna trial number), ``status`` (completed, stopped_early,
failed, rejected, running), ``epochs`` reached, the metrics (``accuracy``, ``loss``,
``params``, ``macs``, ``latency`` when measured, ``train_time``), bookkeeping (``reason``,
``node``, ``ray_trial_id``, ``started``, ``finished``, ``duration_s``), then one column per
searched parameter, named as in the space file (``sk.M``, ``stages.0.depth``, ``lr``...).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import optuna
import pandas as pd
from optuna.trial import TrialState

STATUSES = ("completed", "stopped_early", "failed", "rejected", "running")
METRICS = ("epochs", "accuracy", "loss", "params", "macs", "latency", "train_time")
BOOKKEEPING = ("reason", "node", "ray_trial_id", "started", "finished", "duration_s")
_STATE_STATUS = {TrialState.COMPLETE: "completed", TrialState.PRUNED: "stopped_early", TrialState.FAIL: "failed",
                 TrialState.RUNNING: "running", TrialState.WAITING: "running"}


def status_of(trial: optuna.trial.FrozenTrial) -> str:
    if trial.state == TrialState.FAIL and trial.user_attrs.get("status") == "rejected":
        return "rejected"
    return _STATE_STATUS[trial.state]


def trials_table(study: optuna.Study) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    param_names: list[str] = []
    for t in study.get_trials(deepcopy=False):
        attrs = t.user_attrs
        row: dict[str, Any] = {"trial_id": t.number, "status": status_of(t)}
        for key in METRICS:
            row[key] = attrs.get(key)
        if t.state == TrialState.COMPLETE and t.values is not None:
            names = study.metric_names or []
            for name, value in zip(names, t.values):
                row[name] = value
        row["reason"] = attrs.get("reason")
        row["node"] = attrs.get("node")
        row["ray_trial_id"] = attrs.get("ray_trial_id")
        row["started"] = t.datetime_start
        row["finished"] = t.datetime_complete
        row["duration_s"] = ((t.datetime_complete - t.datetime_start).total_seconds()
                             if t.datetime_complete and t.datetime_start else None)
        for name, value in t.params.items():
            if name not in param_names:
                param_names.append(name)
            row[name] = value
        rows.append(row)
    columns = ["trial_id", "status", *METRICS, *BOOKKEEPING, *param_names]
    df = pd.DataFrame(rows, columns=columns)
    for col in ("epochs", "params", "macs"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
    for col in ("accuracy", "loss", "latency", "train_time", "duration_s"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    if df["latency"].isna().all():
        df = df.drop(columns=["latency"])
    return df


def param_columns(df: pd.DataFrame) -> list[str]:
    """The searched-parameter columns of a trials table, in the order they were sampled."""
    fixed = {"trial_id", "status", *METRICS, *BOOKKEEPING, "front", "latency"}
    return [c for c in df.columns if c not in fixed]


def _atomic_write(path: str, write: Any) -> None:
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_table(df: pd.DataFrame, folder: str) -> None:
    """``trials.csv`` and ``trials.parquet``, each replaced atomically (a reader never sees half)."""
    _atomic_write(os.path.join(folder, "trials.csv"), lambda p: df.to_csv(p, index=False))
    _atomic_write(os.path.join(folder, "trials.parquet"), lambda p: df.to_parquet(p, index=False))


def read_table(folder: str) -> pd.DataFrame:
    parquet = os.path.join(folder, "trials.parquet")
    if os.path.exists(parquet):
        return pd.read_parquet(parquet)
    return pd.read_csv(os.path.join(folder, "trials.csv"))


def summary(df: pd.DataFrame) -> dict[str, Any]:
    """Counts by status and the best completed trial (by accuracy)."""
    counts = {s: int((df["status"] == s).sum()) for s in STATUSES}
    done = df[df["status"] == "completed"]
    best = None
    if len(done):
        row = done.loc[done["accuracy"].idxmax()]
        best = {"trial_id": int(row["trial_id"]), "accuracy": float(row["accuracy"]),
                "params": int(row["params"]), "macs": int(row["macs"])}
    return {"counts": counts, "total": int(len(df)), "best": best}
