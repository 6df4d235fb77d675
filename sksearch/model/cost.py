"""What an architecture costs: parameters, multiply-adds and measured latency.

MACs come from PyTorch's own ``torch.utils.flop_counter`` (FLOPs / 2), counted on the meta
device for a large network, so even SKNet-101 costs no memory and a fraction of a second, and
on the CPU for a small one, where it is faster (see ``params_and_macs``). Like the paper's
"FLOPs", this counts convolutions and fully connected layers; BatchNorm, pooling, ReLU,
softmax and element-wise products count zero.
"""

from __future__ import annotations

import json
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from .network import SKNet, build
from .presets import COSTS_FILE, PRESETS, preset, stored_costs
from .spec import ArchSpec


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: torch.nn.Module, input_shape: tuple[int, ...]) -> int:
    """Forward multiply-adds for one input of ``input_shape`` (batch included); the model's
    device is used, so pass a meta-device model to count without memory."""
    device = next(model.parameters()).device
    x = torch.zeros(input_shape, device=device)
    was_training = model.training
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    model.train(was_training)
    return counter.get_total_flops() // 2


def meta_model(spec: ArchSpec) -> SKNet:
    with torch.device("meta"):
        return build(spec.to_dict())


def input_shape(spec: ArchSpec, batch_size: int = 1) -> tuple[int, int, int, int]:
    return (batch_size, spec.in_channels, spec.input_size, spec.input_size)


# Up to this many parameters (16 MB of float32) MACs are counted on real CPU weights.
CPU_COUNT_MAX_PARAMS = 4_000_000


def params_and_macs(spec: ArchSpec, fits_memory: bool = False) -> tuple[int, int]:
    """Params and MACs (batch 1, the spec's input size); weights are allocated only for a
    network of at most ``CPU_COUNT_MAX_PARAMS``, or where the caller knows that the network
    fits in memory (``fits_memory``: a subnet of a supernet in memory), which skips the meta
    build that sizes it."""
    model = None if fits_memory else meta_model(spec)
    params = 0 if model is None else count_params(model)
    if model is None or params <= CPU_COUNT_MAX_PARAMS:
        # On the meta device every operator's shape function runs in Python: 40 ms for a
        # 110K-param net, where the CPU's kernels at batch 1 take 14 ms and its weights cost
        # nothing. A one-shot search counts each new subnet it draws, so this is its rate.
        # The build's random init must not move the caller's generator.
        with torch.random.fork_rng(devices=[]), torch.device("cpu"):
            model = build(spec.to_dict())
        params = count_params(model)
    return params, count_macs(model, input_shape(spec))


def measure_latency(
    model: torch.nn.Module,
    shape: tuple[int, ...],
    warmup: int = 3,
    repeats: int = 10,
    channels_last: bool = False,
) -> float:
    """Median forward time in milliseconds of ``model`` on its own device (eval mode, no
    grad) for a zero input of ``shape``, after ``warmup`` runs. The model's mode is restored."""
    device = next(model.parameters()).device
    x = torch.zeros(shape, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    was_training = model.training
    model.eval()
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            model(x)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1000.0)
    model.train(was_training)
    return statistics.median(times)


def spec_latency(spec: ArchSpec, device: str | torch.device = "cpu", batch_size: int = 1, warmup: int = 3,
                 repeats: int = 10, channels_last: bool = False) -> float:
    """``measure_latency`` of a freshly built network of ``spec``."""
    model = build(spec.to_dict()).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return measure_latency(model, input_shape(spec, batch_size), warmup, repeats, channels_last)


def count_costs() -> dict[str, dict[str, int]]:
    """Every preset counted with the FLOP counter: what ``presets.stored_costs`` should hold."""
    out = {}
    for name in PRESETS:
        params, macs = params_and_macs(preset(name))
        out[name] = {"params": params, "macs": macs}
    return out


def write_costs() -> None:
    """Count every preset again and rewrite ``preset_costs.json`` (after changing a preset)."""
    with open(COSTS_FILE, "w") as fh:
        json.dump(count_costs(), fh, indent=1)
        fh.write("\n")
    stored_costs.cache_clear()
