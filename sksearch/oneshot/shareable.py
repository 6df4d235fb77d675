"""Which searched values one supernet can share, and the supernet a space needs.

No torch here: a space is checked when it is loaded. Weight sharing serves, per stage, a
depth (the first k units), widths (the first c channels; inside a grouped conv, the first c/G
channels of every group), M and the branch set (a subset of an SK conv's branches), a
branch's dilation (the same weights read further apart), its kernel (the centre of the
largest kernel), the fuse settings r and L (the first d units of the fuse fc) and ``select``.
Everything else must be fixed: a searched G regroups every grouped conv's channels, a
searched block, stem, family or stride changes which layers exist.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ..data.spec import DataShape
from ..model.kinds import kind_of
from ..space.distributions import BranchSets, Distribution, EndsDraw, IntRange, SpaceError, candidates, size_rank
from ..space.parsed import MODEL_DEFAULTS, SK_DEFAULTS

# Searched values that change which layers a network has, or how a grouped conv's channels
# are grouped: one set of weights cannot serve them.
_FIXED_TOP = {
    "family": "the one-shot strategy shares weights inside one family",
    "block": "each block kind has other layers",
    "stem": "each stem has other layers",
    "groups": "a searched G regroups the channels of every grouped conv, so no weights are shared",
}


def _searched(value: Any) -> bool:
    return isinstance(value, Distribution)


def _values(value: Any) -> set[Any]:
    """Every value a fixed value or a distribution can take (an int range: all of them)."""
    if isinstance(value, IntRange):
        return set(range(value.low, value.high + 1, value.step))
    return set(candidates(value))


def _refuse(key: str, why: str) -> SpaceError:
    return SpaceError(key, f"{why}: the one-shot strategy cannot share it; fix it to one value, or run one "
                           f"one-shot search per value (or use the normal strategy)")


def check_shareable(model: dict[str, Any]) -> None:
    """Raise ``SpaceError`` naming the first searched value of a parsed ``model`` tree that one
    supernet cannot serve, and what to do."""
    for key, why in _FIXED_TOP.items():
        if key in model and _searched(model[key]):
            raise _refuse(f"model.{key}", f"is searched, and {why}")
    block = model.get("block", MODEL_DEFAULTS["block"])
    if not kind_of(block).one_shot:
        raise SpaceError("model.block", f"the one-shot strategy cannot slice {block} units into subnets; use the "
                                        f"normal strategy for it")
    if model.get("family", MODEL_DEFAULTS["family"]) != "resnext":
        raise SpaceError("model.family", "the one-shot strategy supports the resnext family (a ShuffleNetV2 unit's "
                                         "channel split and shuffle move channels with its width); use the normal "
                                         "strategy for shufflenetv2")
    if "head_width" in model and None in candidates(model["head_width"]) and _searched(model["head_width"]):
        raise _refuse("model.head_width", "chooses between a head conv and none")
    trees = [("model.sk", model["sk"])]
    ins = _values(model.get("stem_width", MODEL_DEFAULTS["stem_width"]))
    for i, stage in enumerate(model["stages"]):
        key = f"model.stages[{i}]"
        for name in ("groups", "stride"):
            if name in stage and _searched(stage[name]):
                raise _refuse(f"{key}.{name}", "is searched, and it changes which layers or groups a unit has")
        outs = _values(stage["out_channels"])
        if stage.get("stride", 1) == 1 and ins & outs and not (len(ins) == len(outs) == 1):
            raise _refuse(f"{key}.out_channels",
                          f"can equal the {'stem width' if i == 0 else f'stage {i - 1} output'} and differ from it, "
                          f"so the stage's first unit would have an identity shortcut in some subnets and a "
                          f"projection in others")
        ins = outs
        if "sk" in stage:
            trees.append((f"{key}.sk", stage["sk"]))
    for key, tree in trees:
        sets = tree["branches"].sets if isinstance(tree["branches"], BranchSets) else [tree["branches"]]
        for branches in sets:
            for b, branch in enumerate(branches):
                if "groups" in branch:
                    raise _refuse(f"{key}.branches[{b}].groups", "a branch's own groups differ from the stage's G "
                                                                "by which its channels are shared")


@dataclass(frozen=True)
class SlotRule:
    """How an SK conv's branches map to the supernet's branch slots: by position (a list of
    branches, whose first M a subnet takes) or, for a choice among branch sets, by the set."""

    slots: tuple[tuple[int, int], ...]             # (largest kernel, a dilation) per slot
    sets: tuple[tuple[tuple[int, int], ...], ...] = ()   # the branch sets' (kernel, dilation)s
    set_slots: tuple[tuple[int, ...], ...] = ()          # each set's slots

    def slots_of(self, branches: list[tuple[int, int]], where: str) -> list[int]:
        if not self.sets:
            if len(branches) > len(self.slots):
                raise ValueError(f"{where}: {len(branches)} branches, the supernet has {len(self.slots)}")
            for b, (k, _d) in enumerate(branches):
                if k > self.slots[b][0]:
                    raise ValueError(f"{where}.branches[{b}]: kernel {k} exceeds the supernet's {self.slots[b][0]}")
            return list(range(len(branches)))
        for branch_set, slots in zip(self.sets, self.set_slots):
            if list(branch_set) == list(branches):
                return list(slots)
        raise ValueError(f"{where}: the branches {branches} are none of the space's branch sets")


def _sk_union(tree: dict[str, Any]) -> tuple[dict[str, Any], SlotRule]:
    """The supernet's SK settings for an SK tree of the space, and its slot rule."""
    branches = tree["branches"]
    if isinstance(branches, BranchSets):
        slots: list[tuple[int, int]] = []
        keys: list[tuple[str, int]] = []
        sets, set_slots = [], []
        for branch_set in branches.sets:
            pairs, mine, seen = [], [], {}
            for b in branch_set:
                label = (b["kernel"], b["dilation"])
                n = seen[label] = seen.get(label, -1) + 1
                if (label, n) not in keys:
                    keys.append((label, n))
                    slots.append(label)
                mine.append(keys.index((label, n)))
                pairs.append(label)
            sets.append(tuple(pairs))
            set_slots.append(tuple(mine))
        rule = SlotRule(tuple(slots), tuple(sets), tuple(set_slots))
    else:
        most = max(candidates(tree.get("M", len(branches))))
        rule = SlotRule(tuple((max(candidates(b["kernel"])), min(candidates(b["dilation"])))
                              for b in branches[:most]))
    selects = set(candidates(tree.get("select", SK_DEFAULTS["select"])))
    sk = {"branches": [list(s) for s in rule.slots],
          "reduction": min(candidates(tree.get("reduction", SK_DEFAULTS["reduction"]))),
          "min_dim": max(candidates(tree.get("min_dim", SK_DEFAULTS["min_dim"]))),
          "select": "softmax" if "softmax" in selects else "sum"}
    return sk, rule


