"""The one table of samplers a space can name (``sampler.name``), each with the Optuna sampler
it builds, and ``make_sampler``, which builds the space's as the searcher asks for it before
each draw: seeded with the space's seed plus the study's size, so that a draw depends on the
study alone.

Optuna is imported where a sampler is built: the schema reads the names from this table, and
``sksearch models`` and ``status`` answer without Optuna.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from .parsed import SamplerSpec, SearchSpace

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class Sampler:
    """One sampler: its name in space files, what it is (the space reference's words), the
    ``sampler`` section's settings it reads besides ``seed``, and how it is built from the
    section and a seed (None: unseeded)."""

    name: str
    about: str
    reads: tuple[str, ...]
    build: Callable[[SamplerSpec, int | None], optuna.samplers.BaseSampler]


def _tpe(spec: SamplerSpec, seed: int | None) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.TPESampler(n_startup_trials=spec.n_startup_trials, seed=seed, multivariate=True,
                                      constant_liar=True)


def _gp(spec: SamplerSpec, seed: int | None) -> optuna.samplers.BaseSampler:
    import optuna

    # A define-by-run space is dynamic (branch settings exist only for the M drawn): GP draws
    # such parameters independently, as it should, without a warning each.
    return optuna.samplers.GPSampler(n_startup_trials=spec.n_startup_trials, seed=seed,
                                     warn_independent_sampling=False)


def _nsga2(spec: SamplerSpec, seed: int | None) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.NSGAIISampler(population_size=spec.population_size, seed=seed)


def _nsga3(spec: SamplerSpec, seed: int | None) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.NSGAIIISampler(population_size=spec.population_size, seed=seed)


def _random(spec: SamplerSpec, seed: int | None) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


# In the order the space reference and the errors list them; the first is a space file's default.
SAMPLERS: dict[str, Sampler] = {s.name: s for s in (
    Sampler("tpe", "TPE, multivariate, with the constant liar for concurrent trials", ("n_startup_trials",), _tpe),
    Sampler("gp", "Gaussian-process Bayesian optimisation", ("n_startup_trials",), _gp),
    Sampler("nsga2", "NSGA-II, a genetic algorithm in generations", ("population_size",), _nsga2),
    Sampler("nsga3", "NSGA-III, NSGA-II with reference points for many objectives", ("population_size",), _nsga3),
    Sampler("random", "independent uniform draws", (), _random),
)}


def reading(setting: str) -> list[str]:
    """The samplers that read the ``sampler`` section's ``setting``."""
    return [name for name, s in SAMPLERS.items() if setting in s.reads]


def make_sampler(space: SearchSpace, offset: int = 0, name: str | None = None,
                 previous: optuna.samplers.BaseSampler | None = None) -> optuna.samplers.BaseSampler:
    """The space's sampler (or the sampler ``name``, seeded alike); ``offset`` (the study's
    size) shifts its seed. A sample a budget rejected is a PRUNED trial with a violated constraint
    (``Trial.set_constraint``): TPE ranks it below every completed trial and learns to avoid its
    region; GP and NSGA-II/III read
    constraints from completed trials only, hence ``optuna_searcher.RANDOM_AFTER_REJECTIONS``.
    ``previous``: the sampler this one replaces on the same study; its search-space cache is
    carried over (``carry_search_space``)."""
    import optuna

    spec = space.sampler
    seed = None if spec.seed is None else spec.seed + offset
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = SAMPLERS[name or spec.name].build(spec, seed)
    if previous is not None:
        carry_search_space(previous, sampler)
    return sampler


def carry_search_space(previous: optuna.samplers.BaseSampler, fresh: optuna.samplers.BaseSampler) -> None:
    """Hand ``previous``'s intersection search space (Optuna's incremental cache of the
    parameters every trial so far shares) to ``fresh``, a sampler of the same kind on the same
    study. A sampler rebuilt before each draw (to seed it from the study alone) would otherwise
    recompute it over every trial: 36 s of a 1,000-draw one-shot search. The cache is a function
    of the study's trials, so what is drawn does not change. Optuna keeps it in a private
    attribute; where a version names it otherwise nothing is carried, and nothing breaks."""
    from optuna.search_space import IntersectionSearchSpace

    if type(previous) is not type(fresh):
        return
    for attr, value in vars(fresh).items():
        cache = vars(previous).get(attr)
        if isinstance(value, IntersectionSearchSpace) and isinstance(cache, IntersectionSearchSpace):
            setattr(fresh, attr, cache)
