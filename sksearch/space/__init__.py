"""Search spaces: YAML files of fixed and searched values, sampled into trial configurations.

``schema`` reads and validates a file (no torch, no Optuna); ``overrides`` applies ``--set``
values; ``sample`` draws a configuration from an Optuna trial and checks it (its cost is
counted with torch).
"""

from .distributions import Choice, FloatRange, IntRange, SpaceError, parse_number
from .schema import Resources, SamplerSpec, SchedulerSpec, SearchSpace, load_space, parse

__all__ = ["Choice", "FloatRange", "IntRange", "Resources", "SamplerSpec", "SchedulerSpec", "SearchSpace",
           "SpaceError", "load_space", "parse", "parse_number"]
