"""Named architectures from the SKNet paper and its baselines, as ``ArchSpec`` factories.

ImageNet presets are 32x4d ResNeXt layouts at 224x224; the CIFAR family is built on
ResNeXt-29 (3 stages x 3 units, 3x3 stem, 32x32 inputs); the lightweight family is
ShuffleNetV2 0.5x and 1.0x with SE or SK (the paper's Table 4). A preset is one registered
function, so every test and CLI command that iterates ``PRESETS`` covers a new one.

The presets' params and MACs are stored in ``preset_costs.json`` beside this file, so that
listing them needs no torch. ``cost.write_costs()`` counts them again and rewrites it (run
``python -c "from sksearch.model.cost import write_costs; write_costs()"`` after changing a
preset); a test checks that the stored figures are what the FLOP counter gives.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import Callable

from .spec import ArchSpec, SKSpec, StageSpec

PAPER_SK = SKSpec()  # SK[M=2, G from the net, r=16], L=32, 3x3 and 3x3 dilation 2
COSTS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "preset_costs.json")

PRESETS: dict[str, Callable[[], ArchSpec]] = {}
DESCRIPTIONS: dict[str, str] = {}


def register(name: str, description: str) -> Callable[[Callable[[], ArchSpec]], Callable[[], ArchSpec]]:
    def wrap(fn: Callable[[], ArchSpec]) -> Callable[[], ArchSpec]:
        PRESETS[name] = fn
        DESCRIPTIONS[name] = description
        return fn

    return wrap


def imagenet(depths: tuple[int, ...], block: str, groups: int = 32, base_width: int = 4) -> ArchSpec:
    """A ResNeXt-style ImageNet network: stage i has bottleneck width groups*base_width*2^i."""
    stages = tuple(
        StageSpec(depth=d, width=groups * base_width * 2**i, out_channels=256 * 2**i, stride=1 if i == 0 else 2)
        for i, d in enumerate(depths)
    )
    return ArchSpec(stages=stages, block=block, stem="imagenet", groups=groups, sk=PAPER_SK,
                    num_classes=1000, input_size=224)


def resnext29(groups: int, group_width: int, block: str, sk: SKSpec = PAPER_SK, sk_groups: int | None = None,
              num_classes: int = 10) -> ArchSpec:
    """ResNeXt-29 {groups}x{group_width}d: bottleneck widths groups*group_width*(1, 2, 4),
    outputs 256/512/1024. ``sk_groups`` sets the SK conv's G when it differs from the base."""
    width = groups * group_width
    stages = tuple(
        StageSpec(depth=3, width=width * 2**i, out_channels=256 * 2**i, stride=1 if i == 0 else 2)
        for i in range(3)
    )
    return ArchSpec(stages=stages, block=block, stem="cifar", groups=sk_groups or groups, sk=sk,
                    num_classes=num_classes, input_size=32)


# ShuffleNetV2's own stage outputs and conv5 width for its four multipliers (Ma et al. 2018,
# Table 5); other multipliers scale the 1.0x widths and round to an even number.
SHUFFLENET_WIDTHS: dict[float, tuple[int, ...]] = {
    0.5: (48, 96, 192), 1.0: (116, 232, 464), 1.5: (176, 352, 704), 2.0: (244, 488, 976)}
SHUFFLENET_HEADS = {0.5: 1024, 1.0: 1024, 1.5: 1024, 2.0: 2048}


def shufflenet_widths(multiplier: float, stages: int = 3) -> list[int]:
    """Stage output channels of a ShuffleNetV2 of ``multiplier``: the paper's own for 0.5, 1,
    1.5 and 2 with three stages, else 116 * 2^i * multiplier rounded to an even number (>= 2)."""
    if stages == 3 and multiplier in SHUFFLENET_WIDTHS:
        return list(SHUFFLENET_WIDTHS[multiplier])
    return [max(2, 2 * round(58 * 2**i * multiplier)) for i in range(stages)]


