"""From an Optuna trial to a checked trial configuration: sample the space (define-by-run, so
branch settings beyond the sampled M and SK settings of non-SK blocks are never sampled),
validate the ``ArchSpec``, count its cost and check the budgets before any epoch is spent.

Counting needs torch (the FLOP counter); it is imported when a sample is first checked.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..data.spec import DataShape
from ..errors import show
from ..model.kinds import kind_of
from ..model.spec import ArchSpec, SKSpec, SpecError
from ..scoped import optuna_warnings_only
from ..train.spec import TrainSpec
from .distributions import BranchSets, Distribution, EndsDraw, SpaceError, size_rank
from .parsed import SearchSpace
from .schema import MODEL_DEFAULTS, SK_DEFAULTS

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class Sample:
    """One sampled configuration: the architecture as a spec dict (not yet validated), the
    training settings, and the flat searched values by parameter name."""

    arch: dict[str, Any]
    train: TrainSpec
    params: dict[str, Any]


@dataclass(frozen=True)
class Checked:
    """A sample after its checks: the validated spec and its counted cost, and ``reason`` when
    it must be rejected (no valid architecture, or a broken budget)."""

    sample: Sample
    spec: ArchSpec | None
    params: int | None
    macs: int | None
    reason: str | None

    @property
    def cost(self) -> dict[str, int]:
        return {"params": self.params, "macs": self.macs}


def _get(trial: optuna.Trial, name: str, value: Any) -> Any:
    return value.suggest(trial, name) if isinstance(value, Distribution) else value


def _sample_sk(trial: optuna.Trial, prefix: str, tree: dict[str, Any]) -> dict[str, Any]:
    branches = tree["branches"]
    if isinstance(branches, BranchSets):  # a choice among whole branch sets
        branches = branches.suggest(trial, f"{prefix}branches")
    m = _get(trial, f"{prefix}M", tree.get("M", len(branches)))
    out: dict[str, Any] = {"branches": []}
    for i, b in enumerate(branches[:m]):
        branch = [_get(trial, f"{prefix}branches.{i}.{key}", b[key]) for key in ("kernel", "dilation")]
        if "groups" in b:
            branch.append(_get(trial, f"{prefix}branches.{i}.groups", b["groups"]))
        out["branches"].append(branch)
    # With one branch there is nothing to select, and without the softmax selection no fuse:
    # settings that mean nothing for this sample are not sampled (define-by-run).
    def setting(key: str, used: bool) -> Any:
        value = tree.get(key, SK_DEFAULTS[key])
        if used:
            return _get(trial, f"{prefix}{key}", value)
        return SK_DEFAULTS[key] if isinstance(value, Distribution) else value

    out["select"] = setting("select", m > 1)
    for key in ("reduction", "min_dim"):
        out[key] = setting(key, m > 1 and out["select"] == "softmax")
    return out


def sample(space: SearchSpace, trial: optuna.Trial, shape: DataShape) -> Sample:
    from ..model.presets import shufflenet_widths

    model = space.model
    family = _get(trial, "family", model.get("family", MODEL_DEFAULTS["family"]))
    shuffle = family == "shufflenetv2"
    top = {k: _get(trial, k, model.get(k, default)) for k, default in MODEL_DEFAULTS.items()
           if k not in ("family", "se_reduction", "groups")}
    top["groups"] = None if shuffle else _get(trial, "groups", model.get("groups", MODEL_DEFAULTS["groups"]))
    # A kind's own settings are sampled; the others keep their defaults, never sampled.
    kind = kind_of(top["block"])
    se_reduction = (_get(trial, "se_reduction", model.get("se_reduction", MODEL_DEFAULTS["se_reduction"]))
                    if kind.uses("se_reduction") else MODEL_DEFAULTS["se_reduction"])
    sk = _sample_sk(trial, "sk.", model["sk"]) if kind.uses("sk") else SKSpec().to_dict()
    outs = None
    if shuffle and "width_multiplier" in model:
        outs = shufflenet_widths(_get(trial, "width_multiplier", model["width_multiplier"]), len(model["stages"]))
    stages = []
    for i, st in enumerate(model["stages"]):
        p = f"stages.{i}."
        depth = _get(trial, p + "depth", st["depth"])
        out_channels = outs[i] if outs else _get(trial, p + "out_channels", st["out_channels"])
        groups = _get(trial, p + "groups", st["groups"]) if "groups" in st and not shuffle else None
        if "width" in st:
            width = _get(trial, p + "width", st["width"])
        elif shuffle:
            width = out_channels // 2
        else:
            width = (groups or top["groups"]) * _get(trial, p + "width_per_group", st["width_per_group"])
        stages.append({
            "depth": depth, "width": width, "out_channels": out_channels,
            "stride": _get(trial, p + "stride", st.get("stride", 1)), "groups": groups,
            "sk": _sample_sk(trial, p + "sk.", st["sk"]) if "sk" in st and kind.uses("sk") else None,
        })
    arch = {**top, "family": family, "se_reduction": se_reduction, "sk": sk, "stages": stages,
            "num_classes": shape.num_classes, "in_channels": shape.in_channels, "input_size": shape.input_size}
    train_values = {k: _get(trial, k, v) for k, v in space.train.items()}
    train = TrainSpec(max_epochs=space.scheduler.max_epochs, **train_values)
    return Sample(arch=arch, train=train, params=dict(trial.params))


def _bounds(space: SearchSpace, params: int | None, macs: int | None):  # noqa: ANN202 - a generator
    """(name, "max" | "min", bound, value) for every bound of the space's budgets."""
    for name, value in (("params", params), ("macs", macs)):
        bound = space.constraints.get(name, {})
        for kind in ("max", "min"):
            if kind in bound:
                yield name, kind, bound[kind], value


