"""BatchNorm recalibration: a subnet's statistics measured afresh before it is evaluated.

The supernet's running statistics mix every subnet it trained (and a training forward never
writes them, see ``Supernet.forward``): a subnet cut from it needs its own mean and variance.
As in Once-for-All, they are the plain average over a few training batches (momentum None),
forwarded in training mode without gradients.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn


def recalibrate(model: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Reset every BatchNorm layer of ``model`` and set its statistics to the average over
    ``batches`` (input tensors); returns the number of batches read. The model ends in eval
    mode, its weights unchanged."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches, not an exponential one
    model.train()
    n = 0
    with torch.no_grad():
        for x in batches:
            model(x)
            n += 1
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.eval()
    return n


def calibration_batches(batches: object, count: int, epoch: int = 0) -> list[torch.Tensor]:
    """The inputs of the first ``count`` training batches of ``epoch`` (a ``DeviceBatches`` or
    ``LoaderBatches``): drawn once, shared by every subnet evaluation so they compare alike."""
    out = []
    for x, _y in batches.train(epoch):  # type: ignore[attr-defined]
        if len(out) >= count:
            break
        out.append(x)
    return out