@dataclass(frozen=True)
class SupernetLayout:
    """The supernet of a space: its architecture (as a spec dict: the largest value of every
    shared dimension, every branch slot) and the slot rule of each stage's SK conv."""

    arch: dict[str, Any]
    rules: tuple[SlotRule, ...]   # per stage (stages without an SK tree of their own: the model's)


def supernet_layout(model: dict[str, Any], shape: DataShape) -> SupernetLayout:
    """The supernet of a parsed ``model`` tree that ``check_shareable`` accepted."""
    groups = model.get("groups", MODEL_DEFAULTS["groups"])
    top_sk, top_rule = _sk_union(model["sk"])
    stages, rules = [], []
    for stage in model["stages"]:
        g = stage.get("groups", groups)
        if "width" in stage:
            width = max(candidates(stage["width"]))
        else:
            width = g * max(candidates(stage["width_per_group"]))
        sk, rule = _sk_union(stage["sk"]) if "sk" in stage else (None, top_rule)
        stages.append({"depth": max(candidates(stage["depth"])), "width": width,
                       "out_channels": max(candidates(stage["out_channels"])), "stride": stage.get("stride", 1),
                       "groups": stage.get("groups"), "sk": sk})
        rules.append(rule)
    head = model.get("head_width", MODEL_DEFAULTS["head_width"])
    arch = {"family": "resnext", "block": model.get("block", MODEL_DEFAULTS["block"]),
            "stem": model.get("stem", MODEL_DEFAULTS["stem"]),
            "stem_width": max(candidates(model.get("stem_width", MODEL_DEFAULTS["stem_width"]))),
            "groups": groups,
            "se_reduction": min(candidates(model.get("se_reduction", MODEL_DEFAULTS["se_reduction"]))),
            "sk": top_sk, "stages": stages, "head_width": None if head is None else max(candidates(head)),
            "num_classes": shape.num_classes, "in_channels": shape.in_channels, "input_size": shape.input_size}
    return SupernetLayout(arch, tuple(rules))


# ---- drawing subnets: stand-ins for an Optuna trial, as ``space.sample.sample`` asks ----------

class ExtremeDraw(EndsDraw):
    """Suggests every value at its largest (``largest=True``) or smallest: the sandwich rule's
    two ends of the space."""

    def __init__(self, largest: bool) -> None:
        super().__init__()
        self.largest = largest

    def _pick(self, name: str, options: list[Any]) -> Any:
        value = (max if self.largest else min)(options, key=lambda v: size_rank(name, v))
        self.params[name] = value
        return value


class RandomDraw:
    """Suggests uniformly random values (log-uniform where the space says ``log``) from a
    seeded ``random.Random``: thousands of draws a second, no study."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.params: dict[str, Any] = {}

    def suggest_categorical(self, name: str, choices: tuple) -> Any:
        self.params[name] = value = self.rng.choice(list(choices))
        return value

    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int:
        self.params[name] = value = low + step * self.rng.randint(0, (high - low) // step)
        return value

    def suggest_float(self, name: str, low: float, high: float, step: float | None = None, log: bool = False) -> float:
        import math

        value = math.exp(self.rng.uniform(math.log(low), math.log(high))) if log else self.rng.uniform(low, high)
        self.params[name] = value
        return value
