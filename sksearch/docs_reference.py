"""The docs' two references, generated from the code they describe so that they cannot drift:
the search-space reference from the schema's own rule tables (``space/schema.py``) and
defaults (``space/parsed.py``, the dataclasses), and the command reference from the argparse
parser (``cli.build_parser``).

Each schema key's one-line description lives in ``DESCRIPTIONS`` below, the one table a new
key needs a line in; a command option's description is its argparse ``help`` (written once,
where the option is). ``problems()`` lists what is missing or stale: a key without a
description, a description of a key the schema does not have, an option without help, and
an option the hand-written pages give a command (``sksearch run ... --flag`` in
``docs/*.md`` or ``README.md``) that the command does not have. ``tests/test_docs_reference.py`` keeps the list empty.

The pages are written at build time by the MkDocs hook ``docs/hooks.py``, not committed: a
committed copy would be one more thing to go stale, and the build needs the package anyway
(mkdocstrings reads its docstrings).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from dataclasses import dataclass
from typing import Any, Iterable

from .data.spec import DATASETS, DataSpec
from .model.kinds import KINDS
from .model.spec import StageSpec
from .objectives import DEFAULT as DEFAULT_OBJECTIVES, OBJECTIVES
from .space import schema
from .space.parsed import (
    MODEL_DEFAULTS,
    SK_DEFAULTS,
    ConfirmSpec,
    Resources,
    SamplerSpec,
    SchedulerSpec,
    SearchSpace,
    StrategySpec,
)
from .space.samplers import SAMPLERS, reading
from .train.spec import TrainSpec

REQUIRED = "required"


@dataclass(frozen=True)
class Key:
    """One key of the space file: its path (``model.stages[].depth``), what it allows, its
    default and whether it may be searched (a distribution instead of a value)."""

    path: str
    allowed: str
    default: str
    searchable: bool = False


def _show(value: Any) -> str:
    """A default as a space file writes it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    return str(value)


def _defaults(cls: type) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            out[f.name] = f.default_factory()  # type: ignore[misc]
    return out


def _fields(prefix: str, rules: dict[str, Any], defaults: dict[str, Any], searchable: bool = False,
            required: Iterable[str] = (), notes: dict[str, str] | None = None) -> list[Key]:
    """The keys of one rule table: each rule's own words, the default from ``defaults``."""
    out = []
    for name, check in rules.items():
        text = schema.rule_text(check) or ""
        if name in required:
            default = REQUIRED
        elif notes and name in notes:
            default = notes[name]
        else:
            default = _show(defaults[name]) if name in defaults else "-"
        out.append(Key(f"{prefix}{name}", text, default, searchable))
    return out


