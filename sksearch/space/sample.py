"""From an Optuna trial to a concrete trial configuration: sample the space (define-by-run,
so branch settings beyond the sampled M and SK settings of non-SK blocks are never sampled),
build the ``ArchSpec``, and check the budgets before any epoch is spent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna

from ..cost import params_and_macs
from ..spec import ArchSpec, SpecError
from ..train import TrainSpec
from .distributions import SpaceError
from .schema import SearchSpace

SPEC_DEFAULTS = {"block": "sk", "stem": "cifar", "stem_width": 16, "groups": 8, "se_reduction": 16}
SK_DEFAULTS = {"reduction": 16, "min_dim": 32}


@dataclass(frozen=True)
class DataShape:
    in_channels: int
    input_size: int
    num_classes: int


def data_shape(space: SearchSpace, num_classes: int | None = None) -> DataShape:
    """The input and label shape a data set gives, known without reading it (image folders
    need their class count from the scan; 2 stands in for feasibility checks)."""
    d = space.data
    if d.name == "digits":
        return DataShape(1, d.canvas, 10)
    if d.name in ("cifar10", "cifar100"):
        return DataShape(3, 32, 10 if d.name == "cifar10" else 100)
    return DataShape(3, d.image_size, num_classes or 2)


@dataclass(frozen=True)
class Sample:
    """One sampled configuration: the architecture as a spec dict (not yet validated), the
    training settings, and the flat searched values by parameter name."""

    arch: dict[str, Any]
    train: TrainSpec
    params: dict[str, Any]


def _get(trial: optuna.Trial, name: str, value: Any) -> Any:
    return value.suggest(trial, name) if hasattr(value, "suggest") else value


def _sample_sk(trial: optuna.Trial, prefix: str, tree: dict[str, Any]) -> dict[str, Any]:
    branches = tree["branches"]
    m = _get(trial, f"{prefix}M", tree.get("M", len(branches)))
    out = {"branches": [[_get(trial, f"{prefix}branches.{i}.kernel", b["kernel"]),
                         _get(trial, f"{prefix}branches.{i}.dilation", b["dilation"])]
                        for i, b in enumerate(branches[:m])]}
    # With one branch there is no attention: r and L mean nothing, so they are not sampled.
    for key in ("reduction", "min_dim"):
        value = tree.get(key, SK_DEFAULTS[key])
        if m > 1:
            out[key] = _get(trial, f"{prefix}{key}", value)
        else:
            out[key] = SK_DEFAULTS[key] if hasattr(value, "suggest") else value
    return out


def sample(space: SearchSpace, trial: optuna.Trial, shape: DataShape) -> Sample:
    model = space.model
    top = {k: _get(trial, k, model.get(k, default)) for k, default in SPEC_DEFAULTS.items()
           if k != "se_reduction"}
    block = top["block"]
    se_reduction = _get(trial, "se_reduction", model.get("se_reduction", 16)) if block == "se" else 16
    sk = _sample_sk(trial, "sk.", model["sk"]) if block == "sk" else {"branches": [[3, 1], [3, 2]], **SK_DEFAULTS}
    stages = []
    for i, st in enumerate(model["stages"]):
        p = f"stages.{i}."
        depth = _get(trial, p + "depth", st["depth"])
        groups = _get(trial, p + "groups", st["groups"]) if "groups" in st else None
        if "width" in st:
            width = _get(trial, p + "width", st["width"])
        else:
            width = (groups or top["groups"]) * _get(trial, p + "width_per_group", st["width_per_group"])
        stages.append({
            "depth": depth, "width": width, "out_channels": _get(trial, p + "out_channels", st["out_channels"]),
            "stride": _get(trial, p + "stride", st.get("stride", 1)), "groups": groups,
            "sk": _sample_sk(trial, p + "sk.", st["sk"]) if "sk" in st and block == "sk" else None,
        })
    arch = {**top, "se_reduction": se_reduction, "sk": sk, "stages": stages, "num_classes": shape.num_classes,
            "in_channels": shape.in_channels, "input_size": shape.input_size}
    train_values = {k: _get(trial, k, v) for k, v in space.train.items()}
    train = TrainSpec(max_epochs=space.scheduler.max_epochs, **train_values)
    return Sample(arch=arch, train=train, params=dict(trial.params))


def violations(space: SearchSpace, params: int, macs: int) -> list[str]:
    """The budgets a (params, MACs) pair breaks, as sentences; empty when within budget."""
    found = []
    for name, value in (("params", params), ("macs", macs)):
        bound = space.constraints.get(name, {})
        if "max" in bound and value > bound["max"]:
            found.append(f"{name} {value:,} > max {bound['max']:,.0f}")
        if "min" in bound and value < bound["min"]:
            found.append(f"{name} {value:,} < min {bound['min']:,.0f}")
    return found


def evaluate_sample(space: SearchSpace, s: Sample) -> tuple[ArchSpec | None, int | None, int | None, str | None]:
    """(spec, params, macs, None) for a valid sample within budget, else a reason to reject it."""
    try:
        spec = ArchSpec.from_dict(s.arch)
    except SpecError as exc:
        return None, None, None, f"invalid architecture: {exc}"
    params, macs = params_and_macs(spec)
    broken = violations(space, params, macs)
    return spec, params, macs, ("; ".join(broken) if broken else None)


def check_feasible(space: SearchSpace, tries: int = 200, cost_tries: int = 24) -> None:
    """Fail early on a space in which no sample is a valid architecture within budget."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    shape = data_shape(space)
    first_reason, costed = None, 0
    smallest: dict[str, int] = {}
    for _ in range(tries):
        trial = study.ask()
        s = sample(space, trial, shape)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        try:
            spec = ArchSpec.from_dict(s.arch)
        except SpecError as exc:
            first_reason = first_reason or str(exc)
            continue
        if not space.constraints:
            return
        params, macs = params_and_macs(spec)
        if not violations(space, params, macs):
            return
        smallest = {"params": min(params, smallest.get("params", params)), "macs": min(macs, smallest.get("macs", macs))}
        costed += 1
        if costed >= cost_tries:
            break
    if costed:
        raise SpaceError("constraints", f"none of {costed} sampled architectures meets the budgets "
                                        f"(smallest seen: {smallest['params']:,} params, {smallest['macs']:,} MACs)")
    raise SpaceError("model", f"none of {tries} sampled architectures is valid, e.g. {first_reason}")
