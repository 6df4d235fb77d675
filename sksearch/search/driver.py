"""The search: Ray Tune runs the trials, an Optuna study proposes them, and everything lands
in a study folder (``study/folder.py`` names its files) that survives a crash. The caller hands
in the strategy (``strategy.py``): what runs before the trials and where they start from.

``run`` checks everything it can before it writes anything (the output folder, the storage,
the data, the Ray cluster and whether it can host a trial), then holds the folder's lock for
the search's life. A run that fails before its first trial leaves no half-made study behind.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, TypeVar

from ..data.load import FolderData, describe, load_data
from ..errors import UserError
from ..scoped import optuna_warnings_only
from ..space.distributions import SpaceError
from ..space.parsed import SearchSpace
from ..space.sample import check_baselines
from ..study.curves import write_curves
from ..study.folder import RunInfo, StudyFolder, read_run, study_space
from ..study.layout import Layout, atomic_write, experiment_in, trial_dirname
from ..study.lock import LOCK_FILE, FolderLock
from ..study.nofollow import refuse_links_out
from ..study.reader import read_records, read_table
from ..study.store import StudyRef, open_for_search
from ..study.summary import ended, status_info
from ..study.table import of_run, stopped_runs, summary, write_table
from ..study.targets import check_folder_target
from ..version import __version__
from .confirm import confirm_phase
from .optuna_searcher import OptunaSearcher, check_saved_state
from .progress import StudyCallback, in_notebook, progress_line
from .ray_cluster import check_resources, check_trial_storage, fit, init_ray, search_settings
from .restored import restored_here
from .same_space import check_same_space
from .schedulers import make_scheduler
from .strategy import Pick, Strategy
from .trackers import TrackerCallback, check_trackers
from .trainable import sweep_scratch, train_trial
from .warm_start import import_trials, plan_imports


def _ray_dirname(trial: Any) -> str:
    return trial_dirname((trial.config or {}).get("trial_number"), trial.trial_id)


def _trainable(space: SearchSpace, data: Any, root: str, strategy: Strategy) -> Any:
    from ray import tune

    workers = min(space.data.workers, max(0, int(space.resources.cpu) - 1)) if isinstance(data, FolderData) else 0
    fn = tune.with_parameters(train_trial, data=data, cpus=space.resources.cpu, objectives=tuple(space.metric_names),
                              workers=workers, init_dir=strategy.init_dir(space, root))
    return tune.with_resources(fn, {"cpu": space.resources.cpu, "gpu": space.resources.gpu})


def _ended_trials(root: str, run: RunInfo) -> list[int]:
    """The trials the study already holds as ended."""
    table = read_table(run.study(root))
    return [int(n) for n in table.loc[table["status"].isin(["completed", "stopped_early", "failed"]), "trial_id"]]


def _build_tuner(space: SearchSpace, strategy: Strategy, data: Any, root: str, storage_url: str, study_name: str,
                 run_id: str | None, began: datetime, replay: list[int] | None = None,
                 trials: str | None = None) -> Any:
    """The Tuner of one search; ``began`` is when this driver started (a trial drawn before it
    and claimed by no driver was left by one that died); ``trials``: its Ray experiment's
    folder in a trial storage (None: the study folder's ray/)."""
    from ray import tune
    from ray.tune.logger import JsonLoggerCallback

    shape = space.data.shape(data)
    searcher = OptunaSearcher(space, storage_url, study_name, shape, space.trials, space.concurrency, run_id,
                              started=began)
    searcher.open()  # settles what a dead driver left before Ray asks for the first trial
    study = StudyRef(storage_url, study_name, root)
    scheduler = make_scheduler(space.scheduler, space.objectives, study, replay or [])
    layout = Layout(root, trials)
    return tune.Tuner(
        _trainable(space, data, root, strategy),
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=-1, reuse_actors=True,
                                    trial_dirname_creator=_ray_dirname),
        run_config=tune.RunConfig(
            name=os.path.basename(layout.experiment), storage_path=os.path.dirname(layout.experiment), verbose=0,
            callbacks=[JsonLoggerCallback(), StudyCallback(study, space, run_id),
                       *([TrackerCallback(list(space.loggers), root, study_name, space.scheduler.max_epochs)]
                         if space.loggers else [])],
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            failure_config=tune.FailureConfig(max_failures=0),
            # In a notebook Ray picks its Jupyter reporter, which clears the cell's output when it
            # starts (the study's header lines) even at verbose=0; its plain reporter prints
            # nothing at verbose=0. Elsewhere Ray's own choice stands (it warns about a reporter).
            progress_reporter=tune.CLIReporter() if in_notebook() else None,
        ),
    )