def schema_keys() -> list[Key]:
    """Every key a space file may hold, in the order the reference lists them."""
    space = _defaults(SearchSpace)
    sections = "a mapping (its keys below)"
    keys = [
        *_fields("", schema.TOP_RULES, {**space, "name": "the file's name"},
                 notes={"name": "the file's name", "concurrency": "null (as resources allow)"}),
        Key("description", "string", '""'),
        Key("data", sections, "{name: digits}"),
        Key("model", sections, REQUIRED),
        Key("train", sections, "{}"),
        Key("objectives", f"list of {', '.join(OBJECTIVES)} (accuracy required) or {{name, goal}}",
            _show(list(DEFAULT_OBJECTIVES))),
        Key("constraints", f"mapping of {', '.join(schema.CONSTRAINT_KEYS)} to a maximum or {{min, max}}", "{}"),
        Key("sampler", sections, "{name: tpe}"),
        Key("scheduler", sections, "mo_asha with several objectives, asha with one"),
        Key("resources", sections, "{cpu: 1, gpu: 0}"),
        Key("loggers", f"list of {' | '.join(schema.LOGGERS)}", "[]"),
        Key("baselines", "list of preset names or {name, preset | model, train}", "[]"),
        Key("seed_configs", "list of {parameter: value} mappings", "[]"),
        Key("warm_start", "list of study folders or URL#STUDY_NAME", "[]"),
        Key("strategy", sections, "{name: standalone}"),
        Key("confirm", sections, "{seeds: 0, audit: 0} (no confirm phase)"),
        *_fields("data.", schema.DATA_FIELDS, _defaults(DataSpec)),
        *_fields("model.", schema.MODEL_FIELDS, MODEL_DEFAULTS, True,
                 notes={"width_multiplier": "- (shufflenetv2: instead of out_channels)"}),
        Key("model.sk", sections, "the paper's SK settings"),
        Key("model.stages", f"list of 1 to {schema.LIMITS['stages']} stages", REQUIRED),
        *_fields("model.sk.", schema.SK_FIELDS, SK_DEFAULTS, True, notes={"M": "all the branches listed"}),
        Key("model.sk.branches", f"list of 1 to {schema.LIMITS['branches']} branches, or {{choice: [lists]}}",
            _show(SK_DEFAULTS["branches"]), True),
        *_fields("model.sk.branches[].", schema.BRANCH_FIELDS, {}, True, required=schema.BRANCH_REQUIRED,
                 notes={"groups": "the stage's groups"}),
        *_fields("model.stages[].", schema.STAGE_FIELDS, _defaults(StageSpec), True,
                 required=("depth",), notes={"width": "one of width and width_per_group (resnext)",
                                             "width_per_group": "one of width and width_per_group (resnext)",
                                             "out_channels": "required (or model.width_multiplier)",
                                             "groups": "model.groups"}),
        Key("model.stages[].sk", "a mapping with model.sk's keys", "model.sk", False),
        *_fields("train.", schema.TRAIN_FIELDS, _defaults(TrainSpec), True),
        Key("objectives[].name", f"one of {' | '.join(OBJECTIVES)}", REQUIRED),
        Key("objectives[].goal", "the objective's own: max for accuracy, min for the others", "the objective's"),
        *(Key(f"constraints.{c}", "a number (2000000, 2e6, 2M, 500K, 1.5G) or {min, max}", "-")
          for c in schema.CONSTRAINT_KEYS),
        *(Key(f"constraints.{c}.{b}", "a number >= 0", "-") for c in schema.CONSTRAINT_KEYS
          for b in schema.CONSTRAINT_BOUNDS),
        *_fields("sampler.", schema.SAMPLER_RULES, _defaults(SamplerSpec)),
        *_fields("scheduler.", schema.SCHEDULER_RULES, _defaults(SchedulerSpec),
                 notes={"name": "mo_asha with several objectives, asha with one"}),
        *_fields("resources.", schema.RESOURCE_RULES, _defaults(Resources)),
        *_fields("strategy.", schema.STRATEGY_RULES, _defaults(StrategySpec)),
        *_fields("confirm.", schema.CONFIRM_RULES, _defaults(ConfirmSpec), notes={"top": "null (the front)"}),
        Key("baselines[].name", schema.rule_text(schema.identifier) or "", REQUIRED),
        Key("baselines[].preset", "a preset name (`sksearch models`)", "one of preset and model"),
        Key("baselines[].model", "fixed values in model's schema", "one of preset and model"),
        Key("baselines[].train", "fixed values in train's schema", "the searched values' centres"),
    ]
    return keys


def schema_paths() -> list[str]:
    """The key paths the schema has: its tables' keys and the structure around them. A key in a
    rule table is listed by ``schema_keys`` from the table itself; this set is what a
    description may name."""
    structure = {"": schema.TOP_KEYS, "model.": (*schema.MODEL_FIELDS, "sk", "stages"),
                 "model.sk.": (*schema.SK_FIELDS, "branches"), "model.stages[].": (*schema.STAGE_FIELDS, "sk"),
                 "model.sk.branches[].": tuple(schema.BRANCH_FIELDS), "data.": tuple(schema.DATA_FIELDS),
                 "train.": tuple(schema.TRAIN_FIELDS), "sampler.": tuple(schema.SAMPLER_RULES),
                 "scheduler.": tuple(schema.SCHEDULER_RULES), "resources.": tuple(schema.RESOURCE_RULES),
                 "strategy.": tuple(schema.STRATEGY_RULES), "confirm.": tuple(schema.CONFIRM_RULES),
                 "objectives[].": schema.OBJECTIVE_KEYS,
                 "constraints.": schema.CONSTRAINT_KEYS, "baselines[].": schema.BASELINE_KEYS}
    paths = [f"{prefix}{k}" for prefix, names in structure.items() for k in names]
    paths += [f"constraints.{c}.{b}" for c in schema.CONSTRAINT_KEYS for b in schema.CONSTRAINT_BOUNDS]
    return paths


