"""``torch.compile`` for trials: when it pays, and one compiled module per architecture and
worker process, reused by every later trial of that architecture.

Ray reuses a worker (actor) for the next trial, so a module compiled for one trial is still
there for the next: a trial of an architecture seen before loads its fresh weights into the
cached module instead of compiling again. Evaluation runs the same module eagerly (its
weights are the compiled module's own), which saves a second compilation for eval mode.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import torch

from ..model.spec import ArchSpec
from .spec import TrainSpec

# A trial compiles in seconds on a GPU and in tens of seconds on a CPU (benchmarks/gpu.py
# measures it); below this many optimizer steps the compilation does not pay for itself.
AUTO_MIN_STEPS = 2000
CACHE_SIZE = 4                      # architectures kept compiled per worker (each holds its weights)
RECOMPILE_LIMIT = 64                # dynamo's default (8) would fall back to eager after 8 architectures

_cache: OrderedDict[str, tuple[torch.nn.Module, Any]] = OrderedDict()
stats = {"compiled": 0, "reused": 0}


def wants_compile(device: torch.device, train: TrainSpec, steps: int) -> bool:
    """``on``/``off`` as said; ``auto`` compiles on CUDA when the trial has ``AUTO_MIN_STEPS``
    optimizer steps or more (``steps`` = the full budget's steps)."""
    if train.compile == "auto":
        return device.type == "cuda" and steps >= AUTO_MIN_STEPS
    return train.compile == "on"


def _configure() -> None:
    import torch._dynamo

    config = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit", "accumulated_cache_size_limit"):
        if hasattr(config, name):
            setattr(config, name, max(getattr(config, name), RECOMPILE_LIMIT))


def compiled(model: torch.nn.Module, arch: ArchSpec, device: torch.device, channels_last: bool) -> tuple[torch.nn.Module, Any]:
    """The module to train and its compiled forward. The module is ``model`` itself the first
    time an architecture is seen in this process, else the cached one with ``model``'s weights
    and buffers loaded into it (so a seeded trial starts from the same state either way)."""
    key = json.dumps([arch.to_dict(), str(device), channels_last], sort_keys=True)
    if key in _cache:
        module, forward = _cache[key]
        module.load_state_dict(model.state_dict())
        _cache.move_to_end(key)
        stats["reused"] += 1
        return module, forward
    _configure()
    forward = torch.compile(model)
    _cache[key] = (model, forward)
    while len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    stats["compiled"] += 1
    return model, forward


def clear() -> None:
    """Forget every compiled module (tests; a worker that needs the memory back)."""
    _cache.clear()
