"""One trial's training: build the network from its spec and hand it, with its step function
and its evaluation, to the epoch engine (``engine.py``), which trains, reports and
checkpoints every epoch and resumes from a checkpoint.

Every training hyper-parameter lives in ``TrainSpec`` with its unit. Steps run in
channels_last; on CUDA also under bf16 autocast (the weights, BatchNorm's included, stay
fp32), and through ``torch.compile`` when ``train.compile`` says so (``compiled.py``). With
``train.ema`` validation, checkpoints and exports hold the averaged weights (``ema.py``); with
``train.tta`` evaluation averages the logits of the set's own views.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from ..files import check_regular
from ..model.cost import count_params, measure_latency, params_and_macs
from ..model.memory import check_fits
from ..model.network import SKNet, build
from ..model.spec import ArchSpec
from .checkpoint import CHECKPOINT_TMP, checkpoint_problem, load_checkpoint
from .compiled import compiled, wants_compile
from .ema import WeightAverage
from .engine import (
    Reporter,
    Training,
    TrialDiverged,
    autocast,
    lr_at,
    make_optimizer,
    peak_rss,
    train_epochs,
    uses_bf16,
)
from .spec import TrainSpec

# The trial's training API: what callers (``sksearch train``, ``confirm``, the benchmarks) import
# from here, the engine's and the checkpoint's names among them.
__all__ = ["CHECKPOINT_TMP", "TrialDiverged", "check_training_fits", "checkpoint_problem", "evaluate",
           "load_checkpoint", "lr_at", "make_optimizer", "peak_rss", "run_trial"]


def check_training_fits(arch: ArchSpec, train: TrainSpec, device: torch.device | str, what: str) -> None:
    """``UserError`` naming ``what`` before ``arch`` is built when training it at the recipe's
    batch size cannot fit in the memory free on ``device`` (``model.memory``)."""
    device = torch.device(device)
    check_fits(arch, what, device, train.batch_size, training=True, optimizer=train.optimizer,
               activation_bytes=2 if uses_bf16(device, train) else 4)


def evaluate(model: SKNet, batches: Any, device: torch.device, spec: TrainSpec,
             split: str = "val") -> tuple[float, float]:
    """Top-1 accuracy and mean cross-entropy on the ``split`` batches: ``val`` (what a search
    and a training read every epoch) or ``test`` (read by ``sksearch train`` at the end and by
    ``sksearch evaluate``, never by a search). With ``spec.tta`` on, the logits are the mean
    over the views ``batches.tta_views`` gives (the same at every epoch and split)."""
    model.eval()
    correct, loss_sum, n = 0, 0.0, 0
    with torch.no_grad(), autocast(device, spec):
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

    amp = autocast(device, train)
    smoothing = train.label_smoothing

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with amp:
            loss = F.cross_entropy(forward(x), y, label_smoothing=smoothing)
        loss.backward()
        return loss

    def validation() -> dict[str, float]:
        accuracy, val_loss = evaluate(averaged.model if averaged else model, batches, device, train)
        return {"accuracy": accuracy, "loss": val_loss}

    training = Training(model, optimizer, train, lambda epoch: step, validation if validate else None, averaged)
    return train_epochs(training, batches, device, report, base, checkpoint_dir, resume_from)
