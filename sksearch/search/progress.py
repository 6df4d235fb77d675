"""Progress of a running search on the driver: the trials table and ``curves.parquet``
rewritten as trials end (the curves also every few seconds while they run), and a status line.

With a terminal the status is one live line, updated in place; in a Jupyter notebook it is one
display updated in place (a bar and the line); in a log or CI it is a plain line per trial end
(at most one every few seconds) and a heartbeat. The search's last line is printed once, by the
driver when the search ends. ``showing(False)`` (``sksearch.run(progress=False)``) silences all
three for one search.

**Running** counts the trials Ray runs now (baselines included, and said so), not the study's
RUNNING rows: those are written a moment after Ray starts a trial and read only when one ends.

**The time left** is an epoch budget over the measured rate: the epochs the rest of the plan
is expected to need over the epochs per second this session has trained. Under successive
halving a trial that reached a rung continues with probability 1/eta, so a trial not started
yet is expected to need ``TimeLeft.further(0)`` epochs (quickstart: 2 + 4/3, not its full 6),
a running one ``further(epoch)``, a baseline its full budget; once trials end, their own mean
takes over from that prior. No figure is shown before a quarter of the planned trials have ended:
the first trials are no sample of the rate (start-up, the baselines' full budgets, and sizes
that vary threefold in a space: on a recorded quickstart run the figure at the first trial end
was 2.9x the truth, at a quarter of the plan 2.0x, at half 1.1x). Between ends the figure only
counts down (a slower stretch is absorbed, not shown as a climb), and it is 0 when the plan is done.
"""

from __future__ import annotations

import contextlib
import html
import shutil
import sys
import time
from typing import Any, Iterator

import pandas as pd
from ray.tune import Callback

from ..space.parsed import SchedulerSpec, SearchSpace
from ..study.curves import curves_table, write_curves
from ..study.reader import read_curves, read_table
from ..study.store import StudyRef
from ..study.summary import ENDED, clock, ended, short
from ..study.table import of_run, summary, write_table
from .schedulers import is_baseline_trial

PRIOR_WEIGHT = 2  # trials' worth of weight the scheduler's expectation keeps against measured ends


