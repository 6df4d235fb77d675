"""Schedulers: one shared contract every successive-halving scheduler must meet, then each
algorithm's own decisions on hand-made rungs."""

import json
from types import SimpleNamespace

import pytest
from ray.tune.schedulers import TrialScheduler

from sksearch.schedulers import ASHA, SuccessiveHalving, make_scheduler, read_results

CONTINUE, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP
OBJECTIVES = [("accuracy", "max"), ("params", "min")]
SCHEDULERS = [ASHA]


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


def test_make_scheduler_and_bad_settings():
    assert isinstance(make_scheduler("asha", OBJECTIVES, 9, 1, 3), ASHA)
    assert not isinstance(make_scheduler("none", OBJECTIVES, 9, 1, 3), SuccessiveHalving)
    with pytest.raises(ValueError):
        ASHA(OBJECTIVES, max_epochs=9, grace_period=0, reduction_factor=3)


def test_read_results_skips_blank_and_torn_lines(tmp_path):
    path = tmp_path / "result.json"
    path.write_text('{"epoch": 1}\n\n{"epoch": 2}\n{"ep')
    assert read_results(str(path)) == [{"epoch": 1}, {"epoch": 2}]
    assert read_results(str(tmp_path / "missing.json")) == []
