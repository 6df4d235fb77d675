"""The Optuna searcher on its own (no Ray cluster): what it tells the study, and its restore."""

import optuna
import pytest
from optuna.trial import TrialState
from ray.tune.search import Searcher

from sksearch.search.optuna_searcher import OptunaSearcher
from sksearch.space import load_space
from tests.conftest import write_space


@pytest.fixture
def space(tmp_path):
    return load_space(str(write_space(tmp_path)))


def make(space, tmp_path, **kw):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    kw.setdefault("max_trials", 6)
    return OptunaSearcher(space, url, "tiny", space.data.shape(), **kw), url


def result(config, epoch, accuracy=0.5, **extra):
    return {"epoch": epoch, "accuracy": accuracy, "loss": 1.0, "params": config["cost"]["params"],
            "macs": config["cost"]["macs"], "train_time": 1.0, **extra}


def states(url):
    study = optuna.load_study(study_name="tiny", storage=url)
    return [(t.state, t.user_attrs.get("status")) for t in study.trials], study


def test_full_budget_is_complete_and_stopped_is_pruned(space, tmp_path):
    s, url = make(space, tmp_path)
    a, b = s.suggest("ray_a"), s.suggest("ray_b")
    assert a["trial_number"] == 0 and b["trial_number"] == 1
    assert set(a) == {"trial_number", "arch", "train", "params", "cost"}
    s.on_trial_complete("ray_a", result(a, epoch=2, accuracy=0.7))
    s.on_trial_complete("ray_b", result(b, epoch=1, accuracy=0.9))
    got, study = states(url)
    assert got == [(TrialState.COMPLETE, "completed"), (TrialState.PRUNED, "stopped_early")]
    assert study.trials[0].values == [0.7, a["cost"]["params"]]
    assert study.trials[1].values is None and study.trials[1].user_attrs["accuracy"] == 0.9
    assert study.trials[1].user_attrs["epochs"] == 1
    assert study.best_trials[0].number == 0  # the stopped trial is never on the front


def test_errors_and_silent_ends_are_failures_with_reasons(space, tmp_path):
    s, url = make(space, tmp_path)
    a, b, c = (s.suggest(f"ray_{i}") for i in range(3))
    s.on_trial_complete("ray_0", result(a, epoch=1, error="TrialDiverged: training loss is nan at epoch 1"))
    s.on_trial_result("ray_1", result(b, epoch=1))
    s.on_trial_complete("ray_1", None, error=True)
    s.on_trial_complete("ray_2", None)
    got, study = states(url)
    assert got == [(TrialState.FAIL, "failed")] * 3
    assert study.trials[0].user_attrs["reason"].startswith("TrialDiverged")
    assert study.trials[1].user_attrs["reason"] == "the trial's worker died"
    assert study.trials[1].user_attrs["epochs"] == 1  # the last result it reported is kept
    assert study.trials[2].user_attrs["reason"] == "ended before reporting"


def test_nothing_is_told_twice(space, tmp_path):
    s, url = make(space, tmp_path)
    a = s.suggest("ray_a")
    s.on_trial_complete("ray_a", result(a, epoch=2, accuracy=0.6))
    s.trial_map["ray_a_again"] = a["trial_number"]
    s.on_trial_complete("ray_a_again", result(a, epoch=2, accuracy=0.1))
    _, study = states(url)
    assert study.trials[0].values[0] == 0.6


def test_budget_violations_are_rejected_before_ray_sees_them(space, tmp_path):
    space.constraints = {"params": {"max": 600}}
    s, url = make(space, tmp_path, max_trials=3)
    configs = [s.suggest(f"ray_{i}") for i in range(3)]
    assert all(c["cost"]["params"] <= 600 for c in configs)
    got, study = states(url)
    rejected = [t for t in study.trials if t.user_attrs.get("status") == "rejected"]
    # Never trained; PRUNED with a violated constraint, which samplers read to avoid the region.
    assert rejected and all(t.state == TrialState.PRUNED and t.constraints["params_max"] > 0 for t in rejected)
    accepted = [t for t in study.trials if t.user_attrs.get("status") != "rejected"]
    assert all(t.constraints["params_max"] <= 0 for t in accepted)
    assert all(t.user_attrs["reason"].startswith("params ") and t.user_attrs["params"] > 600 for t in rejected)
    assert s.suggest("ray_more") == Searcher.FINISHED  # rejected samples do not use up the budget


