"""Resolve what a user names into an ``ArchSpec``: a preset, a spec JSON file, a spec dict or
an ``ArchSpec``, optionally with some fields changed."""

from __future__ import annotations

import os
from typing import Any, Mapping

from ..errors import UserError
from ..files import JSON_LIMIT, read_limited
from .presets import PRESETS, preset
from .spec import ArchSpec, SpecError


def load_spec_file(path: str) -> ArchSpec:
    try:
        raw = read_limited(path, JSON_LIMIT)
    except FileNotFoundError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start}); save the spec as UTF-8 JSON") from None
    try:
        return ArchSpec.from_json(text)
    except SpecError as exc:
        raise UserError(f"{path}: {exc}") from None


def resolve(name_or_spec: str | ArchSpec | Mapping[str, Any], **changes: Any) -> ArchSpec:
    """A preset name, a spec JSON file, a spec dict or an ``ArchSpec``, with ``changes``
    (e.g. ``input_size=64``, ``num_classes=100``) applied; ``None`` changes are ignored."""
    if isinstance(name_or_spec, ArchSpec):
        spec = name_or_spec
    elif isinstance(name_or_spec, Mapping):
        try:
            spec = ArchSpec.from_dict(name_or_spec)
        except SpecError as exc:
            raise UserError(f"spec: {exc}") from None
    elif not isinstance(name_or_spec, str):
        raise UserError(f"expected a preset name, a spec file, a spec dict or an ArchSpec, "
                        f"got {type(name_or_spec).__name__}")
    elif name_or_spec in PRESETS:
        spec = preset(name_or_spec)
    elif name_or_spec.endswith(".json") or os.path.exists(name_or_spec):
        spec = load_spec_file(name_or_spec)
    else:
        raise UserError(
            f"{name_or_spec!r} is neither a preset nor a spec file; presets: {', '.join(PRESETS)}"
        )
    changes = {k: v for k, v in changes.items() if v is not None}
    unknown = sorted(set(changes) - set(ArchSpec.__dataclass_fields__))
    if unknown:
        raise UserError(f"{unknown[0]}: not an ArchSpec field; fields: {', '.join(ArchSpec.__dataclass_fields__)}")
    try:
        return spec.replace(**changes) if changes else spec
    except SpecError as exc:
        raise UserError(str(exc)) from None
