"""Early stopping for Ray Tune: asynchronous successive halving that survives a restore, with
one objective (ASHA) or several (MO-ASHA).

Lifecycle (the contract every scheduler here follows):

1. A trial reports once per epoch with ``epoch`` and its objective values.
2. When ``epoch`` is a rung (grace_period * eta^k below max_epochs), the trial's objective
   vector is recorded in that rung, and the trial continues only if it is among the best
   ``ceil(n / eta)`` of the ``n`` trials recorded there so far; otherwise it is stopped.
3. What "best" means is the scheduler's ``rank``: one metric for ASHA; non-dominated sorting
   with a crowding-distance tie-break for MO-ASHA.

Ray Tune never saves a scheduler: a restored experiment gets the scheduler as it was built,
with empty rungs, and the stock ASHA then cuts every resumed trial at its next rung. Here the
rungs are rebuilt in ``on_trial_add``, which Tune calls for every trial of a restored
experiment, from the trial's own ``result.json``: a resumed search decides as the
uninterrupted one would.
"""

from __future__ import annotations

import json
import math
import os
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from ..files import LOG_LIMIT, read_limited
from ..objectives import REQUIRED, Objective
from ..space.parsed import SchedulerSpec, rung_epochs
from ..space.schema import SCHEDULERS
from ..study.pareto import nondominated_ranks
from ..study.store import StudyRef, is_baseline

if TYPE_CHECKING:
    from ray.tune.experiment import Trial

Goal = tuple[str, str]  # (objective name, "max" | "min"); the name is the result key


class SuccessiveHalving(FIFOScheduler):
    """Asynchronous successive halving over rungs of ``epoch``; subclasses define ``rank``.

    Args:
        objectives: (name, "max" | "min") pairs, the name being the result key; ASHA ranks by
            accuracy only.
        max_epochs: a full-budget trial's epochs (no rung at or above it).
        grace_period: epochs before the first rung.
        reduction_factor: eta; 1/eta of a rung's trials continue.
    """

    # Each epoch's result must reach the scheduler on its own, or a rung can be skipped.
    _supports_buffered_results = False

    def __init__(self, objectives: Sequence[Goal], max_epochs: int, grace_period: int = 1,
                 reduction_factor: int = 3, study: StudyRef | None = None) -> None:
        super().__init__()
        if grace_period < 1 or reduction_factor < 2 or max_epochs < 1:
            raise ValueError("need grace_period >= 1, reduction_factor >= 2 and max_epochs >= 1")
        self.objectives = [(name, mode) for name, mode in objectives]
        self.max_epochs = max_epochs
        self.grace_period = grace_period
        self.reduction_factor = reduction_factor
        # rung epoch -> ray_trial_id (Ray's id string, not Optuna's number) -> objective values
        self.rungs: dict[int, dict[str, tuple[float, ...]]] = {
            epoch: {} for epoch in rung_epochs(grace_period, reduction_factor, max_epochs)}
        self.study = study
        self._curves: dict[int, list[dict[str, Any]]] | None = None

    # Tune pickles the scheduler into tuner.pkl when the search starts; the curves read later
    # belong to the process that read them.
    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_curves": None}

    def relocate(self, study: StudyRef) -> None:
        """Read the trials' records from ``study`` (a scheduler restored from a copied or moved
        folder's ``tuner.pkl`` names the folder it was pickled in); its rungs stay."""
        if self.study is not None:
            self.study, self._curves = study, None

    def curves(self) -> dict[int, list[dict[str, Any]]]:
        """What each trial of the study (by number) has reported, read once per process from
        the study's record (it survives a SIGKILL; Ray's result.json may miss the last lines)."""
        if self._curves is None:
            self._curves = {}
            if self.study is not None:
                from ..study.reader import read_curves

                self._curves = read_curves(self.study)
        return self._curves

    # ---- what subclasses define -----------------------------------------------------

    def rank(self, points: dict[str, tuple[float, ...]]) -> dict[str, tuple[float, ...]]:
        """A sort key per Ray trial id, smaller is better; trials with equal keys tie."""
        raise NotImplementedError

    # ---- Ray Tune hooks ---------------------------------------------------------------

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return True  # the objectives come from the constructor; Tune's single metric is unused

    def on_trial_add(self, tune_controller: Any, trial: "Trial") -> None:
        self._replay(trial)

    def on_trial_result(self, tune_controller: Any, trial: "Trial", result: dict[str, Any]) -> str:
        epoch = result.get("epoch")
        if epoch not in self.rungs or "error" in result or is_baseline_trial(trial):
            return TrialScheduler.CONTINUE  # a baseline runs its full budget and is no rival
        point = self._point(result)
        if point is None:
            return TrialScheduler.CONTINUE
        self.rungs[epoch][trial.trial_id] = point
        return self.decide(epoch, trial.trial_id)

    def debug_string(self) -> str:
        filled = ", ".join(f"{e}: {len(r)}" for e, r in self.rungs.items())
        return f"{type(self).__name__}: trials recorded per rung epoch {{{filled}}}"

    # ---- the algorithm ------------------------------------------------------------------

    def quota(self, n: int) -> int:
        """How many of ``n`` recorded trials continue past a rung."""
        return max(1, math.ceil(n / self.reduction_factor))

    def decide(self, epoch: int, ray_trial_id: str) -> str:
        """CONTINUE if fewer than ``quota(n)`` recorded trials rank strictly better."""
        keys = self.rank(self.rungs[epoch])
        mine = keys[ray_trial_id]
        better = sum(1 for tid, key in keys.items() if tid != ray_trial_id and key < mine)
        return TrialScheduler.CONTINUE if better < self.quota(len(keys)) else TrialScheduler.STOP

    def _point(self, result: dict[str, Any]) -> tuple[float, ...] | None:
        values = []
        for name, _mode in self.objectives:
            value = result.get(name)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return None
            values.append(float(value))
        return tuple(values)

    def _replay(self, trial: "Trial") -> None:
        """Record what a restored trial already reported at each rung: from the study's record
        of the trial when there is one, else from the trial folder's ``result.json``."""
        number = (getattr(trial, "config", None) or {}).get("trial_number")
        if is_baseline_trial(trial):
            return
        if self.curves().get(number):
            self.replay(trial.trial_id, self.curves()[number])
            return
        storage = getattr(trial, "storage", None)
        if storage is None or getattr(storage, "trial_dir_name", None) is None:
            return  # a brand-new trial: nothing reported yet
        try:
            path = trial.path
        except RuntimeError:
            return
        self.replay(trial.trial_id, read_results(os.path.join(path, "result.json")))

    def replay(self, ray_trial_id: str, results: Sequence[dict[str, Any]]) -> None:
        """Record at each rung what a trial reported (its results, in the order reported)."""
        for result in results:
            epoch = result.get("epoch")
            if epoch in self.rungs and "error" not in result:
                point = self._point(result)
                if point is not None:
                    self.rungs[epoch][ray_trial_id] = point  # a re-reported epoch overwrites


