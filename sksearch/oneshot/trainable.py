"""The supernet's training as one Ray Tune trial, in its own Ray experiment under the study
folder (``supernet/``): per-epoch checkpoints kept by Tune, a restore after SIGKILL that
continues from the last finished epoch, and a progress line per epoch on the driver.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import torch
from ray import tune
from ray.tune import Callback

from ..data.load import make_batches
from ..errors import UserError
from ..search.ray_cluster import fit
from ..search.trainable import run_reporting_to_tune, trial_device
from ..space.parsed import SearchSpace
from ..space.schema import parse
from ..study.layout import latest_weights, supernet_dir
from ..train.engine import Reporter
from .sandwich import SandwichSettings, recipe, train_supernet


def train_supernet_trial(config: dict[str, Any], data: Any = None, cpus: float = 1.0) -> None:
    torch.set_num_threads(max(1, int(cpus)))
    space = parse(config["space"], config["source"])
    strategy = space.strategy
    device = trial_device()
    train = recipe(space, strategy.supernet_epochs)
    shape = space.data.shape(data)
    last: dict[str, Any] = {"epoch": 0}

    def run(report: Reporter, scratch: str, resume_from: str | None) -> None:
        batches = make_batches(data, device, train.batch_size, seed=train.seed,
                               channels_last=train.uses_channels_last, workers=0)
        train_supernet(space, shape, batches, device, report,
                       SandwichSettings(strategy.distill, strategy.calibration_batches), strategy.supernet_epochs,
                       checkpoint_dir=os.path.join(scratch, "epochs"), resume_from=resume_from)

    run_reporting_to_tune(run, last)


class SupernetProgress(Callback):
    """One line per supernet epoch on the driver: both ends' accuracy, the loss, the time."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self.started = time.time()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict[str, Any], **info: Any) -> None:
        if "error" in result or "accuracy" not in result:
            return
        print(f"supernet epoch {result['epoch']}/{self.epochs}: largest {result['accuracy']:.4f} "
              f"({result['params']:,} params), smallest {result['accuracy_smallest']:.4f} "
              f"({result['params_smallest']:,} params), train loss {result['train_loss']:.3f}, "
              f"{time.time() - self.started:.0f} s", flush=True)


def _trainable(space: SearchSpace, data: Any) -> Any:
    fn = tune.with_parameters(train_supernet_trial, data=data, cpus=space.resources.cpu)
    return tune.with_resources(fn, {"cpu": space.resources.cpu, "gpu": space.resources.gpu})


def fit_supernet(space: SearchSpace, data: Any, root: str) -> str | None:
    """Train (or, after an interruption, continue training) the space's supernet in
    ``root/supernet``; returns its final weights (a ``model.safetensors``), or None when the
    training was interrupted before its last epoch. Ray must be up."""
    from ray.tune.logger import JsonLoggerCallback

    path = supernet_dir(root)
    epochs = space.strategy.supernet_epochs
    callbacks = [JsonLoggerCallback(), SupernetProgress(epochs)]
    if tune.Tuner.can_restore(path):
        print(f"resuming the supernet's training from {path}", flush=True)
        tuner = tune.Tuner.restore(path, trainable=_trainable(space, data), resume_errored=True,
                                   resume_unfinished=True)
    else:
        print(f"training the supernet: {epochs} epochs of the sandwich rule (largest, smallest and 2 random subnets "
              f"per step{', distilled from the largest' if space.strategy.distill else ''}); folder {path}",
              flush=True)
        tuner = tune.Tuner(
            _trainable(space, data),
            param_space={"space": space.to_dict(), "source": space.source},
            tune_config=tune.TuneConfig(num_samples=1, trial_dirname_creator=lambda trial: "supernet"),
            run_config=tune.RunConfig(name=os.path.basename(path), storage_path=os.path.dirname(path), verbose=0,
                                      callbacks=callbacks, checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                                      failure_config=tune.FailureConfig(max_failures=0)),
        )
    results, stopped = fit(tuner)
    last = results[0].metrics or {}
    if "error" in last:
        raise UserError(f"the supernet's training failed: {last['error'].splitlines()[0]}")
    if int(last.get("epoch", 0)) < epochs or stopped:
        print(f"supernet training {'stopped after' if stopped else 'interrupted at'} epoch {last.get('epoch', 0)} of "
              f"{epochs}", file=sys.stderr, flush=True)
        return None
    weights = latest_weights(os.path.join(path, "supernet"))
    if weights is None:
        raise UserError(f"{path}: the supernet's training ended without a checkpoint")
    return weights