# One line per key. A key the schema gains needs a line here (the test says which).
DESCRIPTIONS: dict[str, str] = {
    "name": "the study's name: names it in the database and its default folder results/<name>",
    "description": "free text about the search, kept with the study",
    "trials": "trials this run trains (not counting rejected samples, baselines, imported trials or other "
              "drivers' trials of a shared study)",
    "concurrency": "at most this many trials at once",
    "data": "the data set and how to read it (see Data sets)",
    "model": "the architecture space: every entry a fixed value or a distribution",
    "train": "the training recipe: every entry a fixed value or a distribution",
    "objectives": "what the front trades off: " + "; ".join(f"{name}, the {o.label}, {o.goal}imised"
                                                            for name, o in OBJECTIVES.items()),
    "constraints": "budgets checked before training: a violating sample is never trained",
    "sampler": "the Optuna sampler that proposes trials",
    "scheduler": "early stopping: which trials continue at each rung",
    "resources": "CPUs and GPUs per trial, and where trials write their checkpoints",
    "loggers": "experiment trackers the trials report to (also run --logger)",
    "baselines": "reference networks trained in the study with the same budget and data",
    "seed_configs": "configurations proposed first, {parameter: value} as trials.csv names them",
    "warm_start": "earlier studies whose completed trials that fit the space seed the sampler",
    "strategy": "standalone trials, or a one-shot (weight-sharing) search before them",
    "data.name": "the data set (see Data sets)",
    "data.root": "where the data lie: IDX sets' folder, CIFAR archives' folder, an image folder's root",
    "data.download": "IDX sets and CIFAR: fetch the official files (md5-checked)",
    "data.train_size": "digits and synthetic_cifar: training images, balanced over classes",
    "data.val_size": "digits and synthetic_cifar: val (and test) images; sets with a test split: the val "
                     "hold-out of the training split",
    "data.canvas": "digits: the canvas side in px",
    "data.min_scale": "digits: the smallest object scale (object side = 8 px x scale)",
    "data.max_scale": "digits: the largest object scale",
    "data.clutter": "digits: fragments of other digits pasted around the digit",
    "data.seed": "the seed of generated images and of subsets",
    "data.train_limit": "a class-balanced subset of the training images (short trials)",
    "data.val_limit": "a class-balanced subset of the val images",
    "data.image_size": "imagefolder: the crop size",
    "data.workers": "imagefolder: DataLoader workers (capped by the trial's CPUs)",
    "data.follow_symlinks": "imagefolder: read class folders and images that are symbolic links",
    "data.val_split": "where val comes from: holdout (test is how old CIFAR studies reopen; refused here)",
    "data.augment": "training augmentation (null: the set's own)",
    "data.erase": "random erasing: the probability that a training image has a rectangle set to the mean (0: off)",
    "data.erase_min": "random erasing: the smallest rectangle, as a fraction of the image's area",
    "data.erase_max": "random erasing: the largest rectangle, as a fraction of the image's area",
    "model.family": "resnext (bottleneck units) or shufflenetv2 (shuffle units, depthwise)",
    "model.block": "the unit: " + "; ".join(f"{kind.name}: {kind.summary}" for kind in KINDS.values()),
    "model.stem": "cifar (3x3, stride 1), imagenet (7x7/2 + max-pool), shufflenet (3x3/2 + max-pool)",
    "model.stem_width": "the stem's output channels",
    "model.groups": "G: groups of every grouped conv (resnext family only)",
    "model.se_reduction": "SE blocks: the squeeze's reduction",
    "model.head_width": "a 1x1 conv-BN-ReLU of this width before the pool (ShuffleNet's conv5)",
    "model.width_multiplier": "shufflenetv2 only, instead of out_channels: ShuffleNetV2's stage widths",
    "model.sk": "the SK settings of every SK unit (a stage's sk overrides them)",
    "model.stages": "one entry per stage, each field fixed or searched",
    "model.sk.M": "branches used: the first M of the list",
    "model.sk.reduction": "r: the fuse width is max(C / r, L)",
    "model.sk.min_dim": "L: the fuse width's floor",
    "model.sk.select": "softmax (the SK unit's selection) or sum (branches added, no fuse/select fcs)",
    "model.sk.branches": "the branches: kernel, dilation and optional groups each, or a choice of whole sets",
    "model.sk.branches[].kernel": "the branch's kernel size (odd)",
    "model.sk.branches[].dilation": "the branch's dilation",
    "model.sk.branches[].groups": "the branch's own groups",
    "model.stages[].depth": "units in the stage",
    "model.stages[].width": "channels of the unit's 3x3 conv",
    "model.stages[].width_per_group": "the 3x3 conv's channels per group (width = G x this)",
    "model.stages[].out_channels": "the stage's output channels",
    "model.stages[].stride": "the stride of the stage's first unit",
    "model.stages[].groups": "the stage's own G",
    "model.stages[].sk": "the stage's own SK settings",
    "train.batch_size": "images per step",
    "train.optimizer": "sgd (Nesterov momentum) or adamw",
    "train.lr": "the peak learning rate",
    "train.momentum": "SGD momentum / AdamW beta1",
    "train.weight_decay": "on conv and fc weights only (not on BN or biases)",
    "train.label_smoothing": "label smoothing of the loss",
    "train.schedule": "the learning rate after warm-up, over the full budget; onecycle rises from 0.1 x lr to lr "
                      "over its first quarter, then falls linearly to 0",
    "train.warmup_epochs": "linear warm-up from 0, in epochs (fractions allowed)",
    "train.seed": "weight init and batch order",
    "train.precision": "auto (bf16 on CUDA, fp32 on CPU), bf16 or fp32",
    "train.channels_last": "memory format: auto (= on, faster on CPU and CUDA), on or off",
    "train.compile": "torch.compile: auto (when the trial is long enough to pay: 2,000+ steps on CUDA, 4,500+ on "
                     "the CPU for a network with a multi-branch SK unit), on or off",
    "train.ema": "weight averaging's decay per step (0: off), warmed up as min(ema, (1+t)/(10+t)); "
                 "validation, checkpoints and exports hold the averaged weights",
    "train.ema_every": "steps between updates of the average (each applies the decay to that power)",
    "train.tta": "test-time augmentation of val and test: on averages the logits over the set's own views "
                 "(crop_flip: a mirror; crop: 1 px shifts; none: nothing)",
    "objectives[].name": "the objective",
    "objectives[].goal": "its direction, which is fixed: written out only for the reader",
    "constraints.params": "a budget on parameters",
    "constraints.macs": "a budget on multiply-adds",
    "constraints.params.min": "the fewest parameters a trained sample may have",
    "constraints.params.max": "the most parameters a trained sample may have",
    "constraints.macs.min": "the fewest multiply-adds a trained sample may have",
    "constraints.macs.max": "the most multiply-adds a trained sample may have",
    "sampler.name": "; ".join(f"{name}: {s.about}" for name, s in SAMPLERS.items()),
    "sampler.seed": "the sampler's seed (null: unseeded)",
    "sampler.population_size": f"{' and '.join(reading('population_size'))}: trials per generation",
    "sampler.n_startup_trials": f"{' and '.join(reading('n_startup_trials'))}: random trials before modelling",
    "scheduler.name": "mo_asha (fronts at each rung), asha (accuracy at each rung) or none",
    "scheduler.max_epochs": "a full-budget trial's epochs",
    "scheduler.grace_period": "epochs before the first rung",
    "scheduler.reduction_factor": "eta: 1/eta of a rung's trials continue",
    "resources.cpu": "CPUs per trial",
    "resources.gpu": "GPUs per trial",
    "resources.trial_storage": "where the trials' folders (checkpoints, results) go: a folder every node of a "
                               "multi-machine cluster mounts (also run --trial-storage); null: the study folder's ray/",
    "confirm": "`sksearch confirm` as the last phase of run and resume: the front's seeds and the audit",
    "confirm.seeds": "runs with new seeds of each front, near-front and completed baseline trial (0: none)",
    "confirm.top": "trials to repeat, by non-dominated rank (the whole front always)",
    "confirm.audit": "trials the scheduler stopped, drawn at random (seeded), trained to the full budget",
    "strategy.name": "standalone (every trial trains its network) or one_shot (a supernet ranks the subnets)",
    "strategy.supernet_epochs": "one_shot: epochs of the supernet's sandwich-rule training",
    "strategy.subnets": ("one_shot: subnet draws of the sampler, each distinct network evaluated once "
                         "with inherited weights"),
    "strategy.confirm": "one_shot: subnets of the supernet's front trained stand-alone",
    "strategy.spread": "one_shot: other subnets trained stand-alone, spread over the accuracy range",
    "strategy.init": "one_shot: confirmed subnets start from scratch or from their inherited weights",
    "strategy.distill": "one_shot: in-place distillation from the largest subnet",
    "strategy.calibration_batches": "one_shot: training batches that recalibrate a subnet's BatchNorm",
    "strategy.screen_images": ("one_shot: val images (the first ones) that screen each subnet, its BatchNorm "
                               "recalibrated on a quarter of the calibration batches; only those within reach of "
                               "the front are "
                               "scored again on the whole val set (0: every subnet scored on all of it)"),
    "baselines[].name": "the baseline's name in the table and the figures",
    "baselines[].preset": "a preset network",
    "baselines[].model": "a fixed model in the model schema",
    "baselines[].train": "fixed recipe values (a searched one left out takes its distribution's centre)",
}


