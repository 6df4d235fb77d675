"""Selective Kernel networks (Li, Wang, Hu, Yang, CVPR 2019) and their ResNeXt / SE baselines.

A network is built from a plain spec dict, the JSON form of ``sksearch.model.spec.ArchSpec``::

    {"block": "sk", "stem": "imagenet", "stem_width": 64, "groups": 32, "se_reduction": 16,
     "sk": {"branches": [[3, 1], [3, 2]], "reduction": 16, "min_dim": 32},
     "stages": [{"depth": 3, "width": 128, "out_channels": 256, "stride": 1,
                 "groups": null, "sk": null}, ...],
     "num_classes": 1000, "in_channels": 3, "input_size": 224}

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

__all__ = ["SKConv", "SEModule", "Bottleneck", "SKNet", "build", "load", "read_safetensors"]


class Conv2d(nn.Conv2d):
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
        Conv2d(in_channels, out_channels, kernel, stride, padding, dilation, groups, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SKConv(nn.Module):
    """Selective Kernel convolution: Split, Fuse, Select.

    * Split: M branches over the same input, branch i a ``groups``-group conv with kernel
      ``branches[i][0]`` and dilation ``branches[i][1]`` (stride in every branch), BN, ReLU.
    * Fuse: s = GAP(sum of branches); z = ReLU(BN(fc(s))) with d = max(C // reduction, min_dim).
    * Select: fc from z to M*C logits, softmax over the M branches for every channel,
      V = sum_i a_i * U_i.

    With M = 1 the layer is a plain conv-BN-ReLU and has no attention. The attention
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
    ) -> None:
        super().__init__()
        in_channels = channels if in_channels is None else in_channels
        self.channels = channels
        self.kernels = [(int(k), int(d)) for k, d in branches]
        self.branches = nn.ModuleList(
            conv_bn(in_channels, channels, k, stride, groups, d) for k, d in self.kernels
        )
        self.attention = nn.Identity()
        if len(self.kernels) > 1:
            dim = max(int(channels // reduction), min_dim)
            # The fcs work on pooled (batch, C) vectors: as Linear + BatchNorm1d they cost what
            # their MACs say, where 1x1 convs on 1x1 maps took milliseconds each in oneDNN.
            self.fuse = nn.Sequential(nn.Linear(channels, dim, bias=False), nn.BatchNorm1d(dim), nn.ReLU(inplace=True))
            # One fc to M*C logits is the paper's M per-branch fcs side by side.
            self.select = nn.Linear(dim, len(self.kernels) * channels, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [branch(x) for branch in self.branches]
        if len(feats) == 1:
            return feats[0]
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


class Bottleneck(nn.Module):
    """ResNeXt bottleneck (1x1, grouped 3x3, 1x1); ``kind='se'`` adds SE on the output,
    ``kind='sk'`` replaces the grouped 3x3 with an SK conv. Stride sits in the middle conv;
    the projection shortcut is a strided 1x1 conv + BN."""

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
        self.conv1 = conv_bn(in_channels, width, 1)
        if kind == "sk":
            self.conv2: nn.Module = SKConv(
                width, stride, groups, sk["branches"], sk["reduction"], sk["min_dim"]
            )
        else:
            self.conv2 = conv_bn(width, width, 3, stride, groups)
        self.conv3 = conv_bn(width, out_channels, 1, relu=False)
        self.se = SEModule(out_channels, se_reduction) if kind == "se" else None
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module = conv_bn(in_channels, out_channels, 1, stride, relu=False)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv3(self.conv2(self.conv1(x)))
        if self.se is not None:
            out = self.se(out)
        return F.relu(out + self.shortcut(x), inplace=True)


class SKNet(nn.Module):
    """Stem, stages of bottleneck units, global average pool, fc."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.spec = spec
        width = spec["stem_width"]
        if spec["stem"] == "imagenet":
            self.stem = nn.Sequential(
                conv_bn(spec["in_channels"], width, 7, stride=2),
                nn.MaxPool2d(3, stride=2, padding=1),
            )
        else:
            self.stem = conv_bn(spec["in_channels"], width, 3)
        stages = []
        in_channels = width
        for stage in spec["stages"]:
            groups = stage["groups"] or spec["groups"]
            sk = stage["sk"] or spec["sk"]
            blocks = []
            for i in range(stage["depth"]):
                blocks.append(
                    Bottleneck(
                        in_channels,
                        stage["width"],
                        stage["out_channels"],
                        stage["stride"] if i == 0 else 1,
                        groups,
                        spec["block"],
                        sk,
                        spec["se_reduction"],
                    )
                )
                in_channels = stage["out_channels"]
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
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
        return self.stages(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))

    def sk_units(self) -> Iterator[tuple[str, SKConv]]:
        """SK convs named as in the paper: ``SK_<stage>_<block>``, stages counted from 2
        (ResNet's conv2_x is the first stage), blocks from 1."""
        for s, stage in enumerate(self.stages):
            for b, block in enumerate(stage):
                if isinstance(block.conv2, SKConv):
                    yield f"SK_{s + 2}_{b + 1}", block.conv2

    @contextlib.contextmanager
    def record_attention(self) -> Iterator[dict[str, list[torch.Tensor]]]:
        """Collect every SK unit's attention (batch x M x C, detached) while the block runs."""
        records: dict[str, list[torch.Tensor]] = {}
        handles = []
        for name, unit in self.sk_units():
            if len(unit.kernels) < 2:
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
