"""What ``sksearch status`` says about a study, and the small formats of times and counts that
the status and progress lines share."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .folder import StudyFolder
from .lock import is_held
from .subnets import one_shot_info
from .table import STATUSES, of_run, searched, stopped_runs, summary

ENDED = ("completed", "stopped_early", "failed")


def clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def short(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return str(int(n))


def ended(counts: dict[str, int]) -> int:
    return sum(counts[s] for s in ENDED)


def status_info(folder: StudyFolder) -> dict[str, Any]:
    """Counts by status, the best trial and the time spent, from the study itself."""
    df = folder.status_table
    run_id = folder.run.run_id
    if not is_held(folder.root):  # no search runs in this folder: its RUNNING trials wait for a resume
        df = stopped_runs(df, run_id)
    info = summary(df)
    started = df["started"].dropna()
    finished = df["finished"].dropna()
    mine = summary(of_run(df, run_id))["counts"]
    info["planned"] = folder.space.trials
    info["run_id"] = run_id
    info["done"] = ended(mine)  # this folder's run; other drivers may share the study
    info["finished"] = info["done"] >= info["planned"] and mine["running"] + mine["interrupted"] == 0
    info["runs"] = {str(r): int(n) for r, n in df[searched(df)]["run_id"].fillna("").value_counts().items()}
    info["baselines"] = [{"name": r.baseline, "trial_id": int(r.trial_id), "status": r.status,
                          "accuracy": None if pd.isna(r.accuracy) else float(r.accuracy)}
                         for r in df[df["baseline"].notna()].itertuples()]
    info["imported"] = int(df["imported"].notna().sum())
    info["wall_s"] = float((finished.max() - started.min()).total_seconds()) if len(started) and len(finished) else 0.0
    info["trial_s"] = float(df["duration_s"].fillna(0).sum())
    info["train_s"] = float(df["train_time"].fillna(0).sum())
    info["study"] = folder.name
    info["folder"] = folder.root
    info["objectives"] = folder.objectives
    info["statuses"] = list(STATUSES)
    # The confirmations are matched on searched values, which only the full table holds.
    subnets = folder.subnet_table
    info["one_shot"] = None if subnets is None else one_shot_info(folder.table, subnets, folder.objectives, folder.name)
    return info
