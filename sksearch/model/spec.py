"""The architecture spec: the one serializable description every model, cost and export
is derived from.

``ArchSpec.to_dict()`` is the plain-JSON form that ``sksearch.model.network.build`` consumes and
that exports ship as ``spec.json``; ``ArchSpec.from_dict`` reads it back strictly (unknown
keys and bad values raise ``SpecError`` naming the field and what is allowed).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import show
from .kinds import ALIASES, KINDS, BlockKind, divisors

# The block kinds and their other names, from their table (``kinds.py``).
BLOCKS = tuple(KINDS)
BLOCK_ALIASES = ALIASES
# resnext: ResNeXt bottleneck units (1x1, grouped 3x3, 1x1 + shortcut); shufflenetv2: ShuffleNetV2
# units (channel split, 1x1, depthwise 3x3, 1x1, concat, channel shuffle), as in the paper's Table 4.
FAMILIES = ("resnext", "shufflenetv2")
# imagenet: 7x7/2 conv + 3x3/2 max pool; cifar: 3x3/1 conv; shufflenet: 3x3/2 conv + 3x3/2 max pool.
STEMS = ("imagenet", "cifar", "shufflenet")
# softmax: the SK unit (fuse, then a softmax across branches per channel); sum: the branches
# simply added, no fuse or select fcs (the paper's question "does the selection pay?").
SELECTS = ("softmax", "sum")
STRIDES = (1, 2)
# The paper's SK unit: a 3x3 branch and a 3x3 branch with dilation 2 (a 5x5 receptive field).
DEFAULT_BRANCHES: tuple[tuple[int, int], ...] = ((3, 1), (3, 2))
# The largest value of each field that could ever run: a spec beyond one is refused before
# anything is built or counted (a depth of a million would take hours just to count). The
# paper's largest net, SKNet-101, uses 23 units in a stage and 2048 channels.
LIMITS = {"depth": 256, "width": 65536, "out_channels": 65536, "stem_width": 4096, "groups": 4096,
          "se_reduction": 4096, "num_classes": 100_000, "in_channels": 64, "input_size": 4096, "stages": 16,
          "branches": 16, "kernel": 31, "dilation": 64, "min_dim": 65536, "reduction": 65536,
          "head_width": 65536}


class SpecError(ValueError):
    """An invalid architecture spec; ``path`` names the offending field (e.g. ``stages[1].groups``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


def _require_int(path: str, value: Any, minimum: int = 1) -> None:
    """An integer from ``minimum`` to the field's limit (``LIMITS``, by the path's last name)."""
    field_name = path.rsplit(".", 1)[-1].split("[")[0]
    maximum = LIMITS.get(field_name)
    allowed = f"an integer from {minimum} to {maximum:,}" if maximum else f"an integer >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(path, f"must be {allowed}, got {show(value)}")
    if value < minimum or (maximum is not None and value > maximum):
        raise SpecError(path, f"must be {allowed}, got {value}")


@dataclass(frozen=True)
class SKSpec:
    """SK conv settings: the branches (M = their number), each ``(kernel, dilation)`` or
    ``(kernel, dilation, groups)`` (without groups a branch takes the stage's G), the fuse
    reduction r and the floor L of the fuse width d = max(C // r, L), and how the branches
    are combined: ``softmax`` (the SK unit's selection) or ``sum`` (no fuse or select)."""

    branches: tuple[tuple[int, ...], ...] = DEFAULT_BRANCHES
    reduction: float = 16
    min_dim: int = 32
    select: str = "softmax"

    @property
    def M(self) -> int:  # noqa: N802 - the paper's name
        return len(self.branches)

    @property
    def kernel_dilations(self) -> list[tuple[int, int]]:
        """(kernel, dilation) of every branch (the name ``SKConv`` gives the same pairs)."""
        return [(b[0], b[1]) for b in self.branches]

    def branch_groups(self, default: int | None) -> list[int | None]:
        """Every branch's groups: its own, else ``default`` (the stage's G)."""
        return [b[2] if len(b) == 3 else default for b in self.branches]

    @property
    def attends(self) -> bool:
        """Whether the conv has a selection to read: M > 1 and softmax."""
        return self.M > 1 and self.select == "softmax"

    def validate(self, path: str) -> None:
        if not isinstance(self.branches, tuple) or len(self.branches) < 1:
            raise SpecError(f"{path}.branches", "needs at least one [kernel, dilation] pair (M >= 1)")
        if len(self.branches) > LIMITS["branches"]:
            raise SpecError(f"{path}.branches", f"has {len(self.branches)} branches; at most {LIMITS['branches']}")
        for i, branch in enumerate(self.branches):
            bpath = f"{path}.branches[{i}]"
            if not isinstance(branch, tuple) or len(branch) not in (2, 3):
                raise SpecError(bpath, f"must be [kernel, dilation] or [kernel, dilation, groups], got {show(branch)}")
            kernel, dilation = branch[:2]
            if (isinstance(kernel, bool) or not isinstance(kernel, int) or kernel < 1 or kernel % 2 == 0
                    or kernel > LIMITS["kernel"]):
                raise SpecError(f"{bpath}.kernel", f"must be an odd positive integer (1, 3, 5, 7, ... up to "
                                                   f"{LIMITS['kernel']}), got {show(kernel)}")
            _require_int(f"{bpath}.dilation", dilation)
            if len(branch) == 3:
                _require_int(f"{bpath}.groups", branch[2])
        r = self.reduction
        if (isinstance(r, bool) or not isinstance(r, (int, float)) or not math.isfinite(r) or r <= 0
                or r > LIMITS["reduction"]):
            raise SpecError(f"{path}.reduction", f"must be a number > 0 and <= {LIMITS['reduction']}, got {show(r)}")
        _require_int(f"{path}.min_dim", self.min_dim)
        if self.select not in SELECTS:
            raise SpecError(f"{path}.select", f"must be one of {', '.join(SELECTS)}; got {show(self.select)}")

    def to_dict(self) -> dict[str, Any]:
        return {"branches": [list(b) for b in self.branches], "reduction": self.reduction, "min_dim": self.min_dim,
                "select": self.select}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str = "sk", base: "SKSpec | None" = None) -> "SKSpec":
        """Read a dict; keys it lacks come from ``base`` (the network-wide settings) or the defaults."""
        _check_keys(data, path, ("branches", "reduction", "min_dim", "select"))
        base = base or cls()
        branches = data.get("branches", base.branches)
        if not isinstance(branches, (list, tuple)):
            raise SpecError(f"{path}.branches", f"must be a list of [kernel, dilation] pairs, got {show(branches)}")
        pairs = tuple(tuple(b) if isinstance(b, (list, tuple)) else b for b in branches)
        spec = cls(pairs, data.get("reduction", base.reduction), data.get("min_dim", base.min_dim),
                   data.get("select", base.select))
        spec.validate(path)
        return spec


