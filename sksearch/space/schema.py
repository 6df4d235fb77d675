"""The search-space file: its rules and its parser (the parsed form is ``parsed.SearchSpace``).

Every entry under ``model:`` and ``train:`` is either a fixed value or a distribution
(``{choice: [...]}``, ``{int: [lo, hi]}``, ``{float: [lo, hi], log: true}``). One table of
per-field rules (``MODEL_FIELDS``, ``TRAIN_FIELDS``, ...) checks fixed values and every value a
distribution can produce, so an error always names the key path and what is allowed.
"""

from __future__ import annotations

import os
import re
from dataclasses import fields, replace
from typing import Any, Mapping

from ..data.spec import AUGMENTS, NAMES as DATA_NAMES, VAL_SPLITS, DataSpec
from ..errors import UserError, show
from ..model.spec import BLOCK_ALIASES, BLOCKS, FAMILIES, LIMITS, SELECTS, STEMS
from ..objectives import DEFAULT as DEFAULT_OBJECTIVES, OBJECTIVES, REQUIRED, Objective
from ..train.spec import OPTIMIZERS, PRECISIONS, SCHEDULES, SWITCHES, TTA
from .distributions import (
    BranchSets,
    Check,
    Distribution,
    SpaceError,
    candidates,
    is_distribution_node,
    parse_distribution,
    parse_number,
)
from .parsed import (
    DEFAULT_TRIALS,
    MODEL_DEFAULTS,
    SK_DEFAULTS,
    Baseline,
    ConfirmSpec,
    Resources,
    SamplerSpec,
    SchedulerSpec,
    SearchSpace,
    StrategySpec,
)
from .samplers import SAMPLERS
from .shared_weights import check_shareable
from .yaml_file import load_yaml

# ---- value rules: each checks a value and returns it in its normal form ------------------
# Each rule also says what it allows in words (``rule_text``): the generated search-space
# reference (docs_reference.py) prints that, so the docs state the limits the checks enforce.

def described(check: Check, text: str) -> Check:
    """``check`` with ``text`` (what it allows, in words) attached for ``rule_text``."""
    check.rule_text = text  # type: ignore[attr-defined]
    return check


def rule_text(check: Check) -> str | None:
    """What a rule allows, in words (None for a rule that does not say)."""
    return getattr(check, "rule_text", None)


def one_of(*allowed: Any, aliases: Mapping[str, str] | None = None) -> Check:
    """One of ``allowed``, or an alias of one (kept as written: the model spec reads it)."""
    accepted = (*allowed, *(aliases or {}))

    def check(key: str, value: Any) -> Any:
        if value not in accepted or isinstance(value, bool) != any(isinstance(a, bool) for a in allowed):
            raise SpaceError(key, f"must be one of {', '.join(map(str, allowed))}; got {show(value)}")
        return value
    # The reference lists the aliases too: a guide that writes one must not look wrong beside it.
    also = "".join(f" ({a}: the same as {t})" for a, t in (aliases or {}).items())
    return described(check, "one of " + " | ".join(map(str, allowed)) + also)


def integer(minimum: int = 1, maximum: int | None = None, odd: bool = False) -> Check:
    """An integer (also written as a string: "64", "1e3") from ``minimum`` to ``maximum``."""
    def check(key: str, value: Any) -> int:
        if odd:
            what = "an odd positive integer (1, 3, 5, ...)" + (f" up to {maximum}" if maximum else "")
        else:
            what = f"an integer from {minimum:,} to {maximum:,}" if maximum else f"an integer >= {minimum:,}"
        if isinstance(value, str):
            try:
                value = parse_number(key, value)
            except SpaceError:
                raise SpaceError(key, f"must be {what}, got {show(value)}") from None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if (isinstance(value, bool) or not isinstance(value, int) or value < minimum
                or (maximum is not None and value > maximum) or (odd and value % 2 == 0)):
            raise SpaceError(key, f"must be {what}, got {show(value)}")
        return value
    if odd:
        return described(check, "odd integer from 1" + (f" to {maximum:,}" if maximum else ""))
    return described(check, f"integer from {minimum:,} to {maximum:,}" if maximum else f"integer >= {minimum:,}")