def violations(space: SearchSpace, params: int, macs: int) -> list[str]:
    """The budgets a (params, MACs) pair breaks, as sentences; empty when within budget."""
    return [f"{name} {value:,} {'>' if kind == 'max' else '<'} {kind} {bound:,.0f}"
            for name, kind, bound, value in _bounds(space, params, macs)
            if (value > bound if kind == "max" else value < bound)]


def constraint_values(space: SearchSpace, params: int | None, macs: int | None) -> dict[str, float]:
    """What a sample tells a sampler of the budgets: ``architecture`` (1 when the sample is no
    valid network, its cost unknown) and one value per bound, relative to it (<= 0: within).
    Every trial of a study gets the same keys, which GP requires of all its trials."""
    valid = params is not None and macs is not None
    out = {"architecture": 0.0 if valid else 1.0}
    for name, kind, bound, value in _bounds(space, params, macs):
        excess = (value - bound if kind == "max" else bound - value) if valid else 0.0
        out[f"{name}_{kind}"] = excess / max(bound, 1)
    return out


def memory_reason(space: SearchSpace, s: Sample, needed: int) -> str | None:
    """Why a trial needing ``needed`` bytes cannot train on the machine the driver runs on: more
    than its total memory, or (``resources.gpu``) than its GPU's share of a GPU's memory. None
    when it fits, or when the driver has no GPU to tell a worker's by. The total, not what is
    free now, so that a sample is judged the same on every draw and resume."""
    from ..model.memory import gigabytes, memory_of

    if space.resources.gpu:
        import torch

        if not torch.cuda.is_available():
            return None
        share = min(space.resources.gpu, 1.0)
        limit = int(torch.cuda.get_device_properties(0).total_memory * share)
        where = f"{'a share of ' if share < 1 else ''}the GPU"
    else:
        limit, where = memory_of("cpu", free=False)
        if limit is None:
            return None
        where = "this machine"
    if needed <= limit:
        return None
    return (f"needs at least {gigabytes(needed)} of memory to train at batch size {s.train.batch_size:,}, more than "
            f"the {gigabytes(limit)} of {where}")


