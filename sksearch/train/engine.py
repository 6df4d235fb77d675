"""The epoch engine: every training in the package (a search trial, ``sksearch train``, the
one-shot supernet) runs its epochs here, so resuming, the schedule and the checkpoints behave
one way everywhere.

A training hands ``train_epochs`` its own parts (a ``Training``): the model, its optimizer,
the recipe, a step function per epoch (forward and backward of one batch) and its evaluation.
The engine owns what they share: the resume from a checkpoint, the learning rate of every
step, bf16 autocast (``autocast``, which a step function enters around its forward), the
weight average's updates, the divergence check, a checkpoint per epoch and a report per epoch.

The learning-rate schedule spans the recipe's full budget (``max_epochs``), not the epochs a
run happens to reach, so a trial stopped early at epoch e has exactly the state it would have
had at epoch e of a full run: that is what lets successive halving compare trials fairly. A
resume continues after the checkpoint's epoch at the step count an uninterrupted run would
have, so it loses nothing as long as an epoch's batches and draws depend on the epoch alone
(``batches.train(epoch)`` is seeded by it).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from .checkpoint import load_checkpoint, save_checkpoint
from .ema import WeightAverage
from .spec import TrainSpec

# onecycle: from ONECYCLE_START x lr up to lr over the first ONECYCLE_PEAK of the schedule, then
# linearly down to 0 (the triangular schedule of airbench and fast ResNet training).
ONECYCLE_START = 0.1
ONECYCLE_PEAK = 0.25

Reporter = Callable[[dict[str, Any], str | None], None]  # (metrics, checkpoint folder or None)
# One batch's forward and backward (x, y) -> the loss the epoch's training loss averages.
Step = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class TrialDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


def lr_at(spec: TrainSpec, step: int, steps_per_epoch: int) -> float:
    """Learning rate for a 0-based global step."""
    total = spec.max_epochs * steps_per_epoch
    warm = spec.warmup_epochs * steps_per_epoch
    if warm > 0 and step < warm:
        return spec.lr * (step + 1) / warm
    if spec.schedule == "constant":
        return spec.lr
    progress = min(1.0, (step - warm) / max(1.0, total - warm))
    if spec.schedule == "linear":
        return spec.lr * (1.0 - progress)
    if spec.schedule == "onecycle":
        if progress < ONECYCLE_PEAK:
            return spec.lr * (ONECYCLE_START + (1.0 - ONECYCLE_START) * progress / ONECYCLE_PEAK)
        return spec.lr * (1.0 - progress) / (1.0 - ONECYCLE_PEAK)
    return spec.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_optimizer(model: torch.nn.Module, spec: TrainSpec) -> torch.optim.Optimizer:
    """The recipe's optimizer, with weight decay on the conv and fc weights only."""
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.ndim > 1 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": spec.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if spec.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=spec.lr, betas=(spec.momentum, 0.999))
    return torch.optim.SGD(groups, lr=spec.lr, momentum=spec.momentum, nesterov=spec.momentum > 0)


def uses_bf16(device: torch.device, spec: TrainSpec) -> bool:
    """Whether the recipe's forwards run under bf16 autocast on ``device``."""
    return spec.precision == "bf16" or (spec.precision == "auto" and device.type == "cuda")


def autocast(device: torch.device, spec: TrainSpec) -> torch.autocast:
    """The recipe's autocast on ``device`` (bf16, or off): one object may be entered again and
    again, so a step function makes it once."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=uses_bf16(device, spec))


def peak_rss() -> int:
    """Bytes of resident memory this process has held at most since it started
    (``getrusage``'s ``ru_maxrss``: kibibytes on Linux, bytes on macOS). It never goes down: in
    a Ray worker that ran earlier trials it covers them too, so a trial's figure is what its
    worker process needed up to its end, which is what ``resources`` must allow per trial."""
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


@dataclass(frozen=True)
class Training:
    """What one training hands the engine: its own parts, the rest is the engine's."""

    model: torch.nn.Module                  # put in training mode every epoch; a checkpoint holds its weights
    optimizer: torch.optim.Optimizer
    spec: TrainSpec                         # the epochs (max_epochs), the schedule
    epoch_step: Callable[[int], Step]       # the step function of an epoch (made once an epoch, not per step)
    evaluate: Callable[[], dict[str, Any]] | None = None  # the epoch's validation metrics; None: none
    averaged: WeightAverage | None = None   # updated after every optimizer step; checkpoints hold it
    loss_name: str = "training loss"        # what the divergence error calls the recorded loss


def train_epochs(training: Training, batches: Any, device: torch.device, report: Reporter,
                 base: dict[str, Any] | None = None, checkpoint_dir: str | None = None,
                 resume_from: str | None = None) -> dict[str, Any]:
    """Train to ``training.spec.max_epochs``, calling ``report(metrics, checkpoint_folder)``
    after every epoch (the folder ``checkpoint_dir/epoch_NNNN``, or None without a
    ``checkpoint_dir``). Each epoch's metrics are ``base``, the epoch, the evaluation's, then
    ``train_loss``, ``train_time`` (summed over the epochs, evaluation left out),
    ``epoch_time``, the last step's ``lr``, ``peak_memory`` on CUDA and ``peak_rss``. With
    ``resume_from`` (a checkpoint folder) training continues after the saved epoch; a
    checkpoint already at the budget re-reports its metrics without training. Raises
    ``TrialDiverged`` when an epoch's training loss is not finite. Returns the last metrics."""
    model, optimizer, spec, averaged = training.model, training.optimizer, training.spec, training.averaged
    start_epoch, metrics = 0, {}
    if resume_from:
        start_epoch, metrics = load_checkpoint(resume_from, model, optimizer, device, averaged)
        if start_epoch >= spec.max_epochs:
            report(metrics, resume_from)
            return metrics

    steps = batches.steps_per_epoch()
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    train_time = float(metrics.get("train_time", 0.0))
    for epoch in range(start_epoch + 1, spec.max_epochs + 1):
        t0 = time.perf_counter()
        model.train()
        step = training.epoch_step(epoch)
        first = (epoch - 1) * steps  # the global step count: a resumed run takes up the same schedule
        loss_sum = torch.zeros((), device=device)
        for i, (x, y) in enumerate(batches.train(epoch)):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(spec, first + i, steps)
            optimizer.zero_grad(set_to_none=True)
            loss = step(x, y)
            optimizer.step()
            if averaged is not None:
                averaged.update(first + i + 1)
            loss_sum += loss.detach()
        train_loss = loss_sum.item() / steps  # one sync per epoch, not per step
        if not math.isfinite(train_loss):
            raise TrialDiverged(f"{training.loss_name} is {train_loss} at epoch {epoch}")
        train_time += time.perf_counter() - t0
        metrics = {**(base or {}), "epoch": epoch}
        if training.evaluate is not None:
            metrics.update(training.evaluate())
        metrics.update(train_loss=train_loss, train_time=train_time, epoch_time=time.perf_counter() - t0,
                       lr=lr_at(spec, epoch * steps - 1, steps))
        if cuda:  # bytes the run's tensors held at most on its GPU (what sizes fractional GPUs)
            metrics["peak_memory"] = torch.cuda.max_memory_allocated(device)
        metrics["peak_rss"] = peak_rss()  # the process's resident peak (what sizes resources.cpu's memory)
        folder = None
        if checkpoint_dir is not None:
            folder = os.path.join(checkpoint_dir, f"epoch_{epoch:04d}")
            save_checkpoint(folder, model, optimizer, epoch, metrics, averaged)
        report(metrics, folder)
    return metrics
