"""The supernet a space needs, and how its subnets are drawn.

No torch here. ``space/shared_weights.py`` checked, when the space was loaded, that one
supernet can serve every searched value (``check_shareable``); ``supernet_layout`` is that
supernet: the largest value of every shared dimension, every branch slot.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ..data.spec import DataShape
from ..space.distributions import BranchSets, EndsDraw, candidates, size_rank
from ..space.parsed import MODEL_DEFAULTS, SK_DEFAULTS


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
    """The supernet of a parsed ``model`` tree that ``space.shared_weights.check_shareable`` accepted."""
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
