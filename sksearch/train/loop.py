"""One trial's training: build the network from its spec, train for the trial's epochs,
evaluate after each, report and checkpoint.

Every training hyper-parameter lives in ``TrainSpec`` with its unit. The learning-rate
schedule spans the search's full budget (``max_epochs``), not the epochs a trial happens to
reach, so a trial stopped early at epoch e has exactly the state it would have had at
epoch e of a full run: that is what lets successive halving compare trials fairly.
Steps run in channels_last; on CUDA also under bf16 autocast (the weights, BatchNorm's
included, stay fp32), and through ``torch.compile`` when ``train.compile`` says so
(``compiled.py``). With ``train.ema`` validation, checkpoints and exports hold the averaged
weights (``ema.py``); with ``train.tta`` evaluation averages the logits of the set's own views.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Callable

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from ..errors import UserError
from ..files import check_regular
from ..model.cost import count_params, measure_latency, params_and_macs
from ..model.memory import check_fits
from ..model.network import SKNet, build
from ..model.spec import ArchSpec
from .compiled import compiled, wants_compile
from .ema import WeightAverage
from .spec import STATE_FILE, WEIGHTS_FILE, TrainSpec

# onecycle: from ONECYCLE_START x lr up to lr over the first ONECYCLE_PEAK of the schedule, then
# linearly down to 0 (the triangular schedule of airbench and fast ResNet training).
ONECYCLE_START = 0.1
ONECYCLE_PEAK = 0.25


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
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.ndim > 1 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": spec.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if spec.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=spec.lr, betas=(spec.momentum, 0.999))
    return torch.optim.SGD(groups, lr=spec.lr, momentum=spec.momentum, nesterov=spec.momentum > 0)


def _bf16(device: torch.device, spec: TrainSpec) -> bool:
    return spec.precision == "bf16" or (spec.precision == "auto" and device.type == "cuda")


def _autocast(device: torch.device, spec: TrainSpec):  # noqa: ANN202 - a context manager
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=_bf16(device, spec))


def check_training_fits(arch: ArchSpec, train: TrainSpec, device: torch.device | str, what: str) -> None:
    """``UserError`` naming ``what`` before ``arch`` is built when training it at the recipe's
    batch size cannot fit in the memory free on ``device`` (``model.memory``)."""
    device = torch.device(device)
    check_fits(arch, what, device, train.batch_size, training=True, optimizer=train.optimizer,
               activation_bytes=2 if _bf16(device, train) else 4)


def evaluate(model: SKNet, batches: Any, device: torch.device, spec: TrainSpec,
             split: str = "val") -> tuple[float, float]:
    """Top-1 accuracy and mean cross-entropy on the ``split`` batches: ``val`` (what a search
    and a training read every epoch) or ``test`` (read by ``sksearch train`` at the end and by
    ``sksearch evaluate``, never by a search). With ``spec.tta`` on, the logits are the mean
    over the views ``batches.tta_views`` gives (the same at every epoch and split)."""
    model.eval()
    correct, loss_sum, n = 0, 0.0, 0
    with torch.no_grad(), _autocast(device, spec):
        for x, y in (batches.test() if split == "test" else batches.val()):
            if spec.tta == "on":
                logits = torch.stack([model(v).float() for v in batches.tta_views(x)]).mean(0)
            else:
                logits = model(x).float()
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
            n += len(y)
    model.train()
    return correct / max(n, 1), loss_sum / max(n, 1)


CHECKPOINT_TMP = ".tmp-"  # a checkpoint being written, beside the finished ones


def _cpu_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}


def save_checkpoint(folder: str, model: torch.nn.Module, optimizer: torch.optim.Optimizer, epoch: int,
                    metrics: dict[str, Any], averaged: WeightAverage | None = None) -> None:
    """Write the checkpoint into a new folder beside ``folder`` and rename it into place: a
    process killed while writing leaves a stray temporary folder, never a half-written
    checkpoint under the epoch's name. With ``averaged`` the weights file holds the averaged
    weights (what was validated, what an export copies) and the state file the trained ones."""
    import shutil
    import tempfile

    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=CHECKPOINT_TMP + os.path.basename(folder) + "-")
    try:
        save_file(_cpu_weights(averaged.model if averaged else model), os.path.join(tmp, WEIGHTS_FILE))
        state = {"optimizer": optimizer.state_dict(), "epoch": epoch, "metrics": metrics}
        if averaged is not None:
            state["model"] = _cpu_weights(model)
        torch.save(state, os.path.join(tmp, STATE_FILE))
        if os.path.isdir(folder):  # the epoch trained again after a resume from an earlier one
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def checkpoint_problem(folder: str) -> str | None:
    """Why the checkpoint in ``folder`` cannot be resumed from (a file missing, truncated or not
    a checkpoint), or None when both of its files load."""
    import pickle

    from safetensors import SafetensorError

    try:
        for name in (WEIGHTS_FILE, STATE_FILE):  # mapped and unpickled: a FIFO or device would hang or fill memory
            check_regular(os.path.join(folder, name))
        load_file(os.path.join(folder, WEIGHTS_FILE))
        state = torch.load(os.path.join(folder, STATE_FILE), map_location="cpu", weights_only=True)
        int(state["epoch"]), dict(state["metrics"]), dict(state["optimizer"])
    except (OSError, EOFError, RuntimeError, ValueError, KeyError, TypeError, pickle.UnpicklingError,
            SafetensorError, UserError) as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else 'no detail'}"
    return None


def load_checkpoint(folder: str, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    device: torch.device, averaged: WeightAverage | None = None) -> tuple[int, dict[str, Any]]:
    """Restore the trained weights, the optimizer and (with ``averaged``) the average; returns
    the checkpoint's epoch and metrics."""
    for name in (WEIGHTS_FILE, STATE_FILE):
        check_regular(os.path.join(folder, name))
    weights = load_file(os.path.join(folder, WEIGHTS_FILE), device=str(device))
    state = torch.load(os.path.join(folder, STATE_FILE), map_location=device, weights_only=True)
    # A checkpoint of an averaged run keeps the trained weights in its state file.
    model.load_state_dict(state.get("model", weights))
    if averaged is not None:
        averaged.model.load_state_dict(weights)
    optimizer.load_state_dict(state["optimizer"])
    return int(state["epoch"]), dict(state["metrics"])


