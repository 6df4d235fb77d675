"""Warm start: the completed trials of earlier studies that fit this space, added to the new
study before its search starts, so that its sampler begins informed.

A source is a study folder or ``URL#STUDY_NAME``. Its objectives must be this space's; a
trial whose parameters this space could not have drawn (another range, a key the space does
not search) is left out. Imported trials are COMPLETE in the new study with their objective
values and parameters (so every sampler learns from them), marked ``imported`` with their
source; they were not trained here, never count as this run's trials, and stay out of fronts
unless asked for (``pareto --include-imported``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserError
from ..space.distributions import SpaceError
from ..space.parsed import SearchSpace
from ..space.sample import constraint_values, draw_fixed
from ..study.folder import own_storage, read_run
from ..study.reader import read_records
from ..study.store import StudyRef
from ..study.table import METRICS


@dataclass
class Import:
    """What one source gives: its label and the trials to add (values, params, distributions,
    metrics)."""

    label: str
    trials: list[dict[str, Any]] = field(default_factory=list)
    left_out: int = 0


def locate(source: str) -> StudyRef:
    """The study a study folder or ``URL#NAME`` names (errors name ``source``)."""
    if "://" in source:
        url, sep, name = source.partition("#")
        if not sep or not name:
            raise UserError(f"warm_start: {source}: a database URL needs the study's name: URL#STUDY_NAME")
        return StudyRef(url, name, source)
    if not os.path.isdir(source):
        raise UserError(f"warm_start: {source}: no such study folder")
    run = read_run(source)
    # A folder is read as the read commands read it: its own database, never a server its run.json names.
    url = own_storage(source, run, follow=f"name it as URL#{run.study_name} (URL with its password)")
    return StudyRef(url, run.study_name, source)


def plan_imports(space: SearchSpace, sources: list[str]) -> list[Import]:
    """Read every source and pick its trials that fit ``space`` (nothing is written)."""
    plans = []
    for source in sources:
        study = locate(source)
        records, metric_names = read_records(study, curves=False, baselines=False)
        if list(metric_names) != space.metric_names:
            raise UserError(f"warm_start: {source}: its objectives are {', '.join(metric_names)}; this space's are "
                            f"{', '.join(space.metric_names)}")
        plan = Import(f"{study.name} ({study.where})")
        for r in records:
            if r.state != "COMPLETE" or r.values is None or r.user_attrs.get("baseline"):
                continue
            try:
                _, draw = draw_fixed(space, r.params, "warm_start")
            except SpaceError:
                plan.left_out += 1
                continue
            metrics = {k: r.user_attrs[k] for k in METRICS if k in r.user_attrs}
            plan.trials.append({"values": list(r.values), "params": dict(draw.params),
                                "distributions": draw.distributions, "metrics": metrics, "number": r.number,
                                # this space's budgets: a sampler compares them across all trials
                                "constraints": constraint_values(space, metrics.get("params"), metrics.get("macs"))})
        plans.append(plan)
    return plans


def import_trials(study: Any, plans: list[Import]) -> int:
    """Add the planned trials to ``study`` (once: trials a source already gave are skipped)."""
    import optuna
    from optuna.trial import TrialState

    seen = {(t.user_attrs.get("imported"), t.user_attrs.get("imported_trial"))
            for t in study.get_trials(deepcopy=False) if t.user_attrs.get("imported")}
    added = []
    for plan in plans:
        for t in plan.trials:
            if (plan.label, t["number"]) in seen:
                continue
            trial = optuna.trial.create_trial(
                state=TrialState.COMPLETE, values=t["values"], params=t["params"], distributions=t["distributions"],
                user_attrs={**t["metrics"], "status": "completed", "imported": plan.label,
                            "imported_trial": t["number"]})
            for key, value in t["constraints"].items():
                trial.set_constraint(key, value)
            added.append(trial)
    study.add_trials(added)
    return len(added)
