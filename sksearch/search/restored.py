"""A study is its folder: a Ray experiment restored from a study folder is pointed at that
folder and its database, wherever the folder was made.

Ray moves its own paths when it restores an experiment from another place (the trials' folders
and checkpoints, its experiment state), but not two things saved with the first folder's
absolute paths, which a copied study would go on writing through and a moved one fails on:

* ``tuner.pkl`` pickles the searcher, the scheduler and the callbacks once, when the search
  starts, with the database URL and the folder they had then: each of sksearch's parts takes
  the study anew (its ``relocate`` method);
* Ray's search state (``search_gen_state-*.json``) holds the experiment its new trials are made
  from, with the first folder as their storage: ``InPlaceSearch`` points it at this folder
  when Ray restores it.

The third absolute path, in a ``run.json`` that named the folder's own ``optuna.db`` by its
path, is read as the database beside it (``RunInfo.storage_url`` in ``study/folder.py``). A
study whose ``run.json`` names another database (PostgreSQL, or a SQLite file that is not the
folder's own) shares that database, and its copy shares it too.
"""

from __future__ import annotations

import copy
import os
from typing import Any

from ray.tune.search import Searcher, SearchGenerator

from ..errors import UserError
from ..study.store import StudyRef


class InPlaceSearch(SearchGenerator):
    """Ray's wrapper of a searcher (``SearchGenerator``) whose restored state makes new
    trials in ``experiment`` (a study's ``ray/`` folder), not where the state was saved."""

    def __init__(self, searcher: Searcher, experiment: str) -> None:
        super().__init__(searcher)
        self.experiment = experiment

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        saved = self._experiment
        if saved is None:
            return
        # As Ray moves a restored trial (TuneController._restore_trials): a copy of the saved
        # storage with this folder's path and experiment name.
        storage = copy.copy(saved.storage)
        storage.storage_fs_path = os.path.dirname(self.experiment)
        storage.experiment_dir_name = os.path.basename(self.experiment)
        saved.storage = storage
        saved.spec["storage"] = storage


def restored_here(tuner: Any, study: StudyRef, experiment: str) -> None:
    """Point what ``Tuner.restore`` read from ``experiment`` (the study's ``ray/`` folder) at
    ``study``: its searcher, scheduler and callbacks, and the experiment Ray makes new trials
    from. Call it before ``tuner.fit()``."""
    internal = getattr(tuner, "_local_tuner", None)  # Ray has no public handle on what it restored
    if internal is None:
        # A Ray client's (ray://) Tuner lives on the cluster, out of the driver's reach.
        raise UserError(f"{study.where}: a study cannot be resumed through a Ray client (ray://); give --address "
                        f"the cluster's HOST:PORT")
    tune_config, run_config = internal._tune_config, internal.get_run_config()
    searcher = tune_config.search_alg
    if isinstance(searcher, SearchGenerator):
        searcher = searcher.searcher
    for part in (searcher, tune_config.scheduler, *(run_config.callbacks or [])):
        relocate = getattr(part, "relocate", None)
        if relocate is not None:
            relocate(study)
    tune_config.search_alg = InPlaceSearch(searcher, experiment)
