"""Resolve what a user names into a ``SearchSpace``: a file, a dict or a parsed space, with
``KEY.PATH=VALUE`` overrides (``run --set``) applied to the raw file before it is validated,
so an override is checked exactly as the same value written in the file would be."""

from __future__ import annotations

import copy
import re
from typing import Any, Mapping, Sequence

import yaml

from ..errors import UserError
from .distributions import SpaceError
from .parsed import SearchSpace
from .sample import check_feasible, check_seed_configs
from .schema import parse, read_space_file

_KEY = r"[A-Za-z0-9_-]+"
_PATH = re.compile(rf"{_KEY}(?:\.{_KEY}|\[\d+\])*")
_TOKEN = re.compile(rf"({_KEY})|\[(\d+)\]")


def parse_assignment(text: str) -> tuple[str, Any]:
    """``model.stages[0].depth=2`` -> ("model.stages[0].depth", 2); the value is read as YAML."""
    path, sep, value = text.partition("=")
    if not sep or not path.strip():
        raise UserError(f"--set {text}: expected KEY.PATH=VALUE, e.g. train.lr=0.05 or model.stages[0].depth=2")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as exc:
        raise UserError(f"--set {text}: the value is not valid YAML ({getattr(exc, 'problem', exc)})") from None
    except ValueError as exc:  # PyYAML's int() of a number of more than 4,300 digits
        raise UserError(f"--set {path.strip()}: the value is not a number Python reads "
                        f"({str(exc).split(';')[0]})") from None
    except RecursionError:  # PyYAML composes nested lists recursively
        raise UserError(f"--set {text[:60]}...: the value is nested too deeply") from None
    return path.strip(), parsed


def split_path(path: str) -> list[str | int]:
    """``model.stages[0].depth`` or ``model.stages.0.depth`` -> ["model", "stages", 0, "depth"]."""
    if not _PATH.fullmatch(path):
        raise UserError(f"--set {path}: not a key path (keys of letters, digits, _ and - joined by dots; "
                        f"list items as [N])")
    return [int(index) if index else (int(name) if name.isdigit() else name)
            for name, index in _TOKEN.findall(path)]


def _dotted(tokens: list[str | int]) -> str:
    out = ""
    for t in tokens:
        out += f"[{t}]" if isinstance(t, int) else (f".{t}" if out else t)
    return out


def set_path(raw: dict[str, Any], path: str, value: Any) -> None:
    """Set one key path in a raw space dict, making the mappings it passes through."""
    tokens = split_path(path)
    node: Any = raw
    for i, token in enumerate(tokens):
        last = i == len(tokens) - 1
        where = _dotted(tokens[:i]) or "the file"
        if isinstance(token, int):
            if not isinstance(node, list):
                raise UserError(f"--set {path}: {where} is not a list")
            if token >= len(node):
                raise UserError(f"--set {path}: {where} has {len(node)} entries (indices 0-{len(node) - 1})")
            if last:
                node[token] = value
            else:
                node = node[token]
            continue
        if not isinstance(node, dict):
            raise UserError(f"--set {path}: {where} is {node!r}, not a mapping of keys")
        if last:
            node[token] = value
        else:
            if node.get(token) is None:
                node[token] = [] if isinstance(tokens[i + 1], int) else {}
            node = node[token]


def space_from(source: str | Mapping[str, Any] | SearchSpace, overrides: Mapping[str, Any] | None = None,
               additions: Mapping[str, Sequence[Any]] | None = None) -> SearchSpace:
    """A validated ``SearchSpace`` from a space file's path, a dict in the space-file schema or
    a parsed space, with ``overrides`` ({"train.lr": 0.05, ...}) applied first and then
    ``additions`` ({"loggers": ["mlflow"]}): entries appended to the file's list under that
    top-level key, those it holds already left out. Both are validated with the file.

    When an override sets ``scheduler.max_epochs`` below the file's grace period and leaves
    the grace period alone, the grace period is clipped to the new budget."""
    overrides = dict(overrides or {})
    additions = {key: list(values) for key, values in (additions or {}).items() if values}
    if isinstance(source, SearchSpace):
        if not overrides and not additions:
            return source
        raw, name = source.to_dict(), source.source
    elif isinstance(source, Mapping):
        raw, name = copy.deepcopy(dict(source)), "<space dict>"
        if not raw.get("name"):
            raise UserError("name: a space given as a dict needs a name (the study's name)")
    elif isinstance(source, str):
        raw, name = read_space_file(source), source
    else:
        raise UserError(f"expected a space file path, a dict or a SearchSpace, got {type(source).__name__}")
    if overrides or additions:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise UserError(f"{name}: the file must be a mapping of keys (name, data, model, ...), "
                            f"got {type(raw).__name__}")
        for path, value in overrides.items():
            set_path(raw, path, value)
        scheduler = raw.get("scheduler")
        if ("scheduler.max_epochs" in overrides and "scheduler.grace_period" not in overrides
                and isinstance(scheduler, dict) and isinstance(scheduler.get("grace_period"), int)
                and isinstance(scheduler.get("max_epochs"), int)):
            scheduler["grace_period"] = min(scheduler["grace_period"], scheduler["max_epochs"])
        for key, values in additions.items():
            held = raw.get(key) or []
            if isinstance(held, list):  # anything else is the file's own error, which parse names
                raw[key] = [*held, *(v for i, v in enumerate(values) if v not in held and v not in values[:i])]
    try:
        return parse(raw, name)
    except SpaceError as exc:
        culprit = next((f" (set by --set {p}={v!r})" for p, v in overrides.items()
                        if _names(exc.key, _dotted(split_path(p)))), "")
        culprit = culprit or next((f" (added: {', '.join(map(str, v))})" for k, v in additions.items()
                                   if _names(exc.key, k)), "")
        raise UserError(f"{name}: {exc}{culprit}") from None


def _names(key: str, path: str) -> bool:
    """Whether an error's ``key`` lies at or under the key path ``path``."""
    return key == path or key.startswith(path + ".") or key.startswith(path + "[")


def prepare_space(source: str | Mapping[str, Any] | SearchSpace, overrides: Mapping[str, Any] | None = None,
                  additions: Mapping[str, Sequence[Any]] | None = None) -> SearchSpace:
    """``space_from``, then the checks a search makes before it writes anything: some sample
    of the space is a valid architecture within the budgets, and every seed configuration
    fits the space (this counts costs with torch)."""
    space = space_from(source, overrides, additions)
    try:
        check_feasible(space)
        check_seed_configs(space)
    except SpaceError as exc:
        raise UserError(f"{space.source}: {exc}") from None
    return space