def number(low: float = 0.0, high: float | None = None, low_open: bool = False, high_open: bool = False) -> Check:
    """A finite number (also written as a string: "1e-3", "2M") in the given range."""
    def check(key: str, value: Any) -> float:
        lo = f"{'>' if low_open else '>='} {low}"
        hi = "" if high is None else f" and {'<' if high_open else '<='} {high}"
        try:
            value = parse_number(key, value)
        except SpaceError:
            raise SpaceError(key, f"must be a finite number {lo}{hi}, got {show(value)}") from None
        ok = (value > low if low_open else value >= low) and (
            high is None or (value < high if high_open else value <= high))
        if not ok:
            raise SpaceError(key, f"must be a finite number {lo}{hi}, got {show(value)}")
        return value
    hi = "" if high is None else f" and {'<' if high_open else '<='} {high:g}"
    return described(check, f"number {'>' if low_open else '>='} {low:g}{hi}")


def boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SpaceError(key, f"must be true or false, got {show(value)}")
    return value


described(boolean, "true | false")


def text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise SpaceError(key, f"must be a non-empty string, got {show(value)}")
    return value


described(text, "non-empty string")


def identifier(key: str, value: Any) -> str:
    """A study name: it names the study in the database and, by default, its folder under
    results/, so it stays a plain file name."""
    if (not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", value)
            or value in (".", "..")):
        raise SpaceError(key, f"must be 1-100 letters, digits, '-', '_' or '.' (a folder name, not a path), "
                              f"got {show(value)}")
    return value


described(identifier, "1-100 letters, digits, '-', '_' or '.' (a folder name)")


def switch(*allowed: str) -> Check:
    """One of ``allowed`` (on, off and perhaps auto). YAML 1.1 reads an unquoted on / off as
    true / false (a space file's ``compile: off``, ``--set train.tta=on``): those mean what was
    written, not an error about a boolean nobody typed."""
    words = one_of(*allowed)

    def check(key: str, value: Any) -> str:
        if isinstance(value, bool):
            return "on" if value else "off"
        return words(key, value)
    return described(check, "one of " + " | ".join(allowed))


def optional(check: Check) -> Check:
    def wrapped(key: str, value: Any) -> Any:
        return None if value is None else check(key, value)
    return described(wrapped, f"{rule_text(check)}, or null")


# block: a kind of ``model/kinds.py``: resnext (also written plain: no SE, no SK) | se | sk.
MODEL_FIELDS: dict[str, Check] = {
    "family": one_of(*FAMILIES), "block": one_of(*BLOCKS, aliases=BLOCK_ALIASES), "stem": one_of(*STEMS),
    "stem_width": integer(1, LIMITS["stem_width"]), "groups": integer(1, LIMITS["groups"]),
    "se_reduction": integer(1, LIMITS["se_reduction"]), "head_width": optional(integer(1, LIMITS["head_width"])),
    "width_multiplier": number(0, 16, low_open=True),
}
SK_FIELDS: dict[str, Check] = {"M": integer(1, LIMITS["branches"]),
                               "reduction": number(0, LIMITS["reduction"], low_open=True),
                               "min_dim": integer(1, LIMITS["min_dim"]), "select": one_of(*SELECTS)}
BRANCH_FIELDS: dict[str, Check] = {"kernel": integer(1, LIMITS["kernel"], odd=True),
                                   "dilation": integer(1, LIMITS["dilation"]), "groups": integer(1, LIMITS["groups"])}
