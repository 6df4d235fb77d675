"""Pins the behaviour of the Optuna internals sksearch uses (``study/optuna_private.py``): an
Optuna upgrade that changes one fails here, by name."""

import json
import sqlite3

import numpy as np
import optuna
import pytest

from sksearch.study import optuna_private


def test_nondomination_ranks_minimise_and_share_fronts_for_equal_points():
    points = np.array([[1.0, 5.0], [2.0, 2.0], [5.0, 1.0], [3.0, 3.0], [2.0, 2.0], [6.0, 6.0]])
    assert optuna_private.nondomination_ranks(points).tolist() == [0, 0, 0, 1, 0, 2]
    assert optuna_private.nondomination_ranks(np.array([[3.0], [1.0], [2.0]])).tolist() == [2, 0, 1]


def test_hypervolume_of_boxes():
    ref = np.array([1.0, 1.0])
    assert optuna_private.hypervolume(np.array([[0.5, 0.5]]), ref) == pytest.approx(0.25)
    # Two boxes of 0.5 x 0.8 and 0.8 x 0.5 overlapping in 0.5 x 0.5: 0.4 + 0.4 - 0.25; a dominated point adds nothing.
    pts = np.array([[0.5, 0.2], [0.2, 0.5], [0.6, 0.6]])
    assert optuna_private.hypervolume(pts, ref) == pytest.approx(0.55)
    assert optuna_private.hypervolume(np.array([[0.5, 0.5, 0.5]]), np.ones(3)) == pytest.approx(0.125)


def test_user_attrs_by_trial_number_and_where_metric_names_live(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="s", storage=url, directions=["maximize", "minimize"])
    study.set_metric_names(["accuracy", "params"])
    study.ask()
    second = study.ask()
    optuna_private.set_user_attrs(study, second.number, {"status": "rejected", "params": 7, "skipped": None})
    study.tell(second, state=optuna.trial.TrialState.FAIL)
    assert study.trials[1].user_attrs == {"status": "rejected", "params": 7}
    assert study.trials[0].user_attrs == {}
    assert optuna_private.frozen_trial(study, 1).user_attrs == {"status": "rejected", "params": 7}
    assert optuna_private.frozen_trial(study, 1).state == optuna.trial.TrialState.FAIL
    optuna_private.live_trial(study, 0).set_constraint("params_max", 0.5)  # the first, still running
    assert study.trials[0].constraints == {"params_max": 0.5}
    row = sqlite3.connect(tmp_path / "s.db").execute(
        "SELECT value_json FROM study_system_attributes WHERE key = ?", (optuna_private.METRIC_NAMES_KEY,)).fetchone()
    assert json.loads(row[0]) == ["accuracy", "params"]
