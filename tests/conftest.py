"""Shared fixtures: tiny specs and models so the suite stays fast."""

from __future__ import annotations

import pytest
import torch

from sksearch.spec import ArchSpec, SKSpec, StageSpec


def tiny_spec(block: str = "sk", branches=((3, 1), (3, 2)), num_classes: int = 3, **kw) -> ArchSpec:
    """Two CIFAR-style stages of narrow units: builds and runs in milliseconds."""
    stages = (
        StageSpec(depth=1, width=8, out_channels=16, stride=1),
        StageSpec(depth=2, width=16, out_channels=32, stride=2),
    )
    defaults = dict(stages=stages, block=block, stem="cifar", stem_width=8, groups=4, se_reduction=4,
                    sk=SKSpec(branches=tuple(branches), reduction=4, min_dim=4), num_classes=num_classes,
                    in_channels=3, input_size=16)
    defaults.update(kw)
    return ArchSpec(**defaults)


@pytest.fixture
def spec() -> ArchSpec:
    return tiny_spec()


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