class TimeLeft:
    """The epoch-budget estimate of the time a search still needs (see the module's docstring)."""

    def __init__(self, planned: int, scheduler: SchedulerSpec, started: float, baselines: int = 0) -> None:
        self.planned, self.max_epochs, self.started = planned, scheduler.max_epochs, started
        self.rungs = scheduler.rungs()
        self.eta = scheduler.reduction_factor
        self.baselines_planned = baselines
        self.epochs: dict[Any, int] = {}     # trial -> epochs reached (running and ended)
        self.baselines: set[Any] = set()     # trials that are baselines (full budget, never cut)
        self.ended: set[Any] = set()
        self.trained = 0                     # epochs trained in this session
        self.prior_ended = 0                 # searched trials that ended before this session
        self._last: tuple[float, float] | None = None  # (time, estimate) at the last update

    def further(self, reached: int) -> float:
        """Epochs a searched trial that reached epoch ``reached`` is expected to train still:
        past each rung ahead of it, 1/eta of the trials continue."""
        expected, at, share = 0.0, reached, 1.0
        for stop in (*self.rungs, self.max_epochs):
            if stop > at:
                expected += share * (stop - at)
                at = stop
                share /= self.eta
        return expected

    def epoch(self, trial: Any, epoch: int, baseline: bool = False) -> None:
        """A trial reported ``epoch`` (one epoch trained; a re-reported one is not counted)."""
        if baseline:
            self.baselines.add(trial)
        if epoch > self.epochs.get(trial, 0):
            self.trained += 1
            self.epochs[trial] = epoch

    def end(self, trial: Any) -> None:
        self.ended.add(trial)
        self._last = None  # a trial end is when the estimate may be made afresh

    def _per_trial(self) -> float:
        """Epochs a searched trial not started yet is expected to train."""
        done = [self.epochs.get(t, 0) for t in self.ended if t not in self.baselines]
        return (PRIOR_WEIGHT * self.further(0) + sum(done)) / (PRIOR_WEIGHT + len(done))

    def remaining_epochs(self) -> float:
        running = [t for t in self.epochs if t not in self.ended]
        searched_seen = sum(1 for t in self.epochs if t not in self.baselines)
        unstarted = max(0, self.planned - self.prior_ended - searched_seen)
        baselines_unstarted = max(0, self.baselines_planned - len(self.baselines))
        ahead = sum(self.max_epochs - self.epochs[t] if t in self.baselines else self.further(self.epochs[t])
                    for t in running)
        return unstarted * self._per_trial() + baselines_unstarted * self.max_epochs + ahead

    def measured(self) -> bool:
        """Whether enough trials have ended for the rate to mean something (a quarter of the plan)."""
        searched_ended = self.prior_ended + sum(1 for t in self.ended if t not in self.baselines)
        return self.trained > 0 and bool(self.ended) and searched_ended >= max(1, -(-self.planned // 4))

    def seconds(self, now: float) -> float | None:
        """The estimate at ``now``; None until ``measured()``."""
        remaining = self.remaining_epochs()
        if remaining <= 0:
            return 0.0
        if not self.measured():
            return None
        fresh = remaining / (self.trained / max(now - self.started, 1e-9))
        if self._last is not None:
            then, before = self._last
            fresh = min(fresh, max(0.0, before - (now - then)))
        self._last = (now, fresh)
        return fresh


def running_text(running: int, baselines: int) -> str:
    return f"{running} running" + (f" ({baselines} of them baseline{'s' * (baselines > 1)})" if baselines else "")


def progress_line(df: pd.DataFrame, planned: int, elapsed: float, left: float | None,
                  running: tuple[int, int] | None = None) -> str:
    """``[ 1:23] 5/16 trials done (1 completed, 4 stopped early, 0 failed) | 2 running | ...``.
    The ended counts come from the table; ``running`` is (trials running, baselines among
    them) as Ray runs them now (default: the table's running rows)."""
    info = summary(df)
    c = info["counts"]
    finished = ended(c)
    if running is None:
        running = (c["running"], 0)
    parts = [f"[{clock(elapsed):>7}] {finished}/{planned} trials done ({c['completed']} completed, "
             f"{c['stopped_early']} stopped early, {c['failed']} failed)", running_text(*running)]
    if c["interrupted"]:
        parts.append(f"{c['interrupted']} interrupted")
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


_show = [True]  # whether this process shows a search's progress now (``showing``)


@contextlib.contextmanager
def showing(show: bool) -> Iterator[None]:
    """Show (or not) the progress of the searches run inside the block. A switch of the driver's
    process rather than a callback's setting: a resumed search's callback is the one Ray pickled
    when the search began."""
    before = _show[0]
    _show[0] = show
    try:
        yield
    finally:
        _show[0] = before


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython's ZMQ shell): a terminal IPython or a
    plain script gets the terminal's live line or plain lines instead. IPython is looked up, not
    imported: a kernel has always imported it already."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if callable(get) else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class ProgressView:
    """What the notebook's display shows: a progress bar and the status line (HTML for the
    notebook, the text bar for a plain-text front end and for nbclient's outputs)."""

    def __init__(self, done: int, planned: int, line: str) -> None:
        self.done, self.planned, self.line = done, planned, line

    def __repr__(self) -> str:
        return f"{bar(self.done, self.planned)} {self.line}"

    def _repr_html_(self) -> str:
        return (f"<div><progress value='{min(self.done, self.planned)}' max='{max(self.planned, 1)}' "
                f"style='width: 20em'></progress> <code>{html.escape(self.line)}</code></div>")


class NotebookDisplay:
    """One display in the notebook's output, updated in place. IPython's own display (with a
    ``display_id``) rather than tqdm's notebook bar: IPython is there wherever a notebook kernel
    is, while tqdm (and the ipywidgets its bar needs) are no dependency of sksearch."""

    def __init__(self) -> None:
        self._handle: Any = None

    def show(self, view: ProgressView) -> None:
        from IPython.display import display

        if self._handle is None:
            self._handle = display(view, display_id=True)
        else:
            self._handle.update(view)

    def close(self) -> None:
        """The next search starts a display of its own; this one keeps its last view."""
        self._handle = None


class StudyCallback(Callback):
    """Rewrites ``trials.csv``/``.parquet`` and ``curves.parquet`` from the study as trials end,
    and shows progress (a live line on a terminal, plain lines elsewhere)."""

    def __init__(self, study: StudyRef, space: SearchSpace, run_id: str | None = None,
                 heartbeat_s: float = 30.0, min_gap_s: float = 3.0) -> None:
        self.study, self.folder, self.space = study, study.where, space  # a search's study is its folder's
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
        self._running: tuple[int, int] = (0, 0)  # Ray's running trials, baselines among them
        self._notebook: NotebookDisplay | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_table": None, "_left": None, "_notebook": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({"_notebook": None, **state})  # a callback pickled before the notebook display

    def relocate(self, study: StudyRef) -> None:
        """Read ``study`` and write the tables into its folder (a callback restored from a
        copied or moved folder's ``tuner.pkl`` names the folder it was pickled in)."""
        self.study, self.folder = study, study.where

    def setup(self, **info: Any) -> None:
        self._t0 = self._last_print = time.time()
        self._refresh()
        mine = self._mine()
        baselines_done = int((mine["baseline"].notna() & mine["status"].isin(ENDED)).sum())
        self._left = TimeLeft(self.space.trials, self.space.scheduler, self._t0,
                              baselines=max(0, len(self.space.baselines) - baselines_done))
        self._left.prior_ended = ended(summary(mine)["counts"])

    def _refresh(self) -> None:
        self._table = read_table(self.study)
        write_table(self._table, self.folder)
        self._write_curves()

    def _write_curves(self) -> None:
        curves = read_curves(self.study)
        write_curves(curves_table(curves, self._table, self.space.scheduler.rungs()), self.folder)
        self._curves_written = time.time()

    def _mine(self) -> pd.DataFrame:
        return of_run(self._table, self.run_id)

    def _count_running(self, trials: list, leaving: Any = None) -> None:
        """Ray's running trials now; ``leaving`` (a trial being told it ended) is not one."""
        running = [t for t in trials if getattr(t, "status", None) == "RUNNING" and t is not leaving]
        self._running = (len(running), sum(1 for t in running if is_baseline_trial(t)))

    def _done(self) -> bool:
        return ended(summary(self._mine())["counts"]) >= self.space.trials

    def _line(self) -> str:
        now = time.time()
        left = self._left.seconds(now) if self._left else None
        return progress_line(self._mine(), self.space.trials, now - self._t0, left, self._running)

    def _print(self) -> None:
        if not _show[0]:
            self._last_print = time.time()
            self._owed = False
            return
        if in_notebook():
            if self._notebook is None:
                self._notebook = NotebookDisplay()
            self._notebook.show(ProgressView(ended(summary(self._mine())["counts"]), self.space.trials, self._line()))
        elif sys.stdout.isatty():
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
        if self._notebook is not None:
            if _show[0] and self._table is not None:  # the display ends on the search's last count
                self._notebook.show(ProgressView(ended(summary(self._mine())["counts"]), self.space.trials,
                                                 self._line()))
            self._notebook.close()

    def _trial_ended(self, trials: list, trial: Any) -> None:
        if self._left is not None:
            self._left.end(trial.trial_id)
        self._count_running(trials, leaving=trial)
        self._refresh()
        if self._done():  # the driver prints the search's last line, once
            self._owed = False
            return
        self._owed = True
        if time.time() - self._last_print >= self.min_gap_s or sys.stdout.isatty() or in_notebook():
            self._print()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._count_running(trials)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self._count_running(trials)
        if self._left is not None and isinstance(result.get("epoch"), int) and "error" not in result:
            self._left.epoch(trial.trial_id, result["epoch"], baseline=is_baseline_trial(trial))
        # Curves stay current while trials run, at most every curves_gap_s.
        if self._table is not None and time.time() - self._curves_written >= self.curves_gap_s:
            self._write_curves()
        if (sys.stdout.isatty() or in_notebook()) and self._table is not None and time.time() - self._last_print >= 1.0:
            self._print()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._trial_ended(trials, trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._trial_ended(trials, trial)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self._count_running(trials)
        since = time.time() - self._last_print
        if (self._owed and since >= self.min_gap_s) or since >= self.heartbeat_s:
            if self._table is None:
                self._refresh()
            if not self._done():
                self._print()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._refresh()
        self.end_live_line()
