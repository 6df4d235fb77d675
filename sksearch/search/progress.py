"""Progress of a running search on the driver: the trials table and ``curves.parquet``
rewritten as trials end (the curves also every few seconds while they run), and a status line.

With a terminal the status is one live line, updated in place; in a log or CI it is a plain
line per trial end (at most one every few seconds) and a heartbeat.

**The time left** is an epoch budget over the measured rate: the epochs the remaining plan can
still need (a trial not started yet may run its full budget; a running trial the rest of its
budget) over the epochs per second this session has trained. Stopping a trial early removes
its unused epochs from the budget, so the figure falls at each cut. It never rises while no
trial ends: between ends the figure can only count down (a slower stretch is absorbed, not
shown as a climb), and it is 0 when the plan is done.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any

import pandas as pd
from ray.tune import Callback

from ..space.schema import SearchSpace
from ..study.curves import curves_table, write_curves
from ..study.reader import read_curves, read_table
from ..study.summary import clock, ended, short
from ..study.table import of_run, summary, write_table


class TimeLeft:
    """The epoch-budget estimate of the time a search still needs (see the module's docstring)."""

    def __init__(self, planned: int, max_epochs: int, started: float) -> None:
        self.planned, self.max_epochs, self.started = planned, max_epochs, started
        self.epochs: dict[Any, int] = {}     # trial -> epochs reached (running and ended)
        self.ended: set[Any] = set()
        self.trained = 0                     # epochs trained in this session
        self.prior_ended = 0                 # trials that ended before this session
        self._last: tuple[float, float] | None = None  # (time, estimate) at the last update

    def epoch(self, trial: Any, epoch: int) -> None:
        """A trial reported ``epoch`` (one epoch trained; a re-reported one is not counted)."""
        if epoch > self.epochs.get(trial, 0):
            self.trained += 1
            self.epochs[trial] = epoch

    def end(self, trial: Any) -> None:
        self.ended.add(trial)
        self._last = None  # a trial end is when the estimate may be made afresh

    def remaining_epochs(self) -> int:
        running = [t for t in self.epochs if t not in self.ended]
        unstarted = max(0, self.planned - self.prior_ended - len(self.ended) - len(running))
        return unstarted * self.max_epochs + sum(self.max_epochs - self.epochs[t] for t in running)

    def seconds(self, now: float) -> float | None:
        """The estimate at ``now``; None until an epoch has been trained."""
        remaining = self.remaining_epochs()
        if remaining == 0:
            return 0.0
        if not self.trained:
            return None
        fresh = remaining / (self.trained / max(now - self.started, 1e-9))
        if self._last is not None:
            then, before = self._last
            fresh = min(fresh, max(0.0, before - (now - then)))
        self._last = (now, fresh)
        return fresh


def progress_line(df: pd.DataFrame, planned: int, elapsed: float, left: float | None) -> str:
    """``[ 1:23] 5/16 trials done (1 completed, 4 stopped early, 0 failed) | 2 running | ...``;
    every count comes from the one table, so done and running always agree."""
    info = summary(df)
    c = info["counts"]
    finished = ended(c)
    parts = [f"[{clock(elapsed):>7}] {finished}/{planned} trials done ({c['completed']} completed, "
             f"{c['stopped_early']} stopped early, {c['failed']} failed)", f"{c['running']} running"]
    if c["rejected"]:
        parts.append(f"{c['rejected']} samples rejected")
    best = info["best"]
    if best:
        parts.append(f"best {best['accuracy']:.1%} (trial {best['trial_id']}, {short(best['params'])} params)")
    if left is not None and finished < planned:
        parts.append(f"~{clock(left)} left")
    return " | ".join(parts)


def bar(done: int, planned: int, width: int = 20) -> str:
    filled = round(width * min(done, planned) / max(planned, 1))
    return "[" + "#" * filled + "-" * (width - filled) + "]"


class StudyCallback(Callback):
    """Rewrites ``trials.csv``/``.parquet`` and ``curves.parquet`` from the study as trials end,
    and shows progress (a live line on a terminal, plain lines elsewhere)."""

    def __init__(self, folder: str, storage_url: str, study_name: str, space: SearchSpace, run_id: str | None = None,
                 heartbeat_s: float = 30.0, min_gap_s: float = 3.0) -> None:
        self.folder, self.storage_url, self.study_name, self.space = folder, storage_url, study_name, space
        self.run_id = run_id  # the lines count this driver's trials (others may share the study)
        self.heartbeat_s, self.min_gap_s = heartbeat_s, min_gap_s
        self.curves_gap_s = 10.0
        self._curves_written = 0.0
        self._table: pd.DataFrame | None = None
        self._t0 = time.time()
        self._last_print = 0.0
        self._owed = False   # a trial ended since the last line
        self._left: TimeLeft | None = None
        self._live = False   # a live line is on the terminal

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_table": None, "_left": None}

    def setup(self, **info: Any) -> None:
        self._t0 = self._last_print = time.time()
        self._refresh()
        self._left = TimeLeft(self.space.trials, self.space.scheduler.max_epochs, self._t0)
        self._left.prior_ended = ended(summary(self._mine())["counts"])

    def _refresh(self) -> None:
        self._table = read_table(self.storage_url, self.study_name, self.folder)
        write_table(self._table, self.folder)
        self._write_curves()

    def _write_curves(self) -> None:
        sched = self.space.scheduler
        curves = read_curves(self.storage_url, self.study_name, self.folder)
        write_curves(curves_table(curves, self._table, sched.rungs() if sched.name != "none" else []), self.folder)
        self._curves_written = time.time()

    def _mine(self) -> pd.DataFrame:
        return of_run(self._table, self.run_id)

    def _line(self) -> str:
        now = time.time()
        left = self._left.seconds(now) if self._left else None
        return progress_line(self._mine(), self.space.trials, now - self._t0, left)

    def _print(self) -> None:
        if sys.stdout.isatty():
            done = ended(summary(self._mine())["counts"])
            width = shutil.get_terminal_size((120, 20)).columns
            line = f"{bar(done, self.space.trials)} {self._line()}"[:width - 1]
            sys.stdout.write("\r\x1b[2K" + line)
            sys.stdout.flush()
            self._live = True
        else:
            print(self._line(), flush=True)
        self._last_print = time.time()
        self._owed = False

    def end_live_line(self) -> None:
        """Leave the live line on the terminal, so what is printed next starts on a new one."""
        if self._live:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self._live = False

    def _trial_ended(self, trial: Any) -> None:
        if self._left is not None:
            self._left.end(trial.trial_id)
        self._refresh()
        self._owed = True
        if time.time() - self._last_print >= self.min_gap_s or sys.stdout.isatty():
            self._print()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if self._left is not None and isinstance(result.get("epoch"), int) and "error" not in result:
            self._left.epoch(trial.trial_id, result["epoch"])
        # Curves stay current while trials run, at most every curves_gap_s.
        if self._table is not None and time.time() - self._curves_written >= self.curves_gap_s:
            self._write_curves()
        if sys.stdout.isatty() and self._table is not None and time.time() - self._last_print >= 1.0:
            self._print()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._trial_ended(trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._trial_ended(trial)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        since = time.time() - self._last_print
        if (self._owed and since >= self.min_gap_s) or since >= self.heartbeat_s:
            if self._table is None:
                self._refresh()
            self._print()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._refresh()
        self.end_live_line()
