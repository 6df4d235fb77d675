"""``torch.compile`` for trials: when it pays, and one compiled module per architecture and
worker process, reused by every later trial of that architecture.

Ray reuses a worker (actor) for the next trial, so a module compiled for one trial is still
there for the next: a trial of an architecture seen before loads its fresh weights into the
cached module instead of compiling again. Evaluation runs the same module eagerly (its
weights are the compiled module's own), which saves a second compilation for eval mode.

What dynamo's own cache does across architectures: every SKNet shares one ``forward`` code
object, so a new architecture is a guard failure on it and a full recompile (no kernel of
another architecture is reused), counted against dynamo's recompile limit (raised here to
``RECOMPILE_LIMIT``, else the ninth architecture of a worker would silently run eagerly).
Inductor's on-disk FX graph cache does reuse the kernels of an identical graph across
processes and runs, so a repeat of an architecture in another worker compiles faster, but
``auto`` does not count on it: only this process's cache of compiled modules is free.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import torch

from ..model.spec import ArchSpec
from .spec import TrainSpec

# A trial compiles in seconds on a GPU (benchmarks/gpu.py measures it); below this many
# optimizer steps the compilation does not pay for itself.
AUTO_MIN_STEPS = 2000
# On the CPU a compile costs more and pays less. benchmarks/trial_speed.py, 2026-12-06, 2 cores,
# batch 64, two one-thread trials at once (what a search runs; benchmarks/RESULTS.md, "Trial
# speed"): the first compiled step of six Fashion-MNIST nets (44K-869K params) took 15-44 s
# with inductor's cache cold (load 2-4), 2-4 s with its on-disk cache warm; compiled steps were
# 1.21-1.47x the eager ones for the nets with M=2 SK units (22-43 ms saved a step) over two quiet
# runs, and 1.02-1.27x for M=1 nets (3-11 ms; 0.74-0.81x in a run beside other work). Auto therefore
# compiles on the CPU only networks with a unit of two or more branches, and only trials of
# at least twice the break-even of the slowest cold compile and the smallest M=2 saving:
# 2 x 45 s / 20 ms = 4,500 steps. Fashion-MNIST's search trials (2,250 steps at most) stay
# eager; `sksearch train` of its winners (15 epochs of 844 steps) compiles.
CPU_COMPILE_S = 45.0
CPU_SAVED_PER_STEP_S = 0.02
AUTO_MIN_STEPS_CPU = 2 * round(CPU_COMPILE_S / CPU_SAVED_PER_STEP_S)  # 4,500
CACHE_SIZE = 4                      # architectures kept compiled per worker (each holds its weights)
RECOMPILE_LIMIT = 64                # dynamo's default (8) would fall back to eager after 8 architectures

_cache: OrderedDict[str, tuple[torch.nn.Module, Any]] = OrderedDict()
stats = {"compiled": 0, "reused": 0}


def _key(arch: ArchSpec, device: torch.device, channels_last: bool) -> str:
    return json.dumps([arch.to_dict(), str(device), channels_last], sort_keys=True)


def multi_branch(arch: ArchSpec) -> bool:
    """Whether a unit of ``arch`` selects among two or more branches (an SK unit with M >= 2)."""
    if not arch.kind.attention:
        return False
    return any(len(arch.sk_of(i).branches) >= 2 for i in range(len(arch.stages)))


def wants_compile(device: torch.device, train: TrainSpec, steps: int, arch: ArchSpec | None = None,
                  channels_last: bool = True) -> bool:
    """``on``/``off`` as said; ``auto`` compiles when the trial has enough optimizer steps
    (``steps`` = the full budget's steps) to pay for the compilation: ``AUTO_MIN_STEPS`` on
    CUDA; on the CPU ``AUTO_MIN_STEPS_CPU`` and a network with a multi-branch unit (when
    ``arch`` is given); and always when this process holds ``arch`` compiled already (a reuse
    costs nothing)."""
    if train.compile == "auto":
        if device.type not in ("cuda", "cpu"):
            return False
        if arch is not None and _key(arch, device, channels_last) in _cache:
            return True
        if device.type == "cuda":
            return steps >= AUTO_MIN_STEPS
        return steps >= AUTO_MIN_STEPS_CPU and (arch is None or multi_branch(arch))
    return train.compile == "on"


def _configure() -> None:
    import torch._dynamo

    config = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit", "accumulated_cache_size_limit"):
        if hasattr(config, name):
            setattr(config, name, max(getattr(config, name), RECOMPILE_LIMIT))


def compiled(model: torch.nn.Module, arch: ArchSpec, device: torch.device,
             channels_last: bool) -> tuple[torch.nn.Module, Any]:
    """The module to train and its compiled forward. The module is ``model`` itself the first
    time an architecture is seen in this process, else the cached one with ``model``'s weights
    and buffers loaded into it (so a seeded trial starts from the same state either way)."""
    key = _key(arch, device, channels_last)
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