def _load_data(space: SearchSpace) -> Any:
    print(f"loading data: {space.data.name}", flush=True)
    # train and val only: a search ranks and stops trials on val and never holds the test split.
    return load_data(space.data, test=False)


def _finish(root: str, run: RunInfo, space: SearchSpace, strategy: Strategy, started: float) -> StudyFolder:
    """Write the final table and report, and print the outcome."""
    layout = Layout(root)
    # The search has stopped: what it left RUNNING waits for a resume.
    df = stopped_runs(read_table(run.study(root)), run.run_id)
    write_table(df, root)
    folder = StudyFolder(root, run, space, df)  # the table just read, not a second read
    write_curves(folder.learning_curves, root)
    mine = of_run(df, run.run_id)
    c = summary(mine)["counts"]
    done = ended(c)
    print(progress_line(mine, space.trials, time.time() - started, None), flush=True)
    if done < space.trials or c["interrupted"]:
        print(f"search interrupted with {done} of {space.trials} trials done; "
              f"continue it with: sksearch resume {root}", file=sys.stderr, flush=True)
        return folder
    print(f"trials table: {layout.trials_csv}", flush=True)
    if c["completed"]:
        from ..study.pareto import front_rows, front_table, print_front
        from ..study.report import write_report

        print(f"\nPareto front over {', '.join(space.metric_names)} (completed trials):", flush=True)
        print_front(front_rows(front_table(df, space.metric_names)))
        said = strategy.outcome(folder)
        if said:
            print(f"\n{said}", flush=True)
        print(f"\nreport: {write_report(folder)}", flush=True)
    return folder


def _check_storage(url: str, space: SearchSpace) -> None:
    """A storage URL the user named: reachable, and not holding a study of this name with
    other objectives (checked by opening the study there, as the search will)."""
    import sqlalchemy.exc

    from ..study.store import sqlite_file

    path = sqlite_file(url)
    if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise UserError(f"--storage {url}: the folder of the SQLite file does not exist")
    try:
        check_same_space(open_for_search(url, space.name, space), space, url)
    except UserError:
        raise
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError, RuntimeError) as exc:
        raise UserError(f"--storage {url}: cannot open it as an Optuna storage ({str(exc).splitlines()[0]})") from None


def _check_trial_storage(path: str) -> str:
    """The trial storage a run names, as an absolute path: an existing folder this machine may
    write in (it is the cluster's shared mount; sksearch does not create one)."""
    where = os.path.abspath(path)
    if not os.path.isdir(where):
        raise UserError(f"--trial-storage {path}: no such folder; give a folder that every node of the cluster "
                        f"mounts at the same path (create it first)")
    if not os.access(where, os.W_OK | os.X_OK):
        raise UserError(f"--trial-storage {path}: this user cannot write in it")
    return where


Entry = TypeVar("Entry", bound=Callable[..., StudyFolder])


def scoped(entry: Entry) -> Entry:
    """``run`` and ``resume`` change Ray's environment and Optuna's verbosity only while they
    run: a notebook's own settings are back when they return or raise."""
    @functools.wraps(entry)
    def wrapped(*args: Any, **kwargs: Any) -> StudyFolder:
        with search_settings(), optuna_warnings_only():
            return entry(*args, **kwargs)
    return wrapped  # type: ignore[return-value]


def _checked(strategy: Strategy, space: SearchSpace) -> Strategy:
    """The strategy the caller handed in, when it is the one the space names."""
    if strategy.name != space.strategy.name:
        raise ValueError(f"{space.source}: the space's strategy is {space.strategy.name}; the caller handed the "
                         f"driver the {strategy.name} strategy")
    return strategy


