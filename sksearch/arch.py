"""Resolve what a user names on the command line into an ``ArchSpec``: a preset or a JSON file."""

from __future__ import annotations

import os

from .errors import UserError
from .presets import PRESETS, preset
from .spec import ArchSpec, SpecError


def load_spec_file(path: str) -> ArchSpec:
    try:
        with open(path) as fh:
            text = fh.read()
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return ArchSpec.from_json(text)
    except SpecError as exc:
        raise UserError(f"{path}: {exc}") from None


def resolve(name_or_path: str, input_size: int | None = None, num_classes: int | None = None) -> ArchSpec:
    """A preset name or a spec JSON file, optionally with another input size or class count."""
    if name_or_path in PRESETS:
        spec = preset(name_or_path)
    elif name_or_path.endswith(".json") or os.path.exists(name_or_path):
        spec = load_spec_file(name_or_path)
    else:
        raise UserError(
            f"{name_or_path!r} is neither a preset nor a spec file; presets: {', '.join(PRESETS)}"
        )
    changes = {}
    if input_size is not None:
        changes["input_size"] = input_size
    if num_classes is not None:
        changes["num_classes"] = num_classes
    try:
        return spec.replace(**changes) if changes else spec
    except SpecError as exc:
        raise UserError(f"--{exc.path.replace('_', '-')}: {exc}") from None
