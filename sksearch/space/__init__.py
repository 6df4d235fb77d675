"""Search spaces: YAML files of fixed and searched values, sampled into trial configurations.

``schema`` holds the rules and reads and validates a file (no torch, no Optuna) into the
dataclasses of ``parsed``, whose searched values are the ``distributions``; ``overrides``
applies ``--set`` values; ``sample`` draws a configuration from an Optuna trial and checks it
(its cost is counted with torch).
"""

from .distributions import BranchSets, Choice, Distribution, FloatRange, IntRange, SpaceError, parse_number
from .parsed import Baseline, Resources, SamplerSpec, SchedulerSpec, SearchSpace
from .schema import load_space, parse

__all__ = ["Baseline", "BranchSets", "Choice", "Distribution", "FloatRange", "IntRange", "Resources", "SamplerSpec",
           "SchedulerSpec", "SearchSpace", "SpaceError", "load_space", "parse", "parse_number"]
