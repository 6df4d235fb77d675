"""The error users see: a message, exit code 2, no traceback."""

from __future__ import annotations

import reprlib
from typing import Any

_SHOW = reprlib.Repr()
_SHOW.maxstring = 60
_SHOW.maxother = 60
_SHOW.maxlist = _SHOW.maxdict = _SHOW.maxtuple = _SHOW.maxset = 6
_SHOW.maxlevel = 3


class UserError(Exception):
    """Bad input from the user (a file, a key, a value); the CLI prints it and exits with 2."""


def show(value: Any) -> str:
    """A value as an error message quotes it: its repr, cut short (a hostile file's value can be
    megabytes, or an alias bomb's billions of items)."""
    return _SHOW.repr(value)
