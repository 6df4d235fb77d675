"""Schedulers: one shared contract every successive-halving scheduler must meet, then each
algorithm's own decisions on hand-made rungs."""

import itertools
import json
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
from ray.tune.schedulers import TrialScheduler

from sksearch.objectives import OBJECTIVES as TABLE
from sksearch.search.schedulers import ASHA, MOASHA, SuccessiveHalving, crowding_distance, make_scheduler, read_results
from sksearch.space.parsed import SchedulerSpec
from sksearch.study.pareto import pareto_mask
from sksearch.study.store import StudyRef

CONTINUE, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP
OBJECTIVES = [("accuracy", "max"), ("params", "min")]
SCHEDULERS = [ASHA, MOASHA]


def trial(tid, path=None):
    return SimpleNamespace(trial_id=tid, path=str(path) if path else None,
                           storage=SimpleNamespace(trial_dir_name="x" if path else None))


def report(s, tid, epoch, accuracy, params=1000, **extra):
    return s.on_trial_result(None, trial(tid), {"epoch": epoch, "accuracy": accuracy, "params": params, **extra})


# ---- the shared contract ----------------------------------------------------------------

@pytest.mark.parametrize("cls", SCHEDULERS)
class TestContract:
    def test_rungs_are_grace_times_eta_powers_below_the_budget(self, cls):
        assert list(cls(OBJECTIVES, max_epochs=27, grace_period=1, reduction_factor=3).rungs) == [1, 3, 9]
        assert list(cls(OBJECTIVES, max_epochs=10, grace_period=2, reduction_factor=2).rungs) == [2, 4, 8]
        assert list(cls(OBJECTIVES, max_epochs=2, grace_period=2, reduction_factor=3).rungs) == []

    def test_off_rung_epochs_and_error_results_always_continue(self, cls):
        s = cls(OBJECTIVES, max_epochs=9, grace_period=3, reduction_factor=3)
        assert report(s, "a", 1, 0.1) == CONTINUE and report(s, "a", 2, 0.1) == CONTINUE
        assert report(s, "b", 3, 0.0, error="boom") == CONTINUE
        assert s.rungs[3] == {}

    def test_the_first_trial_at_a_rung_continues_and_a_dominated_one_stops(self, cls):
        s = cls(OBJECTIVES, max_epochs=9, grace_period=1, reduction_factor=3)
        assert report(s, "a", 1, 0.9, params=100) == CONTINUE
        assert report(s, "b", 1, 0.5, params=200) == STOP  # worse on every objective

    def test_quota_is_one_in_eta(self, cls):
        s = cls(OBJECTIVES, max_epochs=9, grace_period=1, reduction_factor=3)
        # Equal params, falling accuracy: the third trial is outside the top ceil(3/3) = 1.
        assert [report(s, t, 1, acc) for t, acc in (("a", 0.9), ("b", 0.8), ("c", 0.7))] == [CONTINUE, STOP, STOP]
        assert report(s, "d", 1, 0.95) == CONTINUE and report(s, "e", 1, 0.92) == CONTINUE  # top 2 of 5
        assert report(s, "f", 1, 0.91) == STOP  # third of 6, quota 2

    def test_rungs_are_rebuilt_from_result_json_on_restore(self, cls, tmp_path):
        s = cls(OBJECTIVES, max_epochs=9, grace_period=1, reduction_factor=3)
        folder = tmp_path / "trial_a"
        folder.mkdir()
        rows = [{"epoch": 1, "accuracy": 0.4, "params": 10}, {"epoch": 2, "accuracy": 0.5, "params": 10},
                {"epoch": 3, "accuracy": 0.55, "params": 10}, {"epoch": 3, "accuracy": 0.6, "params": 10}]
        (folder / "result.json").write_text("\n".join(json.dumps(r) for r in rows) + '\n{"epoch": 4, "accu')
        s.on_trial_add(None, trial("a", folder))
        s.on_trial_add(None, trial("new"))  # a fresh trial has no folder yet
        assert s.rungs == {1: {"a": (0.4, 10.0)}, 3: {"a": (0.6, 10.0)}}  # a re-reported epoch overwrites

    def test_a_restored_scheduler_decides_as_the_uninterrupted_one(self, cls, tmp_path):
        history = [("a", 1, 0.9, 50), ("b", 1, 0.6, 80), ("c", 1, 0.7, 20), ("a", 3, 0.92, 50)]
        live = cls(OBJECTIVES, max_epochs=9, grace_period=1, reduction_factor=3)
        for tid, ep, acc, p in history:
            report(live, tid, ep, acc, p)
        restored = cls(OBJECTIVES, max_epochs=9, grace_period=1, reduction_factor=3)
        for tid in "abc":
            folder = tmp_path / tid
            folder.mkdir()
            rows = [{"epoch": ep, "accuracy": acc, "params": p} for t, ep, acc, p in history if t == tid]
            (folder / "result.json").write_text("\n".join(map(json.dumps, rows)))
            restored.on_trial_add(None, trial(tid, folder))
        assert restored.rungs == live.rungs
        for tid, acc, p in (("d", 0.65, 60), ("e", 0.95, 10), ("f", 0.1, 999)):
            assert report(restored, tid, 1, acc, p) == report(live, tid, 1, acc, p)


