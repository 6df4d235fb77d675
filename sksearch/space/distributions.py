"""Searched values in a space file: ``{choice: [...]}``, ``{int: [lo, hi]}``, ``{float: [lo, hi]}``
(with optional ``log: true`` and ``step``), and ``branches: {choice: [[...], ...]}`` (a choice
among whole branch sets). Each is a ``Distribution`` (as Optuna's are ``BaseDistribution``s),
suggested through an Optuna trial; anything else in a parsed space is a fixed value."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..errors import show

if TYPE_CHECKING:  # reading a space file needs no Optuna; sampling one hands it a trial
    import optuna

KINDS = ("choice", "int", "float")
MAX_CHOICES = 1000


class SpaceError(ValueError):
    """A bad search-space file: ``key`` is the dotted path of the offending entry."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key or '(the whole file)'}: {message}")
        self.key = key
        self.message = message


class Distribution(ABC):
    """A searched value of a parsed space: a parsed space's entry is either one of these or a
    fixed value, and code tells them apart with ``isinstance(value, Distribution)``."""

    @abstractmethod
    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        """The value ``trial`` draws for the parameter ``name``."""

    @abstractmethod
    def candidates(self) -> tuple[Any, ...]:
        """The values it can produce (a range: its two ends), for checks at parse time."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The space-file form it was parsed from."""


@dataclass(frozen=True)
class Choice(Distribution):
    values: tuple[Any, ...]

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return trial.suggest_categorical(name, self.values)

    def candidates(self) -> tuple[Any, ...]:
        return self.values

    def to_dict(self) -> dict[str, Any]:
        return {"choice": list(self.values)}


@dataclass(frozen=True)
class IntRange(Distribution):
    low: int
    high: int
    step: int = 1
    log: bool = False

    def suggest(self, trial: optuna.Trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log)

    def candidates(self) -> tuple[Any, ...]:
        return (self.low, self.high)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"int": [self.low, self.high]}
        if self.step != 1:
            out["step"] = self.step
        if self.log:
            out["log"] = True
        return out


@dataclass(frozen=True)
class FloatRange(Distribution):
    low: float
    high: float
    step: float | None = None
    log: bool = False

    def suggest(self, trial: optuna.Trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log)

    def candidates(self) -> tuple[Any, ...]:
        return (self.low, self.high)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"float": [self.low, self.high]}
        if self.step is not None:
            out["step"] = self.step
        if self.log:
            out["log"] = True
        return out


def branch_label(branch: dict[str, Any]) -> str:
    """A fixed branch as text: ``3x3d2``, ``5x5d1g64``."""
    k, d = branch["kernel"], branch["dilation"]
    return f"{k}x{k}d{d}" + (f"g{branch['groups']}" if "groups" in branch else "")


@dataclass(frozen=True)
class BranchSets(Distribution):
    """``branches: {choice: [[...], [...]]}``: a choice among whole sets of fixed branches (the
    paper's kernel combinations). The searched value is the set's label, ``3x3d1+3x3d2``."""

    sets: tuple[tuple[dict[str, Any], ...], ...]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple("+".join(branch_label(b) for b in branches) for branches in self.sets)

    def suggest(self, trial: optuna.Trial, name: str) -> list[dict[str, Any]]:
        label = trial.suggest_categorical(name, self.labels)
        return list(self.sets[self.labels.index(label)])

    def candidates(self) -> tuple[Any, ...]:
        return self.labels

    def to_dict(self) -> dict[str, Any]:
        return {"choice": [[dict(b) for b in branches] for branches in self.sets]}


def candidates(value: Any) -> tuple[Any, ...]:
    """The values a fixed value or a distribution can take (a float range: its two ends)."""
    return value.candidates() if isinstance(value, Distribution) else (value,)


def suggest(trial: optuna.Trial, name: str, value: Any) -> Any:
    """What ``trial`` draws for ``name`` when ``value`` is a distribution; else ``value``."""
    return value.suggest(trial, name) if isinstance(value, Distribution) else value


# A field's rule: checks a value and returns it in its normal form (a number written as a
# string, "1e-3", becomes a float), or raises SpaceError naming the key and what is allowed.
Check = Callable[[str, Any], Any]


def is_distribution_node(node: Any) -> bool:
    """Whether a raw space-file node writes a distribution (a mapping with a kind key)."""
    return isinstance(node, dict) and any(k in node for k in KINDS)


def _number(key: str, value: Any, integer: bool) -> float:
    value = parse_number(key, value)
    if integer and float(value) != int(value):
        raise SpaceError(key, f"must be an integer, got {show(value)}")
    return int(value) if integer else float(value)


