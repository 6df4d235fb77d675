"""Named architectures from the SKNet paper and its baselines, as ``ArchSpec`` factories.

ImageNet presets are 32x4d ResNeXt layouts at 224x224; the CIFAR family is built on
ResNeXt-29 (3 stages x 3 units, 3x3 stem, 32x32 inputs). A preset is one registered
function, so every test and CLI command that iterates ``PRESETS`` covers a new one.

The presets' params and MACs are stored in ``preset_costs.json`` beside this file, so that
listing them needs no torch. ``write_costs()`` counts them again and rewrites it (run
``python -c "from sksearch.model.presets import write_costs; write_costs()"`` after changing a
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


def preset(name: str) -> ArchSpec:
    """The named preset; ``KeyError`` lists the known names."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}") from None


@lru_cache(maxsize=1)
def stored_costs() -> dict[str, dict[str, int]]:
    """Params and MACs (batch 1, the preset's own input size) of every preset, as counted by
    ``count_costs`` when the file was written."""
    with open(COSTS_FILE) as fh:
        return json.load(fh)


def count_costs() -> dict[str, dict[str, int]]:
    """Count every preset with the FLOP counter (needs torch)."""
    from .cost import params_and_macs

    out = {}
    for name in PRESETS:
        params, macs = params_and_macs(preset(name))
        out[name] = {"params": params, "macs": macs}
    return out


def write_costs() -> None:
    with open(COSTS_FILE, "w") as fh:
        json.dump(count_costs(), fh, indent=1)
        fh.write("\n")
    stored_costs.cache_clear()
