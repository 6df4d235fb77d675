"""Training the supernet by the sandwich rule with in-place distillation (BigNAS, Yu et al.
2020): every step trains the largest subnet on the labels, then the smallest and two random
subnets on the largest one's predictions (or on the labels, without ``distill``), their
gradients summed into the shared weights before one optimizer step.

The recipe is the space's (a searched value at its distribution's centre, as a baseline
takes it) over ``strategy.supernet_epochs``. Each epoch ends with the largest and the smallest
subnet evaluated on val after BatchNorm recalibration (the curves of both ends), and a
checkpoint of the supernet's weights and optimizer in ``train/checkpoint.py``'s format: the
epochs run in ``train/engine.py``, the engine every training shares, which this module hands
its step function. A resume continues with the next epoch and draws the same random subnets
an uninterrupted run would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from ..data.spec import DataShape
from ..model.cost import params_and_macs
from ..model.spec import ArchSpec, SpecError
from ..space.parsed import SearchSpace
from ..space.sample import centre_recipe as space_centre_recipe, sample
from ..train.engine import Reporter, Step, Training, autocast, make_optimizer, train_epochs
from ..train.loop import evaluate
from ..train.spec import TrainSpec
from .bn import calibration_batches, recalibrate
from .shareable import ExtremeDraw, RandomDraw, supernet_layout
from .supernet import Supernet

RANDOM_PER_STEP = 2   # the sandwich rule's random subnets between the largest and the smallest
MAX_DRAWS = 200       # draws to find a valid random subnet before giving up


def centre_recipe(space: SearchSpace) -> dict[str, Any]:
    """The space's recipe values, each searched one at its distribution's centre (as a baseline
    takes it): what the supernet trains with."""
    return space_centre_recipe(space, "strategy")


def recipe(space: SearchSpace, epochs: int) -> TrainSpec:
    """The supernet's recipe over ``epochs``."""
    return TrainSpec(max_epochs=epochs, **centre_recipe(space))


def arch_space(space: SearchSpace) -> SearchSpace:
    """The space with its recipe fixed at the supernet's: subnets differ in architecture only
    (their weights were all trained with one recipe)."""
    return replace(space, train=centre_recipe(space))


def draw_spec(space: SearchSpace, draw: Any, shape: DataShape) -> ArchSpec | None:
    """The architecture a draw makes, or None when it is no valid network."""
    try:
        return ArchSpec.from_dict(sample(space, draw, shape).arch)
    except SpecError:
        return None


def extremes(space: SearchSpace, shape: DataShape) -> tuple[ArchSpec, ArchSpec]:
    """The largest and the smallest subnet of the space."""
    out = []
    for largest in (True, False):
        spec = draw_spec(space, ExtremeDraw(largest), shape)
        if spec is None:
            raise SpecError("model", f"the space's {'largest' if largest else 'smallest'} values make no valid network "
                                     f"(the sandwich rule trains both ends of the space)")
        out.append(spec)
    return out[0], out[1]


def random_spec(space: SearchSpace, shape: DataShape, rng: random.Random) -> ArchSpec:
    for _ in range(MAX_DRAWS):
        spec = draw_spec(space, RandomDraw(rng), shape)
        if spec is not None:
            return spec
    raise SpecError("model", f"none of {MAX_DRAWS} random draws is a valid network")


def epoch_rng(seed: int, epoch: int) -> random.Random:
    """The random subnets of an epoch depend on (seed, epoch) only: a resumed run draws what an
    uninterrupted one would."""
    return random.Random(seed * 100_003 + epoch)


@dataclass
class SandwichSettings:
    distill: bool = True
    calibration_batches: int = 8


def evaluate_subnet(supernet: Supernet, spec: ArchSpec, calibration: list[torch.Tensor], batches: Any,
                    device: torch.device, train: TrainSpec) -> tuple[float, float]:
    """Val accuracy and loss of a subnet with inherited weights, BatchNorm recalibrated."""
    model = supernet.subnet(spec)
    if train.uses_channels_last:
        model = model.to(memory_format=torch.channels_last)
    recalibrate(model, calibration)
    return evaluate(model, batches, device, train)


def train_supernet(space: SearchSpace, shape: DataShape, batches: Any, device: torch.device | str, report: Reporter,
                   settings: SandwichSettings, epochs: int, checkpoint_dir: str | None = None,
                   resume_from: str | None = None) -> dict[str, Any]:
    """Train the space's supernet for ``epochs``, calling ``report(metrics, checkpoint_folder)``
    after each; returns the last metrics. ``accuracy`` is the largest subnet's,
    ``accuracy_smallest`` the smallest's."""
    device = torch.device(device)
    space = arch_space(space)
    train = recipe(space, epochs)
    torch.manual_seed(train.seed)
    supernet = Supernet(supernet_layout(space.model, shape)).to(device)
    if train.uses_channels_last:
        supernet = supernet.to(memory_format=torch.channels_last)
    largest, smallest = extremes(space, shape)
    params = {"params": params_and_macs(largest)[0], "params_smallest": params_and_macs(smallest)[0],
              "params_supernet": sum(p.numel() for p in supernet.parameters())}
    optimizer = make_optimizer(supernet, train)
    calibration = calibration_batches(batches, settings.calibration_batches)
    amp = autocast(device, train)

    def epoch_step(epoch: int) -> Step:
        rng = epoch_rng(train.seed, epoch)

        def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            subnets = [largest, smallest, *(random_spec(space, shape, rng) for _ in range(RANDOM_PER_STEP))]
            teacher = recorded = None
            for spec in subnets:
                with amp:
                    logits = supernet(x, spec).float()
                if recorded is None:
                    loss = recorded = F.cross_entropy(logits, y, label_smoothing=train.label_smoothing)
                    if settings.distill:
                        teacher = torch.softmax(logits.detach(), dim=1)
                elif teacher is not None:
                    loss = F.cross_entropy(logits, teacher)  # soft targets: the largest subnet's predictions
                else:
                    loss = F.cross_entropy(logits, y, label_smoothing=train.label_smoothing)
                loss.backward()  # each subnet's gradients summed into the shared weights before the one step
            return recorded

        return step

    def both_ends() -> dict[str, float]:
        accuracy, val_loss = evaluate_subnet(supernet, largest, calibration, batches, device, train)
        small_acc, small_loss = evaluate_subnet(supernet, smallest, calibration, batches, device, train)
        return {"accuracy": accuracy, "loss": val_loss, "accuracy_smallest": small_acc, "loss_smallest": small_loss}

    # The engine trains and checkpoints supernet.net, the module that holds every weight.
    training = Training(supernet.net, optimizer, train, epoch_step, both_ends,
                        loss_name="the largest subnet's training loss")
    return train_epochs(training, batches, device, report, params, checkpoint_dir, resume_from)
