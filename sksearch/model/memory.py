"""What a network needs in memory, estimated from its spec before anything is built, and the
refusal of one that cannot fit.

A spec is a few lines of JSON, and one line (a width of 65,536 with one group) makes a network
of 155 GB: building it is what allocates, so the estimate runs the network on PyTorch's meta
device (shapes without storage), like ``cost.params_and_macs``, in one training-mode forward
that also counts the MACs. It records

* the parameters and buffers (float32 weights: autocast keeps fp32 master weights);
* per image, the values autograd saves for the backward pass (what training holds at the end
  of a forward), and the most values any one operation reads and writes at once (what a
  forward without gradients holds at least).

The totals are lower bounds (allocator slack, the backward's temporaries, cuDNN workspaces and
the data loader come on top), so a refusal is certain and a network that passes may still be
tight. The limit is the memory free now: ``MemAvailable`` of the machine for the CPU, the free
memory of a CUDA device (``torch.cuda.mem_get_info``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode

from ..errors import UserError
from .network import build
from .spec import ArchSpec

WEIGHT_BYTES = 4  # float32 parameters, gradients and optimizer state
STATE_TENSORS = {"sgd": 1, "adamw": 2}  # per-parameter state: SGD's momentum, AdamW's two moments
BATCH = 2  # a training-mode BatchNorm1d refuses a batch of one; the counts are per image after


@dataclass(frozen=True)
class Footprint:
    """A network's counts from one meta-device forward: ``params``, ``macs`` (batch 1, as
    ``cost.params_and_macs`` counts them), ``buffers`` (values), and per image the values
    ``saved`` for the backward and the ``peak`` values one operation touches."""

    params: int
    macs: int
    buffers: int
    saved: int
    peak: int

    def training_bytes(self, batch_size: int, optimizer: str = "sgd", activation_bytes: int = 4) -> int:
        """Weights, gradients, optimizer state and the activations of one step at ``batch_size``."""
        weights = WEIGHT_BYTES * (self.params * (2 + STATE_TENSORS.get(optimizer, 2)) + self.buffers)
        return weights + batch_size * self.saved * activation_bytes

    def inference_bytes(self, batch_size: int, activation_bytes: int = 4) -> int:
        """Weights and the largest operation's activations of a forward without gradients."""
        return WEIGHT_BYTES * (self.params + self.buffers) + batch_size * self.peak * activation_bytes


class _Peak(TorchDispatchMode):
    """The most values (storage included) that one operation reads and writes, weights left out."""

    def __init__(self, weights: set[int]) -> None:
        super().__init__()
        self.weights, self.peak = weights, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204 - torch's protocol, untyped there too
        out = func(*args, **(kwargs or {}))
        tensors = {id(t): t for t in tree_leaves((args, kwargs, out))
                   if isinstance(t, torch.Tensor) and id(t) not in self.weights}
        values = sum(t.untyped_storage().nbytes() // t.element_size() for t in tensors.values())
        self.peak = max(self.peak, values)
        return out


def footprint(spec: ArchSpec) -> Footprint:
    """The counts of ``spec``'s network, without allocating it (a fraction of a second)."""
    with torch.device("meta"):
        model = build(spec.to_dict())
    model.train()
    weights = {id(p) for p in model.parameters()} | {id(b) for b in model.buffers()}
    saved: dict[int, torch.Tensor] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if id(t) not in weights:  # a view saves its base's storage, counted once
            base = t._base if t._base is not None else t
            saved[id(base)] = base
        return t

    x = torch.zeros(BATCH, spec.in_channels, spec.input_size, spec.input_size, device="meta")
    peak = _Peak(weights)
    with FlopCounterMode(display=False) as counter, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), peak:
        out = model(x)
    saved_values = sum(t.untyped_storage().nbytes() // t.element_size() for t in saved.values()) + out.numel()
    return Footprint(params=sum(p.numel() for p in model.parameters()),
                     macs=counter.get_total_flops() // 2 // BATCH,
                     buffers=sum(b.numel() for b in model.buffers()),
                     saved=-(-saved_values // BATCH), peak=-(-peak.peak // BATCH))


def _meminfo(key: str) -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                name, _, rest = line.partition(":")
                if name == key:
                    return int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def memory_of(device: str | torch.device = "cpu", free: bool = True) -> tuple[int | None, str]:
    """(bytes, what they are) of ``device``: with ``free``, what is free now (the machine's
    available memory for the CPU), else its total; None where it cannot be told."""
    device = torch.device(device)
    if device.type == "cuda":
        try:
            free_b, total_b = torch.cuda.mem_get_info(device)
        except (RuntimeError, AssertionError):  # no CUDA here: the device check reports that
            return None, str(device)
        return (free_b, f"free on {device}") if free else (total_b, f"on {device}")
    if device.type != "cpu":
        return None, str(device)
    try:
        import psutil

        vm = psutil.virtual_memory()
        return (vm.available, "available on this machine") if free else (vm.total, "on this machine")
    except ImportError:
        pass
    if free:
        return _meminfo("MemAvailable"), "available on this machine"
    return _meminfo("MemTotal") or (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")), "on this machine"


def gigabytes(n: int) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e8 else f"{n / 1e6:,.1f} MB"


def too_big(needed: int, device: str | torch.device = "cpu", free: bool = True) -> str | None:
    """Why ``needed`` bytes cannot fit on ``device`` ("at least X GB of memory, more than the Y GB
    available on this machine"), or None."""
    limit, where = memory_of(device, free)
    if limit is None or needed <= limit:
        return None
    return f"at least {gigabytes(needed)} of memory, more than the {gigabytes(limit)} {where}"


def check_fits(spec: ArchSpec, what: str, device: str | torch.device = "cpu", batch_size: int = 1,
               training: bool = False, optimizer: str = "sgd", activation_bytes: int = 4,
               weight_copies: int = 1) -> Footprint:
    """``UserError`` before ``spec``'s network is built when it cannot fit on ``device``:
    training (weights, gradients, optimizer state, activations) or a forward without gradients
    at ``batch_size``; ``weight_copies`` counts a loaded state dict beside the model (2), or
    weights already in this memory (0: only the activations are still to come). ``what``
    names the network in the message. Returns the footprint."""
    fp = footprint(spec)
    if training:
        needed = fp.training_bytes(batch_size, optimizer, activation_bytes)
        doing = f" trained at batch size {batch_size:,}"
    else:
        needed = fp.inference_bytes(batch_size, activation_bytes)
        doing = f" in a forward pass at batch size {batch_size:,}" if batch_size > 1 else ""
    needed += WEIGHT_BYTES * (fp.params + fp.buffers) * (weight_copies - 1)
    reason = too_big(needed, device)
    if reason:
        raise UserError(f"{what}: its {fp.params:,} parameters{doing} need {reason}; refused before it is built")
    return fp