def shufflenetv2(multiplier: float, block: str) -> ArchSpec:
    """ShuffleNetV2 {multiplier}x at 224: stages of 4/8/4 units, main-branch width out/2.

    With ``se``: SE (r = 16) on every unit's output and on conv5. With ``sk``: every depthwise
    3x3 conv (main and projection branches) is an SK conv with the paper's settings (3x3 and
    3x3 dilation 2, depthwise, r = 16, L = 32). These placements reproduce the paper's 0.5x
    counts within 2% (docs/concepts/presets.md)."""
    stages = tuple(StageSpec(depth=d, width=o // 2, out_channels=o, stride=2)
                   for d, o in zip((4, 8, 4), shufflenet_widths(multiplier)))
    return ArchSpec(stages=stages, family="shufflenetv2", block=block, stem="shufflenet", stem_width=24, groups=None,
                    sk=PAPER_SK, head_width=SHUFFLENET_HEADS[multiplier], num_classes=1000, input_size=224)


@register("sknet26", "SKNet-26: SK[2,32,16] units, depths {2,2,2,2}, ImageNet 224")
def sknet26() -> ArchSpec:
    return imagenet((2, 2, 2, 2), "sk")


@register("sknet50", "SKNet-50: SK[2,32,16] units, depths {3,4,6,3}, ImageNet 224")
def sknet50() -> ArchSpec:
    return imagenet((3, 4, 6, 3), "sk")


@register("sknet101", "SKNet-101: SK[2,32,16] units, depths {3,4,23,3}, ImageNet 224")
def sknet101() -> ArchSpec:
    return imagenet((3, 4, 23, 3), "sk")


@register("resnext50", "ResNeXt-50 (32x4d), ImageNet 224")
def resnext50() -> ArchSpec:
    return imagenet((3, 4, 6, 3), "resnext")


@register("resnext101", "ResNeXt-101 (32x4d), ImageNet 224")
def resnext101() -> ArchSpec:
    return imagenet((3, 4, 23, 3), "resnext")


@register("senet50", "SENet-50: SE-ResNeXt-50 (32x4d), SE reduction 16, ImageNet 224")
def senet50() -> ArchSpec:
    return imagenet((3, 4, 6, 3), "se")


@register("senet101", "SENet-101: SE-ResNeXt-101 (32x4d), SE reduction 16, ImageNet 224")
def senet101() -> ArchSpec:
    return imagenet((3, 4, 23, 3), "se")


@register("resnext29_16x32d", "ResNeXt-29 16x32d, CIFAR-10 32x32")
def resnext29_16x32d() -> ArchSpec:
    return resnext29(16, 32, "resnext")


@register("resnext29_8x64d", "ResNeXt-29 8x64d, CIFAR-10 32x32")
def resnext29_8x64d() -> ArchSpec:
    return resnext29(8, 64, "resnext")


@register("resnext29_16x64d", "ResNeXt-29 16x64d, CIFAR-10 32x32")
def resnext29_16x64d() -> ArchSpec:
    return resnext29(16, 64, "resnext")


# The paper's caption puts SENet-29 on ResNeXt-29 16x32d, but its 35.0M params match SE on
# 8x64d (34.95M) and not SE on 16x32d (25.66M): ship the layout that reproduces the count.
@register("senet29", "SENet-29: SE on ResNeXt-29 8x64d (matches the paper's 35.0M), CIFAR-10 32x32")
def senet29() -> ArchSpec:
    return resnext29(8, 64, "se")


@register("sknet29", "SKNet-29: SK[2,32,16] on ResNeXt-29 16x32d, CIFAR-10 32x32")
def sknet29() -> ArchSpec:
    return resnext29(16, 32, "sk", sk_groups=32)


@register("shufflenetv2_0_5x", "ShuffleNetV2 0.5x, ImageNet 224")
def shufflenetv2_0_5x() -> ArchSpec:
    return shufflenetv2(0.5, "resnext")


@register("shufflenetv2_0_5x_se", "ShuffleNetV2 0.5x + SE on every unit and conv5, ImageNet 224")
def shufflenetv2_0_5x_se() -> ArchSpec:
    return shufflenetv2(0.5, "se")


@register("shufflenetv2_0_5x_sk", "ShuffleNetV2 0.5x + SK[2, depthwise, 16] for every depthwise conv, ImageNet 224")
def shufflenetv2_0_5x_sk() -> ArchSpec:
    return shufflenetv2(0.5, "sk")


@register("shufflenetv2_1_0x", "ShuffleNetV2 1.0x, ImageNet 224")
def shufflenetv2_1_0x() -> ArchSpec:
    return shufflenetv2(1.0, "resnext")


@register("shufflenetv2_1_0x_se", "ShuffleNetV2 1.0x + SE on every unit and conv5, ImageNet 224")
def shufflenetv2_1_0x_se() -> ArchSpec:
    return shufflenetv2(1.0, "se")


@register("shufflenetv2_1_0x_sk", "ShuffleNetV2 1.0x + SK[2, depthwise, 16] for every depthwise conv, ImageNet 224")
def shufflenetv2_1_0x_sk() -> ArchSpec:
    return shufflenetv2(1.0, "sk")


def preset(name: str) -> ArchSpec:
    """The named preset; ``KeyError`` lists the known names."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}") from None


@lru_cache(maxsize=1)
def stored_costs() -> dict[str, dict[str, int]]:
    """Params and MACs (batch 1, the preset's own input size) of every preset, as counted by
    ``cost.count_costs`` when the file was written."""
    with open(COSTS_FILE) as fh:
        return json.load(fh)