BRANCH_REQUIRED = ("kernel", "dilation")
STAGE_FIELDS: dict[str, Check] = {
    "depth": integer(1, LIMITS["depth"]), "width": integer(1, LIMITS["width"]),
    "width_per_group": integer(1, LIMITS["width"]), "out_channels": integer(1, LIMITS["out_channels"]),
    "stride": one_of(1, 2), "groups": integer(1, LIMITS["groups"]),
}
# The bounds a space file and the command line share (``--batch-size``, ``--epochs``, ``--trials``).
MAX_BATCH_SIZE = 65_536
MAX_EPOCHS = 10_000
MAX_TRIALS = 10**6
TRAIN_FIELDS: dict[str, Check] = {
    "batch_size": integer(1, MAX_BATCH_SIZE), "optimizer": one_of(*OPTIMIZERS), "lr": number(0, 1000, low_open=True),
    "momentum": number(0, 1, high_open=True), "weight_decay": number(0, 10),
    "label_smoothing": number(0, 1, high_open=True),
    "schedule": one_of(*SCHEDULES), "warmup_epochs": number(0, 10000), "seed": integer(0, 2**31 - 1),
    "precision": one_of(*PRECISIONS), "channels_last": switch(*SWITCHES),
    "compile": switch(*SWITCHES), "ema": number(0, 1, high_open=True), "ema_every": integer(1, 10_000),
    "tta": switch(*TTA),
}
DATA_FIELDS: dict[str, Check] = {
    "name": one_of(*DATA_NAMES), "root": optional(text), "download": boolean, "train_size": integer(10, 10**7),
    "val_size": integer(10, 10**7), "canvas": integer(8, 512), "min_scale": number(0, 64, low_open=True),
    "max_scale": number(0, 64, low_open=True), "clutter": integer(0, 32), "seed": integer(0, 2**31 - 1),
    "train_limit": optional(integer(2, 10**9)),
    "val_limit": optional(integer(1, 10**9)), "image_size": integer(8, LIMITS["input_size"]),
    "workers": integer(0, 256),
    "follow_symlinks": boolean, "val_split": one_of(*VAL_SPLITS), "augment": optional(one_of(*AUGMENTS)),
    "erase": number(0, 1), "erase_min": number(0, 1, low_open=True), "erase_max": number(0, 1, low_open=True),
}


def check_erase_area(erase_min: float, erase_max: float) -> None:
    """Random erasing's area range runs upwards (the keys are checked one by one first)."""
    if erase_min > erase_max:
        raise SpaceError("data.erase_min", f"{erase_min} is above erase_max {erase_max}; allowed: <= erase_max")

CONSTRAINT_KEYS = ("params", "macs")
LOGGERS = ("tensorboard", "mlflow", "wandb")  # experiment trackers (search/trackers.py)
SCHEDULERS = ("asha", "mo_asha", "none")
# standalone: every trial trains its own network; one_shot: one weight-sharing supernet ranks the
# space's subnets, and the best are confirmed by stand-alone trials (sksearch/oneshot/).
STRATEGIES = ("standalone", "one_shot")
INITS = ("scratch", "inherited")
TOP_KEYS = ("name", "description", "data", "model", "train", "objectives", "constraints", "sampler",
            "scheduler", "resources", "concurrency", "trials", "loggers", "baselines", "seed_configs", "warm_start",
            "strategy", "confirm")

# What a space file's model gets for a key it leaves out. Space files search small CIFAR-style
# networks (3x3 stem, a few narrow stages) unless they say otherwise, so the stem and widths
# default to those; ArchSpec's own defaults are the paper's ImageNet unit (7x7 stem, 64 wide,
# G=32). The SK settings default to the paper's in both.
# The shufflenetv2 family's 3x3 convs are depthwise: it takes no groups.
# ---- parsing ---------------------------------------------------------------------------

def _mapping(key: str, node: Any) -> dict[str, Any]:
    if not isinstance(node, dict):
        if not key:
            raise SpaceError("", f"must be a mapping of keys (name, data, model, ...), got {type(node).__name__}")
        raise SpaceError(key, f"must be a mapping of keys to values, got {type(node).__name__}")
    return node