# ---- the command line ----------------------------------------------------------------------

def commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands of the ``sksearch`` parser, by name, in the parser's order."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices.items())


def _options(cmd: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in cmd._actions if not isinstance(a, argparse._HelpAction)]


def _name(action: argparse.Action) -> str:
    return ", ".join(action.option_strings) if action.option_strings else (action.metavar or action.dest)


def problems(parser: argparse.ArgumentParser | None = None, descriptions: dict[str, str] | None = None,
             pages: Iterable[str] | None = None) -> list[str]:
    """What keeps the references from being complete and true; empty when they are."""
    from .cli import build_parser

    parser = parser or build_parser()
    descriptions = DESCRIPTIONS if descriptions is None else descriptions
    out = []
    listed = [k.path for k in schema_keys()]
    known = set(schema_paths())
    for path in known - set(listed):
        out.append(f"space key {path}: missing from the generated reference")
    for path in listed:
        if not descriptions.get(path, "").strip():
            out.append(f"space key {path}: no description in docs_reference.DESCRIPTIONS")
    for path in descriptions:
        if path not in known:
            out.append(f"DESCRIPTIONS[{path!r}]: no such space key")
    cmds = commands(parser)
    for name, cmd in cmds.items():
        for action in _options(cmd):
            if not (action.help or "").strip() or action.help == argparse.SUPPRESS:
                out.append(f"sksearch {name} {_name(action)}: no help text (its description)")
    for page in pages if pages is not None else hand_written_pages():
        text = open(page, encoding="utf-8").read()
        for name, flag in sorted(named_flags(text)):
            if name in cmds and flag not in {f for a in cmds[name]._actions for f in a.option_strings}:
                out.append(f"{os.path.basename(page)}: names `sksearch {name} ... {flag}`, an option "
                           f"sksearch {name} does not have")
    return sorted(set(out))