def test_budget_and_concurrency(space, tmp_path):
    s, _ = make(space, tmp_path, max_trials=2, max_concurrent=1)
    a = s.suggest("ray_a")
    assert s.suggest("ray_b") is None  # one at a time
    s.on_trial_complete("ray_a", result(a, epoch=2))
    assert s.suggest("ray_b")["trial_number"] == 1
    s.on_trial_complete("ray_b", result(a, epoch=2))
    assert s.suggest("ray_c") == Searcher.FINISHED


def test_restore_reissues_samples_ray_never_recorded(space, tmp_path):
    s, url = make(space, tmp_path)
    a = s.suggest("ray_a")
    s.on_trial_complete("ray_a", result(a, epoch=2))
    b = s.suggest("ray_b")
    s.save(str(tmp_path / "state.pkl"))           # Ray's last snapshot
    c = s.suggest("ray_c")                          # suggested after it, then the driver dies
    fresh, _ = make(space, tmp_path)
    fresh.restore(str(tmp_path / "state.pkl"))
    again = fresh.suggest("ray_c_new")
    assert again["trial_number"] == c["trial_number"]
    assert again["params"] == c["params"] and again["arch"] == c["arch"]
    assert fresh.trial_map["ray_b"] == b["trial_number"] and "ray_b" in fresh.live
    nxt = fresh.suggest("ray_d")
    assert nxt["trial_number"] == 3
    fresh.on_trial_complete("ray_c_new", result(again, epoch=2))
    got, _ = states(url)
    assert got[2] == (TrialState.COMPLETE, "completed") and got[1][0] == TrialState.RUNNING


def test_the_sampler_state_survives_a_restore(space, tmp_path):
    """Nothing lost since the snapshot: the restored sampler draws what the live one draws."""
    import shutil

    s, _ = make(space, tmp_path, max_trials=20)
    for i in range(3):
        s.on_trial_complete(f"r{i}", result(s.suggest(f"r{i}"), epoch=2))
    s.save(str(tmp_path / "state.pkl"))
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    shutil.copy(tmp_path / "optuna.db", snapshot / "optuna.db")
    expected = [s.suggest(f"x{i}")["params"] for i in range(3)]
    r = OptunaSearcher(space, f"sqlite:///{snapshot / 'optuna.db'}", "tiny", space.data.shape(), 20)
    r.restore(str(tmp_path / "state.pkl"))
    assert [r.suggest(f"y{i}")["params"] for i in range(3)] == expected


def test_samples_drawn_after_the_snapshot_are_not_drawn_again(space, tmp_path):
    s, _ = make(space, tmp_path, max_trials=20)
    s.save(str(tmp_path / "state.pkl"))
    lost = [s.suggest(f"r{i}") for i in range(4)]  # the driver dies before the next snapshot
    r, _ = make(space, tmp_path, max_trials=20)
    r.restore(str(tmp_path / "state.pkl"))
    again = [r.suggest(f"n{i}") for i in range(8)]
    assert [c["trial_number"] for c in again[:4]] == [0, 1, 2, 3]  # the lost ones, reissued
    assert [c["params"] for c in again[:4]] == [c["params"] for c in lost]
    fresh = [c["params"] for c in again[4:]]
    assert not any(p in [c["params"] for c in lost] for p in fresh)


def test_the_searcher_writes_nothing_before_it_is_opened(space, tmp_path):
    """Building a searcher or pickling it touches no database: ``open()`` is the first write,
    and an unpickled searcher (a resume, in a new process) opens and settles the study again."""
    import pickle
    from datetime import datetime

    s, url = make(space, tmp_path, run_id="first", started=datetime(2000, 1, 1))
    assert not (tmp_path / "optuna.db").exists()
    with pytest.raises(RuntimeError, match=r"open\(\) was not called"):
        _ = s.study
    assert s.open() is s.study and (tmp_path / "optuna.db").exists()
    s.suggest("ray_a")
    again = pickle.loads(pickle.dumps(s))
    assert again._study is None and again.started is None
    before = datetime.now()
    again.open()
    assert again.started >= before and again.study.trials[0].user_attrs["ray_trial_id"] == "ray_a"


