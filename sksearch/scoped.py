"""Settings that belong to the process, changed only for as long as sksearch needs them.

A notebook that imports sksearch keeps its own environment and its own Optuna verbosity:
``run`` and ``resume`` change them inside ``environment`` and ``optuna_warnings_only`` and
put back what was there when they end, however they end."""

from __future__ import annotations

import contextlib
import os
from typing import Iterator, Mapping


@contextlib.contextmanager
def environment(values: Mapping[str, str] = {}, defaults: Mapping[str, str] = {}) -> Iterator[None]:
    """``os.environ`` with ``values`` set and ``defaults`` set where the user set nothing; each
    key touched gets back its earlier value (or its absence) afterwards."""
    keys = {*values, *defaults}
    saved = {key: os.environ.get(key) for key in keys}
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def optuna_warnings_only() -> Iterator[None]:
    """Optuna logging warnings and errors only (not every trial told, every study created),
    its earlier verbosity back afterwards."""
    import optuna

    saved = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(saved)