def named_flags(text: str) -> set[tuple[str, str]]:
    """(command, --flag) for each flag written after ``sksearch COMMAND`` in one command (up to
    the end of its code span or line, or a shell's ``&&``, ``|``, ``;``)."""
    out = set()
    for match in re.finditer(r"sksearch (\w+)([^`\n]*)", text):
        rest = re.split(r"&&|\|\||[|;]", match.group(2))[0]
        out.update((match.group(1), flag) for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", rest))
    return out


def hand_written_pages() -> list[str]:
    """README.md and the docs' Markdown pages (the generated ones are not on disk)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    docs = os.path.join(root, "docs")
    pages = [os.path.join(root, "README.md")]
    if os.path.isdir(docs):
        for folder, _, names in os.walk(docs):
            pages += [os.path.join(folder, n) for n in sorted(names) if n.endswith(".md")]
    return [p for p in pages if os.path.exists(p)]


# ---- the pages ------------------------------------------------------------------------------

def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _data_note() -> str:
    """The named sets' own defaults, from the table ``DataSpec.named`` reads."""
    own = "; ".join(f"`{name}`: " + ", ".join(f"{k} {_show(v)}" for k, v in row.settings.items())
                    for name, row in DATASETS.items() if row.settings)
    holdout = ", ".join(f"`{name}` {row.holdout:,}" for name, row in DATASETS.items() if row.holdout is not None)
    return (f"The defaults are `DataSpec`'s (the `digits` set's). A named set brings its own ({own}; the val "
            f"hold-out of sets with a test split: {holdout} images), and what the file gives wins. "
            "See [Data sets](../data.md).\n\n" + _data_sets())


def _data_sets() -> str:
    """The list of data sets (``data.DATASETS``), one line each: its images, classes, val, the
    keys that only some sets read, and what it is. A list rather than a table: the page's
    tables hold keys."""
    lines = ["The data sets (`data.name`):", ""]
    for name, row in DATASETS.items():
        side = row.side if isinstance(row.side, int) else f"`{row.side}`"
        val = f"val: {row.holdout:,} images held out of train" if row.holdout is not None else "val: its own"
        reads = f"; reads {', '.join(f'`{k}`' for k in row.reads)}" if row.reads else ""
        classes = f"{row.classes} classes" if row.classes else "a class per folder"
        lines.append(f"- `{name}`: {row.about} ({row.in_channels} x {side} x {side}, {classes}; {val}{reads})")
    return "\n".join(lines)


SECTION_NOTES = {
    "data": _data_note(),
    "model": "The defaults are a space file's (small CIFAR-style networks); `ArchSpec`'s own are the paper's "
             "ImageNet unit. The SK settings default to the paper's in both.",
}


def space_reference() -> str:
    """The search-space reference page (Markdown)."""
    lines = ["# Search-space reference", "",
             "Generated from the schema's rule tables (`sksearch/space/schema.py`) and defaults "
             "(`sksearch/space/parsed.py`) when the docs are built. **searched** marks the keys that "
             "may be a distribution (`{choice: [...]}`, `{int: [lo, hi]}`, `{float: [lo, hi], log: true}`) "
             "instead of a value; every value a distribution can produce is checked against the same rule. "
             "The [space-file guide](../search-space.md) shows them at work.", ""]
    section = None
    for key in schema_keys():
        top = key.path.split(".")[0].split("[")[0] if "." in key.path or "[" in key.path else ""
        if top != section:
            section = top
            lines += ["", f"## `{top}`" if top else "## Top level", ""]
            if top in SECTION_NOTES:
                lines += [SECTION_NOTES[top], ""]
            lines += ["| key | allowed | default | searched | description |", "| --- | --- | --- | --- | --- |"]
        lines.append(f"| `{key.path}` | {_cell(key.allowed)} | {_cell(key.default)} | "
                     f"{'yes' if key.searchable else ''} | {_cell(DESCRIPTIONS.get(key.path, ''))} |")
    return "\n".join(lines) + "\n"


def _default(action: argparse.Action) -> str:
    if action.default in (None, False, argparse.SUPPRESS) or action.nargs == 0:
        return ""
    return f"`{action.default}`"


def cli_reference() -> str:
    """The command reference page (Markdown)."""
    from .cli import build_parser

    parser = build_parser()
    lines = ["# Command reference", "",
             "Generated from the `sksearch` command's own parser (`sksearch/cli.py`) when the docs are "
             "built; `sksearch COMMAND --help` prints the same. The [command guide](../commands.md) "
             "says what each command does in more words.", ""]
    for name, cmd in commands(parser).items():
        usage = " ".join(cmd.format_usage().split())
        usage = usage[len("usage: "):] if usage.startswith("usage: ") else usage
        lines += [f"## `sksearch {name}`", "", cmd.description or _help_of(parser, name), "", "```", usage, "```", "",
                  "| argument | value | default | description |", "| --- | --- | --- | --- |"]
        for action in _options(cmd):
            value = ""
            if action.choices:
                value = " \\| ".join(f"`{c}`" for c in action.choices)
            elif action.nargs != 0 and action.option_strings:
                value = f"`{action.metavar or action.dest.upper()}`"
            if isinstance(action, argparse._AppendAction):
                value += " (repeatable)"
            lines.append(f"| `{_name(action)}` | {value} | {_default(action)} | {_cell(action.help or '')} |")
        lines.append("")
    return "\n".join(lines)


def _help_of(parser: argparse.ArgumentParser, name: str) -> str:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return next((c.help for c in sub._choices_actions if c.dest == name), "") or ""


def pages() -> dict[str, str]:
    """The generated pages by their path under ``docs/``."""
    return {"reference/space.md": space_reference(), "reference/commands.md": cli_reference()}
