"""``sksearch confirm``: the front's trials (and the near-front ones) trained again with new
seeds, and trials the scheduler stopped trained to the full budget (the audit).

Each run goes through the search's own trainer (``train.loop.run_trial``) on the study's
data and recipe, at the full budget (``scheduler.max_epochs``), with a progress line per run:
as many at once as the space's ``concurrency`` and this machine allow, each in a process of
its own (``confirm_workers``), or one after the other in this process; a run itself is
``confirm_run``'s. Not through Ray Tune: a
run needs no scheduler and no searcher (a Ray experiment per confirmation would add a second
resume path for the same guarantee).

Truthful and resumable like every phase: each run's (trial, seed, kind) is an Optuna trial of
the study ``NAME:confirm`` (``store.confirm_study``), added RUNNING with those user
attributes before its first epoch and told COMPLETE with its metrics when it ends, so a
killed confirm (even by SIGKILL) loses no finished run and trains none twice: run again, it
skips the finished ones and continues an interrupted one from its last epoch's checkpoint
(``DIR/confirm/<kind>_<trial>_seed<seed>/``). It holds the folder's lock, as a search does.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable

from ..errors import UserError
from ..study.confirmations import AUDIT, REPEAT, audit_draw, near_front, read_runs
from ..study.folder import StudyFolder, inside_study
from ..study.layout import PARAMS_FILE
from ..study.lock import FolderLock
from ..study.reader import read_table
from ..study.store import confirm_study, open_for_search
from .confirm_run import Job, load_run_data, record_run, run_device, train_run
from .confirm_workers import run_parallel

# Where a repeat's seed starts: the trial's own seed plus one, two, ... (the k-th repeat of a
# trial always has the same seed, so asking for more seeds later adds runs and redoes none).
REPEAT_SEED_STEP = 1


def _config(folder: StudyFolder, row: Any) -> dict[str, Any]:
    """The trial's configuration as the search trained it (its Ray folder's ``params.json``)."""
    trial_id = int(row["trial_id"])
    trial_dir = folder.layout.trial_dir(trial_id, str(row["ray_trial_id"]))
    path = os.path.join(trial_dir, PARAMS_FILE)
    inside_study(folder.root, path, f"trial {trial_id}'s configuration")
    try:
        with open(path, encoding="utf-8") as fh:
            config = json.load(fh)
        config["arch"], config["train"]  # both must be there: a KeyError says which is missing
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path}: cannot read trial {trial_id}'s configuration to train it again "
                        f"({type(exc).__name__}: {exc})") from None
    return config


def plan(folder: StudyFolder, seeds: int, top: int | None, audit: int) -> list[Job]:
    """Every run this confirmation asks for, checked before anything is written: ``seeds``
    repeats of the near-front trials (``top``) and of each completed baseline, and ``audit``
    stopped trials."""
    df = read_table(folder.ref)
    if seeds and df[df["status"] == "completed"].empty:
        raise UserError(f"{folder.root}: no trial has completed its full budget yet, so there is no front to "
                        f"confirm; see `sksearch status {folder.root}`")
    by_id = {int(r["trial_id"]): r for _, r in df.iterrows()}
    jobs = []
    baselines = [int(t) for t in df.loc[df["baseline"].notna() & (df["status"] == "completed"), "trial_id"]]
    if seeds:
        for trial_id in [*near_front(df, folder.objectives, top), *baselines]:
            config = _config(folder, by_id[trial_id])
            base = int(config["train"].get("seed", 0))
            jobs += [Job(trial_id, base + REPEAT_SEED_STEP + k, REPEAT, config) for k in range(seeds)]
    drawn = audit_draw(df, audit)
    if audit and len(drawn) < audit:
        stopped = len(drawn)
        raise UserError(f"--audit {audit}: the study has {stopped} trial{'s' if stopped != 1 else ''} stopped early "
                        f"by the scheduler; audit at most {stopped}")
    for trial_id in drawn:
        config = _config(folder, by_id[trial_id])
        jobs.append(Job(trial_id, int(config["train"].get("seed", 0)), AUDIT, config))
    return jobs


def confirm(root: str, seeds: int = 2, top: int | None = None, audit: int = 0,
            log: Callable[[str], Any] = print, workers: int | None = None) -> StudyFolder:
    """Train the runs ``plan`` asks for that the confirmation study does not hold finished yet,
    ``workers`` at a time (default: ``max_workers``); the study folder, read again, when they
    have ended."""
    if seeds < 0 or audit < 0 or (top is not None and top < 1):
        raise UserError("confirm: --seeds and --audit take 0 or more, --top 1 or more")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise UserError(f"confirm: --workers takes a whole number of 1 or more, not {workers!r}")
    if not seeds and not audit:
        raise UserError("confirm: nothing to do: give --seeds K (K >= 1) or --audit K (K >= 1)")
    with FolderLock(root):
        return confirm_locked(root, seeds, top, audit, log, workers)


def confirm_phase(root: str) -> StudyFolder:
    """The space's ``confirm`` phase at the end of ``run`` or ``resume``, which hold the
    folder's lock already. A stop (Ctrl-C, SIGTERM) during it keeps what finished and says
    how to go on; the folder's status then says the study is not finished."""
    folder = StudyFolder.open(root)
    spec, df = folder.space.confirm, folder.table
    seeds = spec.seeds if (df["status"] == "completed").any() else 0  # no front: nothing to repeat
    audit = len(audit_draw(df, spec.audit))  # as many as were stopped, at most
    if not seeds and not audit:
        print("confirm phase: no completed trial to repeat and no stopped trial to audit", flush=True)
        return folder
    try:
        return confirm_locked(root, seeds, spec.top, audit, lambda m: print(m, flush=True))
    except KeyboardInterrupt:
        print(f"confirm phase interrupted; continue it with: sksearch resume {root}", file=sys.stderr, flush=True)
        return StudyFolder.open(root)


