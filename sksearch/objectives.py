"""The one table of what a search can trade off.

An objective's name is also the key a trial reports it under, the trials table's column and
the name in space files and ``--objectives``. Everything that needs to know an objective's
direction, label or format, or the list of metrics a trial reports, reads it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Objective:
    name: str                    # space files, --objectives, result key, table column
    goal: str                    # "max" | "min"
    label: str                   # axis titles and table headers
    format: Callable[[float], str]  # one value for people to read
    # A whole number counted from the architecture before the trial trains (the same at every
    # epoch, an integer column of the trials table); the others are measured by training it.
    counted: bool = False

    @property
    def direction(self) -> str:
        """Optuna's word for the goal."""
        return "maximize" if self.goal == "max" else "minimize"


def _percent(v: float) -> str:
    return f"{v:.2%}"


def _count(v: float) -> str:
    return f"{int(v):,}"


OBJECTIVES: dict[str, Objective] = {o.name: o for o in (
    Objective("accuracy", "max", "validation accuracy", _percent),
    Objective("params", "min", "parameters", _count, counted=True),
    Objective("macs", "min", "multiply-adds", _count, counted=True),
    Objective("latency", "min", "latency (ms, batch 1)", lambda v: f"{v:.3f} ms"),
    Objective("loss", "min", "validation loss", lambda v: f"{v:.4f}"),
)}
GOALS: dict[str, str] = {name: o.goal for name, o in OBJECTIVES.items()}
COUNTED = tuple(name for name, o in OBJECTIVES.items() if o.counted)
MEASURED = tuple(name for name, o in OBJECTIVES.items() if not o.counted)
# Early stopping compares trials by the accuracy they reached; a search must ask for it.
REQUIRED = "accuracy"
DEFAULT = ("accuracy", "params")


def objective(name: str) -> Objective:
    """The named objective; ``KeyError`` lists the allowed names."""
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise KeyError(f"{name!r} is not an objective; allowed: {', '.join(OBJECTIVES)}") from None
