"""What a search strategy adds to the driver's Ray Tune trials, handed to the driver by its
caller (``api.strategy_for``, which picks one from the space's ``strategy.name``): the driver
names no strategy and imports none, so a strategy built on the search wing (the one-shot one,
``oneshot/strategy.py``) is never imported from below.

``Strategy`` itself is the plain search: every trial trains its own network from scratch, on
any cluster, with no phase before the trials.
"""

from __future__ import annotations

from typing import Any, Callable

from ..space.parsed import SearchSpace
from ..study.folder import StudyFolder


class Strategy:
    """The plain (``standalone``) search; a strategy with phases of its own subclasses it."""

    name = "standalone"  # the space's strategy.name this strategy runs
    # Whether phases run before the trials (``before_trials``): the trials' tuner waits for the
    # space they return.
    has_phases = False
    # Whether the strategy runs on one machine only (its phases write into the study folder,
    # which only the driver's machine sees): a cluster of several is refused.
    one_machine = False

    def init_dir(self, space: SearchSpace, root: str) -> str | None:
        """The folder of weights the trials start from, a file per architecture (None: every
        trial starts from scratch)."""
        return None

    def before_trials(self, space: SearchSpace, data: Any, root: str, storage_url: str,
                      run_id: str | None) -> SearchSpace | None:
        """Run the phases before the trials; the space the trials run with, or None when the
        phases were interrupted (``sksearch resume`` runs them again: a finished phase returns
        at once)."""
        return space

    def outcome(self, folder: StudyFolder) -> str | None:
        """What the strategy adds to a finished search's outcome, printed after its Pareto
        front (None: nothing)."""
        return None


Pick = Callable[[SearchSpace], Strategy]  # the strategy a space's strategy.name asks for
