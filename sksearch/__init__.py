"""sksearch: multi-objective architecture and hyper-parameter search for Selective Kernel networks.

The Python API (``sksearch.run``, ``sksearch.open``, ``sksearch.build_model``,
``sksearch.cost``, ``sksearch.load_model``) lives in ``sksearch.api``; see its docstring.
"""

from .api import (
    Study,
    build_model,
    confirm,
    cost,
    load_model,
    open,  # noqa: A004 - sksearch.open, as the API promises
    resume,
    run,
    spec,
    train,
)
from .errors import UserError
from .notebook import quiet_in_notebook
from .version import __version__

quiet_in_notebook()  # before anything imports Optuna or Ray (none of the above does): see sksearch/notebook.py

__all__ = ["Study", "UserError", "__version__", "build_model", "confirm", "cost", "load_model", "open", "resume", "run",
           "spec", "train"]
