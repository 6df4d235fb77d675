"""Search spaces: YAML files of fixed and searched values, sampled into trial configurations."""

from .distributions import Choice, FloatRange, IntRange, SpaceError, parse_number
from .sample import DataShape, Sample, check_feasible, data_shape, evaluate_sample, sample, violations
from .schema import Objective, Resources, SamplerSpec, SchedulerSpec, SearchSpace, load_space, parse

__all__ = ["Choice", "DataShape", "FloatRange", "IntRange", "Objective", "Resources", "Sample", "SamplerSpec",
           "SchedulerSpec", "SearchSpace", "SpaceError", "check_feasible", "data_shape", "evaluate_sample",
           "load_space", "parse", "parse_number", "sample", "violations"]