def parse_number(key: str, value: Any) -> float:
    """A finite number, also from strings such as ``1e-3``, ``2e6``, ``1.5M``, ``300K`` or ``4G``
    (PyYAML reads ``1e-3`` without a dot as a string)."""
    if isinstance(value, bool):
        raise SpaceError(key, f"must be a number, got {show(value)}")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise SpaceError(key, f"must be a finite number, got {show(value)}")
        return value
    if isinstance(value, str) and len(value) <= 40:
        text = value.strip().replace("_", "")
        scale = {"K": 1e3, "M": 1e6, "G": 1e9}.get(text[-1:].upper())
        try:
            number = float(text[:-1]) * scale if scale else float(text)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return int(number) if number == int(number) and abs(number) < 2**53 else number
    raise SpaceError(key, f"must be a number (e.g. 2000000, 2e6 or 2M), got {show(value)}")


def parse_distribution(key: str, node: dict[str, Any], check: Check) -> Choice | IntRange | FloatRange:
    """Parse a distribution node; ``check(key, value)`` validates every value it can produce."""
    kinds = [k for k in KINDS if k in node]
    if len(kinds) != 1:
        raise SpaceError(key, f"give exactly one of {', '.join(KINDS)}, got {', '.join(kinds)}")
    kind = kinds[0]
    allowed = {"choice": {"choice"}, "int": {"int", "step", "log"}, "float": {"float", "step", "log"}}[kind]
    extra = sorted(set(map(str, node)) - allowed)
    if extra:
        raise SpaceError(f"{key}.{extra[0]}",
                         f"unknown key for a {kind} distribution; allowed: {', '.join(sorted(allowed))}")
    if kind == "choice":
        values = node["choice"]
        if not isinstance(values, list) or not values:
            raise SpaceError(f"{key}.choice", f"must be a non-empty list, got {show(values)}")
        if len(values) > MAX_CHOICES:
            raise SpaceError(f"{key}.choice", f"has {len(values)} values; at most {MAX_CHOICES}")
        checked = []
        for i, v in enumerate(values):
            if isinstance(v, (dict, list)):
                raise SpaceError(f"{key}.choice[{i}]", f"choices must be plain values, got {show(v)}")
            checked.append(check(f"{key}.choice[{i}]", v))
        if len(set(map(repr, checked))) != len(checked):
            raise SpaceError(f"{key}.choice", f"has duplicate values: {show(values)}")
        return Choice(tuple(checked))
    bounds = node[kind]
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise SpaceError(f"{key}.{kind}", f"must be [low, high], got {show(bounds)}")
    integer = kind == "int"
    low = _number(f"{key}.{kind}[0]", bounds[0], integer)
    high = _number(f"{key}.{kind}[1]", bounds[1], integer)
    if low > high or (not integer and low == high):
        raise SpaceError(f"{key}.{kind}", f"low must be below high, got [{low}, {high}]")
    log = node.get("log", False)
    if not isinstance(log, bool):
        raise SpaceError(f"{key}.log", f"must be true or false, got {show(log)}")
    if log and low <= 0:
        raise SpaceError(f"{key}.log", f"a log scale needs low > 0, got {low}")
    step = node.get("step")
    if step is not None:
        step = _number(f"{key}.step", step, integer)
        if step <= 0:
            raise SpaceError(f"{key}.step", f"must be > 0, got {step}")
        if log:
            raise SpaceError(f"{key}.step", "cannot be combined with log: true")
    low = check(f"{key}.{kind}[0]", low)
    high = check(f"{key}.{kind}[1]", high)
    if integer:
        return IntRange(int(low), int(high), int(step or 1), log)
    return FloatRange(float(low), float(high), step, log)


def size_rank(name: str, value: Any) -> float:
    """How large a value makes a network, for drawing a space's smallest or largest one: a
    larger r (``reduction``, ``se_reduction``) shrinks it, no head conv (None) and ``sum`` (no
    fuse) are smallest, a branch set counts its branches, other numbers are their size; other
    words rank alike (the dilation changes no cost)."""
    if value is None:
        return -math.inf
    if isinstance(value, (int, float)):
        return -float(value) if name.endswith("reduction") and not isinstance(value, bool) else float(value)
    if name.endswith("select"):
        return 0.0 if value == "sum" else 1.0
    if name.endswith("branches") and isinstance(value, str):
        return float(value.count("+"))
    return 0.0


class EndsDraw(ABC):
    """An Optuna-trial stand-in for ``space.sample.sample`` that picks each value among the
    ends of its distribution (a range's low and high ends, a choice's options): ``_pick`` says
    which, and records it in ``params``."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    @abstractmethod
    def _pick(self, name: str, options: list[Any]) -> Any: ...

    def suggest_categorical(self, name: str, choices: tuple) -> Any:
        return self._pick(name, list(choices))

    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int:
        return self._pick(name, [low, low + (high - low) // step * step])

    def suggest_float(self, name: str, low: float, high: float, step: float | None = None, log: bool = False) -> float:
        return self._pick(name, [low, high])