def confirm_locked(root: str, seeds: int, top: int | None, audit: int, log: Callable[[str], Any],
                   workers: int | None = None) -> StudyFolder:
    """``confirm``'s work, for a caller that holds the folder's lock."""
    folder = StudyFolder.open(root)
    jobs = plan(folder, seeds, top, audit)
    runs = read_runs(folder)
    recorded = {} if runs is None else {(int(r.trial_id), int(r.seed), r.kind): r for r in runs.itertuples()}
    todo = [j for j in jobs if j.key not in recorded or recorded[j.key].status in ("running", "queued")]
    log(f"confirm {folder.name}: {len(jobs)} runs asked for ({sum(j.kind == REPEAT for j in jobs)} repeats with new "
        f"seeds, {sum(j.kind == AUDIT for j in jobs)} audited stopped trials), {len(jobs) - len(todo)} already "
        f"done, {len(todo)} to train at {folder.space.scheduler.max_epochs} epochs")
    if todo:
        _train_all(folder, todo, {k: int(r.number) for k, r in recorded.items()}, log,
                   max_workers(folder.space, workers, len(todo)))
    return StudyFolder.open(root)


def _train_all(folder: StudyFolder, todo: list[Job], numbers: dict[tuple[int, int, str], int],
               log: Callable[[str], Any], workers: int) -> None:
    """The runs of ``todo`` in turn in this process (one worker) or ``workers`` at a time, each
    in a process of its own: a study searched two trials at a time would otherwise confirm
    on half the machine."""
    from ..scoped import optuna_warnings_only

    with optuna_warnings_only():
        study = open_for_search(folder.storage_url, confirm_study(folder.name), folder.space)
    if workers <= 1:
        data = load_run_data(folder, log)
        for i, job in enumerate(todo, 1):
            number = record_run(study, job, numbers.get(job.key), folder.run.run_id)
            train_run(folder, study, data, job, number, run_device(folder.space, 0), f"{i}/{len(todo)}", log)
        return
    log(f"{workers} runs at a time, each in a process of its own")

    def start(job: Job) -> int:  # the record comes first: a kill from here on resumes the run
        return record_run(study, job, numbers.get(job.key), folder.run.run_id)

    run_parallel(folder, todo, start, workers, log)


def max_workers(space: Any, wanted: int | None, runs: int) -> int:
    """How many runs ``confirm`` trains at once: ``wanted``, or else the space's
    ``concurrency``, at most as many as this machine's cores (``resources.cpu`` each) and GPUs
    (``resources.gpu`` each) hold, and at most ``runs``."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    fit = int(cores // space.resources.cpu) if space.resources.cpu > 0 else cores
    if space.resources.gpu > 0 and torch.cuda.is_available():
        fit = min(fit, int(torch.cuda.device_count() // space.resources.gpu))
    if wanted is not None:
        return max(1, min(wanted, runs))
    return max(1, min(space.concurrency or fit, fit, runs))
