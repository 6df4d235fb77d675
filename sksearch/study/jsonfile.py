"""JSON files that sksearch reads back (run.json, data.json, train.json, preprocess.json,
params.json...): anything a damaged or hostile file holds is a ``UserError`` naming the file,
never a traceback, and nothing but a regular file of at most ``files.JSON_LIMIT`` bytes is read
(a link to ``/dev/zero`` or a FIFO in its place is refused, not read until memory or patience
runs out)."""

from __future__ import annotations

import json
from typing import Any

from ..errors import UserError
from ..files import JSON_LIMIT, read_limited


def parse_json(text: str, where: str) -> Any:
    """``text`` as JSON; ``where`` names it in the message."""
    try:
        return json.loads(text)
    except RecursionError:  # json's decoder recurses once per level of [ or {
        raise UserError(f"{where}: unreadable (its lists or objects are nested too deeply)") from None
    except ValueError as exc:  # not JSON, or an integer longer than Python reads from text
        raise UserError(f"{where}: unreadable ({str(exc)[:160]})") from None


def read_json(path: str, mapping: bool = False) -> Any:
    """The JSON file ``path``; with ``mapping``, it must hold an object."""
    try:
        text = read_limited(path, JSON_LIMIT).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: unreadable (not UTF-8 text, byte {exc.start})") from None
    except FileNotFoundError as exc:
        raise UserError(f"{path}: unreadable ({exc.strerror or exc})") from None
    data = parse_json(text, path)
    if mapping and not isinstance(data, dict):
        raise UserError(f"{path}: must be a JSON object, got a {type(data).__name__}")
    return data