Reporter = Callable[[dict[str, Any], str | None], None]


def peak_rss() -> int:
    """Bytes of resident memory this process has held at most since it started
    (``getrusage``'s ``ru_maxrss``: kibibytes on Linux, bytes on macOS). It never goes down: in
    a Ray worker that ran earlier trials it covers them too, so a trial's figure is what its
    worker process needed up to its end, which is what ``resources`` must allow per trial."""
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


def run_trial(
    arch: ArchSpec,
    train: TrainSpec,
    batches: Any,
    device: torch.device | str,
    report: Reporter,
    checkpoint_dir: str | None = None,
    resume_from: str | None = None,
    extra_metrics: dict[str, Any] | None = None,
    cost: dict[str, int] | None = None,
    latency: bool = False,
    init_weights: str | None = None,
    validate: bool = True,
) -> dict[str, Any]:
    """Train ``arch`` to ``train.max_epochs``, calling ``report(metrics, checkpoint_folder)``
    after every epoch. With ``resume_from`` (a checkpoint folder) training continues after the
    saved epoch; a checkpoint already at the budget re-reports its metrics without training.

    ``cost`` ({"params", "macs"}) is the count the searcher made before the trial; it is
    counted here when not given. With ``latency`` the network's forward time (batch 1, eval
    mode) is measured once before training, on the model that is then trained.
    ``init_weights`` (a safetensors file) starts a new run from those weights instead of the
    seeded initialisation. Without ``validate`` (a refit on train + val) no val is read and the
    metrics have no ``accuracy`` or ``loss``. Returns the last metrics."""
    device = torch.device(device)
    torch.manual_seed(train.seed)
    model = build(arch.to_dict())
    if init_weights and not resume_from:
        check_regular(init_weights)
        model.load_state_dict(load_file(init_weights))
    model = model.to(device)
    channels_last = train.uses_channels_last
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    steps = batches.steps_per_epoch()
    forward: Callable[[torch.Tensor], torch.Tensor] = model
    if wants_compile(device, train, steps * train.max_epochs, arch, channels_last):
        model, forward = compiled(model, arch, device, channels_last)
    optimizer = make_optimizer(model, train)
    averaged = WeightAverage(model, train.ema, train.ema_every) if train.ema > 0 else None
    if cost is None:
        params, macs = params_and_macs(arch)
    else:
        params, macs = int(cost["params"]), int(cost["macs"])
    if params != count_params(model):
        raise RuntimeError(f"the spec's counted params ({params:,}) differ from the built network's "
                           f"({count_params(model):,})")
    base = {"params": params, "macs": macs, **(extra_metrics or {})}
    if latency:
        base["latency"] = measure_latency(model, (1, arch.in_channels, arch.input_size, arch.input_size),
                                          channels_last=channels_last)

    start_epoch, metrics = 0, {}
    if resume_from:
        start_epoch, metrics = load_checkpoint(resume_from, model, optimizer, device, averaged)
        if start_epoch >= train.max_epochs:
            report(metrics, resume_from)
            return metrics

    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    train_time = float(metrics.get("train_time", 0.0))
    for epoch in range(start_epoch + 1, train.max_epochs + 1):
        t0 = time.perf_counter()
        model.train()
        loss_sum = torch.zeros((), device=device)
        for i, (x, y) in enumerate(batches.train(epoch)):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(train, (epoch - 1) * steps + i, steps)
            with _autocast(device, train):
                loss = F.cross_entropy(forward(x), y, label_smoothing=train.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if averaged is not None:
                averaged.update((epoch - 1) * steps + i + 1)
            loss_sum += loss.detach()
        train_loss = loss_sum.item() / steps  # one sync per epoch, not per step
        if not math.isfinite(train_loss):
            raise TrialDiverged(f"training loss is {train_loss} at epoch {epoch}")
        epoch_train_time = time.perf_counter() - t0
        train_time += epoch_train_time
        metrics = {**base, "epoch": epoch}
        if validate:
            accuracy, val_loss = evaluate(averaged.model if averaged else model, batches, device, train)
            metrics.update(accuracy=accuracy, loss=val_loss)
        metrics.update(train_loss=train_loss, train_time=train_time, epoch_time=time.perf_counter() - t0,
                       lr=lr_at(train, epoch * steps - 1, steps))
        if cuda:  # bytes the trial's tensors held at most on its GPU (what sizes fractional GPUs)
            metrics["peak_memory"] = torch.cuda.max_memory_allocated(device)
        metrics["peak_rss"] = peak_rss()  # the process's resident peak (what sizes resources.cpu's memory)
        folder = None
        if checkpoint_dir is not None:
            folder = os.path.join(checkpoint_dir, f"epoch_{epoch:04d}")
            save_checkpoint(folder, model, optimizer, epoch, metrics, averaged)
        report(metrics, folder)
    return metrics
