"""Quiet imports in a Jupyter kernel (the progress display is ``search/progress.py``'s, the
figures' HTML ``study/notebook_figure.py``'s).

``quiet_in_notebook``, run when sksearch is imported, silences two notices a kernel prints on
importing sksearch's dependencies, though nothing more is needed: tqdm's "IProgress not found" (Optuna imports
``tqdm.auto`` for a progress bar sksearch never shows) and Ray's "Missing packages:
['ipywidgets']" (logged at INFO by ``ray.widgets.util`` as Ray's modules load, about widget
views of Ray objects sksearch never displays).
"""

from __future__ import annotations

import logging
import sys
import warnings


def in_jupyter_kernel() -> bool:
    """Whether this process is a Jupyter kernel (IPython's ZMQ shell). IPython is looked up,
    not imported: a kernel has always imported it already."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if callable(get) else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def quiet_in_notebook() -> None:
    """In a Jupyter kernel, before Optuna and Ray are imported: import ``tqdm.auto`` once with
    its ipywidgets warning ignored (later imports reuse the module and say nothing), and let
    ``ray.widgets.util`` log warnings only. Elsewhere, nothing."""
    if not in_jupyter_kernel():
        return
    try:
        from tqdm import TqdmWarning
    except ImportError:  # no tqdm, no warning
        pass
    else:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="IProgress not found", category=TqdmWarning)
            import tqdm.auto  # noqa: F401 - imported for its side effect, once, quietly
    logging.getLogger("ray.widgets.util").setLevel(logging.WARNING)
