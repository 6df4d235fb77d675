"""The architecture spec: the one serializable description every model, cost and export
is derived from.

``ArchSpec.to_dict()`` is the plain-JSON form that ``sksearch.nn.model.build`` consumes and
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

BLOCKS = ("resnext", "se", "sk")
STEMS = ("imagenet", "cifar")
STRIDES = (1, 2)
# The paper's SK unit: a 3x3 branch and a 3x3 branch with dilation 2 (a 5x5 receptive field).
DEFAULT_BRANCHES: tuple[tuple[int, int], ...] = ((3, 1), (3, 2))
# The largest value of each field that could ever run: a spec beyond one is refused before
# anything is built or counted (a depth of a million would take hours just to count). The
# paper's largest net, SKNet-101, uses 23 units in a stage and 2048 channels.
LIMITS = {"depth": 256, "width": 65536, "out_channels": 65536, "stem_width": 4096, "groups": 4096,
          "se_reduction": 4096, "num_classes": 100_000, "in_channels": 64, "input_size": 4096, "stages": 16,
          "branches": 16, "kernel": 31, "dilation": 64, "min_dim": 65536, "reduction": 65536}


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


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@dataclass(frozen=True)
class SKSpec:
    """SK conv settings: branches as (kernel, dilation) pairs (M = their number), the fuse
    reduction r and the floor L of the fuse width d = max(C // r, L)."""

    branches: tuple[tuple[int, int], ...] = DEFAULT_BRANCHES
    reduction: float = 16
    min_dim: int = 32

    @property
    def M(self) -> int:  # noqa: N802 - the paper's name
        return len(self.branches)

    def validate(self, path: str) -> None:
        if not isinstance(self.branches, tuple) or len(self.branches) < 1:
            raise SpecError(f"{path}.branches", "needs at least one (kernel, dilation) pair (M >= 1)")
        if len(self.branches) > LIMITS["branches"]:
            raise SpecError(f"{path}.branches", f"has {len(self.branches)} branches; at most {LIMITS['branches']}")
        for i, pair in enumerate(self.branches):
            bpath = f"{path}.branches[{i}]"
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise SpecError(bpath, f"must be a [kernel, dilation] pair, got {show(pair)}")
            kernel, dilation = pair
            if (isinstance(kernel, bool) or not isinstance(kernel, int) or kernel < 1 or kernel % 2 == 0
                    or kernel > LIMITS["kernel"]):
                raise SpecError(f"{bpath}.kernel", f"must be an odd positive integer (1, 3, 5, 7, ... up to "
                                                   f"{LIMITS['kernel']}), got {show(kernel)}")
            _require_int(f"{bpath}.dilation", dilation)
        r = self.reduction
        if (isinstance(r, bool) or not isinstance(r, (int, float)) or not math.isfinite(r) or r <= 0
                or r > LIMITS["reduction"]):
            raise SpecError(f"{path}.reduction", f"must be a number > 0 and <= {LIMITS['reduction']}, got {show(r)}")
        _require_int(f"{path}.min_dim", self.min_dim)

    def to_dict(self) -> dict[str, Any]:
        return {"branches": [list(b) for b in self.branches], "reduction": self.reduction, "min_dim": self.min_dim}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str = "sk", base: "SKSpec | None" = None) -> "SKSpec":
        """Read a dict; keys it lacks come from ``base`` (the network-wide settings) or the defaults."""
        _check_keys(data, path, ("branches", "reduction", "min_dim"))
        base = base or cls()
        branches = data.get("branches", base.branches)
        if not isinstance(branches, (list, tuple)):
            raise SpecError(f"{path}.branches", f"must be a list of [kernel, dilation] pairs, got {show(branches)}")
        pairs = tuple(tuple(b) if isinstance(b, (list, tuple)) else b for b in branches)
        spec = cls(pairs, data.get("reduction", base.reduction), data.get("min_dim", base.min_dim))
        spec.validate(path)
        return spec


@dataclass(frozen=True)
class StageSpec:
    """One stage: ``depth`` bottleneck units of bottleneck ``width`` and ``out_channels`` outputs;
    the first unit has ``stride``. ``groups`` / ``sk`` override the network-wide settings."""

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


@dataclass(frozen=True)
class ArchSpec:
    """A whole network: stem, stages, block kind (``resnext`` | ``se`` | ``sk``), cardinality
    ``groups`` (the G of SK[M, G, r]), SE and SK settings, classes and input shape."""

    stages: tuple[StageSpec, ...]
    block: str = "sk"
    stem: str = "imagenet"
    stem_width: int = 64
    groups: int = 32
    se_reduction: int = 16
    sk: SKSpec = field(default_factory=SKSpec)
    num_classes: int = 1000
    in_channels: int = 3
    input_size: int = 224

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.block not in BLOCKS:
            raise SpecError("block", f"must be one of {', '.join(BLOCKS)}; got {show(self.block)}")
        if self.stem not in STEMS:
            raise SpecError("stem", f"must be one of {', '.join(STEMS)}; got {show(self.stem)}")
        for name in ("stem_width", "groups", "se_reduction", "num_classes", "in_channels", "input_size"):
            _require_int(name, getattr(self, name))
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
            if stage.groups is not None:
                _require_int(f"{path}.groups", stage.groups)
            groups = self.groups_of(i)
            if stage.width % groups:
                where = f"{path}.groups" if stage.groups is not None else "groups"
                raise SpecError(
                    where,
                    f"{groups} does not divide stage {i}'s width {stage.width}; "
                    f"allowed: a divisor of {stage.width} ({', '.join(map(str, _divisors(stage.width)))})",
                )
            if stage.sk is not None:
                stage.sk.validate(f"{path}.sk")
            if self.block == "se" and stage.out_channels < self.se_reduction:
                raise SpecError("se_reduction", f"{self.se_reduction} exceeds stage {i}'s out_channels {stage.out_channels}")

    def groups_of(self, stage: int) -> int:
        return self.stages[stage].groups or self.groups

    def sk_of(self, stage: int) -> SKSpec:
        return self.stages[stage].sk or self.sk

    def replace(self, **changes: Any) -> "ArchSpec":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "block": self.block,
            "stem": self.stem,
            "stem_width": self.stem_width,
            "groups": self.groups,
            "se_reduction": self.se_reduction,
            "sk": self.sk.to_dict(),
            "stages": [s.to_dict() for s in self.stages],
            "num_classes": self.num_classes,
            "in_channels": self.in_channels,
            "input_size": self.input_size,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ArchSpec":
        if not isinstance(data, Mapping):
            raise SpecError("spec", f"must be a JSON object, got {type(data).__name__}")
        top = ("block", "stem", "stem_width", "groups", "se_reduction", "sk", "stages", "num_classes", "in_channels", "input_size")
        _check_keys(data, "spec", top)
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
        kwargs = {k: data[k] for k in top if k in data and k not in ("sk", "stages")}
        return cls(stages=tuple(stages), sk=sk, **kwargs)

    @classmethod
    def from_json(cls, text: str) -> "ArchSpec":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError("spec", f"is not valid JSON ({exc})") from None
        return cls.from_dict(data)


def _check_keys(data: Mapping[str, Any], path: str, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise SpecError(f"{path}.{unknown[0]}" if path != "spec" else unknown[0],
                        f"unknown key; allowed keys: {', '.join(allowed)}")
