"""The supernet: one network whose tensors every subnet of a space is cut from.

The supernet is the ordinary network of its largest architecture (``shareable.supernet_layout``).
A subnet's tensors are slices of the supernet's: its first units, first channels (inside a
grouped conv the first c/G of every group), its branches' slots, the centre of each slot's
kernel, the first d units of the fuse fc. ``Supernet.forward(x, spec)`` runs ``network.py``'s
own forward of ``build(spec)`` on those slices (``torch.func.functional_call``), so gradients
reach the shared weights and a subnet computes in the supernet exactly what the stand-alone
network computes with the extracted weights: there is one forward, not a second copy of it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Iterator

import torch
from torch import nn
from torch.func import functional_call

from ..model.network import SKNet, build
from ..model.spec import ArchSpec
from .shareable import SlotRule, SupernetLayout

# An index into one dimension: a slice (a view, no copy) or a tensor of positions.
Index = slice | torch.Tensor | None
Plan = dict[str, tuple[str, tuple[Index, ...]]]
BN_STATS = ("weight", "bias", "running_mean", "running_var")
CACHE = 512  # subnets whose plans and shells are kept (a search revisits its front)


def _first(n: int) -> slice:
    return slice(0, n)


def _grouped(n: int, total: int, groups: int) -> Index:
    """The first n/G channels of each of G groups of total/G: the channels a grouped conv of
    n channels shares with one of ``total`` (with G = 1, simply the first n)."""
    if groups == 1 or n == total:
        return _first(n)
    per, most = n // groups, total // groups
    return torch.cat([torch.arange(g * most, g * most + per) for g in range(groups)])


def _centre(k: int, largest: int) -> slice:
    off = (largest - k) // 2
    return slice(off, off + k)


def take(t: torch.Tensor, index: tuple[Index, ...]) -> torch.Tensor:
    """``t`` cut along each dimension by ``index`` (None: all of it); differentiable."""
    for dim, ix in enumerate(index):
        if ix is None:
            continue
        if isinstance(ix, slice):
            if ix.start != 0 or ix.stop != t.shape[dim]:
                t = t.narrow(dim, ix.start, ix.stop - ix.start)
        else:
            t = t.index_select(dim, ix.to(t.device))
    return t


class _Planner:
    """The plan of one subnet: for every tensor of ``build(sub)``, the supernet tensor it is
    cut from and how. Keys follow ``network.py``'s module names."""

    def __init__(self, union: ArchSpec, rules: tuple[SlotRule, ...], sub: ArchSpec) -> None:
        self.union, self.rules, self.sub = union, rules, sub
        self.plan: Plan = {}

    def conv(self, sub_key: str, union_key: str, out: Index, inp: Index, kernel: slice | None = None) -> None:
        self.plan[f"{sub_key}.weight"] = (f"{union_key}.weight", (out, inp, kernel, kernel))

    def bn(self, sub_key: str, union_key: str, idx: Index) -> None:
        for name in BN_STATS:
            self.plan[f"{sub_key}.{name}"] = (f"{union_key}.{name}", (idx,))
        self.plan[f"{sub_key}.num_batches_tracked"] = (f"{union_key}.num_batches_tracked", ())

    def conv_bn(self, key: str, out: Index, inp: Index, kernel: slice | None = None,
                union_key: str | None = None) -> None:
        union_key = union_key or key
        self.conv(f"{key}.0", f"{union_key}.0", out, inp, kernel)
        self.bn(f"{key}.1", f"{union_key}.1", out)

    def se(self, key: str, channels: Index, c: int) -> None:
        hidden = max(c // self.sub.se_reduction, 1)
        self.plan[f"{key}.fc1.weight"] = (f"{key}.fc1.weight", (_first(hidden), channels))
        self.plan[f"{key}.fc1.bias"] = (f"{key}.fc1.bias", (_first(hidden),))
        self.plan[f"{key}.fc2.weight"] = (f"{key}.fc2.weight", (channels, _first(hidden)))
        self.plan[f"{key}.fc2.bias"] = (f"{key}.fc2.bias", (channels,))

    def sk(self, key: str, s: int, mid: Index, width: int, inp: Index, groups: int) -> None:
        sub_sk, union_sk = self.sub.sk_of(s), self.union.sk_of(s)
        union_width = self.union.stages[s].width
        slots = self.rules[s].slots_of(sub_sk.kernel_dilations, f"stages[{s}].sk")
        for b, ((k, _d), slot) in enumerate(zip(sub_sk.kernel_dilations, slots)):
            largest = union_sk.branches[slot][0]
            self.conv_bn(f"{key}.branches.{b}", mid, inp, _centre(k, largest), union_key=f"{key}.branches.{slot}")
        if sub_sk.attends:
            d = max(int(width // sub_sk.reduction), sub_sk.min_dim)
            self.plan[f"{key}.fuse.0.weight"] = (f"{key}.fuse.0.weight", (_first(d), mid))
            self.bn(f"{key}.fuse.1", f"{key}.fuse.1", _first(d))
            # The select fc's rows are M blocks of C, one per branch: each slot's block, cut like the channels.
            rows = [torch.arange(union_width * slot, union_width * (slot + 1))[mid] for slot in slots]
            self.plan[f"{key}.select.weight"] = (f"{key}.select.weight", (torch.cat(rows), _first(d)))

    def build(self) -> Plan:
        sub, union = self.sub, self.union
        if sub.block != union.block or sub.stem != union.stem or sub.family != union.family:
            raise ValueError("the subnet's block, stem and family must be the supernet's")
        if len(sub.stages) != len(union.stages):
            raise ValueError(f"the subnet has {len(sub.stages)} stages, the supernet {len(union.stages)}")
        for name in ("stem_width", "head_width"):
            if (getattr(sub, name) or 0) > (getattr(union, name) or 0):
                raise ValueError(f"{name}: {getattr(sub, name)} exceeds the supernet's {getattr(union, name)}")
        stem = "stem" if sub.stem == "cifar" else "stem.0"
        channels: Index = _first(sub.stem_width)
        self.conv_bn(stem, channels, None, None)
        in_c, union_in = sub.stem_width, union.stem_width
        for s, (st, ust) in enumerate(zip(sub.stages, union.stages)):
            for name in ("depth", "width", "out_channels"):
                if getattr(st, name) > getattr(ust, name):
                    raise ValueError(f"stages[{s}].{name}: {getattr(st, name)} exceeds the supernet's "
                                     f"{getattr(ust, name)}")
            if st.stride != ust.stride or sub.groups_of(s) != union.groups_of(s):
                raise ValueError(f"stages[{s}]: stride and groups must be the supernet's")
            groups = sub.groups_of(s)
            mid = _grouped(st.width, ust.width, groups)
            out = _first(st.out_channels)
            for u in range(st.depth):
                key = f"stages.{s}.{u}"
                stride = st.stride if u == 0 else 1
                projection = stride != 1 or in_c != st.out_channels
                if projection != (stride != 1 or union_in != ust.out_channels):
                    raise ValueError(f"stages[{s}] unit {u}: the subnet's shortcut differs from the supernet's")
                self.conv_bn(f"{key}.conv1", mid, channels)
                local = _first(st.width // groups)
                if sub.kind.uses("sk"):
                    self.sk(f"{key}.conv2", s, mid, st.width, local, groups)
                else:
                    self.conv_bn(f"{key}.conv2", mid, local, None)
                self.conv_bn(f"{key}.conv3", out, mid)
                if sub.kind.uses("se_reduction"):
                    self.se(f"{key}.se", out, st.out_channels)
                if projection:
                    self.conv_bn(f"{key}.shortcut", out, channels)
                channels, in_c, union_in = out, st.out_channels, ust.out_channels
        if sub.head_width:
            self.conv_bn("head.0", _first(sub.head_width), channels)
            channels, in_c = _first(sub.head_width), sub.head_width
            if sub.kind.uses("se_reduction"):
                self.se("head.1", channels, in_c)
        self.plan["fc.weight"] = ("fc.weight", (None, channels))
        self.plan["fc.bias"] = ("fc.bias", ())
        return self.plan


class Supernet(nn.Module):
    """The supernet of a ``SupernetLayout``; ``self.net`` is the ordinary network of its
    largest architecture and holds every weight."""

    def __init__(self, layout: SupernetLayout) -> None:
        super().__init__()
        self.layout = layout
        self.union = ArchSpec.from_dict(layout.arch)
        self.net = build(self.union.to_dict())
        self._plans: OrderedDict[str, tuple[Plan, SKNet]] = OrderedDict()

    def _entry(self, spec: ArchSpec) -> tuple[Plan, SKNet]:
        key = spec.to_json(indent=None)
        if key in self._plans:
            self._plans.move_to_end(key)
            return self._plans[key]
        plan = _Planner(self.union, self.layout.rules, spec).build()
        with torch.device("meta"):  # the subnet's modules only: its tensors are the supernet's slices
            shell = build(spec.to_dict())
        if set(plan) != set(shell.state_dict()):
            missing = sorted(set(shell.state_dict()) ^ set(plan))
            raise RuntimeError(f"the subnet plan and the network disagree on {missing[:4]}")
        self._plans[key] = (plan, shell)
        if len(self._plans) > CACHE:
            self._plans.popitem(last=False)
        return plan, shell

    def tensors(self, spec: ArchSpec, copy_buffers: bool = False) -> dict[str, torch.Tensor]:
        """The subnet's parameters and buffers, as differentiable slices of the supernet's
        (``copy_buffers``: the buffers as copies, which a training forward may update)."""
        plan, _ = self._entry(spec)
        mine = dict(self.net.named_parameters())
        buffers = dict(self.net.named_buffers())
        out = {}
        for key, (src, index) in plan.items():
            if src in buffers:
                out[key] = take(buffers[src], index).clone() if copy_buffers else take(buffers[src], index)
            else:
                out[key] = take(mine[src], index)
        return out

    def forward(self, x: torch.Tensor, spec: ArchSpec | None = None) -> torch.Tensor:
        """The logits of subnet ``spec`` (the largest without one). The subnet's BatchNorm
        layers run in this module's mode; in training their statistics update copies, never
        the supernet's: they would mix every subnet's, and each subnet's statistics are
        recalibrated before it is evaluated (``bn.recalibrate``)."""
        if spec is None:
            spec = self.union
        _, shell = self._entry(spec)
        shell.train(self.training)
        return functional_call(shell, self.tensors(spec, copy_buffers=self.training), (x,), strict=True)

    def extract(self, spec: ArchSpec) -> dict[str, torch.Tensor]:
        """The state dict of ``build(spec)`` with the subnet's inherited weights (copies)."""
        return {k: v.detach().clone().contiguous() for k, v in self.tensors(spec).items()}

    def subnet(self, spec: ArchSpec) -> SKNet:
        """The stand-alone network of ``spec`` holding its inherited weights (loaded strictly),
        on the supernet's device."""
        device = next(self.net.parameters()).device
        model = build(spec.to_dict()).to(device)
        model.load_state_dict(self.extract(spec), strict=True)
        return model

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        return self.net.parameters()