@scoped
def run(space: SearchSpace, root: str, strategy: Strategy, storage: str | None = None, address: str | None = None,
        force: bool = False, wait_for_resources: bool = False) -> StudyFolder:
    """Run the search ``space`` describes, with the ``strategy`` its ``strategy.name`` asks for
    (``api.strategy_for``), into the study folder ``root``; returns the folder when the search
    ends (all trials done, or interrupted: see its status).

    ``force`` writes into a non-empty folder that is not a study; ``wait_for_resources``
    skips the check that some node can host a trial (for a cluster that autoscales)."""
    _checked(strategy, space)
    began = datetime.now()
    layout = Layout(root)
    if os.path.exists(layout.run_json):
        raise UserError(f"--out {root}: already holds a study; continue it with `sksearch resume {root}` "
                        f"or choose another --out")
    check_folder_target(root, "--out", force=force, what="a study", ignore=frozenset({LOCK_FILE}))
    check_trackers(list(space.loggers))
    if storage:
        _check_storage(storage, space)
    run_id = uuid.uuid4().hex[:8]
    given = space.resources.trial_storage
    trials = experiment_in(_check_trial_storage(given), space.name, run_id) if given else None
    imports = plan_imports(space, list(space.warm_start))
    data = _load_data(space)
    try:  # a preset baseline takes the data's shape, so this waits for the data
        notes = check_baselines(space, space.data.shape(data))
    except SpaceError as exc:
        raise UserError(f"{space.source}: {exc}") from None
    init_ray(address)
    check_resources(space.resources, wait_for_resources)
    check_trial_storage(given, strategy.one_machine)
    created = not os.path.exists(root)
    os.makedirs(root, exist_ok=True)
    with FolderLock(root) as lock:
        written: list[str] = []
        try:
            if os.path.exists(layout.run_json):  # another run won the race to this folder
                raise UserError(f"--out {root}: already holds a study; continue it with `sksearch resume {root}`")
            run_info = RunInfo(study_name=space.name, storage=storage, address=address, source=space.source,
                               created=datetime.now(timezone.utc).isoformat(timespec="seconds"), sksearch=__version__,
                               run_id=run_id, trial_storage=trials)
            for path, text in ((layout.space_yaml, f"# resolved from {space.source}\n" + space.to_yaml()),
                               (layout.data_json, json.dumps(describe(data, space.data), indent=2)),
                               (layout.run_json, json.dumps(run_info.to_dict(), indent=2))):
                written.append(atomic_write(path, text))
            storage_url = run_info.storage_url(layout)
            if not storage:
                written.append(layout.optuna_db)
            study = open_for_search(storage_url, space.name, space)  # the study exists before any trial reports
            for config in space.seed_configs:  # proposed first, before the sampler draws
                study.enqueue_trial(config, skip_if_exists=True)
            imported = import_trials(study, imports)
            # A strategy's phases come first, and its trials run with the space they return.
            tuner = None if strategy.has_phases else _build_tuner(space, strategy, data, root, storage_url,
                                                                   space.name, run_info.run_id, began, trials=trials)
        except BaseException:
            if trials and os.path.isdir(trials):  # named by this run's id: the folder is this run's alone
                shutil.rmtree(trials, ignore_errors=True)
            if created:
                shutil.rmtree(root, ignore_errors=True)
            else:
                for path in written + ([lock.path] if lock.created else []):
                    if os.path.exists(path):
                        os.remove(path)
            raise
        print(f"study {space.name}: {space.trials} trials of up to {space.scheduler.max_epochs} epochs, "
              f"scheduler {space.scheduler.name}, sampler {space.sampler.name}, objectives "
              f"{', '.join(f'{o.name} ({o.goal})' for o in space.objectives)}; folder {root} (run {run_info.run_id})",
              flush=True)
        for note in notes:
            print(note, flush=True)
        for plan in imports:
            print(f"warm start: {len(plan.trials)} completed trials of {plan.label}"
                  + (f" ({plan.left_out} did not fit this space)" if plan.left_out else ""), flush=True)
        if imports and not imported:
            print("warm start: every trial was imported into this study before", flush=True)
        trial_space = _before_trials(strategy, space, data, root, storage_url, run_info)
        if trial_space is None:
            return StudyFolder(root, run_info, space)
        if tuner is None:
            tuner = _build_tuner(trial_space, strategy, data, root, storage_url, space.name, run_info.run_id, began,
                                 trials=trials)
        # The last progress line's clock is the trials' (as every line before it), not the
        # strategy's phases' before them.
        started = time.time()
        try:
            _, stopped = fit(tuner)
        finally:
            sweep_scratch()
        return _confirm_phase(root, _finish(root, run_info, trial_space, strategy, started), stopped)


def _confirm_phase(root: str, folder: StudyFolder, stopped: bool = False) -> StudyFolder:
    """The space's ``confirm`` phase (``search/confirm.py``) once every trial ended; the folder
    as it stands after it (as it was, when the search was interrupted or asks for none).
    ``stopped``: a stop came while the trials ran (their run may have ended complete all the
    same): the phase waits for ``sksearch resume``."""
    if not folder.space.confirm.wanted:
        return folder
    info = status_info(folder)
    if info["finished"] or not info["trials_finished"]:
        return folder
    if stopped:
        print(f"stopped before the confirm phase; continue it with: sksearch resume {root}", file=sys.stderr,
              flush=True)
        return folder
    return confirm_phase(root)


