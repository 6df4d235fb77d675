"""The search: Ray Tune runs the trials, an Optuna study proposes them, and everything lands
in a study folder (``study/folder.py`` names its files) that survives a crash."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from datetime import datetime, timezone
from typing import Any

from .. import __version__
from ..data.load import FolderData, describe, load_data
from ..errors import UserError
from ..space.schema import SearchSpace, load_space
from ..study.folder import Layout, RunInfo, StudyFolder, atomic_write, read_run, trial_dirname
from ..study.reader import read_table
from ..study.store import open_for_search
from ..study.summary import ended
from ..study.table import summary, write_table


# ---- Ray -------------------------------------------------------------------------------

def _ray_dirname(trial: Any) -> str:
    return trial_dirname((trial.config or {}).get("trial_number"), trial.trial_id)


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


def _build_tuner(space: SearchSpace, data: Any, root: str, storage_url: str, study_name: str) -> Any:
    from ray import tune

    from .optuna_searcher import OptunaSearcher
    from .progress import StudyCallback
    from .schedulers import make_scheduler

    shape = space.data.shape(getattr(data, "num_classes", None))
    searcher = OptunaSearcher(space, storage_url, study_name, shape, space.trials, space.concurrency)
    return tune.Tuner(
        _trainable(space, data),
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=make_scheduler(space.scheduler, space.objectives),
                                    num_samples=-1, reuse_actors=True, trial_dirname_creator=_ray_dirname),
        run_config=tune.RunConfig(
            name=os.path.basename(Layout(root).experiment), storage_path=os.path.abspath(root), verbose=0,
            callbacks=[StudyCallback(root, storage_url, study_name, space)],
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            failure_config=tune.FailureConfig(max_failures=0),
        ),
    )


def _load_data(space: SearchSpace) -> Any:
    print(f"loading data: {space.data.name}", flush=True)
    return load_data(space.data)


def _finish(root: str, run: RunInfo, space: SearchSpace, started: float) -> StudyFolder:
    """Write the final table and report, and print the outcome."""
    from .progress import progress_line

    layout = Layout(root)
    df = read_table(run.storage_url(layout), run.study_name, root)
    write_table(df, root)
    folder = StudyFolder(root, run, space, df)  # the table just read, not a second read
    c = summary(df)["counts"]
    done = ended(c)
    print(progress_line(df, space.trials, 0, time.time() - started, 0), flush=True)
    if done < space.trials or c["running"]:
        print(f"search interrupted with {done} of {space.trials} trials done; "
              f"continue it with: sksearch resume {root}", file=sys.stderr, flush=True)
        return folder
    print(f"trials table: {layout.trials_csv}", flush=True)
    if c["completed"]:
        from ..study.pareto import front_rows, front_table, print_front
        from ..study.report import write_report

        print(f"\nPareto front over {', '.join(space.metric_names)} (completed trials):", flush=True)
        print_front(front_rows(front_table(df, space.metric_names)))
        print(f"\nreport: {write_report(folder)}", flush=True)
    return folder


def run(space: SearchSpace, root: str, storage: str | None = None, address: str | None = None) -> StudyFolder:
    """Run the search ``space`` describes into the study folder ``root``; returns the folder
    when the search ends (all trials done, or interrupted: see its status)."""
    layout = Layout(root)
    if os.path.exists(layout.run_json):
        raise UserError(f"--out {root}: already holds a study; continue it with `sksearch resume {root}` "
                        f"or choose another --out")
    data = _load_data(space)
    os.makedirs(root, exist_ok=True)
    run_info = RunInfo(study_name=space.name, storage=storage, address=address, source=space.source,
                       created=datetime.now(timezone.utc).isoformat(timespec="seconds"), sksearch=__version__)
    atomic_write(layout.space_yaml, f"# resolved from {space.source}\n" + space.to_yaml())
    atomic_write(layout.data_json, json.dumps(describe(data, space.data), indent=2))
    atomic_write(layout.run_json, json.dumps(run_info.to_dict(), indent=2))
    storage_url = run_info.storage_url(layout)
    open_for_search(storage_url, space.name, space)  # the study exists before any trial reports
    init_ray(address)
    print(f"study {space.name}: {space.trials} trials of up to {space.scheduler.max_epochs} epochs, "
          f"scheduler {space.scheduler.name}, sampler {space.sampler.name}, objectives "
          f"{', '.join(f'{o.name} ({o.goal})' for o in space.objectives)}; folder {root}", flush=True)
    started = time.time()
    _build_tuner(space, data, root, storage_url, space.name).fit()
    return _finish(root, run_info, space, started)


def resume(root: str, address: str | None = None) -> StudyFolder:
    """Continue an interrupted search (SIGINT or SIGKILL) to its planned trial count."""
    from ray import tune

    layout = Layout(root)
    run_info = read_run(root)
    space = load_space(layout.space_yaml)
    storage_url, study_name = run_info.storage_url(layout), run_info.study_name
    data = _load_data(space)
    init_ray(address or run_info.address)
    experiment = layout.experiment
    started = time.time()
    if tune.Tuner.can_restore(experiment):
        print(f"resuming study {study_name} from {experiment}", flush=True)
        tuner = tune.Tuner.restore(experiment, trainable=_trainable(space, data), resume_errored=True)
    else:
        # Killed before Ray's first snapshot: start Ray afresh on the same study; the searcher
        # hands out again the samples the study holds as RUNNING.
        print(f"no Ray snapshot in {experiment}; continuing study {study_name} with a new experiment", flush=True)
        shutil.rmtree(experiment, ignore_errors=True)
        tuner = _build_tuner(space, data, root, storage_url, study_name)
    tuner.fit()
    return _finish(root, run_info, space, started)
