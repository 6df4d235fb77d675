"""Where everything lies in a study folder: its file names, their paths (``Layout``), the Ray
trial folders and their newest weights. ``atomic_write``, the one way files are replaced, is
``nofollow.py``'s (imported here, where the writers have always found it).

    space.yaml        the resolved space (with command-line overrides); resume reads it
    run.json          study name, storage URL (none: optuna.db here), cluster address, trial
                      storage (none: ray/ here), versions
    data.json         input shape, class names, normalisation and the data spec
    optuna.db         the Optuna study (unless the storage is another database)
    trials.csv/.parquet  one row per trial, rewritten whenever a trial ends
    curves.parquet    one row per trial and epoch (learning curves), kept current as trials report
    report.html       the report
    ray/              the Ray Tune experiment: trial_<number>_<ray id>/ with result.json,
                      params.json and checkpoint_*/model.safetensors (a study run with a
                      trial storage has it there instead: run.json's trial_storage)
    attention/        analyses of trained trials
    supernet/         a one-shot search's supernet: its own Ray experiment, whose one trial
                      supernet/supernet/ holds result.json (a line per epoch) and checkpoint_*;
                      supernet/inherited/ the chosen subnets' inherited weights

The bottom of the study wing with ``store.py`` (whose trial numbering it reads) and
``nofollow.py``: it imports nothing else of the wing, so every other module may import it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..train.spec import WEIGHTS_FILE
from .nofollow import atomic_write  # noqa: F401 - the writers import it from here
from .store import baseline_number, is_baseline

EXPERIMENT = "ray"
PARAMS_FILE = "params.json"  # Ray's record of a trial's config: the searcher's validated spec
SUPERNET = "supernet"  # the one-shot strategy's supernet experiment, and the name of its one trial


INHERITED = "inherited"  # under the supernet folder: the inherited weights of confirmed subnets


def supernet_dir(root: str) -> str:
    """The supernet's Ray experiment in the study folder ``root`` (absolute: Ray wants it so)."""
    return os.path.abspath(os.path.join(root, SUPERNET))


def inherited_dir(root: str) -> str:
    """Where a one-shot study with ``strategy.init: inherited`` keeps each confirmed subnet's
    weights as the supernet left them, a file per architecture (``arch_key``), for its
    stand-alone trial and its ``confirm`` runs to start from."""
    return os.path.join(supernet_dir(root), INHERITED)


def experiment_in(trial_storage: str, study_name: str, run_id: str) -> str:
    """The Ray experiment of a study in a trial storage that many studies share: a folder of
    its own, named by the study and the run that made it (absolute: Ray wants it so)."""
    return os.path.abspath(os.path.join(trial_storage, f"{study_name}-{run_id}"))


def trial_dirname(number: int | None, ray_trial_id: str) -> str:
    """``trial_0007_ab12cd34``: the Optuna number first, so folders sort as the table does;
    a baseline's (number -1, -2, ...) is ``baseline_0000_...``."""
    if not isinstance(number, int):
        return f"trial_{ray_trial_id}"
    if is_baseline(number):
        return f"baseline_{baseline_number(number):04d}_{ray_trial_id}"
    return f"trial_{number:04d}_{ray_trial_id}"


# Layout's attributes and the files they name.
FILES = {"run_json": "run.json", "space_yaml": "space.yaml", "data_json": "data.json", "optuna_db": "optuna.db",
         "trials_csv": "trials.csv", "trials_parquet": "trials.parquet", "curves_parquet": "curves.parquet",
         "report_html": "report.html"}


@dataclass(frozen=True)
class Layout:
    """The paths of a study folder's files: ``Layout(root).run_json`` is ``root/run.json``."""

    root: str
    # The study's Ray experiment when it lies outside the folder (run.json's trial_storage:
    # a folder in storage every node of a cluster reaches); None: ``root/ray``.
    trials: str | None = None
    run_json: str = field(init=False)
    space_yaml: str = field(init=False)
    data_json: str = field(init=False)
    optuna_db: str = field(init=False)
    trials_csv: str = field(init=False)
    trials_parquet: str = field(init=False)
    curves_parquet: str = field(init=False)
    report_html: str = field(init=False)
    experiment: str = field(init=False)  # absolute: Ray wants an absolute storage path

    def __post_init__(self) -> None:
        for attr, name in FILES.items():
            object.__setattr__(self, attr, os.path.join(self.root, name))
        object.__setattr__(self, "experiment", os.path.abspath(self.trials or os.path.join(self.root, EXPERIMENT)))

    def trial_dir(self, number: int, ray_trial_id: str) -> str:
        return os.path.join(self.experiment, trial_dirname(number, ray_trial_id))

    def attention_dir(self, number: int) -> str:
        return os.path.join(self.root, "attention", f"trial_{number:04d}")

    def default_storage(self) -> str:
        return f"sqlite:///{os.path.abspath(self.optuna_db)}"


def latest_weights(trial_dir: str) -> str | None:
    """The weights file of a Ray trial folder's newest checkpoint (``checkpoint_NNNNNN``)."""
    if not os.path.isdir(trial_dir):
        return None
    for name in sorted((d for d in os.listdir(trial_dir) if d.startswith("checkpoint_")), reverse=True):
        weights = os.path.join(trial_dir, name, WEIGHTS_FILE)
        if os.path.exists(weights):
            return weights
    return None


def arch_key(arch: dict[str, Any]) -> str:
    """A file name for an architecture: its spec's hash."""
    import hashlib
    import json

    return hashlib.sha1(json.dumps(arch, sort_keys=True).encode()).hexdigest()[:16]
