"""Whether a driver's space may join a study other drivers already wrote: every parameter the
study holds must be searched over the same distribution here.

Optuna finds out only when it draws (``CategoricalDistribution does not support dynamic value
space``), after the driver made its folder and left a trial RUNNING in the shared study; and a
changed range of numbers it accepts silently, mixing two searches in one sampler. Both are
refused before anything is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import UserError, show
from ..space.parsed import SearchSpace
from ..space.sample import sample

if TYPE_CHECKING:
    import optuna


class _Following:
    """An Optuna-trial stand-in that walks this space along an existing trial's values (the
    define-by-run branches it took), recording the distribution this space gives each parameter.
    A value this space cannot draw is replaced by one it can, so that the walk goes on."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.distributions: dict[str, Any] = {}
        self.params: dict[str, Any] = {}

    def _take(self, name: str, dist: Any, fits: bool, fallback: Any) -> Any:
        self.distributions[name] = dist
        value = self.values[name] if name in self.values and fits else fallback
        self.params[name] = value
        return value

    def suggest_categorical(self, name: str, choices: tuple) -> Any:
        from optuna.distributions import CategoricalDistribution

        value = self.values.get(name)
        fits = any(value == c and type(value) is type(c) for c in choices)
        return self._take(name, CategoricalDistribution(list(choices)), fits, choices[0])

    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int:
        from optuna.distributions import IntDistribution

        value = self.values.get(name)
        fits = isinstance(value, int) and low <= value <= high
        return self._take(name, IntDistribution(low, high, step=step, log=log), fits, low)

    def suggest_float(self, name: str, low: float, high: float, step: float | None = None, log: bool = False) -> float:
        from optuna.distributions import FloatDistribution

        value = self.values.get(name)
        fits = isinstance(value, (int, float)) and low <= value <= high
        return self._take(name, FloatDistribution(low, high, step=step, log=log), fits, low)


def _describe(dist: Any) -> str:
    from optuna.distributions import CategoricalDistribution

    if isinstance(dist, CategoricalDistribution):
        return f"choice {show(list(dist.choices))}"
    kind = "int" if type(dist).__name__ == "IntDistribution" else "float"
    extra = (", log" if dist.log else "") + (f", step {dist.step}" if dist.step not in (None, 1) else "")
    return f"{kind} [{dist.low}, {dist.high}{extra}]"


def check_same_space(study: optuna.Study, space: SearchSpace, where: str) -> None:
    """``UserError`` when a trial of ``study`` holds a parameter this space searches over
    another distribution (``where`` names the storage in the message)."""
    shape = space.data.shape()
    walked: set[tuple[tuple[str, str], ...]] = set()
    for trial in study.get_trials(deepcopy=False):
        if not trial.distributions:
            continue  # a baseline or a trial never drawn: nothing to compare
        # Branches are taken on choices and integers (M, a depth): trials that agree on those
        # meet the same distributions, so each path is walked once.
        key = tuple(sorted((n, repr(v)) for n, v in trial.params.items()
                           if type(trial.distributions[n]).__name__ != "FloatDistribution"))
        if key in walked:
            continue
        walked.add(key)
        follow = _Following(dict(trial.params))
        sample(space, follow, shape)
        for name, theirs in trial.distributions.items():
            mine = follow.distributions.get(name)
            if mine is not None and mine != theirs:
                raise UserError(f"--storage {where}: study {study.study_name!r} searches {name} over "
                                f"{_describe(theirs)} (trial {trial.number}); this space over {_describe(mine)}: "
                                f"drivers of one study need the same space (use another --storage or space name)")
