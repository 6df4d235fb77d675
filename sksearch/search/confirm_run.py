"""One run of ``sksearch confirm``: what it is (``Job``), its record in the confirmation
study, and its training to the full budget, resumed from its newest good checkpoint; shared
by the runs trained in ``confirm``'s own process and those in ``confirm_workers``' processes."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..objectives import OBJECTIVES
from ..study.confirmations import REPEAT
from ..study.folder import StudyFolder
from ..study.optuna_private import frozen_trial, set_user_attrs
from ..study.summary import clock
from ..study.table import CURVE

CONFIRM_DIR = "confirm"
CURVE_KEYS = ("epoch", "accuracy", "loss", "train_loss")


@dataclass(frozen=True)
class Job:
    trial_id: int
    seed: int
    kind: str          # repeat: a new seed; audit: a stopped trial to the full budget, its own seed
    config: dict[str, Any]

    @property
    def key(self) -> tuple[int, int, str]:
        return (self.trial_id, self.seed, self.kind)

    @property
    def dirname(self) -> str:
        return f"{self.kind}_{self.trial_id:04d}_seed{self.seed}" if self.trial_id >= 0 else \
            f"{self.kind}_baseline{-self.trial_id - 1}_seed{self.seed}"


def latest_checkpoint(run_dir: str) -> str | None:
    from ..train.loop import checkpoint_problem

    if not os.path.isdir(run_dir):
        return None
    for name in sorted((d for d in os.listdir(run_dir) if d.startswith("epoch_")), reverse=True):
        path = os.path.join(run_dir, name)
        if checkpoint_problem(path) is None:
            return path
    return None


def record_run(study: Any, job: Job, number: int | None, run_id: str) -> int:
    """The confirmation study's trial number for ``job``: the one recorded before (a resumed
    run), or a RUNNING trial added now with the job's (trial, seed, kind)."""
    import optuna

    if number is not None:
        return number
    study.add_trial(optuna.trial.create_trial(
        state=optuna.trial.TrialState.RUNNING,
        user_attrs={"trial_id": job.trial_id, "seed": job.seed, "kind": job.kind, "run_id": run_id}))
    return max(t.number for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
               if (t.user_attrs.get("trial_id"), t.user_attrs.get("seed"), t.user_attrs.get("kind")) == job.key)


def load_run_data(folder: StudyFolder, log: Callable[[str], Any] | None) -> Any:
    import torch

    from ..data.load import load_data

    if log is not None:
        log(f"loading data: {folder.space.data.name}")
    torch.set_num_threads(max(1, int(folder.space.resources.cpu)))
    return load_data(folder.space.data, test=False)


def run_device(space: Any, slot: int) -> str:
    """The device of the ``slot``-th concurrent run: the CPU, or the GPU that the space's
    fraction per trial (``resources.gpu``) gives that slot."""
    import torch

    if not (space.resources.gpu > 0 and torch.cuda.is_available()):
        return "cpu"
    return f"cuda:{int(slot * space.resources.gpu) % torch.cuda.device_count()}"


def train_run(folder: StudyFolder, study: Any, data: Any, job: Job, number: int, device_name: str, tag: str,
               log: Callable[[str], Any], parent: int | None = None) -> None:
    """One run to the full budget, resumed from its newest good checkpoint, its curve and
    metrics written to the confirmation study as it goes (a failed run is told FAIL with
    its reason). ``parent``: in a worker process, the pid whose death ends the run."""
    import optuna
    import torch

    from ..data.load import FolderData, make_batches
    from ..model.spec import ArchSpec
    from ..train.loop import run_trial
    from ..train.spec import TrainSpec

    space = folder.space
    device = torch.device(device_name)
    workers = min(space.data.workers, max(0, int(space.resources.cpu) - 1)) if isinstance(data, FolderData) else 0
    run_dir = os.path.join(folder.root, CONFIRM_DIR, job.dirname)
    resume_from = latest_checkpoint(run_dir)
    curve = [p for p in frozen_trial(study, number).user_attrs.get(CURVE) or []
             if resume_from is None or p["epoch"] <= int(os.path.basename(resume_from)[len("epoch_"):])]
    train = TrainSpec(**{**job.config["train"], "seed": job.seed, "max_epochs": space.scheduler.max_epochs})
    arch = ArchSpec.from_dict(job.config["arch"])
    started = time.time()

    report = _reporter(study, number, curve, run_dir, parent)
    what = f"trial {job.trial_id} seed {job.seed} ({'repeat' if job.kind == REPEAT else 'audit to full budget'})"
    log(f"confirm {tag}: {what}" + (f", resuming after {os.path.basename(resume_from)}" if resume_from else ""))
    try:
        batches = make_batches(data, device, train.batch_size, seed=train.seed,
                               channels_last=train.uses_channels_last, workers=workers)
        init = _inherited(folder, job.config)
        metrics = run_trial(arch, train, batches, device, report, checkpoint_dir=run_dir, resume_from=resume_from,
                            cost=job.config.get("cost"), latency="latency" in space.metric_names,
                            init_weights=init)
    except (RuntimeError, ValueError) as exc:  # a diverged or failed run ends alone, its reason kept
        set_user_attrs(study, number, {"reason": f"{type(exc).__name__}: {exc}"[:2000]})
        study.tell(number, state=optuna.trial.TrialState.FAIL)
        log(f"confirm {tag}: {what} failed: {type(exc).__name__}: {exc}")
        return
    set_user_attrs(study, number, {"epochs" if key == "epoch" else key: metrics.get(key)
                                   for key in (*OBJECTIVES, "epoch", "train_time")})
    study.tell(number, [float(metrics[m]) for m in space.metric_names])
    log(f"confirm {tag}: {what}: accuracy {metrics['accuracy']:.2%} in {clock(time.time() - started)}")


def _reporter(study: Any, number: int, curve: list[dict[str, Any]], run_dir: str,
              parent: int | None = None) -> Callable[..., None]:
    """``run_trial``'s reporter for one run: each epoch's record added to the run's ``curve``
    in the study, and only the newest checkpoint kept in ``run_dir``. In a worker whose
    ``parent`` has gone (killed where the OS cannot end its children with it), the worker
    ends here, at an epoch's end, before a new confirm could train the same run beside it."""

    def report(metrics: dict[str, Any], checkpoint: str | None) -> None:
        if not curve or curve[-1]["epoch"] < metrics["epoch"]:
            curve.append({k: metrics[k] for k in CURVE_KEYS if k in metrics})
            set_user_attrs(study, number, {CURVE: curve})
        if checkpoint:  # the newest epoch is all a resume needs
            for name in os.listdir(run_dir):
                if name.startswith("epoch_") and os.path.join(run_dir, name) != checkpoint:
                    shutil.rmtree(os.path.join(run_dir, name), ignore_errors=True)

        if parent is not None and os.getppid() != parent:
            os._exit(1)

    return report


def _inherited(folder: StudyFolder, config: dict[str, Any]) -> str | None:
    """A one-shot study whose trials started from the supernet's weights: the same file."""
    strategy = folder.space.strategy
    if strategy.name != "one_shot" or strategy.init != "inherited":
        return None
    from ..study.layout import arch_key, inherited_dir

    found = os.path.join(inherited_dir(folder.root), arch_key(config["arch"]) + ".safetensors")
    return found if os.path.exists(found) else None