# ---- ASHA -----------------------------------------------------------------------------

def test_asha_ranks_by_accuracy_alone_and_stops_a_small_model_on_the_front():
    s = ASHA(OBJECTIVES, max_epochs=9, grace_period=1, reduction_factor=2)
    assert report(s, "big", 1, 0.9, params=10_000) == CONTINUE
    # Far fewer params, lower accuracy: on the accuracy/params front, yet ASHA stops it.
    assert report(s, "small", 1, 0.8, params=100) == STOP


def test_asha_min_mode_and_ties():
    s = ASHA([("loss", "min")], max_epochs=9, grace_period=1, reduction_factor=2)
    s.on_trial_result(None, trial("a"), {"epoch": 1, "loss": 0.5})
    assert s.on_trial_result(None, trial("b"), {"epoch": 1, "loss": 0.7}) == STOP
    assert s.on_trial_result(None, trial("c"), {"epoch": 1, "loss": 0.5}) == CONTINUE  # tied with the best


def test_missing_metrics_do_not_record():
    s = ASHA(OBJECTIVES, max_epochs=9, grace_period=1, reduction_factor=3)
    assert s.on_trial_result(None, trial("a"), {"epoch": 1, "accuracy": float("nan"), "params": 1}) == CONTINUE
    assert s.rungs[1] == {}


def test_asha_ranks_by_accuracy_wherever_it_is_listed():
    s = ASHA([("params", "min"), ("accuracy", "max")], max_epochs=9, grace_period=1, reduction_factor=2)
    assert report(s, "small", 1, 0.5, params=10) == CONTINUE
    assert report(s, "accurate", 1, 0.9, params=10_000) == CONTINUE
    assert report(s, "small2", 1, 0.4, params=5) == STOP


# ---- MO-ASHA ----------------------------------------------------------------------------

def test_mo_asha_promotes_the_small_model_on_the_front_that_asha_stops():
    s = MOASHA(OBJECTIVES, max_epochs=9, grace_period=1, reduction_factor=2)
    assert report(s, "big", 1, 0.9, params=10_000) == CONTINUE
    assert report(s, "small", 1, 0.8, params=100) == CONTINUE  # ASHA: STOP (test above)
    # Dominated by "small" (less accurate, larger): front 1 behind two trials, quota ceil(3/2) = 2.
    assert report(s, "dominated", 1, 0.7, params=500) == STOP


