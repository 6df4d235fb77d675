"""A space file once parsed: ``SearchSpace`` and the settings it holds (sampler, scheduler,
resources, baselines), each a dataclass that writes itself back in the space-file form.
``schema.parse`` builds them; nothing here validates."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from ..data.spec import DataSpec
from ..model.spec import DEFAULT_BRANCHES, SKSpec
from ..objectives import Objective
from .distributions import Distribution

# What a space file's model leaves out (the parser and the supernet read the same defaults).
MODEL_DEFAULTS = {"family": "resnext", "block": "sk", "stem": "cifar", "stem_width": 16, "groups": 8,
                  "se_reduction": 16, "head_width": None}
SK_DEFAULTS = {"branches": [{"kernel": k, "dilation": d} for k, d in DEFAULT_BRANCHES],
               "reduction": SKSpec.reduction, "min_dim": SKSpec.min_dim, "select": SKSpec.select}
DEFAULT_TRIALS = 20  # a space file's ``trials`` when it names none


def rung_epochs(grace_period: int, reduction_factor: int, max_epochs: int) -> list[int]:
    """Epochs at which successive halving compares a trial with its peers: grace_period x
    reduction_factor^k, below max_epochs."""
    out, epoch = [], grace_period
    while epoch < max_epochs:
        out.append(epoch)
        epoch *= reduction_factor
    return out


@dataclass(frozen=True)
class SamplerSpec:
    name: str = "tpe"             # a name in space/samplers.py's SAMPLERS table
    seed: int | None = 0
    population_size: int = 20     # NSGA-II and NSGA-III: trials per generation
    n_startup_trials: int = 8     # TPE and GP: random trials before modelling


@dataclass(frozen=True)
class SchedulerSpec:
    name: str = "asha"            # a space file without a name gets mo_asha for several objectives
    max_epochs: int = 10          # a full-budget trial's epochs
    grace_period: int = 1         # epochs before the first rung
    reduction_factor: int = 3     # eta: 1/eta of a rung continues

    def rungs(self) -> list[int]:
        """The epochs at which the scheduler compares trials: none for ``none``, which runs
        every trial its full budget."""
        if self.name == "none":
            return []
        return rung_epochs(self.grace_period, self.reduction_factor, self.max_epochs)


@dataclass(frozen=True)
class StrategySpec:
    name: str = "standalone"      # standalone | one_shot
    supernet_epochs: int = 12     # one_shot: epochs of the supernet's sandwich-rule training
    subnets: int = 1000           # one_shot: subnet draws, each distinct network evaluated once (inherited weights)
    confirm: int = 4              # one_shot: subnets of the supernet front trained stand-alone
    spread: int = 4               # one_shot: other subnets trained stand-alone, spread over the accuracy range
    init: str = "scratch"         # one_shot: confirmed subnets start from scratch | inherited weights
    distill: bool = True          # one_shot: in-place distillation from the largest subnet
    calibration_batches: int = 8  # one_shot: training batches that recalibrate a subnet's BatchNorm
    screen_images: int = 0        # one_shot: val images that screen each subnet first (0: no screening)


@dataclass(frozen=True)
class ConfirmSpec:
    """``sksearch confirm`` as the last phase of ``run`` and ``resume`` (nothing when both
    ``seeds`` and ``audit`` are 0)."""

    seeds: int = 0                # runs with new seeds of each front, near-front and baseline trial
    top: int | None = None        # trials to repeat by non-dominated rank (None: the front)
    audit: int = 0                # stopped trials trained to the full budget

    @property
    def wanted(self) -> bool:
        return bool(self.seeds or self.audit)


@dataclass(frozen=True)
class Resources:
    cpu: float = 1.0
    gpu: float = 0.0
    # A folder every node of the cluster mounts, where Ray writes the trials' folders
    # (checkpoints, result.json) instead of the study folder's ray/; None: the study folder.
    trial_storage: str | None = None


@dataclass(frozen=True)
class Baseline:
    """A reference network trained in every study with the searched trials' budget and data:
    a preset, or a fixed ``model`` in the space-file schema; ``train`` fixes recipe values (a
    searched one it leaves out takes its distribution's centre)."""

    name: str
    preset: str | None = None
    model: dict[str, Any] | None = None
    train: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.preset:
            out["preset"] = self.preset
        if self.model is not None:
            out["model"] = _unparse(self.model)
        if self.train:
            out["train"] = dict(self.train)
        return out


@dataclass
class SearchSpace:
    name: str
    source: str
    data: DataSpec
    model: dict[str, Any]
    train: dict[str, Any]
    objectives: tuple[Objective, ...]
    constraints: dict[str, dict[str, float]] = field(default_factory=dict)
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    scheduler: SchedulerSpec = field(default_factory=SchedulerSpec)
    resources: Resources = field(default_factory=Resources)
    concurrency: int | None = None
    trials: int = DEFAULT_TRIALS
    description: str = ""
    loggers: tuple[str, ...] = ()
    baselines: tuple[Baseline, ...] = ()
    seed_configs: tuple[dict[str, Any], ...] = ()   # {parameter name: value}, proposed first
    warm_start: tuple[str, ...] = ()                # study folders or URL#STUDY_NAME to learn from
    strategy: StrategySpec = field(default_factory=StrategySpec)
    confirm: ConfirmSpec = field(default_factory=ConfirmSpec)

    @property
    def metric_names(self) -> list[str]:
        return [o.name for o in self.objectives]

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]

    def to_dict(self) -> dict[str, Any]:
        """The resolved space: re-parses to an equal ``SearchSpace`` (written to each study)."""
        return {
            "name": self.name,
            "description": self.description,
            "data": self.data.to_dict(),
            "model": _unparse(self.model),
            "train": _unparse(self.train),
            "objectives": [{"name": o.name, "goal": o.goal} for o in self.objectives],
            "constraints": self.constraints,
            "sampler": asdict(self.sampler),
            "scheduler": asdict(self.scheduler),
            "resources": asdict(self.resources),
            "concurrency": self.concurrency,
            "trials": self.trials,
            "loggers": list(self.loggers),
            "baselines": [b.to_dict() for b in self.baselines],
            "seed_configs": [dict(c) for c in self.seed_configs],
            "warm_start": list(self.warm_start),
            "strategy": asdict(self.strategy),
            # Only when asked for: the spaces written before it re-read as they were.
            **({"confirm": asdict(self.confirm)} if self.confirm.wanted else {}),
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _unparse(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _unparse(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_unparse(v) for v in node]
    if isinstance(node, Distribution):
        return node.to_dict()
    return node