def _keys(key: str, node: dict[str, Any], allowed: tuple[str, ...] | list[str]) -> None:
    for k in node:
        if k not in allowed:
            name = show(k) if not isinstance(k, str) else k[:60]
            raise SpaceError(f"{key}.{name}" if key else name, f"unknown key; allowed: {', '.join(allowed)}")


def _value(key: str, node: Any, check: Check) -> Any:
    """A fixed value or a distribution, every producible value checked."""
    if is_distribution_node(node):
        return parse_distribution(key, node, check)
    if isinstance(node, (dict, list)):
        raise SpaceError(key, f"must be a value or a distribution ({{choice: [...]}}, {{int: [lo, hi]}}, "
                              f"{{float: [lo, hi]}}), got {show(node)}")
    return check(key, node)


def _fields(key: str, node: Any, rules: dict[str, Check], extra: tuple[str, ...] = ()) -> dict[str, Any]:
    node = _mapping(key, node)
    _keys(key, node, [*rules, *extra])
    return {k: _value(f"{key}.{k}", v, rules[k]) for k, v in node.items() if k in rules}


def _fixed(key: str, node: Any, why: str = "a baseline's values are fixed; give a value, not a distribution") -> None:
    """Values only, at any depth (a baseline's model and recipe, a branch set's branches): a
    distribution there has nothing to choose from. Raw or parsed nodes alike."""
    if is_distribution_node(node) or isinstance(node, Distribution):
        raise SpaceError(key, why)
    if isinstance(node, dict):
        for k, v in node.items():
            _fixed(f"{key}.{k}", v, why)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _fixed(f"{key}[{i}]", v, why)


def _parse_branch_list(key: str, branches: Any) -> list[dict[str, Any]]:
    if not isinstance(branches, list) or not branches or len(branches) > LIMITS["branches"]:
        raise SpaceError(key, f"must be a list of 1 to {LIMITS['branches']} {{kernel, dilation[, groups]}} entries")
    out = [_fields(f"{key}[{i}]", b, BRANCH_FIELDS) for i, b in enumerate(branches)]
    for i, b in enumerate(out):
        for required in BRANCH_REQUIRED:
            if required not in b:
                raise SpaceError(f"{key}[{i}].{required}", "is required")
    return out


def _parse_branch_sets(key: str, node: dict[str, Any]) -> BranchSets:
    if set(node) != {"choice"} or not isinstance(node["choice"], list) or not node["choice"]:
        raise SpaceError(key, "a search over branch sets is {choice: [[{kernel, dilation}, ...], ...]}")
    sets = []
    for j, option in enumerate(node["choice"]):
        where = f"{key}.choice[{j}]"
        parsed = _parse_branch_list(where, option)
        _fixed(where, parsed, "the branches of a set are fixed; give a value")
        sets.append(tuple(parsed))
    found = BranchSets(tuple(sets))
    if len(set(found.labels)) != len(found.labels):
        raise SpaceError(key, f"lists a branch set twice: {', '.join(found.labels)}")
    return found


def _parse_sk(key: str, node: Any) -> dict[str, Any]:
    node = _mapping(key, node)
    out = _fields(key, node, SK_FIELDS, extra=("branches",))
    branches = node.get("branches", SK_DEFAULTS["branches"])
    if is_distribution_node(branches):
        if "M" in out:
            raise SpaceError(f"{key}.M", "comes from the chosen branch set (branches: {choice: [...]}): leave M out")
        out["branches"] = _parse_branch_sets(f"{key}.branches", branches)
        return out
    out["branches"] = _parse_branch_list(f"{key}.branches", branches)
    m = out.get("M")
    if m is not None:
        most = max(candidates(m))
        if most > len(out["branches"]):
            raise SpaceError(f"{key}.M", f"can be at most the {len(out['branches'])} branches listed, got {most}")
    return out