def test_mo_asha_breaks_ties_in_a_front_by_crowding_distance():
    s = MOASHA(OBJECTIVES, max_epochs=9, grace_period=1, reduction_factor=2)
    assert report(s, "a", 1, 0.95, params=1000) == CONTINUE  # the ends of the front: infinite distance
    assert report(s, "b", 1, 0.50, params=10) == CONTINUE
    assert report(s, "c", 1, 0.70, params=100) == STOP       # on the front, but 2 ends rank above, quota 2 of 3
    assert report(s, "d", 1, 0.72, params=110) == STOP       # beside c: a crowded part of the front
    assert report(s, "e", 1, 0.85, params=600) == CONTINUE   # the front's widest gap: third of 5, quota 3
    keys = s.rank(s.rungs[1])
    assert keys["a"] == keys["b"] == (0.0, -np.inf)
    assert keys["e"] < keys["d"] < keys["c"]
    # d sits between c and e in both objectives: gaps over the ranges 0.45 and 990.
    assert keys["d"][1] == pytest.approx(-((0.85 - 0.70) / 0.45 + (600 - 100) / 990))


@pytest.mark.parametrize("objectives,points,front", [
    # min and max modes: loss (min) with latency (min); accuracy (max) with macs (min) and latency (min)
    ([("loss", "min"), ("latency", "min")], {"a": (0.2, 9.0), "b": (0.5, 1.0), "c": (0.6, 5.0)}, {"a", "b"}),
    ([("accuracy", "max"), ("macs", "min"), ("latency", "min")],
     {"a": (0.9, 100.0, 9.0), "b": (0.8, 200.0, 1.0), "c": (0.7, 300.0, 8.0), "d": (0.9, 100.0, 10.0)}, {"a", "b"}),
])
def test_mo_asha_fronts_follow_each_objectives_direction(objectives, points, front):
    s = MOASHA(objectives, max_epochs=9, grace_period=1, reduction_factor=3)
    keys = s.rank(points)
    assert {t for t, k in keys.items() if k[0] == 0} == front
    names = [n for n, _ in objectives]
    for tid, p in points.items():
        result = {"epoch": 1, **dict(zip(names, p))}
        s.on_trial_result(None, trial(tid), result)
    assert set(s.rungs[1]) == set(points)


@pytest.mark.parametrize("n_objectives", [1, 2, 3, 4])
def test_mo_asha_ranks_respect_dominance_for_any_number_of_objectives(n_objectives):
    rng = np.random.default_rng(n_objectives)
    modes = ["max" if j % 2 == 0 else "min" for j in range(n_objectives)]
    objectives = [(f"m{j}", mode) for j, mode in enumerate(modes)]
    s = MOASHA(objectives, max_epochs=9, grace_period=1, reduction_factor=3)
    values = rng.integers(0, 5, size=(40, n_objectives)).astype(float)  # small ints: many ties and copies
    points = {f"t{i}": tuple(v) for i, v in enumerate(values)}
    keys = s.rank(points)
    signs = np.array([1.0 if m == "max" else -1.0 for m in modes])
    for (i, p), (j, q) in itertools.permutations(enumerate(values), 2):
        better_eq = np.all(signs * p >= signs * q)
        if better_eq and np.any(signs * p > signs * q):
            assert keys[f"t{i}"][0] < keys[f"t{j}"][0]   # p dominates q: a lower front
        if np.array_equal(p, q):
            assert keys[f"t{i}"] == keys[f"t{j}"]         # copies tie
    first = {t for t, k in keys.items() if k[0] == 0}
    assert first == {f"t{i}" for i in np.flatnonzero(pareto_mask(values, modes))}


def test_mo_asha_with_one_objective_decides_as_asha():
    rng = np.random.default_rng(0)
    asha = ASHA([("accuracy", "max")], max_epochs=27, grace_period=1, reduction_factor=3)
    mo = MOASHA([("accuracy", "max")], max_epochs=27, grace_period=1, reduction_factor=3)
    for i in range(60):
        epoch = int(rng.choice([1, 3, 9]))
        result = {"epoch": epoch, "accuracy": float(rng.integers(0, 20)) / 20}
        assert asha.on_trial_result(None, trial(f"t{i}"), result) == mo.on_trial_result(None, trial(f"t{i}"), result)