def check_sample(space: SearchSpace, s: Sample) -> Checked:
    """Validate a sample's architecture, count its cost and estimate its memory (one forward on
    the meta device, ``model.memory``); ``reason`` says why it is rejected."""
    from ..model.memory import footprint

    try:
        spec = ArchSpec.from_dict(s.arch)
    except SpecError as exc:
        return Checked(s, None, None, None, f"invalid architecture: {exc}")
    fp = footprint(spec)
    broken = violations(space, fp.params, fp.macs)
    bf16 = s.train.precision == "bf16" or (s.train.precision == "auto" and space.resources.gpu > 0)
    memory = memory_reason(space, s, fp.training_bytes(s.train.batch_size, s.train.optimizer, 2 if bf16 else 4))
    if memory:
        broken.append(memory)
    return Checked(s, spec, fp.params, fp.macs, "; ".join(broken) if broken else None)


class LowDraw(EndsDraw):
    """An Optuna-trial stand-in that suggests every value at the end that makes a network
    smallest (a range's low end, the smallest choice), or the value ``fixed`` gives it; it
    records each parameter's ``options`` worth trying (a range's two ends, a numeric choice's
    extremes, every other choice)."""

    def __init__(self, fixed: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.fixed = dict(fixed or {})
        self.options: dict[str, list[Any]] = {}

    def _pick(self, name: str, options: list[Any]) -> Any:
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in options):
            options = list(dict.fromkeys([min(options), max(options)]))
        self.options[name] = options
        value = self.fixed[name] if name in self.fixed else min(options, key=lambda v: size_rank(name, v))
        self.params[name] = value
        return value


def smallest_networks(space: SearchSpace, shape: DataShape) -> list[Checked]:
    """The space's smallest network in params and its cheapest in MACs (one when they are the
    same), each checked against the budgets: from every value at its smallest end, one greedy
    pass over the parameters (in the order they are drawn) keeps any other option that lowers
    the cost (a stride, a block kind or a branch set can go either way)."""
    counted: dict[str, Checked] = {}

    def check(fixed: dict[str, Any]) -> tuple[Checked | None, LowDraw]:
        draw = LowDraw(fixed)
        s = sample(space, draw, shape)
        key = json.dumps(s.arch, sort_keys=True, default=str)
        if key not in counted:
            counted[key] = check_sample(space, s)
        found = counted[key]
        return (found if found.spec is not None else None), draw

    out: list[Checked] = []
    for cost in ("params", "macs"):
        best, draw = check({})
        fixed = dict(draw.params)
        for name in list(draw.options):
            for option in draw.options[name]:
                if option == fixed.get(name):
                    continue
                tried, tried_draw = check({**fixed, name: option})
                if tried is not None and (best is None or (tried.cost[cost], tried.cost["params"] + tried.cost["macs"])
                                          < (best.cost[cost], best.cost["params"] + best.cost["macs"])):
                    best, fixed = tried, dict(tried_draw.params)
        if best is not None and all(best is not o for o in out):
            out.append(best)
    return out