def _parse_model(node: Any) -> dict[str, Any]:
    node = _mapping("model", node)
    out = _fields("model", node, MODEL_FIELDS, extra=("sk", "stages"))
    out["sk"] = _parse_sk("model.sk", node.get("sk", {}))
    families = set(candidates(out.get("family", MODEL_DEFAULTS["family"])))
    shuffle_only, resnext_only = families == {"shufflenetv2"}, "shufflenetv2" not in families
    multiplier = "width_multiplier" in out
    if multiplier and resnext_only:
        raise SpaceError("model.width_multiplier", "applies to the shufflenetv2 family only (family: shufflenetv2)")
    if shuffle_only and "groups" in out:
        raise SpaceError("model.groups", "the shufflenetv2 family's 3x3 convs are depthwise: leave groups out")
    stages = node.get("stages")
    if not isinstance(stages, list) or not stages or len(stages) > LIMITS["stages"]:
        raise SpaceError("model.stages", f"must be a list of 1 to {LIMITS['stages']} stages "
                                         f"({{depth, width, out_channels, stride}})")
    parsed = []
    for i, s in enumerate(stages):
        key = f"model.stages[{i}]"
        stage = _fields(key, s, STAGE_FIELDS, extra=("sk",))
        if "width" in stage and "width_per_group" in stage:
            raise SpaceError(key, "give exactly one of width and width_per_group, not both")
        if resnext_only and "width" not in stage and "width_per_group" not in stage:
            raise SpaceError(key, "give exactly one of width and width_per_group")
        if shuffle_only:
            for name in ("groups", "width_per_group"):
                if name in stage:
                    raise SpaceError(f"{key}.{name}", "the shufflenetv2 family's 3x3 convs are depthwise: give width "
                                                      "(default: out_channels / 2) instead")
        if multiplier and "out_channels" in stage:
            raise SpaceError(f"{key}.out_channels", "comes from model.width_multiplier: give one or the other")
        if "depth" not in stage:
            raise SpaceError(f"{key}.depth", "is required")
        if "out_channels" not in stage and not multiplier:
            raise SpaceError(f"{key}.out_channels", "is required (or model.width_multiplier, shufflenetv2 family)")
        if "sk" in s:
            stage["sk"] = _parse_sk(f"{key}.sk", s["sk"])
        parsed.append(stage)
    if shuffle_only:
        for where, sk in [("model.sk", out["sk"])] + [(f"model.stages[{i}].sk", st["sk"]) for i, st in
                                                      enumerate(parsed) if "sk" in st]:
            sets = sk["branches"].sets if isinstance(sk["branches"], BranchSets) else [sk["branches"]]
            for b, branch in ((b, br) for branches in sets for b, br in enumerate(branches)):
                if "groups" in branch:
                    raise SpaceError(f"{where}.branches[{b}].groups", "applies to the resnext family; shufflenetv2 "
                                                                      "branches are depthwise")
    out["stages"] = parsed
    return out


def _parse_objectives(node: Any) -> tuple[Objective, ...]:
    if node is None:
        node = list(DEFAULT_OBJECTIVES)
    if not isinstance(node, list) or not node:
        raise SpaceError("objectives", f"must be a non-empty list of names from {', '.join(OBJECTIVES)}")
    out = []
    for i, item in enumerate(node):
        key = f"objectives[{i}]"
        name, goal = item, None
        if isinstance(item, dict):
            _keys(key, item, OBJECTIVE_KEYS)
            name, goal = item.get("name"), item.get("goal")
        if not isinstance(name, str) or name not in OBJECTIVES:
            raise SpaceError(key, f"must be one of {', '.join(OBJECTIVES)}; got {show(name)}")
        if goal is not None and goal != OBJECTIVES[name].goal:
            raise SpaceError(f"{key}.goal", f"{name} is always {OBJECTIVES[name].goal}imised; got {show(goal)}")
        out.append(OBJECTIVES[name])
    names = [o.name for o in out]
    if len(set(names)) != len(names):
        raise SpaceError("objectives", f"lists an objective twice: {names}")
    if REQUIRED not in names:
        raise SpaceError("objectives", f"must include {REQUIRED} (early stopping ranks trials by it)")
    return tuple(out)