def is_baseline_trial(trial: Any) -> bool:
    """Whether a Ray trial is one of the space's baselines (its config names it)."""
    return bool((getattr(trial, "config", None) or {}).get("baseline"))


def read_results(path: str) -> list[dict[str, Any]]:
    """The results a trial reported, one per line of its ``result.json``; a torn last line
    (the driver was killed mid-write) is skipped."""
    try:
        text = read_limited(path, LOG_LIMIT).decode("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


class ASHA(SuccessiveHalving):
    """ASHA (Li et al. 2020): a rung ranks its trials by accuracy alone (by the first
    objective when accuracy is not one of them)."""

    def rank(self, points: dict[str, tuple[float, ...]]) -> dict[str, tuple[float, ...]]:
        names = [name for name, _ in self.objectives]
        j = names.index(REQUIRED) if REQUIRED in names else 0
        sign = -1.0 if self.objectives[j][1] == "max" else 1.0
        return {tid: (sign * p[j],) for tid, p in points.items()}


class MOASHA(SuccessiveHalving):
    """Multi-objective ASHA (Schmucker et al. 2021) with NSGA-II's ordering.

    A rung's trials are sorted into non-dominated fronts over all objectives (the accuracy the
    trial reached at the rung, its params, MACs, latency...); a trial ranks by its front, and
    within a front by crowding distance, larger first: the trials at the ends of the front
    (best in some objective, infinite distance) come first, then those in its sparsest parts,
    so the survivors spread along the front instead of bunching where it is dense. A trial
    continues if fewer than ceil(n / eta) recorded trials rank strictly better. With one
    objective this is ASHA.

    Crowding distance is written here because Optuna's (inside its NSGA-II sampler) works on
    FrozenTrials, not on plain rung records.
    """

    def rank(self, points: dict[str, tuple[float, ...]]) -> dict[str, tuple[float, ...]]:
        ids = list(points)
        values = np.array([points[t] for t in ids], dtype=float).reshape(len(ids), len(self.objectives))
        fronts = nondominated_ranks(values, [mode for _, mode in self.objectives])
        crowding = np.zeros(len(ids))
        for f in np.unique(fronts):
            members = np.flatnonzero(fronts == f)
            crowding[members] = crowding_distance(values[members])
        return {tid: (float(fronts[i]), -float(crowding[i])) for i, tid in enumerate(ids)}


def crowding_distance(values: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of each point of one front (rows: points, columns:
    objectives; the direction of each objective does not matter).

    Per objective, the points at either end get infinity and the others the gap between
    their two neighbours over the objective's range; the distance is the sum over
    objectives. Identical points are treated as one, so copies share one distance.
    """
    values = np.asarray(values, dtype=float)
    unique, inverse = np.unique(values, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    distance = np.zeros(len(unique))
    if len(unique) <= 2:
        distance[:] = np.inf
        return distance[inverse]
    for j in range(unique.shape[1]):
        order = np.argsort(unique[:, j], kind="stable")
        column = unique[order, j]
        span = column[-1] - column[0]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0:
            distance[order[1:-1]] += (column[2:] - column[:-2]) / span
    return distance[inverse]


def make_scheduler(spec: SchedulerSpec, objectives: Sequence[Objective], study: StudyRef | None = None,
                   replay: Sequence[int] = ()) -> TrialScheduler:
    """The scheduler a space names: ``asha``, ``mo_asha`` or ``none`` (every trial runs its
    budget). ``study`` (storage URL, study name, folder) is where a restored scheduler reads
    what the trials reported; ``replay``: trials whose records count at once (a new Ray
    experiment continuing a study without Ray's snapshot)."""
    goals = [(o.name, o.goal) for o in objectives]
    if spec.name == "none":
        return FIFOScheduler()
    kinds = {"asha": ASHA, "mo_asha": MOASHA}
    if spec.name not in kinds:
        raise ValueError(f"unknown scheduler {spec.name!r}; allowed: {', '.join(SCHEDULERS)}")
    scheduler = kinds[spec.name](goals, spec.max_epochs, spec.grace_period, spec.reduction_factor, study)
    for number in replay:
        if not is_baseline(number):  # baselines are no rivals
            scheduler.replay(f"study-trial-{number}", scheduler.curves().get(number, []))
    return scheduler
