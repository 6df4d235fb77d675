"""The Ray Tune trainable: one trial of a search, run in a Ray worker.

Its config comes from ``OptunaSearcher.suggest``: the validated architecture spec's dict, the
training recipe, the sampled values and the counted cost (trusted here, not counted again).
The data set arrives through ``tune.with_parameters`` (held once in Ray's object store,
shared by every trial on a node).

A trial that raises (a NaN loss, an out-of-memory error, a bug) reports one last result with
an ``error`` message and returns normally, so the search carries on and the trials table
says why it failed.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
import traceback
from typing import Any, Callable

import torch
from ray import tune

from ..data.load import make_batches
from ..errors import UserError
from ..model.spec import ArchSpec
from ..study.layout import arch_key
from ..train.engine import Reporter
from ..train.loop import check_training_fits, run_trial
from ..train.spec import TrainSpec

SCRATCH_PREFIX = "sksearch-trial-"


def sweep_scratch() -> None:
    """Remove the scratch folders of trial workers that died (SIGKILL skips their cleanup).
    A worker's folder carries its pid; a folder whose process is gone is a leftover."""
    for path in glob.glob(os.path.join(tempfile.gettempdir(), f"{SCRATCH_PREFIX}*-*")):
        pid = os.path.basename(path)[len(SCRATCH_PREFIX):].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:  # alive, another user's
            pass


def trial_device() -> torch.device:
    # Ray sets CUDA_VISIBLE_DEVICES to the trial's GPUs (empty when it has none).
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def train_trial(config: dict[str, Any], data: Any = None, cpus: float = 1.0, objectives: tuple[str, ...] = (),
                workers: int = 0, init_dir: str | None = None) -> None:
    """``init_dir``: the one-shot strategy's inherited weights, a file per architecture; a
    trial whose architecture has one there starts from it (``strategy.init: inherited``)."""
    torch.set_num_threads(max(1, int(cpus)))
    arch = ArchSpec.from_dict(config["arch"])
    train = TrainSpec(**config["train"])
    device = trial_device()
    extra: dict[str, Any] = {"trial_number": config["trial_number"]}
    try:
        extra["node"] = __import__("ray").get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - outside Ray (tests) there is no node
        pass
    last: dict[str, Any] = {"epoch": 0, **config["cost"]}

    def run(report: Reporter, scratch: str, resume_from: str | None) -> None:
        # A sample the driver judged by this machine's total memory may still not fit in what
        # this worker's device has free: a failed trial with the estimate, not an allocator crash.
        check_training_fits(arch, train, device, "this trial's network")
        batches = make_batches(data, device, train.batch_size, seed=train.seed,
                               channels_last=train.uses_channels_last, workers=workers)
        init_weights = None
        if init_dir:
            found = os.path.join(init_dir, arch_key(config["arch"]) + ".safetensors")
            init_weights = found if os.path.exists(found) else None
        run_trial(arch, train, batches, device, report, checkpoint_dir=os.path.join(scratch, "epochs"),
                  resume_from=resume_from, extra_metrics=extra, cost=config["cost"], latency="latency" in objectives,
                  init_weights=init_weights)

    run_reporting_to_tune(run, last, extra)


def run_reporting_to_tune(run: Callable[[Reporter, str, "str | None"], None], last: dict[str, Any],
                          extra: dict[str, Any] | None = None) -> None:
    """The body of a Tune trial: ``run(report, scratch, resume_from)`` with a reporter that hands
    each epoch's checkpoint folder to Tune, a scratch folder of its own (swept of dead trials'
    first, removed after), the folder Tune restored, and any failure reported as the last
    result's ``error`` (beside ``last``, the metrics so far) so the driver can say why."""

    def report(metrics: dict[str, Any], folder: str | None) -> None:
        last.update(metrics)
        if folder is None:
            tune.report(metrics)
            return
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
        shutil.rmtree(folder, ignore_errors=True)  # Tune has its own copy now

    sweep_scratch()
    scratch = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")
    try:
        checkpoint = tune.get_checkpoint()
        resume_from = checkpoint.to_directory(os.path.join(scratch, "restored")) if checkpoint else None
        run(report, scratch, resume_from)
    except Exception as exc:  # noqa: BLE001 - any failure ends this trial alone, with its reason
        message = f"{type(exc).__name__}: {exc}".strip()
        if not isinstance(exc, (RuntimeError, ValueError, UserError)) or os.environ.get("SKSEARCH_TRACEBACKS"):
            message += "\n" + traceback.format_exc(limit=-3)
        tune.report({**last, **(extra or {}), "error": message[:2000]})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