def _parse_constraints(node: Any) -> dict[str, dict[str, float]]:
    node = _mapping("constraints", node or {})
    _keys("constraints", node, CONSTRAINT_KEYS)
    out = {}
    for name, bound in node.items():
        key = f"constraints.{name}"
        if not isinstance(bound, dict):
            bound = {"max": bound}
        bound = {str(k): v for k, v in bound.items()}
        _keys(key, bound, CONSTRAINT_BOUNDS)
        if not bound:
            raise SpaceError(key, "give min and/or max")
        parsed = {k: parse_number(f"{key}.{k}", v) for k, v in bound.items()}
        for k, v in parsed.items():
            if v < 0:
                raise SpaceError(f"{key}.{k}", f"must be >= 0, got {v}")
        if "min" in parsed and "max" in parsed and parsed["min"] > parsed["max"]:
            raise SpaceError(key, f"min {parsed['min']} is above max {parsed['max']}")
        out[name] = parsed
    return out


def _parse_baselines(node: Any) -> tuple[Baseline, ...]:
    from ..model.presets import PRESETS

    if node is None:
        return ()
    if not isinstance(node, list):
        raise SpaceError("baselines",
                         f"must be a list of preset names or {{name, preset | model, train}}, got {show(node)}")
    out = []
    for i, item in enumerate(node):
        key = f"baselines[{i}]"
        if isinstance(item, str):
            item = {"name": item, "preset": item}
        item = _mapping(key, item)
        _keys(key, item, BASELINE_KEYS)
        name = identifier(f"{key}.name", item.get("name"))
        if ("preset" in item) == ("model" in item):
            raise SpaceError(key, "give exactly one of preset (a name from `sksearch models`) and model")
        preset = item.get("preset")
        if preset is not None and preset not in PRESETS:
            raise SpaceError(f"{key}.preset", f"must be one of {', '.join(PRESETS)}; got {show(preset)}")
        model = None
        if "model" in item:
            _fixed(f"{key}.model", item["model"])
            try:
                model = _parse_model(item["model"])
            except SpaceError as exc:  # its keys read model.*: name the baseline too
                raise SpaceError(f"{key}.{exc.key}", exc.message) from None
        train = _fields(f"{key}.train", item.get("train") or {}, TRAIN_FIELDS)
        _fixed(f"{key}.train", train)
        out.append(Baseline(name, preset, model, train))
    names = [b.name for b in out]
    if len(set(names)) != len(names):
        raise SpaceError("baselines", f"names a baseline twice: {names}")
    return tuple(out)


def _parse_seed_configs(node: Any) -> tuple[dict[str, Any], ...]:
    """Seed configurations: {parameter name: value} each (checked against the space before a
    search runs, by ``sample.check_seed_configs``)."""
    if node is None:
        return ()
    if not isinstance(node, list):
        raise SpaceError("seed_configs", f"must be a list of {{parameter: value}} mappings, got {show(node)}")
    out = []
    for i, item in enumerate(node):
        item = _mapping(f"seed_configs[{i}]", item)
        for k, v in item.items():
            if not isinstance(k, str) or isinstance(v, (dict, list)):
                raise SpaceError(f"seed_configs[{i}].{k}", f"must map a parameter name to a value, got {show(v)}")
        out.append(dict(item))
    return tuple(out)


def _dataclass_from(key: str, cls: type, node: Any, rules: dict[str, Check]) -> Any:
    node = _mapping(key, node or {})
    names = [f.name for f in fields(cls)]
    _keys(key, node, names)
    checked = {k: rules[k](f"{key}.{k}", v) for k, v in node.items()}
    return cls.named(**checked) if hasattr(cls, "named") else cls(**checked)


