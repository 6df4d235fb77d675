"""What an architecture costs: parameters, multiply-adds and measured latency.

MACs come from PyTorch's own ``torch.utils.flop_counter`` (FLOPs / 2), counted on the meta
device so even SKNet-101 costs no memory and a fraction of a second. Like the paper's
"FLOPs", this counts convolutions and fully connected layers; BatchNorm, pooling, ReLU,
softmax and element-wise products count zero.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from .nn.model import SKNet, build
from .spec import ArchSpec


@dataclass(frozen=True)
class Cost:
    params: int
    macs: int
    latency_ms: float | None = None

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


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


def params_and_macs(spec: ArchSpec) -> tuple[int, int]:
    """Params and MACs (batch 1, the spec's input size) without allocating weights."""
    model = meta_model(spec)
    shape = (1, spec.in_channels, spec.input_size, spec.input_size)
    return count_params(model), count_macs(model, shape)


def measure_latency(
    spec: ArchSpec,
    device: str | torch.device = "cpu",
    batch_size: int = 1,
    warmup: int = 3,
    repeats: int = 10,
    channels_last: bool = False,
) -> float:
    """Median forward time in milliseconds (eval mode, no grad) after ``warmup`` runs."""
    device = torch.device(device)
    model = build(spec.to_dict()).to(device).eval()
    x = torch.randn(batch_size, spec.in_channels, spec.input_size, spec.input_size, device=device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
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
    return statistics.median(times)


def cost(spec: ArchSpec, latency: bool = False, device: str = "cpu", batch_size: int = 1) -> Cost:
    params, macs = params_and_macs(spec)
    lat = measure_latency(spec, device, batch_size) if latency else None
    return Cost(params, macs, lat)
