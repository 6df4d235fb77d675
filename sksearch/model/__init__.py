"""Architectures: the spec every network, cost and export derives from, the paper's presets,
and (importing torch) the network itself and its cost.

``spec``, ``presets`` and ``resolve`` need no torch; ``network`` and ``cost`` do, and are
imported only by code that builds or counts a network.
"""

from .presets import DESCRIPTIONS, PRESETS, preset
from .spec import ArchSpec, SKSpec, SpecError, StageSpec

__all__ = ["ArchSpec", "DESCRIPTIONS", "PRESETS", "SKSpec", "SpecError", "StageSpec", "preset"]
