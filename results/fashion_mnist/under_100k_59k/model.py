"""Selective Kernel networks (Li, Wang, Hu, Yang, CVPR 2019) and their ResNeXt / SE baselines.

A network is built from a plain spec dict, the JSON form of ``sksearch.model.spec.ArchSpec``::

    {"family": "resnext", "block": "sk", "stem": "imagenet", "stem_width": 64, "groups": 32,
     "se_reduction": 16,
     "sk": {"branches": [[3, 1], [3, 2]], "reduction": 16, "min_dim": 32, "select": "softmax"},
     "stages": [{"depth": 3, "width": 128, "out_channels": 256, "stride": 1,
                 "groups": null, "sk": null}, ...],
     "head_width": null, "num_classes": 1000, "in_channels": 3, "input_size": 224}

Two families share it: ``resnext`` (ResNeXt bottlenecks, the SKNet paper's SKNet-26/50/101 and
SKNet-29) and ``shufflenetv2`` (ShuffleNetV2 units with depthwise 3x3 convs, the paper's
Table 4). ``block`` picks the 3x3 conv and the unit's gate (``BlockParts``, one subclass per
kind): plain (``resnext``), plain + SE on the unit's output (``se``), or an SK conv (``sk``). A
branch may be ``[kernel, dilation, groups]``.

This file is the whole model definition and is shipped verbatim as ``model.py`` in every
export, so it imports only torch and the standard library. Validation of the spec lives in
``sksearch.model.spec``; this file trusts the dict it is given.

    >>> import torch
    >>> net = build({"block": "sk", "stem": "cifar", "stem_width": 8, "groups": 2,
    ...              "se_reduction": 4, "sk": {"branches": [[3, 1], [3, 2]],
    ...              "reduction": 2, "min_dim": 4},
    ...              "stages": [{"depth": 1, "width": 8, "out_channels": 16, "stride": 1,
    ...                          "groups": None, "sk": None}],
    ...              "num_classes": 10, "in_channels": 3, "input_size": 32})
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SKConv", "SEModule", "BlockParts", "Bottleneck", "ShuffleUnit", "SKNet", "build", "load",
           "read_safetensors"]


class PolyphaseConv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters and state dict) with two rewrites for channels_last
    tensors on the CPU, both exact:

    * A 'same'-padded conv with dilation d reads only pixels d apart, so it equals an
      undilated conv applied to each of the d x d polyphase components of the input (TF's
      space-to-batch): same MACs, but oneDNN's dilated grouped convs on channels_last are
      2-3.6x slower in backward than undilated ones on this CPU class (benchmarks/RESULTS.md).
      With stride equal to the dilation only one component is read: a plain slice.
    * A strided 1x1 conv reads every s-th pixel: it is a slice followed by a 1x1 conv. This
      sidesteps a oneDNN bug in torch 2.13: the channels_last backward of a strided 1x1 conv
      corrupts the heap with one thread (e.g. 4 -> 8 channels at 12x12).

    Other cases (NCHW, CUDA) take the stock path.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s, d = self.kernel_size[0], self.stride[0], self.dilation[0]
        if (x.device.type != "cpu" or self.padding_mode != "zeros" or self.kernel_size[1] != k
                or self.stride[1] != s or self.dilation[1] != d
                or not x.is_contiguous(memory_format=torch.channels_last)):
            return super().forward(x)
        if k == 1 and s > 1 and self.padding == (0, 0):
            return F.conv2d(x[:, :, ::s, ::s], self.weight, self.bias, 1, 0, 1, self.groups)
        if d == 1 or s not in (1, d) or self.padding != (d * (k - 1) // 2,) * 2:
            return super().forward(x)
        pad = (k - 1) // 2
        if s == d:
            return F.conv2d(x[:, :, ::d, ::d], self.weight, self.bias, 1, pad, 1, self.groups)
        b, c, h, w = x.shape
        hp, wp = -(-h // d) * d, -(-w // d) * d
        if (hp, wp) != (h, w):  # zeros past the edge are what the padded conv reads there too
            x = F.pad(x, (0, wp - w, 0, hp - h))
        # channels_last memory is (b, h, w, c): split rows and columns into d x d phases.
        phases = (x.permute(0, 2, 3, 1).reshape(b, hp // d, d, wp // d, d, c)
                  .permute(2, 4, 0, 1, 3, 5).reshape(d * d * b, hp // d, wp // d, c).permute(0, 3, 1, 2))
        y = F.conv2d(phases, self.weight, self.bias, 1, pad, 1, self.groups)
        o = y.shape[1]
        y = (y.permute(0, 2, 3, 1).reshape(d, d, b, hp // d, wp // d, o)
             .permute(2, 3, 0, 4, 1, 5).reshape(b, hp, wp, o).permute(0, 3, 1, 2))
        return y[:, :, :h, :w] if (hp, wp) != (h, w) else y


def conv_bn(
    in_channels: int,
    out_channels: int,
    kernel: int = 1,
    stride: int = 1,
    groups: int = 1,
    dilation: int = 1,
    relu: bool = True,
) -> nn.Sequential:
    """Conv (no bias; 'same' padding for odd kernels), BatchNorm and optionally ReLU."""
    padding = dilation * (kernel - 1) // 2
    layers: list[nn.Module] = [
        PolyphaseConv2d(in_channels, out_channels, kernel, stride, padding, dilation, groups, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SKConv(nn.Module):
    """Selective Kernel convolution: Split, Fuse, Select.

    * Split: M branches over the same input, branch i a grouped conv with kernel
      ``branches[i][0]``, dilation ``branches[i][1]`` and ``branches[i][2]`` groups if given
      (else ``groups``), the stride in every branch, then BN and ReLU.
    * Fuse: s = GAP(sum of branches); z = ReLU(BN(fc(s))) with d = max(C // reduction, min_dim).
    * Select: fc from z to M*C logits, softmax over the M branches for every channel,
      V = sum_i a_i * U_i.

    With ``select="sum"`` there is no Fuse or Select: V is the plain sum of the branches (the
    ablation of the attention). With M = 1 the layer is a plain conv-BN-ReLU. The attention
    (batch x M x C) passes through ``self.attention``, an ``nn.Identity``: register a forward
    hook on it (or use ``record_attention``) to read it; nothing is stored otherwise.
    """

    def __init__(
        self,
        channels: int,
        stride: int = 1,
        groups: int = 32,
        branches: Sequence[Sequence[int]] = ((3, 1), (3, 2)),
        reduction: float = 16,
        min_dim: int = 32,
        in_channels: int | None = None,
        select: str = "softmax",
    ) -> None:
        super().__init__()
        in_channels = channels if in_channels is None else in_channels
        self.channels = channels
        # (kernel, dilation) of each branch; ``self.branches`` are the branch modules themselves.
        self.kernel_dilations = [(int(b[0]), int(b[1])) for b in branches]
        self.groups = [int(b[2]) if len(b) > 2 and b[2] else groups for b in branches]
        self.branches = nn.ModuleList(
            conv_bn(in_channels, channels, k, stride, g, d) for (k, d), g in zip(self.kernel_dilations, self.groups)
        )
        self.attention = nn.Identity()
        self.attends = len(self.kernel_dilations) > 1 and select == "softmax"
        if self.attends:
            dim = max(int(channels // reduction), min_dim)
            # The fcs work on pooled (batch, C) vectors: as Linear + BatchNorm1d they cost what
            # their MACs say, where 1x1 convs on 1x1 maps took milliseconds each in oneDNN.
            self.fuse = nn.Sequential(nn.Linear(channels, dim, bias=False), nn.BatchNorm1d(dim), nn.ReLU(inplace=True))
            # One fc to M*C logits is the paper's M per-branch fcs side by side.
            self.select = nn.Linear(dim, len(self.kernel_dilations) * channels, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [branch(x) for branch in self.branches]
        if not self.attends:
            out = feats[0]
            for f in feats[1:]:
                out = out + f
            return out
        batch = x.shape[0]
        # GAP is linear, so pooling each branch and adding the pooled vectors equals pooling
        # their sum without materialising the full-size sum U (one less B x C x H x W tensor).
        pooled = feats[0].mean((2, 3))
        for f in feats[1:]:
            pooled = pooled + f.mean((2, 3))
        logits = self.select(self.fuse(pooled)).view(batch, len(feats), self.channels)
        attn = self.attention(torch.softmax(logits, dim=1))
        weights = attn.view(batch, len(feats), self.channels, 1, 1)
        # addcmul accumulates into one buffer: no stacked M x B x C x H x W tensor.
        out = feats[0] * weights[:, 0]
        for i in range(1, len(feats)):
            out = torch.addcmul(out, feats[i], weights[:, i])
        return out


def sk_conv(channels: int, stride: int, groups: int, sk: dict[str, Any], in_channels: int | None = None) -> SKConv:
    """The SK conv of a spec's ``sk`` dict."""
    return SKConv(channels, stride, groups, sk["branches"], sk["reduction"], sk["min_dim"], in_channels,
                  sk.get("select", "softmax"))


class SEModule(nn.Module):
    """Squeeze-and-Excitation: channel gates from GAP -> fc -> ReLU -> fc -> sigmoid."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3))), inplace=True)))
        return x * gate[:, :, None, None]


# Every block kind's name (and other names) -> the class that builds its parts of a unit;
# each ``BlockParts`` subclass adds itself. ``sksearch.model.kinds.KINDS`` holds the rest of
# what a kind is; this file ships alone, so the classes live here.
BLOCK_PARTS: dict[str, type[BlockParts]] = {}


class BlockParts:
    """What a block kind puts into a unit: its 3x3 conv and the gate on the unit's output. A
    subclass is one kind: it lists the names that build it in ``names`` and overrides the part
    it changes; what is not overridden is the plain unit's."""

    names: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls.names:
            BLOCK_PARTS[name] = cls

    @staticmethod
    def conv(channels: int, stride: int, groups: int, sk: dict[str, Any], relu: bool) -> nn.Module:
        """The unit's 3x3 conv + BN (+ ReLU) on ``channels``; ``groups`` is the stage's G, or
        ``channels`` where the conv is depthwise (shufflenetv2)."""
        return conv_bn(channels, channels, 3, stride, groups, relu=relu)

    @staticmethod
    def gate(channels: int, se_reduction: int) -> nn.Module | None:
        """The module applied to a unit's (or the head conv's) output; None: none."""
        return None


class PlainParts(BlockParts):
    """Neither SE nor SK: the ResNeXt bottleneck or the plain ShuffleNetV2 unit."""

    names = ("resnext", "plain")


class SEParts(BlockParts):
    """An SE module on each unit's output, and on the head conv's."""

    names = ("se",)

    @staticmethod
    def gate(channels: int, se_reduction: int) -> nn.Module | None:
        return SEModule(channels, se_reduction)


class SKParts(BlockParts):
    """The 3x3 conv is an SK conv (its branches grouped as the plain conv is)."""

    names = ("sk",)

    @staticmethod
    def conv(channels: int, stride: int, groups: int, sk: dict[str, Any], relu: bool) -> nn.Module:
        return sk_conv(channels, stride, groups, sk)


def block_parts(kind: str) -> type[BlockParts]:
    """The parts of block kind ``kind``; ``ValueError`` naming the known kinds."""
    try:
        return BLOCK_PARTS[kind]
    except (KeyError, TypeError):
        raise ValueError(f"block {kind!r} is no block kind; known: {', '.join(BLOCK_PARTS)}") from None


class Bottleneck(nn.Module):
    """ResNeXt bottleneck (1x1, grouped 3x3, 1x1) with the parts of block kind ``kind``
    (``se``: SE on the output; ``sk``: an SK conv in place of the grouped 3x3). Stride sits in
    the middle conv; the projection shortcut is a strided 1x1 conv + BN."""

    def __init__(
        self,
        in_channels: int,
        width: int,
        out_channels: int,
        stride: int,
        groups: int,
        kind: str,
        sk: dict[str, Any],
        se_reduction: int,
    ) -> None:
        super().__init__()
        parts = block_parts(kind)
        self.conv1 = conv_bn(in_channels, width, 1)
        self.conv2 = parts.conv(width, stride, groups, sk, relu=True)
        self.conv3 = conv_bn(width, out_channels, 1, relu=False)
        # The gate keeps the name ``se`` that every saved state dict gives it.
        self.se = parts.gate(out_channels, se_reduction)
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module = conv_bn(in_channels, out_channels, 1, stride, relu=False)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv3(self.conv2(self.conv1(x)))
        if self.se is not None:
            out = self.se(out)
        return F.relu(out + self.shortcut(x), inplace=True)


class ShuffleUnit(nn.Module):
    """ShuffleNetV2 unit (Ma et al., ECCV 2018) whose depthwise 3x3 convs may be SK convs, as
    in the SKNet paper's Table 4.

    * ``split`` (stride 1, as many channels in as out): half of the channels pass through, the
      other half runs the main branch.
    * otherwise (a stage's first unit): the whole input runs the main branch and a projection
      branch (depthwise 3x3 with the stride, BN, 1x1, BN, ReLU).

    The main branch: 1x1 to ``width``, BN, ReLU; depthwise 3x3 with the stride and BN (``sk``:
    an SK conv of depthwise branches); 1x1 to out/2, BN, ReLU. The two halves are concatenated
    (``se``: an SE module on the result) and the channels shuffled in two groups."""

    def __init__(
        self,
        in_channels: int,
        width: int,
        out_channels: int,
        stride: int,
        kind: str,
        sk: dict[str, Any],
        se_reduction: int,
    ) -> None:
        super().__init__()
        parts = block_parts(kind)
        half = out_channels // 2
        self.split = stride == 1 and in_channels == out_channels
        main_in = half if self.split else in_channels
        self.main = nn.Sequential(
            conv_bn(main_in, width, 1), depthwise(width, stride, parts, sk), conv_bn(width, half, 1)
        )
        if self.split:
            self.proj = None
        else:
            self.proj = nn.Sequential(depthwise(in_channels, stride, parts, sk), conv_bn(in_channels, half, 1))
        self.se = parts.gate(out_channels, se_reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.proj is None:
            keep, x = x.chunk(2, dim=1)
        else:
            keep = self.proj(x)
        out = torch.cat((keep, self.main(x)), dim=1)
        if self.se is not None:
            out = self.se(out)
        b, c, h, w = out.shape
        return out.view(b, 2, c // 2, h, w).transpose(1, 2).reshape(b, c, h, w)

    def sk_convs(self) -> Iterator[tuple[str, SKConv]]:
        """The unit's SK convs: the main branch's ("") and the projection's ("p")."""
        for suffix, conv in (("", self.main[1]), ("p", None if self.proj is None else self.proj[0])):
            if isinstance(conv, SKConv):
                yield suffix, conv


def depthwise(channels: int, stride: int, parts: type[BlockParts], sk: dict[str, Any]) -> nn.Module:
    """ShuffleNetV2's 3x3 depthwise conv + BN (no ReLU), or the kind's conv in its place (an SK
    conv of depthwise branches)."""
    return parts.conv(channels, stride, channels, sk, relu=False)


class SKNet(nn.Module):
    """Stem, stages of units (ResNeXt bottlenecks or ShuffleNetV2 units), an optional 1x1 head
    conv, global average pool, fc."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.spec = spec
        width = spec["stem_width"]
        if spec["stem"] == "imagenet":
            self.stem = nn.Sequential(
                conv_bn(spec["in_channels"], width, 7, stride=2),
                nn.MaxPool2d(3, stride=2, padding=1),
            )
        elif spec["stem"] == "shufflenet":
            self.stem = nn.Sequential(
                conv_bn(spec["in_channels"], width, 3, stride=2),
                nn.MaxPool2d(3, stride=2, padding=1),
            )
        else:
            self.stem = conv_bn(spec["in_channels"], width, 3)
        shuffle = spec.get("family", "resnext") == "shufflenetv2"
        stages = []
        in_channels = width
        for stage in spec["stages"]:
            groups = stage["groups"] or spec["groups"]
            sk = stage["sk"] or spec["sk"]
            blocks: list[nn.Module] = []
            for i in range(stage["depth"]):
                stride = stage["stride"] if i == 0 else 1
                if shuffle:
                    blocks.append(ShuffleUnit(in_channels, stage["width"], stage["out_channels"], stride,
                                              spec["block"], sk, spec["se_reduction"]))
                else:
                    blocks.append(Bottleneck(in_channels, stage["width"], stage["out_channels"], stride, groups,
                                             spec["block"], sk, spec["se_reduction"]))
                in_channels = stage["out_channels"]
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        head = spec.get("head_width")
        if head:
            # ShuffleNetV2's conv5; with SE blocks it gets an SE too (that is what reproduces
            # the paper's SE-ShuffleNetV2 parameter counts, see the presets).
            layers: list[nn.Module] = [conv_bn(in_channels, head, 1)]
            gate = block_parts(spec["block"]).gate(head, spec["se_reduction"])
            if gate is not None:
                layers.append(gate)
            self.head: nn.Module | None = nn.Sequential(*layers)
            in_channels = head
        else:
            self.head = None
        self.fc = nn.Linear(in_channels, spec["num_classes"])
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # No zero-init of each unit's last BN: it suits long ImageNet schedules, but in the few
        # epochs of a search trial it slowed the quickstart nets badly (79% vs 97% at epoch 6).

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return x if self.head is None else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))

    def sk_units(self) -> Iterator[tuple[str, SKConv]]:
        """SK convs named as in the paper: ``SK_<stage>_<block>``, stages counted from 2
        (ResNet's conv2_x is the first stage), blocks from 1; a ShuffleNetV2 unit's projection
        branch adds ``p`` (``SK_2_1p``)."""
        for s, stage in enumerate(self.stages):
            for b, block in enumerate(stage):
                if isinstance(block, ShuffleUnit):
                    for suffix, conv in block.sk_convs():
                        yield f"SK_{s + 2}_{b + 1}{suffix}", conv
                elif isinstance(block.conv2, SKConv):
                    yield f"SK_{s + 2}_{b + 1}", block.conv2

    @contextlib.contextmanager
    def record_attention(self) -> Iterator[dict[str, list[torch.Tensor]]]:
        """Collect every SK unit's attention (batch x M x C, detached) while the block runs."""
        records: dict[str, list[torch.Tensor]] = {}
        handles = []
        for name, unit in self.sk_units():
            if not unit.attends:
                continue
            records[name] = []
            hook = lambda _m, _i, out, key=name: records[key].append(out.detach())  # noqa: E731
            handles.append(unit.attention.register_forward_hook(hook))
        try:
            yield records
        finally:
            for h in handles:
                h.remove()


def build(spec: dict[str, Any]) -> SKNet:
    """A freshly initialised network for a spec dict."""
    return SKNet(spec)


# safetensors stores a little-endian u64 header length, a JSON header and raw tensor bytes.
# The format is small and documented; reading it here keeps exported models free of any
# dependency but torch (``safetensors.torch.load_file`` gives the same tensors).
_SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def read_safetensors(path: str) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors file, on the CPU."""
    with open(path, "rb") as fh:
        (header_len,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(header_len))
        data = bytearray(fh.read())
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = _SAFETENSORS_DTYPES[info["dtype"]]
        chunk = data[start:end]
        flat = torch.frombuffer(chunk, dtype=dtype) if chunk else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(info["shape"]).clone()
    return tensors


def load(folder: str, map_location: str | torch.device = "cpu") -> SKNet:
    """The network of an export folder (``spec.json`` + ``weights.safetensors``), in eval mode."""
    with open(os.path.join(folder, "spec.json")) as fh:
        spec = json.load(fh)
    model = build(spec)
    model.load_state_dict(read_safetensors(os.path.join(folder, "weights.safetensors")))
    return model.to(map_location).eval()