def test_crowding_distance():
    d = crowding_distance(np.array([[0.0, 4.0], [1.0, 3.0], [3.0, 1.0], [4.0, 0.0], [1.0, 3.0]]))
    assert np.isinf(d[0]) and np.isinf(d[3])
    assert d[1] == pytest.approx(3 / 4 + 3 / 4) and d[4] == d[1]  # copies share their distance
    assert d[2] == pytest.approx(3 / 4 + 3 / 4)
    assert np.isinf(crowding_distance(np.array([[1.0, 2.0], [2.0, 1.0]]))).all()
    # A constant objective adds nothing and divides by nothing.
    assert crowding_distance(np.array([[0.0, 1.0], [1.0, 1.0], [3.0, 1.0]]))[1] == pytest.approx(1.0)


def test_make_scheduler_and_bad_settings():
    objectives = [TABLE["accuracy"], TABLE["params"]]
    asha = make_scheduler(SchedulerSpec("asha", 9, 1, 3), objectives)
    assert isinstance(asha, ASHA) and asha.objectives == OBJECTIVES and list(asha.rungs) == [1, 3]
    assert isinstance(make_scheduler(SchedulerSpec("mo_asha", 9, 1, 3), objectives), MOASHA)
    assert not isinstance(make_scheduler(SchedulerSpec("none", 9, 1, 3), objectives), SuccessiveHalving)
    with pytest.raises(ValueError):
        ASHA(OBJECTIVES, max_epochs=9, grace_period=0, reduction_factor=3)


def test_read_results_skips_blank_and_torn_lines(tmp_path):
    path = tmp_path / "result.json"
    path.write_text('{"epoch": 1}\n\n{"epoch": 2}\n{"ep')
    assert read_results(str(path)) == [{"epoch": 1}, {"epoch": 2}]
    assert read_results(str(tmp_path / "missing.json")) == []


@pytest.mark.parametrize("cls", SCHEDULERS)
def test_a_restored_scheduler_reads_the_study_record_where_result_json_is_short(cls, tmp_path):
    """A SIGKILL can cut Ray's result.json before a trial's last lines; the study's per-epoch
    record (committed as each result arrives) is what the scheduler rebuilds from."""
    import optuna

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="s", storage=url, directions=["maximize", "minimize"])
    study.set_metric_names(["accuracy", "params"])
    trial = study.ask()
    trial.set_user_attr("curve", [{"epoch": 1, "accuracy": 0.4}, {"epoch": 2, "accuracy": 0.5},
                                  {"epoch": 3, "accuracy": 0.6}])
    folder = tmp_path / "trial_a"
    folder.mkdir()
    (folder / "result.json").write_text("")  # lost to the kill
    s = cls([("accuracy", "max")], max_epochs=9, grace_period=1, reduction_factor=3,
            study=StudyRef(url, "s", str(tmp_path)))
    restored = SimpleNamespace(trial_id="a", path=str(folder), storage=SimpleNamespace(trial_dir_name="x"),
                               config={"trial_number": trial.number})
    s.on_trial_add(None, restored)
    assert s.rungs == {1: {"a": (0.4,)}, 3: {"a": (0.6,)}}
    # A trial the study has no record of (a study from sksearch 0.1) still reads result.json.
    other = tmp_path / "trial_b"
    other.mkdir()
    (other / "result.json").write_text('{"epoch": 1, "accuracy": 0.3}\n')
    s.on_trial_add(None, SimpleNamespace(trial_id="b", path=str(other), storage=SimpleNamespace(trial_dir_name="x"),
                                         config={"trial_number": 99}))
    assert s.rungs[1]["b"] == (0.3,)
    assert pickle.loads(pickle.dumps(s))._curves is None  # what was read stays with the process
