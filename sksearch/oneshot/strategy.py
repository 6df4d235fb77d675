"""The one-shot strategy (``OneShot``, the search driver's ``Strategy``): its phases before the
main study's trials train the supernet, search its subnets, and choose the subnets that
stand-alone trials confirm, from their inherited weights or from scratch.

Every phase picks up where an interrupted run left it, so ``sksearch resume`` simply runs them
again: a finished supernet or subnet search returns at once.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import optuna

from ..search.strategy import Strategy
from ..space.distributions import Distribution
from ..space.parsed import SearchSpace
from ..study.folder import StudyFolder
from ..study.layout import arch_key, atomic_write, inherited_dir
from ..study.store import open_for_search
from .export import calibration_for, inherited_state, subnet_spec
from .sandwich import centre_recipe
from .search import load_supernet, search_subnets
from .trainable import fit_supernet


class OneShot(Strategy):
    """One weight-sharing supernet ranks the space's subnets before the trials; the trials
    confirm the chosen ones stand-alone. It runs on one machine: the supernet and the inherited
    weights live in the study folder."""

    name = "one_shot"
    has_phases = True
    one_machine = True

    def init_dir(self, space: SearchSpace, root: str) -> str | None:
        return inherited_dir(root) if space.strategy.init == "inherited" else None

    def before_trials(self, space: SearchSpace, data: Any, root: str, storage_url: str,
                      run_id: str | None) -> SearchSpace | None:
        return prepare(space, data, root, storage_url, run_id)

    def outcome(self, folder: StudyFolder) -> str | None:
        """The supernet's front beside the confirmed subnets, and the verdict on its ranking."""
        from ..study.subnets import one_shot_info

        if folder.subnet_table is None:
            return None
        space = folder.space
        o = one_shot_info(folder.table, folder.subnet_table, space.metric_names, space.name)
        return (f"one-shot: {o['draws']} draws of {o['distinct']} distinct subnets, {o['evaluated']} evaluated with "
                f"the supernet's weights, {len(o['front'])} on their front (`sksearch pareto {folder.root}` lists "
                f"it), {o['confirmed']} confirmed stand-alone above\n{o['verdict']}")


def choose(space: SearchSpace, study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The subnets to confirm, each network once (``study.subnets.chosen_subnets``, which
    ``sksearch status`` counts the planned confirmations by)."""
    from ..study.subnets import chosen_subnets
    from ..study.table import records_from_study, subnet_table

    table = subnet_table(records_from_study(study), space.metric_names)
    numbers = chosen_subnets(table, space.metric_names, space.strategy.confirm, space.strategy.spread)
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    return [by_number[n] for n in numbers]


def recipe_values(space: SearchSpace) -> dict[str, Any]:
    """The searched recipe values at their centre (what the supernet trained with)."""
    return {k: v for k, v in centre_recipe(space).items() if isinstance(space.train[k], Distribution)}


def prepare(space: SearchSpace, data: Any, root: str, storage_url: str, run_id: str | None) -> SearchSpace | None:
    """Run the supernet and subnet phases; returns the space the main study's trials run with
    (the chosen subnets as its seed configurations, one trial each), or None when the run was
    interrupted before the confirmation."""

    weights = fit_supernet(space, data, root)
    if weights is None:
        return None
    study = search_subnets(space, data, weights, storage_url, run_id=run_id)
    chosen = choose(space, study)
    if not chosen:
        from ..errors import UserError

        raise UserError(f"{space.source}: no subnet was evaluated within the budgets; loosen the constraints")
    recipe = recipe_values(space)
    configs = tuple({**t.params, **recipe} for t in chosen)
    main = open_for_search(storage_url, space.name, space)
    for config in configs:
        main.enqueue_trial(config, skip_if_exists=True)
    if space.strategy.init == "inherited":
        _write_inherited(space, data, weights, [t.params for t in chosen], root)
    print(f"confirming {len(configs)} subnets stand-alone ({min(len(configs), space.strategy.confirm)} of the "
          f"supernet front, the rest spread over the others), from "
          f"{'their inherited weights' if space.strategy.init == 'inherited' else 'scratch'}", flush=True)
    return replace(space, trials=len(configs), seed_configs=configs)


def _write_inherited(space: SearchSpace, data: Any, weights: str, params: list[dict[str, Any]], root: str) -> None:
    """The inherited weights of each chosen subnet, BatchNorm recalibrated as when it was
    evaluated, where its stand-alone trial finds them."""
    from safetensors.torch import save_file

    supernet = load_supernet(space, space.data.shape(data), weights)
    calibration = calibration_for(space, data)
    folder = inherited_dir(root)
    os.makedirs(folder, exist_ok=True)
    for p in params:
        spec = subnet_spec(space, p)
        path = os.path.join(folder, arch_key(spec.to_dict()) + ".safetensors")
        if not os.path.exists(path):
            tensors = inherited_state(supernet, spec, calibration)
            atomic_write(path, lambda tmp, t=tensors: save_file(t, tmp))
