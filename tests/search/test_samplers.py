"""The sampler contract, as Optuna's own ``SamplerTestCase``: every sampler a space can name,
driven through the searcher (no Ray), draws valid samples of the space, rejects with the same
constraint keys as every other trial, repeats a seeded run, and after a restore draws exactly
what the uninterrupted search would have drawn."""

import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
import tempfile

import optuna
import pytest

from sksearch.model.spec import ArchSpec
from sksearch.search.optuna_searcher import OptunaSearcher
from sksearch.space import SamplerSpec, load_space
from sksearch.space.sample import draw_fixed
from sksearch.space.samplers import make_sampler
from sksearch.space.schema import SAMPLERS
from tests.conftest import write_space

CLASSES = {"tpe": optuna.samplers.TPESampler, "gp": optuna.samplers.GPSampler,
           "nsga2": optuna.samplers.NSGAIISampler, "nsga3": optuna.samplers.NSGAIIISampler,
           "random": optuna.samplers.RandomSampler}
# Few startup trials and small generations, so that the model-based draws and NSGA's
# generations (population 4) happen within the handful of trials each test runs.
SETTINGS = {"seed": 0, "n_startup_trials": 2, "population_size": 4}
TRIALS = 6  # NSGA: a generation of 4, then two of the next; TPE and GP: two random, then four modelled


@pytest.fixture(scope="module")
def memory(tmp_path_factory):
    """Where the tests' databases live: in memory (/dev/shm) where there is one, since every
    user attribute the searcher sets is a commit and a commit on disk waits for the disk."""
    if not os.access("/dev/shm", os.W_OK):
        yield tmp_path_factory.mktemp("samplers")
        return
    path = tempfile.mkdtemp(dir="/dev/shm", prefix="sksearch-samplers-")
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)


def accuracy(params: dict) -> float:
    """A trial's accuracy, a fixed function of its sample: two runs that draw alike are told alike."""
    return int(hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8], 16) / 16**8


def tell(searcher: OptunaSearcher, ray_id: str, config: dict) -> None:
    searcher.on_trial_complete(ray_id, {"epoch": 2, "accuracy": accuracy(config["params"]), "loss": 1.0,
                                        "train_time": 1.0, **config["cost"]})


def drawn(url: str) -> list[tuple[int, str, dict]]:
    study = optuna.load_study(study_name="tiny", storage=url)
    return [(t.number, t.state.name, t.params) for t in study.get_trials(deepcopy=False)]


def searcher(space, folder, db: str) -> tuple[OptunaSearcher, str]:
    url = f"sqlite:///{folder / db}"
    return OptunaSearcher(space, url, "tiny", space.data.shape(), max_trials=TRIALS), url


def run(space, folder, db: str) -> tuple[list[tuple[int, str, dict]], list[dict]]:
    """A whole search of TRIALS: three trials one after the other, two at once (drawn, then
    told), and the rest one after the other. Returns what the study holds and the configs."""
    s, url = searcher(space, folder, db)
    configs = []
    for i in range(3):
        configs.append(s.suggest(f"r{i}"))
        tell(s, f"r{i}", configs[-1])
    running = [s.suggest(f"w{i}") for i in range(2)]
    for i, config in enumerate(running):
        tell(s, f"w{i}", config)
    configs += running
    for i in range(5, TRIALS):
        configs.append(s.suggest(f"r{i}"))
        tell(s, f"r{i}", configs[-1])
    return drawn(url), configs


def test_the_contract_covers_every_sampler_a_space_can_name():
    assert set(CLASSES) == set(SAMPLERS)


# Class-scoped: each sampler runs one uninterrupted search that several of its tests read.
@pytest.fixture(scope="class")
def space(tmp_path_factory, name):
    space = load_space(str(write_space(tmp_path_factory.mktemp("space"))))
    return dataclasses.replace(space, sampler=SamplerSpec(name=name, **SETTINGS))


@pytest.fixture(scope="class")
def folder(memory, name):
    (memory / name).mkdir()
    return memory / name


@pytest.fixture(scope="class")
def uninterrupted(space, folder):
    return run(space, folder, "whole.db")


@pytest.mark.parametrize("name", sorted(CLASSES), scope="class")
class TestSamplerContract:
    def test_it_is_the_sampler_named(self, space, name):
        assert isinstance(make_sampler(space), CLASSES[name])
        assert isinstance(make_sampler(space, name="random"), optuna.samplers.RandomSampler)  # the fallback

    def test_draws_are_valid_samples_of_the_space(self, space, uninterrupted):
        study, configs = uninterrupted
        assert [t[1] for t in study] == ["COMPLETE"] * TRIALS
        for config, (_, _, params) in zip(configs, study):
            assert config["params"] == params
            # Strict: a value outside its distribution, a missing one or a stray one raises.
            again, _ = draw_fixed(space, params, "draw")
            assert ArchSpec.from_dict(again.arch).to_dict() == config["arch"]
            assert ArchSpec.from_dict(config["arch"]).to_dict() == config["arch"]
        assert len({json.dumps(c["params"], sort_keys=True) for c in configs}) >= 3  # it explores

    def test_rejections_carry_the_same_constraint_keys_as_every_other_trial(self, space, folder):
        # width_per_group 4 is over the budget: about half of the space.
        budgeted = dataclasses.replace(space, constraints={"params": {"max": 600}})
        s, url = searcher(budgeted, folder, "budget.db")
        for i in range(3):
            config = s.suggest(f"r{i}")
            assert config["cost"]["params"] <= 600
            tell(s, f"r{i}", config)
        trials = optuna.load_study(study_name="tiny", storage=url).trials
        rejected = [t for t in trials if t.user_attrs.get("status") == "rejected"]
        assert rejected and all(t.state == optuna.trial.TrialState.PRUNED for t in rejected)
        assert {frozenset(t.constraints) for t in trials} == {frozenset({"architecture", "params_max"})}
        assert all(t.constraints["params_max"] > 0 for t in rejected)
        assert all(t.constraints["params_max"] <= 0 for t in trials if t not in rejected)

    def test_a_seeded_run_repeats(self, space, folder, uninterrupted):
        assert run(space, folder, "again.db")[0] == uninterrupted[0]

    def test_a_restored_search_draws_what_the_uninterrupted_one_would(self, space, folder, uninterrupted):
        """Ray's last snapshot is taken after three trials; two more are drawn and running when
        the driver dies. The restored searcher hands those two out again under their numbers,
        then draws on: the study ends as that of a search that never stopped."""
        s, url = searcher(space, folder, "cut.db")
        for i in range(3):
            tell(s, f"r{i}", s.suggest(f"r{i}"))
        s.save(str(folder / "state.json"))
        lost = [s.suggest(f"lost{i}") for i in range(2)]
        del s  # the driver dies with two trials running
        restored, _ = searcher(space, folder, "cut.db")
        restored.restore(str(folder / "state.json"))
        again = [restored.suggest(f"again{i}") for i in range(2)]
        assert [(c["trial_number"], c["params"]) for c in again] == [(c["trial_number"], c["params"]) for c in lost]
        for i, config in enumerate(again):
            tell(restored, f"again{i}", config)
        for i in range(5, TRIALS):
            tell(restored, f"r{i}", restored.suggest(f"r{i}"))
        assert drawn(url) == uninterrupted[0]
