"""An Optuna study as a Ray Tune searcher, telling Optuna the truth about every trial.

Ray's stock ``OptunaSearch`` reports a trial that ASHA stopped as COMPLETE with its partial
accuracy, which puts half-trained models on the Pareto front and misleads the sampler. Here:

* a trial that reached the full budget is COMPLETE with its objective values;
* a trial stopped early is PRUNED (its partial metrics kept as user attributes);
* a trial that raised, diverged or died is FAIL with ``status=failed`` and the reason;
* a sample that breaks the space's budgets, or is no valid architecture, is PRUNED with
  ``status=rejected``, epochs 0 and its violated constraint, and never reaches Ray: its cost
  is known before training (FAIL would hide the region from the samplers that read
  constraints).

Only this searcher, on the driver, writes the study, so SQLite is safe. Its state (which Ray
trial is which Optuna trial) is saved as JSON with every experiment snapshot; on restore,
Optuna trials left RUNNING that Ray never recorded (started after the last snapshot) are
handed out again under their own numbers, so no sample is lost and none is told twice.

The sampler keeps no state of its own between draws: before each draw it is seeded with the
space's seed plus the number of trials the study holds. A seeded search is thus reproducible
from the study alone, a restored search draws exactly what the uninterrupted one would have
drawn from the same study (the same results, told in the same order), for each of the five
samplers (``tests/search/test_samplers.py``), and nothing but JSON is read back from the
study folder (a pickled sampler could run code).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

import optuna
from optuna.trial import FixedTrial, FrozenTrial, TrialState
from ray.tune.search import Searcher

from ..data.spec import DataShape
from ..errors import UserError
from ..files import LOG_LIMIT, read_limited
from ..space.parsed import SearchSpace
from ..space.sample import Checked, baseline_sample, check_sample, constraint_values, sample
from ..space.samplers import make_sampler
from ..study.optuna_private import frozen_trial, live_trial, set_user_attrs
from ..study.store import StudyRef, baseline_number, baselines_study, is_baseline, open_for_search
from ..study.table import CURVE, CURVE_KEYS, METRICS

# User attributes the table reads; set before a trial is told (Optuna freezes them after).
RECORDED = (*METRICS, "node")
MAX_CONSECUTIVE_REJECTIONS = 500
# GP and NSGA-II/III learn only from COMPLETE trials, so a rejected sample (PRUNED, never
# trained) teaches them nothing and they may propose the same infeasible region again and
# again (benchmarks/sampler_payoff.py: GP hit 500 rejections in a row under a tight budget).
# After this many rejections in a row, the next draws of that trial come from a seeded
# RandomSampler, which finds the feasible region wherever it is not vanishingly small.
RANDOM_AFTER_REJECTIONS = 20
STATE_PREFIX = "searcher-state-"  # Ray's name for a searcher's saved state in the experiment folder


def read_state(path: str) -> dict[str, Any]:
    """A searcher state written by ``OptunaSearcher.save`` (JSON); ``ValueError`` otherwise."""
    try:
        try:
            state = json.loads(read_limited(path, LOG_LIMIT))
        except UserError as exc:  # a FIFO, a device or an oversized file in its place
            raise ValueError(str(exc).removeprefix(f"{path}: ")) from None
        return {"trial_map": {str(k): int(v) for k, v in state["trial_map"].items()},
                "live": {str(t) for t in state["live"]}, "reissue": [int(n) for n in state["reissue"]],
                "last_results": {str(k): dict(v) for k, v in state["last_results"].items()}}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a searcher state that sksearch wrote ({str(exc)[:100]}); states are JSON "
                         f"since sksearch 0.2") from None


def check_saved_state(experiment: str) -> None:
    """Read every saved searcher state of an experiment before Ray restores it: a state that is
    not sksearch's JSON is a ``UserError`` (it is never unpickled)."""
    for name in sorted(os.listdir(experiment)):
        if name.startswith(STATE_PREFIX):
            try:
                read_state(os.path.join(experiment, name))
            except ValueError as exc:
                raise UserError(f"{exc}; nothing was changed") from None


def set_constraints(trial: optuna.Trial, space: SearchSpace, checked: Checked) -> None:
    """The sample's budgets as constraints (``constraint_values``): on every trial the searcher
    draws, so that all of them carry the same keys."""
    for key, value in constraint_values(space, checked.params, checked.macs).items():
        trial.set_constraint(key, value)


