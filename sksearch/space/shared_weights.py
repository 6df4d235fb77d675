"""Which searched values one supernet can share: the one-shot strategy's rule on a space,
checked when the space is loaded (``schema.parse``), before anything runs.

No torch here. Weight sharing serves, per stage, a depth (the first k units), widths (the
first c channels; inside a grouped conv, the first c/G channels of every group), M and the
branch set (a subset of an SK conv's branches), a branch's dilation (the same weights read
further apart), its kernel (the centre of the largest kernel), the fuse settings r and L (the
first d units of the fuse fc) and ``select``. Everything else must be fixed: a searched G
regroups every grouped conv's channels, a searched block, stem, family or stride changes which
layers exist. The supernet that serves an accepted space is ``oneshot/shareable.py``'s.
"""

from __future__ import annotations

from typing import Any

from ..model.kinds import kind_of
from .distributions import BranchSets, Distribution, IntRange, SpaceError, candidates
from .parsed import MODEL_DEFAULTS

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
