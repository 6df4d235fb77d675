"""Progress of a running search on the driver: the trials table rewritten whenever a trial
ends, and one status line per trial end (at most one every few seconds) plus a heartbeat."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
from ray.tune import Callback

from ..space.schema import SearchSpace
from ..study.curves import curves_table, write_curves
from ..study.reader import read_curves, read_table
from ..study.summary import clock, ended, short
from ..study.table import summary, write_table


def progress_line(df: pd.DataFrame, planned: int, running: int, elapsed: float, done_here: int) -> str:
    """``[ 1:23] 5/16 trials done (1 completed, 4 stopped early, 0 failed) | 2 running | ...``"""
    info = summary(df)
    c = info["counts"]
    finished = ended(c)
    parts = [f"[{clock(elapsed):>7}] {finished}/{planned} trials done ({c['completed']} completed, "
             f"{c['stopped_early']} stopped early, {c['failed']} failed)", f"{running} running"]
    if c["rejected"]:
        parts.append(f"{c['rejected']} samples rejected")
    best = info["best"]
    if best:
        parts.append(f"best {best['accuracy']:.1%} (trial {best['trial_id']}, {short(best['params'])} params)")
    if done_here and finished < planned:
        parts.append(f"~{clock(elapsed / done_here * (planned - finished))} left")
    return " | ".join(parts)


class StudyCallback(Callback):
    """Rewrites ``trials.csv``/``.parquet`` from the study when a trial ends, and prints progress."""

    def __init__(self, folder: str, storage_url: str, study_name: str, space: SearchSpace,
                 heartbeat_s: float = 30.0, min_gap_s: float = 3.0) -> None:
        self.folder, self.storage_url, self.study_name, self.space = folder, storage_url, study_name, space
        self.heartbeat_s, self.min_gap_s = heartbeat_s, min_gap_s
        self.curves_gap_s = 10.0
        self._curves_written = 0.0
        self._table: pd.DataFrame | None = None
        self._t0 = time.time()
        self._last_print = 0.0
        self._owed = False   # a trial ended since the last line
        self._done_here = 0  # trials ended in this session (for the time estimate)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_table": None}

    def setup(self, **info: Any) -> None:
        self._t0 = self._last_print = time.time()
        self._done_here = 0

    def _refresh(self) -> None:
        self._table = read_table(self.storage_url, self.study_name, self.folder)
        write_table(self._table, self.folder)
        self._write_curves()

    def _write_curves(self) -> None:
        sched = self.space.scheduler
        curves = read_curves(self.storage_url, self.study_name, self.folder)
        write_curves(curves_table(curves, self._table, sched.rungs() if sched.name != "none" else []), self.folder)
        self._curves_written = time.time()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        # Curves stay current while trials run, at most every curves_gap_s.
        if self._table is not None and time.time() - self._curves_written >= self.curves_gap_s:
            self._write_curves()

    def _print(self, trials: list) -> None:
        running = sum(1 for t in trials if t.status == "RUNNING")
        now = time.time()
        print(progress_line(self._table, self.space.trials, running, now - self._t0, self._done_here), flush=True)
        self._last_print = now
        self._owed = False

    def _trial_ended(self, trials: list) -> None:
        self._done_here += 1
        self._refresh()
        self._owed = True
        if time.time() - self._last_print >= self.min_gap_s:
            self._print(trials)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._trial_ended(trials)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._trial_ended(trials)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        since = time.time() - self._last_print
        if (self._owed and since >= self.min_gap_s) or since >= self.heartbeat_s:
            if self._table is None:
                self._refresh()
            self._print(trials)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._refresh()
