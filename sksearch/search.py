"""The search: Ray Tune runs the trials, an Optuna study proposes them, and everything lands
in a study folder that survives a crash.

Study folder (``--out``)::

    space.yaml       the resolved search space (CLI overrides applied)
    run.json         study name, storage URL, cluster address, versions
    data.json        input shape, class names and normalisation of the data set
    optuna.db        the Optuna study (SQLite), unless --storage names another database
    trials.csv       one row per trial, rewritten whenever a trial ends (and .parquet)
    ray/             the Ray Tune experiment (trial checkpoints, results, snapshots)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from . import __version__
from .data import FolderData, describe, load_data
from .errors import UserError
from .results import STATUSES, summary, trials_table, write_table
from .space import SearchSpace, data_shape, load_space
from .study import StudyFolder, open_folder, read_run

EXPERIMENT = "ray"


@dataclass(frozen=True)
class RunOptions:
    """Command-line choices that are not part of the space."""

    out: str
    storage: str | None = None   # database URL; default sqlite:///<out>/optuna.db
    address: str | None = None   # an existing Ray cluster; default a local one


def default_storage(out: str) -> str:
    return f"sqlite:///{os.path.abspath(os.path.join(out, 'optuna.db'))}"


def apply_overrides(space: SearchSpace, trials: int | None = None, max_epochs: int | None = None,
                    cpus_per_trial: float | None = None, gpus_per_trial: float | None = None) -> SearchSpace:
    """The space with command-line overrides; the scheduler's grace period is clipped to the budget."""
    if trials is not None:
        space = replace(space, trials=trials)
    if max_epochs is not None:
        sched = space.scheduler
        space = replace(space, scheduler=replace(sched, max_epochs=max_epochs,
                                                 grace_period=min(sched.grace_period, max_epochs)))
    if cpus_per_trial is not None or gpus_per_trial is not None:
        res = space.resources
        space = replace(space, resources=replace(
            res, cpu=res.cpu if cpus_per_trial is None else cpus_per_trial,
            gpu=res.gpu if gpus_per_trial is None else gpus_per_trial))
    return space


# ---- Ray -------------------------------------------------------------------------------

def trial_dirname(trial: Any) -> str:
    """``trial_0007_ab12cd34``: the Optuna number first, so folders sort as the table does."""
    number = (trial.config or {}).get("trial_number")
    return f"trial_{number:04d}_{trial.trial_id}" if isinstance(number, int) else f"trial_{trial.trial_id}"


def _quiet_ray_env() -> None:
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # With one checkpoint kept per trial Tune snapshots the experiment at every checkpoint,
    # which is what a crash-safe search wants; silence its warning about doing so.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "0")


