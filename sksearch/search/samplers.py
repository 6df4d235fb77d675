"""The samplers a space names (``sampler.name``: ``tpe``, ``gp``, ``nsga2``, ``nsga3``,
``random``), built as the searcher asks for them before each draw: seeded with the space's
seed plus the study's size, so that a draw depends on the study alone."""

from __future__ import annotations

import warnings

import optuna

from ..space.parsed import SearchSpace


def make_sampler(space: SearchSpace, offset: int = 0, name: str | None = None) -> optuna.samplers.BaseSampler:
    """The space's sampler (or the sampler ``name``, seeded alike); ``offset`` (the study's
    size) shifts its seed. A sample a budget rejected is a PRUNED trial with a violated constraint
    (``Trial.set_constraint``): TPE ranks it below every completed trial and learns to avoid its
    region; GP and NSGA-II/III read
    constraints from completed trials only, hence ``optuna_searcher.RANDOM_AFTER_REJECTIONS``."""
    spec = space.sampler
    name = name or spec.name
    seed = None if spec.seed is None else spec.seed + offset
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(population_size=spec.population_size, seed=seed)
        if name == "nsga3":
            return optuna.samplers.NSGAIIISampler(population_size=spec.population_size, seed=seed)
        # A define-by-run space is dynamic (branch settings exist only for the M drawn): the
        # samplers draw such parameters independently, as they should, without a warning each.
        if name == "gp":
            return optuna.samplers.GPSampler(n_startup_trials=spec.n_startup_trials, seed=seed,
                                             warn_independent_sampling=False)
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.TPESampler(n_startup_trials=spec.n_startup_trials, seed=seed,
                                          multivariate=True, constant_liar=True)
