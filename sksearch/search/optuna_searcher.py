"""An Optuna study as a Ray Tune searcher, telling Optuna the truth about every trial.

Ray's stock ``OptunaSearch`` reports a trial that ASHA stopped as COMPLETE with its partial
accuracy, which puts half-trained models on the Pareto front and misleads the sampler. Here:

* a trial that reached the full budget is COMPLETE with its objective values;
* a trial stopped early is PRUNED (its partial metrics kept as user attributes);
* a trial that raised, diverged or died is FAIL with ``status=failed`` and the reason;
* a sample that breaks the space's budgets, or is no valid architecture, is FAIL with
  ``status=rejected`` and never reaches Ray: its cost is known before training.

Only this searcher, on the driver, writes the study, so SQLite is safe. Its state (which Ray
trial is which Optuna trial) is saved as JSON with every experiment snapshot; on restore,
Optuna trials left RUNNING that Ray never recorded (started after the last snapshot) are
handed out again under their own numbers, so no sample is lost and none is told twice.

The sampler keeps no state of its own between draws: before each draw it is seeded with the
space's seed plus the number of trials the study holds. A seeded search is thus reproducible
from the study alone, a restored search draws exactly what the uninterrupted one would, and
nothing but JSON is read back from the study folder (a pickled sampler could run code).
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

import optuna
from optuna.trial import FixedTrial, TrialState
from ray.tune.search import Searcher

from ..data.spec import DataShape
from ..errors import UserError
from ..space.sample import Checked, check_sample, sample
from ..space.schema import SearchSpace
from ..study.optuna_private import frozen_trial, set_user_attrs
from ..study.store import open_for_search
from ..study.table import CURVE, CURVE_KEYS, METRICS

# User attributes the table reads; set before a trial is told (Optuna freezes them after).
RECORDED = (*METRICS, "node")
MAX_CONSECUTIVE_REJECTIONS = 500


STATE_PREFIX = "searcher-state-"  # Ray's name for a searcher's saved state in the experiment folder


def read_state(path: str) -> dict[str, Any]:
    """A searcher state written by ``OptunaSearcher.save`` (JSON); ``ValueError`` otherwise."""
    try:
        with open(path, encoding="utf-8") as fh:
            state = json.load(fh)
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


def make_sampler(space: SearchSpace, offset: int = 0) -> optuna.samplers.BaseSampler:
    """The space's sampler; ``offset`` (the study's size) shifts its seed."""
    spec = space.sampler
    seed = None if spec.seed is None else spec.seed + offset
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if spec.name == "nsga2":
            return optuna.samplers.NSGAIISampler(population_size=spec.population_size, seed=seed)
        if spec.name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.TPESampler(n_startup_trials=spec.n_startup_trials, seed=seed,
                                          multivariate=True, constant_liar=True)


class OptunaSearcher(Searcher):
    """Proposes trials from an Optuna study and tells it COMPLETE / PRUNED / FAIL."""

    def __init__(self, space: SearchSpace, storage_url: str, study_name: str, shape: DataShape,
                 max_trials: int, max_concurrent: int | None = None) -> None:
        super().__init__(metric=None, mode=None)
        self.space = space
        self.storage_url = storage_url
        self.study_name = study_name
        self.shape = shape
        self.max_trials = max_trials
        self.max_concurrent = max_concurrent
        self.trial_map: dict[str, int] = {}       # Ray trial id -> Optuna trial number
        self.live: set[str] = set()               # suggested, not yet complete
        self.reissue: list[int] = []              # Optuna numbers to hand out again
        self.last_results: dict[str, dict[str, Any]] = {}
        self.curves: dict[int, list[dict[str, Any]]] = {}  # by trial number; the study holds them too
        self._study: optuna.Study | None = None
        self._reconciled = False

    # The study holds a database connection: never pickle it, reopen it on demand.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_study"] = None
        return state

    @property
    def study(self) -> optuna.Study:
        if self._study is None:
            self._study = open_for_search(self.storage_url, self.study_name, self.space)
        if not self._reconciled:
            self._reconciled = True
            self._reconcile()
        return self._study

    def _reconcile(self) -> None:
        """Queue RUNNING Optuna trials that no Ray trial carries (lost in a crash)."""
        assert self._study is not None
        known = set(self.trial_map.values())
        orphans = [t.number for t in self._study.get_trials(deepcopy=False)
                   if t.state == TrialState.RUNNING and t.number not in known]
        self.reissue = sorted(set(self.reissue) | set(orphans))

    def _ask(self, study: optuna.Study) -> optuna.Trial:
        study.sampler = make_sampler(self.space, offset=len(study.get_trials(deepcopy=False)))
        return study.ask()

    def _counted(self) -> int:
        """Trials handed to Ray, ever (rejected samples do not count against the budget)."""
        return sum(1 for t in self.study.get_trials(deepcopy=False)
                   if t.user_attrs.get("status") != "rejected")

    def _config(self, number: int, checked: Checked) -> dict[str, Any]:
        """What Ray hands the trial (and keeps in params.json): the validated spec's dict, the
        training recipe, the sampled values and the counted cost, which the trial trusts."""
        s = checked.sample
        return {"trial_number": number, "arch": checked.spec.to_dict(), "train": s.train.to_dict(),
                "params": s.params, "cost": checked.cost}

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        study = self.study
        if self.max_concurrent and len(self.live) >= self.max_concurrent:
            return None
        if self.reissue:
            number = self.reissue.pop(0)
            frozen = study.trials[number]
            checked = check_sample(self.space, sample(self.space, FixedTrial(frozen.params, number), self.shape))
            assert checked.reason is None, f"trial {number} was handed out once, so it was valid: {checked.reason}"
        else:
            if self._counted() >= self.max_trials:
                return Searcher.FINISHED
            for _ in range(MAX_CONSECUTIVE_REJECTIONS):
                trial = self._ask(study)
                checked = check_sample(self.space, sample(self.space, trial, self.shape))
                if checked.reason is None:
                    number = trial.number
                    break
                set_user_attrs(study, trial.number, {"status": "rejected", "reason": checked.reason,
                                                     **checked.cost, "epochs": 0})
                study.tell(trial, state=TrialState.FAIL)
            else:
                raise RuntimeError(f"{MAX_CONSECUTIVE_REJECTIONS} samples in a row were rejected "
                                   f"(last: {checked.reason}); loosen the constraints or the space")
        set_user_attrs(study, number, {"ray_trial_id": trial_id, **checked.cost})
        self.trial_map[trial_id] = number
        self.live.add(trial_id)
        return self._config(number, checked)

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        self.last_results[trial_id] = result
        self._record(trial_id, result)

    def _record(self, trial_id: str, result: dict[str, Any]) -> None:
        """Add an epoch's result to the trial's curve in the study (committed at once, so it
        survives a SIGKILL). A re-reported epoch (a trial resumed from an earlier checkpoint,
        or a lost sample drawn again) replaces that epoch and drops the ones after it."""
        number = self.trial_map.get(trial_id)
        if number is None or not isinstance(result.get("epoch"), int) or "error" in result:
            return
        curve = self.curves.get(number)
        if curve is None:
            trial = frozen_trial(self.study, number)
            if trial.state.is_finished():
                return  # told before a crash: Ray replays its results, the study keeps its record
            curve = list(trial.user_attrs.get(CURVE, []))
        entry = {k: result[k] for k in CURVE_KEYS if isinstance(result.get(k), (int, float))}
        curve = [e for e in curve if e.get("epoch", 0) < entry["epoch"]] + [entry]
        self.curves[number] = curve
        set_user_attrs(self.study, number, {CURVE: curve})

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        number = self.trial_map.get(trial_id)
        self.live.discard(trial_id)
        if number is None:
            return
        study = self.study
        if frozen_trial(study, number).state.is_finished():
            return  # told before a crash; Ray re-ran only the bookkeeping
        result = result or self.last_results.get(trial_id)
        if result:
            self._record(trial_id, result)  # a trial stopped at a rung reported its last epoch here only
        attrs = {k: result.get(k) for k in RECORDED} if result else {}
        if result:
            attrs["epochs"] = result.get("epoch", 0)
        if error or result is None or "error" in (result or {}):
            reason = (result or {}).get("error") or ("the trial's worker died" if error else "ended before reporting")
            set_user_attrs(study, number, {**attrs, "status": "failed", "reason": reason})
            study.tell(number, state=TrialState.FAIL)
        elif result.get("epoch", 0) >= self.space.scheduler.max_epochs:
            set_user_attrs(study, number, {**attrs, "status": "completed"})
            study.tell(number, values=[float(result[name]) for name in self.space.metric_names])
        else:
            set_user_attrs(study, number, {**attrs, "status": "stopped_early"})
            study.tell(number, state=TrialState.PRUNED)
        self.last_results.pop(trial_id, None)

    # ---- Tune's experiment snapshots ----------------------------------------------------

    def save(self, checkpoint_path: str) -> None:
        # Ray names the file searcher-state-*.pkl; its content is JSON all the same.
        state = {"trial_map": self.trial_map, "live": sorted(self.live), "reissue": self.reissue,
                 "last_results": self.last_results}
        with open(checkpoint_path, "w") as fh:
            json.dump(state, fh, default=str)

    def restore(self, checkpoint_path: str) -> None:
        self.__dict__.update(read_state(checkpoint_path))
        self._study = None
        self._reconciled = False