def init_ray(address: str | None) -> None:
    import ray

    if ray.is_initialized():
        return
    _quiet_ray_env()
    for handler in logging.getLogger("ray").handlers:
        handler.addFilter(_DropTokenNotice())
    kwargs: dict[str, Any] = dict(log_to_driver=False, logging_level=logging.WARNING, include_dashboard=False)
    try:
        # "local" always starts a private instance; a plain init() would join any cluster
        # that happens to run on this machine.
        ray.init(address=address or "local", **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        if address:
            raise UserError(f"--address {address}: cannot join the Ray cluster ({exc}). Is `ray start --head` "
                            f"running there, with the same RAY_AUTH_MODE on both sides?") from None
        raise
    logging.getLogger("ray.tune").setLevel(logging.WARNING)
    logging.getLogger("ray.train").setLevel(logging.WARNING)


class _DropTokenNotice(logging.Filter):
    """Ray announces on every local start that token authentication is on (it should be);
    the notice is noise in a search's output."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Token authentication is enabled" not in record.getMessage()


# ---- the search ------------------------------------------------------------------------

def _trainable(space: SearchSpace, data: Any) -> Any:
    from ray import tune

    from .trainable import train_trial

    workers = min(space.data.workers, max(0, int(space.resources.cpu) - 1)) if isinstance(data, FolderData) else 0
    fn = tune.with_parameters(train_trial, data=data, cpus=space.resources.cpu,
                              objectives=tuple(space.metric_names), workers=workers)
    return tune.with_resources(fn, {"cpu": space.resources.cpu, "gpu": space.resources.gpu})


def _build_tuner(space: SearchSpace, data: Any, folder: str, storage_url: str, study_name: str) -> Any:
    from ray import tune

    from .progress import StudyCallback
    from .schedulers import make_scheduler
    from .searcher import OptunaSearcher

    shape = data_shape(space, getattr(data, "num_classes", None))
    searcher = OptunaSearcher(space, storage_url, study_name, shape, space.trials, space.concurrency)
    sched = space.scheduler
    scheduler = make_scheduler(sched.name, [(o.name, o.goal) for o in space.objectives], sched.max_epochs,
                               sched.grace_period, sched.reduction_factor)
    return tune.Tuner(
        _trainable(space, data),
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=-1, reuse_actors=True,
                                    trial_dirname_creator=trial_dirname),
        run_config=tune.RunConfig(
            name=EXPERIMENT, storage_path=os.path.abspath(folder), verbose=0,
            callbacks=[StudyCallback(folder, storage_url, study_name, space)],
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            failure_config=tune.FailureConfig(max_failures=0),
        ),
    )


def _load_data(space: SearchSpace) -> Any:
    print(f"loading data: {space.data.name}", flush=True)
    return load_data(space.data)


def _finish(folder: str, storage_url: str, study_name: str, space: SearchSpace, started: float) -> int:
    """Write the final table, print the outcome; 130 when the search did not finish."""
    from .progress import progress_line
    from .searcher import open_study

    df = trials_table(open_study(storage_url, study_name, space))
    write_table(df, folder)
    info = summary(df)
    c = info["counts"]
    finished = c["completed"] + c["stopped_early"] + c["failed"]
    print(progress_line(df, space.trials, 0, time.time() - started, 0), flush=True)
    if finished < space.trials or c["running"]:
        print(f"search interrupted with {finished} of {space.trials} trials done; "
              f"continue it with: sksearch resume {folder}", file=sys.stderr, flush=True)
        return 130
    print(f"trials table: {os.path.join(folder, 'trials.csv')}", flush=True)
    if c["completed"]:
        from .pareto import front_rows, print_front
        from .report import write_report

        study = StudyFolder(folder, read_run(folder), space, df)  # the table just built, not a second read
        print(f"\nPareto front over {', '.join(space.metric_names)} (completed trials):", flush=True)
        print_front(front_rows(study.table, space.metric_names))
        print(f"\nreport: {write_report(study)}", flush=True)
    return 0


def run(space: SearchSpace, options: RunOptions) -> int:
    folder = options.out
    if os.path.exists(os.path.join(folder, "run.json")):
        raise UserError(f"--out {folder}: already holds a study; continue it with `sksearch resume {folder}` "
                        f"or choose another --out")
    data = _load_data(space)
    os.makedirs(folder, exist_ok=True)
    storage_url = options.storage or default_storage(folder)
    with open(os.path.join(folder, "space.yaml"), "w") as fh:
        fh.write(f"# resolved from {space.source}\n" + space.to_yaml())
    run_info = {"study_name": space.name, "storage": storage_url, "address": options.address,
                "source": space.source, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "sksearch": __version__}
    with open(os.path.join(folder, "run.json"), "w") as fh:
        json.dump(run_info, fh, indent=2)
    with open(os.path.join(folder, "data.json"), "w") as fh:
        json.dump(describe(data, space.data), fh, indent=2)
    init_ray(options.address)
    print(f"study {space.name}: {space.trials} trials of up to {space.scheduler.max_epochs} epochs, "
          f"scheduler {space.scheduler.name}, sampler {space.sampler.name}, objectives "
          f"{', '.join(f'{o.name} ({o.goal})' for o in space.objectives)}; folder {folder}", flush=True)
    started = time.time()
    _build_tuner(space, data, folder, storage_url, space.name).fit()
    return _finish(folder, storage_url, space.name, space, started)


def resume(folder: str, address: str | None = None) -> int:
    """Continue an interrupted search (SIGINT or SIGKILL) to its planned trial count."""
    from ray import tune

    run_info = read_run(folder)
    space = load_space(os.path.join(folder, "space.yaml"))
    storage_url, study_name = run_info["storage"], run_info["study_name"]
    data = _load_data(space)
    init_ray(address or run_info.get("address"))
    experiment = os.path.join(os.path.abspath(folder), EXPERIMENT)
    started = time.time()
    if tune.Tuner.can_restore(experiment):
        print(f"resuming study {study_name} from {experiment}", flush=True)
        tuner = tune.Tuner.restore(experiment, trainable=_trainable(space, data), resume_errored=True)
    else:
        # Killed before Ray's first snapshot: start Ray afresh on the same study; the searcher
        # hands out again the samples the study holds as RUNNING.
        print(f"no Ray snapshot in {experiment}; continuing study {study_name} with a new experiment", flush=True)
        shutil.rmtree(experiment, ignore_errors=True)
        tuner = _build_tuner(space, data, folder, storage_url, study_name)
    tuner.fit()
    return _finish(folder, storage_url, study_name, space, started)


def status(folder: str) -> dict[str, Any]:
    """Counts by status, the best trial and the time spent, from the study itself."""
    study = open_folder(folder)
    df = study.table
    info = summary(df)
    started = df["started"].dropna()
    finished = df["finished"].dropna()
    info["planned"] = study.space.trials
    info["wall_s"] = float((finished.max() - started.min()).total_seconds()) if len(started) and len(finished) else 0.0
    info["trial_s"] = float(df["duration_s"].fillna(0).sum())
    info["train_s"] = float(df["train_time"].fillna(0).sum())
    info["study"] = study.run["study_name"]
    info["folder"] = folder
    info["statuses"] = list(STATUSES)
    return info