class OptunaSearcher(Searcher):
    """Proposes trials from an Optuna study and tells it COMPLETE / PRUNED / FAIL.

    ``run_id`` names the driver: its trials carry it, the budget counts only them, and on a
    restore it hands out again only its own trials left RUNNING, so several drivers can share
    one study. The space's baselines are trained first, once per study, as trials of the
    study's baselines study (numbered -1, -2, ... here and in the table).

    ``started`` is when the driver started (default: now): a trial created before it and still
    claimed by no driver was left by one that died between drawing it and naming itself on it.
    ``open()`` opens the study and settles what a dead driver left in it (it writes to the
    database); the driver calls it, and Ray's hooks call it again (a no-op once open), since a
    searcher Ray restored from its pickle arrives closed.

    Ray names its trials with id strings (``ray_trial_id`` here, as in the study's user
    attributes); ``trial_number`` and the table's ``trial_id`` are Optuna's numbers. Ray's
    hooks keep Ray's parameter name ``trial_id``, since Ray passes it by keyword."""

    def __init__(self, space: SearchSpace, storage_url: str, study_name: str, shape: DataShape,
                 max_trials: int, max_concurrent: int | None = None, run_id: str | None = None,
                 started: datetime | None = None) -> None:
        super().__init__(metric=None, mode=None)
        self.started: datetime | None = datetime.now() if started is None else started
        self.space = space
        self.storage_url = storage_url
        self.study_name = study_name
        self.shape = shape
        self.max_trials = max_trials
        self.max_concurrent = max_concurrent
        self.run_id = run_id
        self.trial_map: dict[str, int] = {}       # ray_trial_id -> Optuna trial number (baselines < 0)
        self.live: set[str] = set()               # suggested, not yet complete
        self.reissue: list[int] = []              # Optuna numbers to hand out again
        self.last_results: dict[str, dict[str, Any]] = {}
        self.curves: dict[int, list[dict[str, Any]]] = {}  # by trial number; the study holds them too
        self._study: optuna.Study | None = None
        self._baselines: optuna.Study | None = None
        self._reconciled = False

    # The studies hold database connections: never pickle them. A searcher Ray unpickles on a
    # resume runs in a new process: it opens and settles the study again, and a trial drawn
    # before that process started may be a dead driver's.
    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_study": None, "_baselines": None, "_reconciled": False, "started": None}

    def open(self) -> optuna.Study:
        """Open the study and its baselines' (creating them if new) and, once per process, settle
        what a dead driver left in the study and queue this driver's lost trials: the searcher's
        first write."""
        if self.started is None:  # unpickled in this process
            self.started = datetime.now()
        if self._study is None:
            self._study = open_for_search(self.storage_url, self.study_name, self.space)
        if self._baselines is None and self.space.baselines:
            self._baselines = open_for_search(self.storage_url, baselines_study(self.study_name), self.space)
        if not self._reconciled:
            self._reconciled = True
            self._reconcile()
        return self._study

    @property
    def study(self) -> optuna.Study:
        """The open study; ``open()`` first (reading it never writes)."""
        if self._study is None or not self._reconciled:
            raise RuntimeError("OptunaSearcher.open() was not called")
        return self._study

    @property
    def baselines_study(self) -> optuna.Study:
        """The open study of the space's baselines (``open()`` opens it where there are any)."""
        if self._baselines is None:
            raise RuntimeError("OptunaSearcher.open() was not called, or the space has no baselines")
        return self._baselines

    def _where(self, number: int) -> tuple[optuna.Study, int]:
        """The study holding trial ``number`` and its number there."""
        return (self.baselines_study, baseline_number(number)) if is_baseline(number) else (self.study, number)

    def _mine(self, trial: FrozenTrial) -> bool:
        return trial.user_attrs.get("run_id") == self.run_id

    def _reconcile(self) -> None:
        """Queue this driver's RUNNING trials that no Ray trial carries (lost in a crash), after
        settling the ones a dead driver was still drawing."""
        assert self._study is not None
        known = set(self.trial_map.values())
        self._settle_undrawn()
        orphans = [t.number for t in self._study.get_trials(deepcopy=False)
                   if t.state == TrialState.RUNNING and self._mine(t) and t.number not in known]
        if self.space.baselines:
            orphans += [baseline_number(t.number) for t in self.baselines_study.get_trials(deepcopy=False)
                        if t.state == TrialState.RUNNING and self._mine(t) and baseline_number(t.number) not in known]
        # Baselines first, as a new search trains them.
        self.reissue = sorted(set(self.reissue) | set(orphans), key=lambda n: (not is_baseline(n), abs(n)))

    def _settle_undrawn(self) -> None:
        """RUNNING trials that a dead driver was still drawing, never handed to Ray (no
        ``ray_trial_id``): this run's own (its ``run_id``, from before this process) and ones no
        driver named yet (created before this process started). A complete, valid sample stays
        RUNNING as this driver's and is handed out under its own number; a half-drawn or invalid
        one is told as rejected, so that it neither stays RUNNING nor counts against a budget.
        Runs before this process draws anything."""
        assert self._study is not None
        for t in self._study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            owner = t.user_attrs.get("run_id")
            if "ray_trial_id" in t.user_attrs or (owner is not None and owner != self.run_id):
                continue  # handed out (the orphans below), or another driver's, maybe alive
            if owner is None and (t.datetime_start is None or t.datetime_start >= self.started):
                continue  # a live driver between drawing and naming itself
            try:
                checked = check_sample(self.space, sample(self.space, FixedTrial(t.params, t.number), self.shape))
                reason, cost = checked.reason, checked.cost
                values = constraint_values(self.space, checked.params, checked.macs)
            except ValueError as exc:  # FixedTrial: a parameter the dead driver never drew
                reason, cost = f"left half drawn by a driver that died ({exc})", {}
                values = constraint_values(self.space, None, None)  # no network, its cost unknown
            live = live_trial(self._study, t.number)
            for key, value in values.items():  # the dead driver may have set them already
                if key not in t.constraints:
                    live.set_constraint(key, value)
            if reason is None:
                set_user_attrs(self._study, t.number, {"run_id": self.run_id})
            else:
                set_user_attrs(self._study, t.number, {"status": "rejected", "reason": reason, "epochs": 0,
                                                       "run_id": self.run_id, **cost})
                self._study.tell(t.number, state=TrialState.PRUNED)

    def _ask(self, study: optuna.Study, fallback: bool = False) -> optuna.Trial:
        study.sampler = make_sampler(self.space, offset=len(study.get_trials(deepcopy=False)),
                                     name="random" if fallback else None)
        trial = study.ask()
        if self.run_id is not None:  # at once: a driver killed while drawing leaves a trial others can place
            trial.set_user_attr("run_id", self.run_id)
        return trial

    def _counted(self) -> int:
        """This driver's trials handed to Ray, ever (rejected samples do not count against the
        budget, nor do other drivers' trials or imported ones)."""
        return sum(1 for t in self.study.get_trials(deepcopy=False)
                   if self._mine(t) and t.user_attrs.get("status") != "rejected")

    def _config(self, number: int, checked: Checked, baseline: str | None = None) -> dict[str, Any]:
        """What Ray hands the trial (and keeps in params.json): the validated spec's dict, the
        training recipe, the sampled values and the counted cost, which the trial trusts."""
        s = checked.sample
        config = {"trial_number": number, "arch": checked.spec.to_dict(), "train": s.train.to_dict(),
                  "params": s.params, "cost": checked.cost}
        if baseline:
            config["baseline"] = baseline
        return config

    def _next_baseline(self) -> tuple[int, Checked, str] | None:
        """A baseline no driver has taken yet: its trial (claimed now) and configuration."""
        if not self.space.baselines:
            return None
        study = self.baselines_study
        taken = {t.user_attrs.get("baseline") for t in study.get_trials(deepcopy=False)}
        for baseline in self.space.baselines:
            if baseline.name in taken:
                continue
            checked = check_sample(self.space, baseline_sample(self.space, baseline, self.shape))
            trial = study.ask()
            set_user_attrs(study, trial.number, {"baseline": baseline.name, "run_id": self.run_id, **checked.cost})
            if checked.spec is None:
                set_user_attrs(study, trial.number, {"status": "failed", "reason": checked.reason})
                study.tell(trial, state=TrialState.FAIL)
                continue
            return baseline_number(trial.number), checked, baseline.name
        return None

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        study = self.open()
        if self.max_concurrent and len(self.live) >= self.max_concurrent:
            return None
        baseline = None
        if self.reissue:
            number = self.reissue.pop(0)
            where, n = self._where(number)
            frozen = frozen_trial(where, n)
            if is_baseline(number):
                baseline = frozen.user_attrs["baseline"]
                spec = next(b for b in self.space.baselines if b.name == baseline)
                checked = check_sample(self.space, baseline_sample(self.space, spec, self.shape))
            else:
                checked = check_sample(self.space, sample(self.space, FixedTrial(frozen.params, number), self.shape))
            # A baseline over the budgets is trained all the same (check_baselines says so).
            assert checked.spec is not None and (is_baseline(number) or checked.reason is None), \
                f"trial {number} was handed out once, so it was valid: {checked.reason}"
        elif (found := self._next_baseline()) is not None:
            number, checked, baseline = found
        else:
            if self._counted() >= self.max_trials:
                return Searcher.FINISHED
            for attempt in range(MAX_CONSECUTIVE_REJECTIONS):
                trial = self._ask(study, fallback=attempt >= RANDOM_AFTER_REJECTIONS)
                checked = check_sample(self.space, sample(self.space, trial, self.shape))
                set_constraints(trial, self.space, checked)
                if checked.reason is None:
                    number = trial.number
                    break
                # Never trained. PRUNED with its violated constraint, a sampler that reads
                # constraints learns the region; FAIL would hide it from every sampler.
                set_user_attrs(study, trial.number, {"status": "rejected", "reason": checked.reason,
                                                     "run_id": self.run_id, **checked.cost, "epochs": 0})
                study.tell(trial, state=TrialState.PRUNED)
            else:
                raise RuntimeError(f"{MAX_CONSECUTIVE_REJECTIONS} samples in a row were rejected "
                                   f"(last: {checked.reason}); loosen the constraints or the space")
        where, n = self._where(number)
        ray_trial_id = trial_id
        set_user_attrs(where, n, {"ray_trial_id": ray_trial_id, "run_id": self.run_id, **checked.cost})
        self.trial_map[ray_trial_id] = number
        self.live.add(ray_trial_id)
        return self._config(number, checked, baseline)

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        self.open()
        self.last_results[trial_id] = result
        self._record(trial_id, result)

    def _record(self, ray_trial_id: str, result: dict[str, Any]) -> None:
        """Add an epoch's result to the trial's curve in the study (committed at once, so it
        survives a SIGKILL). A re-reported epoch (a trial resumed from an earlier checkpoint,
        or a lost sample drawn again) replaces that epoch and drops the ones after it."""
        number = self.trial_map.get(ray_trial_id)
        if number is None or not isinstance(result.get("epoch"), int) or "error" in result:
            return
        where, n = self._where(number)
        curve = self.curves.get(number)
        if curve is None:
            trial = frozen_trial(where, n)
            if trial.state.is_finished():
                return  # told before a crash: Ray replays its results, the study keeps its record
            curve = list(trial.user_attrs.get(CURVE, []))
        entry = {k: result[k] for k in CURVE_KEYS if isinstance(result.get(k), (int, float))}
        curve = [e for e in curve if e.get("epoch", 0) < entry["epoch"]] + [entry]
        self.curves[number] = curve
        set_user_attrs(where, n, {CURVE: curve})

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        self.open()
        number = self.trial_map.get(trial_id)
        self.live.discard(trial_id)
        if number is None:
            return
        study, n = self._where(number)
        if frozen_trial(study, n).state.is_finished():
            return  # told before a crash; Ray re-ran only the bookkeeping
        result = result or self.last_results.get(trial_id)
        if result:
            self._record(trial_id, result)  # a trial stopped at a rung reported its last epoch here only
        attrs = {k: result.get(k) for k in RECORDED} if result else {}
        if result:
            attrs["epochs"] = result.get("epoch", 0)
        if error or result is None or "error" in (result or {}):
            reason = (result or {}).get("error") or ("the trial's worker died" if error else "ended before reporting")
            set_user_attrs(study, n, {**attrs, "status": "failed", "reason": reason})
            study.tell(n, state=TrialState.FAIL)
        elif result.get("epoch", 0) >= self.space.scheduler.max_epochs:
            set_user_attrs(study, n, {**attrs, "status": "completed"})
            study.tell(n, values=[float(result[name]) for name in self.space.metric_names])
        else:
            set_user_attrs(study, n, {**attrs, "status": "stopped_early"})
            study.tell(n, state=TrialState.PRUNED)
        self.last_results.pop(trial_id, None)

    # ---- Tune's experiment snapshots ----------------------------------------------------

    def save(self, checkpoint_path: str) -> None:
        # Ray names the file searcher-state-*.pkl; its content is JSON all the same.
        state = {"trial_map": self.trial_map, "live": sorted(self.live), "reissue": self.reissue,
                 "last_results": self.last_results}
        with open(checkpoint_path, "w") as fh:
            json.dump(state, fh, default=str)

    def relocate(self, study: StudyRef) -> None:
        """Open ``study`` from now on: a searcher restored from a copied or moved folder's
        ``tuner.pkl`` holds the database URL of the folder it was pickled in."""
        self.storage_url, self.study_name = study.url, study.name
        self._study = self._baselines = None
        self._reconciled = False

    def restore(self, checkpoint_path: str) -> None:
        self.__dict__.update(read_state(checkpoint_path))
        self._study = None
        self._reconciled = False