def gpus(key: str, value: Any) -> float:
    """GPUs per trial: 0, a fraction below 1 (trials share a GPU) or a whole number."""
    value = number(0, 64)(key, value)
    if value > 1 and not float(value).is_integer():
        raise SpaceError(key, f"must be 0, a fraction below 1 (0.5, 0.25: trials share a GPU) or a whole number "
                              f"of GPUs, got {value}")
    return value


described(gpus, "0, a fraction below 1 (trials share a GPU) or a whole number up to 64")


def shared_folder(key: str, value: Any) -> str:
    """Trial storage: a folder path (or a ``file://`` URI of one, written back as its path).

    Why no object-store URIs (``s3://``, ``gs://``): export, train, resume's scheduler and the
    trial checks read a trial's folder as files on the machine they run on; a bucket reaches
    them only through a mount (s3fs, gcsfuse), which is a path again."""
    from urllib.parse import unquote, urlsplit

    if not isinstance(value, str) or not value.strip():
        raise SpaceError(key, f"must be a folder that every node of the cluster mounts, got {show(value)}")
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", value)
    if scheme is None:
        return value
    parts = urlsplit(value)
    if scheme.group(1).lower() != "file" or parts.netloc not in ("", "localhost"):
        raise SpaceError(key, f"{show(value)}: only a folder path (or a file:// URI of one) is supported, since "
                              f"sksearch reads the trials' folders as files; mount the bucket on every node "
                              f"(s3fs, gcsfuse) and give its path")
    return unquote(parts.path)


described(shared_folder, "a folder path every node mounts (or a file:// URI of one)")


SAMPLER_RULES: dict[str, Check] = {"name": one_of(*SAMPLERS), "seed": optional(integer(0, 2**31 - 1)),
                                   "population_size": integer(2, 10_000), "n_startup_trials": integer(0, 10**6)}
SCHEDULER_RULES: dict[str, Check] = {"name": one_of(*SCHEDULERS), "max_epochs": integer(1, MAX_EPOCHS),
                                     "grace_period": integer(1, 10_000), "reduction_factor": integer(2, 100)}
RESOURCE_RULES: dict[str, Check] = {"cpu": number(0, 1024, low_open=True), "gpu": gpus,
                                    "trial_storage": optional(shared_folder)}
STRATEGY_RULES: dict[str, Check] = {"name": one_of(*STRATEGIES), "supernet_epochs": integer(1, 10_000),
                                    "subnets": integer(1, 10**6), "confirm": integer(1, 10_000),
                                    "spread": integer(0, 10_000),
                                    "init": one_of(*INITS), "distill": boolean,
                                    "calibration_batches": integer(1, 10_000),
                                    "screen_images": integer(0, 10_000_000)}

CONFIRM_RULES: dict[str, Check] = {"seeds": integer(0, 10_000), "top": optional(integer(1, 10**6)),
                                   "audit": integer(0, 10**6)}


# The top level's single values (the other top keys are sections and lists, parsed below).
TOP_RULES: dict[str, Check] = {"name": identifier, "trials": integer(1, MAX_TRIALS),
                               "concurrency": optional(integer(1, 10_000))}
CONSTRAINT_BOUNDS = ("min", "max")
OBJECTIVE_KEYS = ("name", "goal")
BASELINE_KEYS = ("name", "preset", "model", "train")


