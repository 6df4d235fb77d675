"""Screening in the subnet search (``strategy.screen_images``): each new network is scored first
on the first val images with BatchNorm recalibrated on a quarter of the calibration batches,
and scored again in full (all calibration batches, the whole val set: the score without
screening, exactly) unless a network already scored in full beats it by a clear margin at
costs no worse. A network left at its screening score is one no front could hold: the front
and the confirmed subnets are chosen among networks scored in full.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Sequence

import torch

# Standard errors of the screened accuracy that a network scored in full must beat it by, plus
# a fixed allowance for BatchNorm statistics from fewer batches (a quarter of them).
SIGMAS = 3.0
CALIBRATION_ALLOWANCE = 0.01


class FirstImages:
    """The first ``n`` val images of ``batches`` (a ``DeviceBatches`` or ``LoaderBatches``),
    in its own val batches."""

    def __init__(self, batches: Any, n: int) -> None:
        self.batches, self.n = batches, n

    def val(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        left = self.n
        for x, y in self.batches.val():
            if left <= 0:
                return
            yield x[:left], y[:left]
            left -= len(y)


def margin(accuracy: float, images: int) -> float:
    """How far below a network scored in full a screened accuracy from ``images`` images must
    fall to leave it out: ``SIGMAS`` binomial standard errors (the variance floored at 0.01, so
    that an accuracy near 0 or 1 keeps a margin) plus ``CALIBRATION_ALLOWANCE``."""
    variance = max(accuracy * (1.0 - accuracy), 0.01)
    return SIGMAS * math.sqrt(variance / max(images, 1)) + CALIBRATION_ALLOWANCE


def calibration_share(calibration: list[torch.Tensor]) -> list[torch.Tensor]:
    """The calibration batches a screening recalibrates on: the first quarter, at least one."""
    return calibration[:max(1, len(calibration) // 4)]


def within_reach(costs: Sequence[float], accuracy: float, images: int,
                 scored: Sequence[tuple[Sequence[float], float]], minimize: Sequence[bool]) -> bool:
    """Whether a screened network (``costs``: its objectives other than accuracy, ``accuracy``
    from ``images`` images) could be on the front: False only when a network scored in full
    (``scored``: its costs and accuracy) has every cost as good or better and an accuracy above
    this one's by more than ``margin``."""
    bar = accuracy + margin(accuracy, images)
    for other_costs, other_accuracy in scored:
        if other_accuracy > bar and all((o <= c) if low else (o >= c)
                                        for o, c, low in zip(other_costs, costs, minimize)):
            return False
    return True
