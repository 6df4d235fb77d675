"""What ``sksearch status`` says about a study, and the small formats of times and counts that
the status and progress lines share."""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from .confirmations import confirm_info, phase_done, read_runs
from .folder import StudyFolder
from .layout import supernet_dir
from .lock import is_held
from .rank import kendall_interval
from .store import one_shot_study
from .subnets import chosen_subnets, one_shot_info, supernet_epochs, trust_sentence
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
    held = is_held(folder.root)
    if not held:  # no search runs in this folder: its RUNNING trials wait for a resume
        df = stopped_runs(df, run_id)
    info = summary(df)
    started = df["started"].dropna()
    finished = df["finished"].dropna()
    mine = summary(of_run(df, run_id))["counts"]
    info["planned"] = folder.space.trials
    info["run_id"] = run_id
    info["done"] = ended(mine)  # this folder's run; other drivers may share the study
    # The confirmations are matched on searched values, which only the full table holds.
    subnets = folder.subnet_table
    info["one_shot"] = None if subnets is None else one_shot_info(folder.table, subnets, folder.objectives, folder.name)
    phases_done = True
    if folder.space.strategy.name == "one_shot":
        # Its trials are the chosen subnets' confirmations, known once the subnet search ended
        # (``sksearch resume`` counts them the same way); until then the strategy's upper bound.
        info["one_shot"] = one_shot_phases(folder, subnets, info["one_shot"], held)
        chosen = info["one_shot"]["chosen"]
        strategy = folder.space.strategy
        info["planned"] = len(chosen) if chosen is not None else strategy.confirm + strategy.spread
        phases_done = bool(chosen) and info["one_shot"]["supernet"]["state"] == "trained"
    info["finished"] = (phases_done and info["done"] >= info["planned"]
                        and mine["running"] + mine["interrupted"] == 0)
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
    # After ``sksearch confirm``: means and standard errors, the audit, each rung's tau.
    runs = read_runs(folder)
    info["confirm"] = confirm_info(folder, runs, info["one_shot"] if subnets is not None else None)
    info["trials_finished"] = info["finished"]  # the search's own phases, whatever confirm's
    if folder.space.confirm.wanted:  # the space's last phase: finished once its runs all ended
        info["finished"] = info["finished"] and phase_done(folder, runs)
    info["objectives"] = folder.objectives
    info["statuses"] = list(STATUSES)
    return info


def _state(done: bool, started: bool, held: bool) -> str:
    """A phase's state: finished, running, interrupted (a resume continues it) or not started."""
    if done:
        return "finished"
    if held:  # a run holds the folder: this phase is under way, or next
        return "running"
    return "interrupted" if started else "not started"


def one_shot_phases(folder: StudyFolder, subnets: pd.DataFrame | None, found: dict[str, Any] | None,
                    held: bool) -> dict[str, Any]:
    """``one_shot_info``'s answer (zeros before the subnet search began) with how far each phase
    got: ``supernet`` (``epochs`` trained of ``planned``, its ``state``: trained, running,
    interrupted or not started), the subnet ``search``'s state and its ``planned_draws``, and
    the ``chosen`` subnets that its trials confirm (None until the search ended)."""
    strategy, space = folder.space.strategy, folder.space
    if found is None:
        agreement = {"confirmed": 0, "completed": 0, "kendall_tau": None, "spearman_rho": None}
        found = {"study": one_shot_study(folder.name), "draws": 0, "distinct": 0, "evaluated": 0, "repeats": 0,
                 "rejected": 0, "front": [], "confirmations": [], **agreement,
                 "tau_interval": kendall_interval([], []), "verdict": trust_sentence(agreement)}
    epochs = supernet_epochs(folder.root)
    trained = epochs >= strategy.supernet_epochs
    searched_all = found["draws"] >= strategy.subnets
    supernet = {"epochs": epochs, "planned": strategy.supernet_epochs,
                "state": "trained" if trained else _state(False, os.path.isdir(supernet_dir(folder.root)), held)}
    chosen = (chosen_subnets(subnets, space.metric_names, strategy.confirm, strategy.spread)
              if searched_all and subnets is not None else None)
    return {**found, "supernet": supernet, "planned_draws": strategy.subnets,
            "search": _state(searched_all, found["draws"] > 0, held and trained), "chosen": chosen}