def test_a_trial_drawn_when_the_driver_died_is_adopted_or_rejected(space, tmp_path):
    """SIGKILL between ``study.ask()`` and the driver naming itself on the trial leaves a RUNNING
    trial no driver owns: a whole sample is trained under its number, a half-drawn one is
    rejected; neither stays RUNNING or is counted twice against the budget."""
    from datetime import datetime, timedelta

    from sksearch.space.sample import sample

    s, url = make(space, tmp_path, run_id="first")
    s.on_trial_complete("ray_a", result(s.suggest("ray_a"), epoch=2))
    study = optuna.load_study(study_name="tiny", storage=url)
    whole = study.ask()
    sample(space, whole, space.data.shape())
    half = study.ask()
    half.suggest_float("lr", 0.01, 0.1, log=True)
    own = study.ask()  # this run's own, named at once, killed before its first parameter (as in CI)
    own.set_user_attr("run_id", "first")
    # The resumed driver started after these trials were drawn.
    resumed, _ = make(space, tmp_path, run_id="first", max_trials=3, started=datetime.now() + timedelta(seconds=1))
    again = resumed.suggest("ray_b")
    assert again["trial_number"] == whole.number and again["params"] == whole.params
    trials = optuna.load_study(study_name="tiny", storage=url).trials
    assert (trials[half.number].state, trials[half.number].user_attrs["status"]) == (TrialState.PRUNED, "rejected")
    assert "half drawn" in trials[half.number].user_attrs["reason"]
    assert (trials[own.number].state, trials[own.number].user_attrs["status"]) == (TrialState.PRUNED, "rejected")
    # Like every drawn trial, they carry the space's constraint keys (GP refuses trials that differ).
    assert trials[half.number].constraints == trials[own.number].constraints == {"architecture": 1.0}
    assert trials[whole.number].constraints == {"architecture": 0.0}
    assert resumed.suggest("ray_c")["trial_number"] == own.number + 1
    assert resumed.suggest("ray_d") is Searcher.FINISHED  # a, the adopted one and c: the budget of 3


def test_a_sampler_that_keeps_proposing_the_rejected_region_does_not_stall(space, tmp_path, monkeypatch):
    """GP and NSGA learn nothing from rejected (PRUNED) samples: one stuck on an infeasible
    region hands over to a seeded random draw after RANDOM_AFTER_REJECTIONS, instead of failing
    the search after MAX_CONSECUTIVE_REJECTIONS."""
    from sksearch.search import optuna_searcher

    stuck = optuna.samplers.PartialFixedSampler({"stages.0.width_per_group": 4}, optuna.samplers.RandomSampler(seed=0))
    real = optuna_searcher.make_sampler
    monkeypatch.setattr(optuna_searcher, "make_sampler",  # the space's sampler is stuck; the fallback is not
                        lambda space, offset=0, name=None: stuck if name is None else real(space, offset, name))
    space.constraints = {"params": {"max": 500}}  # width_per_group 4 is 614 params or more: always rejected
    s, url = make(space, tmp_path, max_trials=3)
    configs = [s.suggest(f"r{i}") for i in range(3)]
    assert all(c["params"]["stages.0.width_per_group"] == 2 and c["cost"]["params"] <= 500 for c in configs)
    got, _ = states(url)
    rejected = [st for st in got if st[1] == "rejected"]
    assert len(rejected) >= optuna_searcher.RANDOM_AFTER_REJECTIONS  # the stuck sampler's draws, each rejected


def test_every_trial_carries_the_same_constraints_and_gp_runs_beside_imported_ones(space, tmp_path):
    """GP refuses trials whose constraint counts differ: valid, invalid and rejected samples,
    and trials imported by a warm start, all carry this space's keys."""
    from sksearch.search.warm_start import import_trials, plan_imports

    space.constraints = {"params": {"max": 800}}
    (tmp_path / "src").mkdir()
    source, _ = make(space, tmp_path / "src", max_trials=4, run_id="earlier")
    for i in range(4):
        config = source.suggest(f"s{i}")
        source.on_trial_complete(f"s{i}", result(config, epoch=2, accuracy=0.4 + 0.1 * i))
    src_url = f"sqlite:///{tmp_path / 'src' / 'optuna.db'}"
    space.sampler = type(space.sampler)(**{**space.sampler.__dict__, "name": "gp", "n_startup_trials": 2})
    s, url = make(space, tmp_path, max_trials=6, run_id="now")
    plans = plan_imports(space, [f"{src_url}#tiny"])
    assert import_trials(s.open(), plans) == 4
    for i in range(2):  # past GP's start (4 imported trials): it fits on them and the new ones together
        config = s.suggest(f"r{i}")
        s.on_trial_complete(f"r{i}", result(config, epoch=2, accuracy=0.5))
    trials = optuna.load_study(study_name="tiny", storage=url).trials
    assert {tuple(sorted(t.constraints)) for t in trials} == {("architecture", "params_max")}
    assert any(t.user_attrs.get("imported") for t in trials)
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 6
