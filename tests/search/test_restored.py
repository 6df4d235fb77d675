"""What Ray restores from a study folder is pointed at that folder (no Ray cluster here; the
end-to-end resumes of a copied and a moved study are in test_resume_copy.py)."""

from types import SimpleNamespace

import pytest
import ray.cloudpickle as pickle
from ray import tune
from ray.tune.experiment import Experiment
from ray.tune.search import Searcher

from sksearch.errors import UserError
from sksearch.search.optuna_searcher import OptunaSearcher
from sksearch.search.progress import StudyCallback
from sksearch.search.restored import InPlaceSearch, restored_here
from sksearch.search.schedulers import make_scheduler
from sksearch.search.trackers import TrackerCallback
from sksearch.space import load_space
from sksearch.study.layout import Layout
from sksearch.study.store import StudyRef
from tests.conftest import write_space


def parts(space, root):
    """The searcher, scheduler and callbacks a search in ``root`` hands Ray (driver._build_tuner)."""
    layout = Layout(str(root))
    study = StudyRef(layout.default_storage(), space.name, str(root))
    searcher = OptunaSearcher(space, study.url, space.name, space.data.shape(), space.trials, 1, "run1")
    return (tune.TuneConfig(search_alg=searcher, scheduler=make_scheduler(space.scheduler, space.objectives, study)),
            tune.RunConfig(callbacks=[StudyCallback(study, space, "run1"),
                                      TrackerCallback(["tensorboard"], str(root), space.name, 2)]))


def test_every_restored_part_names_the_folder_it_is_restored_in(tmp_path):
    space = load_space(str(write_space(tmp_path)))
    first = tmp_path / "first_folder"
    # tuner.pkl as Ray writes it when the search starts in the first folder, read back later.
    tune_config, run_config = pickle.loads(pickle.dumps(parts(space, first)))
    assert str(first) in str(pickle.dumps((tune_config, run_config)))
    here = tmp_path / "copy"
    tuner = SimpleNamespace(_local_tuner=SimpleNamespace(_tune_config=tune_config, get_run_config=lambda: run_config))
    study = StudyRef(Layout(str(here)).default_storage(), space.name, str(here))

    restored_here(tuner, study, Layout(str(here)).experiment)

    assert isinstance(tune_config.search_alg, InPlaceSearch)
    assert tune_config.search_alg.experiment == str(here / "ray")
    assert tune_config.search_alg.searcher.storage_url == f"sqlite:///{here / 'optuna.db'}"
    assert tune_config.scheduler.study == study
    assert run_config.callbacks[0].study == study and run_config.callbacks[0].folder == str(here)
    assert run_config.callbacks[1].root == str(here)
    assert str(first) not in str(pickle.dumps((tune_config, run_config)))  # no path to the first folder is left


class Fixed(Searcher):
    def suggest(self, trial_id):
        return {"trial_number": 3}


def trainable(config):
    pass


def test_new_trials_of_a_restored_search_are_made_in_the_folder_it_is_restored_in(tmp_path):
    first, here = tmp_path / "first_folder", tmp_path / "copy"
    # Ray's search state names the experiment its new trials are made from, with its storage.
    saved = Experiment("ray", trainable, storage_path=str(first))
    search = InPlaceSearch(Fixed(), str(here / "ray"))
    search.set_state(pickle.loads(pickle.dumps({"counter": 3, "total_samples": -1, "finished": False,
                                                "experiment": saved})))
    trial = search.create_trial_if_possible(search._experiment.spec)
    assert trial.storage.experiment_fs_path == search._experiment.storage.experiment_fs_path == str(here / "ray")
    assert trial.storage.storage_fs_path == str(here) and trial.config == {"trial_number": 3}


def test_a_tuner_out_of_reach_is_refused_not_resumed_where_it_was_saved(tmp_path):
    """A Ray client's Tuner (ray://) lives on the cluster: its parts cannot be pointed here."""
    with pytest.raises(UserError, match="cannot be resumed through a Ray client"):
        restored_here(SimpleNamespace(_local_tuner=None), StudyRef("sqlite:///x.db", "tiny", str(tmp_path)),
                      str(tmp_path / "ray"))