@dataclass(frozen=True)
class StageSpec:
    """One stage of ``depth`` units with ``out_channels`` outputs; the first unit has ``stride``.
    ``width`` is the channels of the unit's 3x3 conv (a ResNeXt bottleneck's width; in a
    ShuffleNetV2 unit the main branch's width, out_channels / 2 in the paper's nets).
    ``groups`` / ``sk`` override the network-wide settings."""

    depth: int
    width: int
    out_channels: int
    stride: int = 1
    groups: int | None = None
    sk: SKSpec | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "depth": self.depth,
            "width": self.width,
            "out_channels": self.out_channels,
            "stride": self.stride,
            "groups": self.groups,
            "sk": None if self.sk is None else self.sk.to_dict(),
        }


TOP_FIELDS = ("family", "block", "stem", "stem_width", "groups", "se_reduction", "sk", "stages", "head_width",
              "num_classes", "in_channels", "input_size")


@dataclass(frozen=True)
class ArchSpec:
    """A whole network: its ``family`` (``resnext`` | ``shufflenetv2``), stem, stages, block
    kind (a name in ``kinds.KINDS``: ``resnext``, also written ``plain`` | ``se`` | ``sk``),
    cardinality ``groups`` (the G of SK[M, G, r]; ``None`` in the shufflenetv2 family, whose 3x3
    convs are depthwise), SE and SK settings, an optional 1x1 ``head_width`` conv before the
    pooling (ShuffleNetV2's conv5), classes and input shape."""

    stages: tuple[StageSpec, ...]
    block: str = "sk"
    stem: str = "imagenet"
    stem_width: int = 64
    groups: int | None = 32
    se_reduction: int = 16
    sk: SKSpec = field(default_factory=SKSpec)
    num_classes: int = 1000
    in_channels: int = 3
    input_size: int = 224
    family: str = "resnext"
    head_width: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.block, str) and self.block in BLOCK_ALIASES:
            object.__setattr__(self, "block", BLOCK_ALIASES[self.block])  # frozen: set once, here
        self.validate()

    def validate(self) -> None:
        if self.family not in FAMILIES:
            raise SpecError("family", f"must be one of {', '.join(FAMILIES)}; got {show(self.family)}")
        if self.block not in BLOCKS:
            raise SpecError("block", f"must be one of {', '.join(BLOCKS)}; got {show(self.block)}")
        if self.stem not in STEMS:
            raise SpecError("stem", f"must be one of {', '.join(STEMS)}; got {show(self.stem)}")
        for name in ("stem_width", "se_reduction", "num_classes", "in_channels", "input_size"):
            _require_int(name, getattr(self, name))
        shuffle = self.family == "shufflenetv2"
        if shuffle:
            if self.groups is not None:
                raise SpecError("groups", f"must be null in the shufflenetv2 family (its 3x3 convs are depthwise); "
                                          f"got {show(self.groups)}")
        else:
            _require_int("groups", self.groups)
        if self.head_width is not None:
            _require_int("head_width", self.head_width)
        self.sk.validate("sk")
        if not isinstance(self.stages, tuple) or not self.stages:
            raise SpecError("stages", "needs at least one stage")
        if len(self.stages) > LIMITS["stages"]:
            raise SpecError("stages", f"has {len(self.stages)} stages; at most {LIMITS['stages']}")
        for i, stage in enumerate(self.stages):
            path = f"stages[{i}]"
            for name in ("depth", "width", "out_channels"):
                _require_int(f"{path}.{name}", getattr(stage, name))
            if stage.stride not in STRIDES or isinstance(stage.stride, bool):
                raise SpecError(f"{path}.stride", f"must be 1 or 2, got {show(stage.stride)}")
            if stage.sk is not None:
                stage.sk.validate(f"{path}.sk")
            if shuffle:
                self._validate_shuffle_stage(i)
            else:
                self._validate_groups(i)
        for where, message in self.kind.problems(self):
            raise SpecError(where, message)

    def _validate_groups(self, i: int) -> None:
        """Stage ``i``'s G divides its width (a kind's own grouped convs are its checks')."""
        stage, path = self.stages[i], f"stages[{i}]"
        if stage.groups is not None:
            _require_int(f"{path}.groups", stage.groups)
        groups = self.groups_of(i)
        if stage.width % groups:
            raise SpecError(
                f"{path}.groups" if stage.groups is not None else "groups",
                f"{groups} does not divide stage {i}'s width {stage.width}; "
                f"allowed: a divisor of {stage.width} ({', '.join(map(str, divisors(stage.width)))})",
            )

    def _validate_shuffle_stage(self, i: int) -> None:
        stage, path = self.stages[i], f"stages[{i}]"
        if stage.groups is not None:
            raise SpecError(f"{path}.groups", f"must be null in the shufflenetv2 family (its 3x3 convs are "
                                              f"depthwise); got {show(stage.groups)}")
        if stage.out_channels % 2:
            raise SpecError(f"{path}.out_channels", f"must be even in the shufflenetv2 family (a unit concatenates "
                                                    f"two halves); got {stage.out_channels}")

    @property
    def kind(self) -> BlockKind:
        """The row of ``KINDS`` for the spec's block."""
        return KINDS[self.block]

    def groups_of(self, stage: int) -> int | None:
        """Stage ``stage``'s G (``None``: depthwise, the shufflenetv2 family)."""
        return self.stages[stage].groups or self.groups

    def sk_of(self, stage: int) -> SKSpec:
        return self.stages[stage].sk or self.sk

    def replace(self, **changes: Any) -> "ArchSpec":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "block": self.block,
            "stem": self.stem,
            "stem_width": self.stem_width,
            "groups": self.groups,
            "se_reduction": self.se_reduction,
            "sk": self.sk.to_dict(),
            "stages": [s.to_dict() for s in self.stages],
            "head_width": self.head_width,
            "num_classes": self.num_classes,
            "in_channels": self.in_channels,
            "input_size": self.input_size,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ArchSpec":
        """Read a spec dict strictly. Keys it lacks take the defaults; in the shufflenetv2
        family a missing ``groups`` is null (depthwise)."""
        if not isinstance(data, Mapping):
            raise SpecError("spec", f"must be a JSON object, got {type(data).__name__}")
        _check_keys(data, "spec", TOP_FIELDS)
        if "stages" not in data:
            raise SpecError("stages", "is required: a list of {depth, width, out_channels, stride} objects")
        sk_data = data.get("sk") or {}
        if not isinstance(sk_data, Mapping):
            raise SpecError("sk", f"must be an object, got {show(sk_data)}")
        sk = SKSpec.from_dict(sk_data, "sk")
        raw_stages = data["stages"]
        if not isinstance(raw_stages, list):
            raise SpecError("stages", f"must be a list, got {type(raw_stages).__name__}")
        stages = []
        for i, s in enumerate(raw_stages):
            path = f"stages[{i}]"
            if not isinstance(s, Mapping):
                raise SpecError(path, f"must be an object, got {show(s)}")
            _check_keys(s, path, ("depth", "width", "out_channels", "stride", "groups", "sk"))
            for req in ("depth", "width", "out_channels"):
                if req not in s:
                    raise SpecError(f"{path}.{req}", "is required")
            stage_sk = s.get("sk")
            if stage_sk is not None and not isinstance(stage_sk, Mapping):
                raise SpecError(f"{path}.sk", f"must be an object or null, got {show(stage_sk)}")
            stages.append(
                StageSpec(
                    s["depth"], s["width"], s["out_channels"], s.get("stride", 1), s.get("groups"),
                    None if stage_sk is None else SKSpec.from_dict(stage_sk, f"{path}.sk", base=sk),
                )
            )
        kwargs = {k: data[k] for k in TOP_FIELDS if k in data and k not in ("sk", "stages")}
        if data.get("family") == "shufflenetv2":
            kwargs.setdefault("groups", None)
        return cls(stages=tuple(stages), sk=sk, **kwargs)

    @classmethod
    def from_json(cls, text: str) -> "ArchSpec":
        try:
            data = json.loads(text)
        except RecursionError:
            raise SpecError("spec", "is not valid JSON (its lists or objects are nested too deeply)") from None
        except ValueError as exc:  # not JSON, or an integer longer than Python reads from text
            raise SpecError("spec", f"is not valid JSON ({str(exc)[:160]})") from None
        return cls.from_dict(data)


def _check_keys(data: Mapping[str, Any], path: str, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise SpecError(f"{path}.{unknown[0]}" if path != "spec" else unknown[0],
                        f"unknown key; allowed keys: {', '.join(allowed)}")
