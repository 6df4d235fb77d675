"""The Optuna internals sksearch uses, in one place.

Optuna 5 has no public function for these; each is pinned by
``tests/study/test_optuna_private.py`` so that an Optuna upgrade that changes one fails there
first, with a name, rather than somewhere inside a search:

* non-dominated sorting (``optuna.study._multi_objective._fast_non_domination_rank``);
* the exact hypervolume (``optuna._hypervolume.compute_hypervolume``);
* reading and setting user attributes of a trial known only by its number (the storage and
  study id);
* where ``Study.set_metric_names`` keeps the names (``study:metric_names``), which the SQL
  reader of ``reader.py`` reads from the database directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import optuna

METRIC_NAMES_KEY = "study:metric_names"


def nondomination_ranks(loss_values: np.ndarray) -> np.ndarray:
    """Front index (0 = non-dominated) of each row; every column is minimised. Equal rows
    share a front."""
    from optuna.study._multi_objective import _fast_non_domination_rank

    return np.asarray(_fast_non_domination_rank(np.asarray(loss_values, dtype=float)), dtype=int)


def hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """Volume dominated by ``points`` (minimised) up to ``reference``; dominated points are
    allowed. Every point must lie below the reference in every objective."""
    from optuna._hypervolume import compute_hypervolume

    return float(compute_hypervolume(np.asarray(points, dtype=float), np.asarray(reference, dtype=float),
                                     assume_pareto=False))


def _trial_id(study: optuna.Study, number: int) -> int:
    return study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)


def frozen_trial(study: optuna.Study, number: int) -> optuna.trial.FrozenTrial:
    """The trial ``number``, read alone (``study.trials[number]`` reads every trial)."""
    return study._storage.get_trial(_trial_id(study, number))


def live_trial(study: optuna.Study, number: int) -> optuna.Trial:
    """The unfinished trial ``number`` as an ``optuna.Trial`` (to set its constraints)."""
    import optuna

    return optuna.Trial(study, _trial_id(study, number))


def set_user_attrs(study: optuna.Study, number: int, attrs: dict[str, Any]) -> None:
    """Set user attributes of the trial ``number`` (any state but finished); ``None`` values
    are skipped."""
    storage = study._storage
    trial_id = _trial_id(study, number)
    for key, value in attrs.items():
        if value is not None:
            storage.set_trial_user_attr(trial_id, key, value)
