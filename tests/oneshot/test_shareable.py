"""The sandwich rule's two ends and BatchNorm recalibration, on a space one supernet can serve
(the spaces it cannot are refused when loaded: ``tests/space/test_shared_weights.py``)."""

from __future__ import annotations

import random

import torch

from sksearch.data.spec import DataShape
from sksearch.model.network import build
from sksearch.oneshot.bn import recalibrate
from sksearch.oneshot.sandwich import extremes, random_spec
from tests.conftest import tiny_spec
from tests.space.test_shared_weights import MODEL, parse_one_shot


def test_the_sandwich_ends_are_the_largest_and_smallest_subnets():
    space = parse_one_shot(MODEL)
    shape = DataShape(1, 12, 5)
    largest, smallest = extremes(space, shape)
    assert (largest.sk.M, largest.stages[1].depth) == (2, 2)
    assert (smallest.sk.M, smallest.stages[1].depth) == (1, 1)
    rng = random.Random(0)
    drawn = {(s.sk.M, s.stages[1].depth) for s in (random_spec(space, shape, rng) for _ in range(30))}
    assert drawn == {(1, 1), (1, 2), (2, 1), (2, 2)}


def test_recalibration_measures_the_batches_statistics():
    model = build(tiny_spec().to_dict())
    batches = [torch.randn(8, 3, 16, 16) * 3 + 2 for _ in range(3)]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert recalibrate(model, batches) == 3 and not model.training
    stem_bn = model.stem[1]
    # The plain average of the three batches' means, not an exponential one.
    with torch.no_grad():
        means = [model.stem[0](x).mean((0, 2, 3)) for x in batches]
    assert torch.allclose(stem_bn.running_mean, torch.stack(means).mean(0), atol=1e-5)
    assert stem_bn.momentum == 0.1  # restored
    for k, v in model.state_dict().items():  # weights untouched
        if "running" not in k and "num_batches" not in k:
            assert torch.equal(v, before[k])