@optuna_warnings_only()  # no "A new study created in memory" line, no line per trial told
def check_feasible(space: SearchSpace, tries: int = 200, cost_tries: int = 24) -> None:
    """Fail early on a space in which no sample is a valid architecture within budget and within
    the memory of this machine (``memory_reason``): random samples first, then, before refusing,
    the space's smallest and cheapest networks (a tight budget that only the smallest corner
    meets is one random draws seldom hit)."""
    import optuna

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    shape = space.data.shape()
    first_reason, costed, too_big = None, 0, None
    smallest: dict[str, int] = {}
    for _ in range(tries):
        trial = study.ask()
        s = sample(space, trial, shape)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        try:
            ArchSpec.from_dict(s.arch)
        except SpecError as exc:
            first_reason = first_reason or str(exc)
            continue
        checked = check_sample(space, s)
        if checked.reason is None:
            return
        if not violations(space, checked.params, checked.macs):  # within budget, but not in memory
            too_big = too_big or checked.reason
        smallest = {"params": min(checked.params, smallest.get("params", checked.params)),
                    "macs": min(checked.macs, smallest.get("macs", checked.macs))}
        costed += 1
        if costed >= cost_tries:
            break
    ends = smallest_networks(space, shape)
    if any(c.reason is None for c in ends):
        return
    # Within the budgets but not in memory: the space's networks are too large for this machine.
    too_big = too_big or next((c.reason for c in ends if not violations(space, c.params, c.macs)), None)
    least = {"params": min([c.params for c in ends] + ([smallest["params"]] if smallest else [])),
             "macs": min([c.macs for c in ends] + ([smallest["macs"]] if smallest else []))} if ends else smallest
    if too_big:
        raise SpaceError("model", f"none of {costed} sampled architectures fits in memory (the first refused "
                                  f"{too_big}; the smallest has {least['params']:,} params)")
    if ends:
        raise SpaceError("constraints", f"no network of the space meets the budgets: its smallest has "
                                        f"{least['params']:,} params, its cheapest {least['macs']:,} MACs"
                                        + (f" (none of {costed} sampled architectures met them either)"
                                           if costed else ""))
    if costed:
        raise SpaceError("constraints", f"none of {costed} sampled architectures meets the budgets "
                                        f"(smallest seen: {smallest['params']:,} params, {smallest['macs']:,} MACs)")
    raise SpaceError("model", f"none of {tries} sampled architectures is valid, e.g. {first_reason}")