def _before_trials(strategy: Strategy, space: SearchSpace, data: Any, root: str, storage_url: str,
                   run_info: RunInfo) -> SearchSpace | None:
    """The strategy's phases before the trials (the one-shot strategy's supernet training and
    subnet search); the space the trials run with, or None after an interruption (said on
    stderr). A strategy without phases: the space as it is."""
    if not strategy.has_phases:
        return space
    try:
        trial_space = strategy.before_trials(space, data, root, storage_url, run_info.run_id)
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM outside Tune's runs (the one-shot subnet search): what each phase
        # finished is already in the study, so the stop ends as an interrupted Tune run does.
        trial_space = None
    finally:
        sweep_scratch()
    if trial_space is None:
        print(f"search interrupted before its trials; continue it with: sksearch resume {root}",
              file=sys.stderr, flush=True)
    return trial_space


@scoped
def resume(root: str, pick: Pick, address: str | None = None, wait_for_resources: bool = False) -> StudyFolder:
    """Continue an interrupted search (SIGINT or SIGKILL) to its planned trial count, with the
    strategy ``pick`` gives for the study's space (``api.strategy_for``).

    Nothing a finished trial left is ever deleted. Where Ray's experiment snapshot is gone (the
    search died before Ray's first snapshot, or a copy of the folder lost ``tuner.pkl``), a new
    Ray experiment continues the study beside the old trial folders, and the scheduler reads
    its rungs from those folders. A copied or moved folder resumes in place: what Ray restores
    is pointed at this folder (``restored.py``)."""
    from ray import tune

    began = datetime.now()
    run_info = read_run(root)
    layout = run_info.layout(root)  # the trials' folders: ray/ here, or in the run's trial storage
    # Ray writes its state and checkpoints into ray/, the driver the tables: nothing through a
    # link out of the folder (a ray/ linked to another study's would be written over).
    refuse_links_out(root)
    if run_info.trial_storage:  # Ray writes there too; a missing one is said below, once locked
        refuse_links_out(run_info.trial_storage)
    with FolderLock(root):
        space = study_space(root)  # an old CIFAR study resumes on the val it ran with
        strategy = _checked(pick(space), space)
        storage_url, study_name = run_info.storage_url(layout), run_info.study_name
        read_records(run_info.study(root))  # the study must be there: resume never makes a new one
        # What `sksearch status` says of it: a strategy with phases plans as many trials as they
        # chose (the one-shot strategy's subnets to confirm), and its trials are not finished
        # before its phases are.
        folder = StudyFolder(root, run_info, space)
        info = status_info(folder)
        if info["trials_finished"] and not info["finished"]:  # the trials ended; the confirm phase has not
            return _confirm_phase(root, folder)
        if info["trials_finished"]:
            print(f"study {study_name} is finished ({info['done']} of {info['planned']} trials done): nothing to "
                  f"resume; see `sksearch status {root}`, or start a longer search with `sksearch run` and "
                  f"--warm-start {root}", flush=True)
            return StudyFolder(root, run_info, space)
        check_trackers(list(space.loggers))
        experiment = layout.experiment
        if run_info.trial_storage and not os.path.isdir(os.path.dirname(experiment)):
            raise UserError(f"{root}: the study's trial storage {os.path.dirname(experiment)} (run.json's "
                            f"trial_storage) is not on this machine; mount it at that path")
        restorable = tune.Tuner.can_restore(experiment)
        if restorable:
            check_saved_state(experiment)
        data = _load_data(space)
        init_ray(address or run_info.address)
        check_resources(space.resources, wait_for_resources)
        check_trial_storage(run_info.trial_storage, strategy.one_machine, resuming=True)
        trial_space = _before_trials(strategy, space, data, root, storage_url, run_info)
        if trial_space is None:
            return StudyFolder(root, run_info, space)
        started = time.time()  # the trials' clock, as in run
        if restorable:
            print(f"resuming study {study_name} from {experiment}", flush=True)
            try:
                tuner = tune.Tuner.restore(experiment, trainable=_trainable(trial_space, data, root, strategy),
                                           resume_errored=True)
            except ValueError as exc:
                raise UserError(f"{root}: cannot restore the Ray experiment ({str(exc).splitlines()[0]})") from None
            restored_here(tuner, StudyRef(storage_url, study_name, root), experiment)
        else:
            print(f"no Ray snapshot in {experiment}; continuing study {study_name} in a new Ray experiment "
                  f"beside the trial folders already there", flush=True)
            tuner = _build_tuner(trial_space, strategy, data, root, storage_url, study_name, run_info.run_id, began,
                                 replay=_ended_trials(root, run_info), trials=run_info.trial_storage)
        try:
            _, stopped = fit(tuner)
        finally:
            sweep_scratch()
        return _confirm_phase(root, _finish(root, run_info, trial_space, strategy, started), stopped)