def parse(raw: Any, source: str = "<space>") -> SearchSpace:
    """A validated ``SearchSpace`` from the parsed YAML; ``SpaceError`` names the bad key."""
    raw = _mapping("", raw) if raw is not None else {}
    _keys("", raw, TOP_KEYS)
    name = TOP_RULES["name"]("name", raw.get("name") or os.path.splitext(os.path.basename(source))[0])
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise SpaceError("description", "must be a string")
    data = _dataclass_from("data", DataSpec, raw.get("data"), DATA_FIELDS)
    check_erase_area(data.erase_min, data.erase_max)
    problem = data.problem()  # the settings that must go together (a digit's size and its canvas...)
    if problem is not None:
        raise SpaceError(*problem)
    if data.val_split == "test":
        raise SpaceError("data.val_split", "test would rank and stop trials on the test split; a search reads "
                                           "train and val only (allowed: holdout)")
    if data.name == "imagefolder" and not data.root:
        raise SpaceError("data.root", "an imagefolder data set needs root: a folder with train/ and val/ inside")
    if "model" not in raw:
        raise SpaceError("model", "is required: the architecture to search (see search_spaces/quickstart.yaml)")
    model = _parse_model(raw["model"])
    train = _fields("train", raw.get("train") or {}, TRAIN_FIELDS)
    scheduler = _dataclass_from("scheduler", SchedulerSpec, raw.get("scheduler"), SCHEDULER_RULES)
    objectives = _parse_objectives(raw.get("objectives"))
    if "name" not in (raw.get("scheduler") or {}):
        # One accuracy ranking would stop the cheap models that belong on a multi-objective front.
        scheduler = replace(scheduler, name="mo_asha" if len(objectives) > 1 else "asha")
    if scheduler.grace_period > scheduler.max_epochs:
        raise SpaceError("scheduler.grace_period",
                         f"{scheduler.grace_period} exceeds max_epochs {scheduler.max_epochs}")
    concurrency = TOP_RULES["concurrency"]("concurrency", raw.get("concurrency"))
    baselines = _parse_baselines(raw.get("baselines"))
    seed_configs = _parse_seed_configs(raw.get("seed_configs"))
    warm_start = raw.get("warm_start") or []
    if not isinstance(warm_start, list) or not all(isinstance(w, str) and w for w in warm_start):
        raise SpaceError("warm_start", f"must be a list of study folders or URL#STUDY_NAME, got {show(warm_start)}")
    loggers = raw.get("loggers") or []
    if not isinstance(loggers, list):
        raise SpaceError("loggers", f"must be a list of trackers from {', '.join(LOGGERS)}, got {show(loggers)}")
    loggers = tuple(dict.fromkeys(one_of(*LOGGERS)(f"loggers[{i}]", name) for i, name in enumerate(loggers)))
    trials = TOP_RULES["trials"]("trials", raw.get("trials", DEFAULT_TRIALS))
    strategy = _dataclass_from("strategy", StrategySpec, raw.get("strategy"), STRATEGY_RULES)
    resources = _dataclass_from("resources", Resources, raw.get("resources"), RESOURCE_RULES)
    if strategy.name == "one_shot" and resources.trial_storage is not None:
        # The supernet's experiment and its inherited weights live in the study folder, which
        # only the driver's machine sees.
        raise SpaceError("resources.trial_storage", "the one_shot strategy runs on one machine (its supernet lives in "
                                                    "the study folder); leave trial_storage out, or use strategy "
                                                    "standalone")
    if strategy.name == "one_shot":
        check_shareable(model)
    return SearchSpace(
        name=name, source=source, description=description, data=data, model=model, train=train,
        objectives=objectives, constraints=_parse_constraints(raw.get("constraints")),
        sampler=_dataclass_from("sampler", SamplerSpec, raw.get("sampler"), SAMPLER_RULES), scheduler=scheduler,
        resources=resources,
        concurrency=concurrency, trials=trials, loggers=loggers, baselines=baselines, seed_configs=seed_configs,
        warm_start=tuple(warm_start), strategy=strategy,
        confirm=_dataclass_from("confirm", ConfirmSpec, raw.get("confirm"), CONFIRM_RULES),
    )


def read_space_file(path: str) -> Any:
    """The parsed YAML of a space file; unreadable, hostile and invalid files are
    ``UserError``s naming the file."""
    return load_yaml(path)


def load_space(path: str) -> SearchSpace:
    """Read and validate a space file; any problem is a ``UserError`` naming the file and key.

    This checks the file's schema only. Before a search runs, ``sample.check_feasible`` also
    makes sure that some sample is a valid architecture within the budgets."""
    raw = read_space_file(path)
    try:
        return parse(raw, path)
    except SpaceError as exc:
        raise UserError(f"{path}: {exc}") from None