class FixedDraw:
    """An Optuna-trial stand-in that suggests given values, strictly: a value outside its
    distribution raises ``SpaceError`` naming the parameter, and every distribution asked for
    is recorded. A missing value raises too, or (``fill``) takes the distribution's centre."""

    def __init__(self, values: dict[str, Any], where: str, fill: bool = False) -> None:
        self.values, self.where, self.fill = dict(values), where, fill
        self.distributions: dict[str, Any] = {}
        self.filled: set[str] = set()
        self.params: dict[str, Any] = {}

    def _value(self, name: str, dist: Any, centre: Any) -> Any:
        self.distributions[name] = dist
        if name not in self.values:
            if not self.fill:
                raise SpaceError(f"{self.where}.{name}", "is missing: this configuration needs a value for it")
            self.filled.add(name)
            value = centre
        else:
            value = self.values[name]
        self.params[name] = value
        return value

    def suggest_categorical(self, name: str, choices: tuple) -> Any:
        from optuna.distributions import CategoricalDistribution

        value = self._value(name, CategoricalDistribution(list(choices)), choices[0])
        if value not in choices or isinstance(value, bool) != isinstance(choices[list(choices).index(value)], bool):
            raise SpaceError(f"{self.where}.{name}",
                             f"must be one of {', '.join(map(str, choices))}; got {show(value)}")
        return value

    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int:
        from optuna.distributions import IntDistribution

        centre = round(math.sqrt(low * high)) if log else low + step * ((high - low) // step // 2)
        value = self._value(name, IntDistribution(low, high, step=step, log=log), centre)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high or (value - low) % step:
            raise SpaceError(f"{self.where}.{name}",
                             f"must be an integer from {low} to {high}"
                             f"{f' in steps of {step}' if step != 1 else ''}; got {show(value)}")
        return value

    def suggest_float(self, name: str, low: float, high: float, step: float | None = None, log: bool = False) -> float:
        from optuna.distributions import FloatDistribution

        centre = math.sqrt(low * high) if log else (low + high) / 2
        value = self._value(name, FloatDistribution(low, high, step=step, log=log), centre)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise SpaceError(f"{self.where}.{name}", f"must be a number from {low:g} to {high:g}; got {show(value)}")
        return float(value)

    def unused(self) -> list[str]:
        return sorted(set(self.values) - set(self.params))


def draw_fixed(space: SearchSpace, values: dict[str, Any], where: str, fill: bool = False) -> tuple[Sample, FixedDraw]:
    """The sample of ``values`` in ``space``; ``SpaceError`` (naming ``where`` and the key) when
    one is out of its range, not a parameter of the space, or (without ``fill``) missing."""
    draw = FixedDraw(values, where, fill)
    s = sample(space, draw, space.data.shape())
    extra = draw.unused()
    if extra:
        raise SpaceError(f"{where}.{extra[0]}", f"is not a searched parameter of this space (for this configuration); "
                                                f"its parameters: {', '.join(draw.params)}")
    return s, draw


def check_seed_configs(space: SearchSpace) -> None:
    """Every seed configuration fits the space (names and values) and, when it fixes the whole
    architecture (the sampler may still fill recipe values such as ``lr``), is a valid one
    within the budgets. All names and values are checked before any cost is counted, and each
    distinct architecture is counted once (a count takes tens of milliseconds)."""
    drawn = [(i, *draw_fixed(space, config, f"seed_configs[{i}]", fill=True))
             for i, config in enumerate(space.seed_configs)]
    recipe = set(space.train)
    reasons: dict[str, str | None] = {}
    for i, s, draw in drawn:
        if draw.filled - recipe:
            continue  # the sampler draws part of the architecture: its cost is not known yet
        arch = json.dumps(s.arch, sort_keys=True, default=str)
        if arch not in reasons:
            reasons[arch] = check_sample(space, s).reason
        if reasons[arch] is not None:
            raise SpaceError(f"seed_configs[{i}]", f"is rejected: {reasons[arch]}")


def check_baselines(space: SearchSpace, shape: DataShape) -> list[str]:
    """Each baseline is a valid architecture for this data (``SpaceError`` naming it otherwise);
    returns a sentence for each one over the budgets, which is trained all the same (it is a
    reference, not a sample) but never silently."""
    notes = []
    for i, baseline in enumerate(space.baselines):
        checked = check_sample(space, baseline_sample(space, baseline, shape))
        if checked.spec is None:
            raise SpaceError(f"baselines[{i}]", f"the baseline {baseline.name} is rejected: {checked.reason}")
        if checked.reason is not None:
            notes.append(f"baseline {baseline.name} breaks the budgets ({checked.reason}); it is trained all the same, "
                         f"as a reference")
    return notes


def centre_recipe(space: SearchSpace, where: str) -> dict[str, Any]:
    """The space's recipe values, each searched one at its distribution's centre (``where``
    names the configuration they are for in an error)."""
    centre = FixedDraw({}, where, fill=True)
    return {k: _get(centre, k, v) for k, v in space.train.items()}


def baseline_sample(space: SearchSpace, baseline: Any, shape: DataShape) -> Sample:
    """A baseline's configuration: its architecture (a preset with this data's shape, or its
    fixed model) and the searched trials' recipe (a searched value it does not fix takes its
    distribution's centre); its budget is the search's."""
    from ..model.presets import preset

    train_values = centre_recipe(space, f"baselines.{baseline.name}")
    train = TrainSpec(max_epochs=space.scheduler.max_epochs, **{**train_values, **baseline.train})
    if baseline.preset:
        spec = preset(baseline.preset).replace(num_classes=shape.num_classes, in_channels=shape.in_channels,
                                               input_size=shape.input_size)
        return Sample(arch=spec.to_dict(), train=train, params={})
    from dataclasses import replace

    fixed = sample(replace(space, model=baseline.model, train={}), FixedDraw({}, "baseline"), shape)
    return Sample(arch=fixed.arch, train=train, params={})
