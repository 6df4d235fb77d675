"""A training checkpoint: one folder per finished epoch, written whole or not at all, checked
and read back for a resume.

The folder holds the weights as safetensors (exports copy them as they are) and the optimizer
state plus the epoch and its metrics in a tensors-only torch file (loaded with
``weights_only=True``); with weight averaging the weights file holds the average and the state
file the trained weights (``ema.py``).
"""

from __future__ import annotations

import os
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ..errors import UserError
from ..files import check_regular
from .ema import WeightAverage
from .spec import STATE_FILE, WEIGHTS_FILE

CHECKPOINT_TMP = ".tmp-"  # a checkpoint being written, beside the finished ones


def _cpu_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}


def save_checkpoint(folder: str, model: torch.nn.Module, optimizer: torch.optim.Optimizer, epoch: int,
                    metrics: dict[str, Any], averaged: WeightAverage | None = None) -> None:
    """Write the checkpoint into a new folder beside ``folder`` and rename it into place: a
    process killed while writing leaves a stray temporary folder, never a half-written
    checkpoint under the epoch's name. With ``averaged`` the weights file holds the averaged
    weights (what was validated, what an export copies) and the state file the trained ones."""
    import shutil
    import tempfile

    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=CHECKPOINT_TMP + os.path.basename(folder) + "-")
    try:
        save_file(_cpu_weights(averaged.model if averaged else model), os.path.join(tmp, WEIGHTS_FILE))
        state = {"optimizer": optimizer.state_dict(), "epoch": epoch, "metrics": metrics}
        if averaged is not None:
            state["model"] = _cpu_weights(model)
        torch.save(state, os.path.join(tmp, STATE_FILE))
        if os.path.isdir(folder):  # the epoch trained again after a resume from an earlier one
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def checkpoint_problem(folder: str) -> str | None:
    """Why the checkpoint in ``folder`` cannot be resumed from (a file missing, truncated or not
    a checkpoint), or None when both of its files load."""
    import pickle

    from safetensors import SafetensorError

    try:
        for name in (WEIGHTS_FILE, STATE_FILE):  # mapped and unpickled: a FIFO or device would hang or fill memory
            check_regular(os.path.join(folder, name))
        load_file(os.path.join(folder, WEIGHTS_FILE))
        state = torch.load(os.path.join(folder, STATE_FILE), map_location="cpu", weights_only=True)
        int(state["epoch"]), dict(state["metrics"]), dict(state["optimizer"])
    except (OSError, EOFError, RuntimeError, ValueError, KeyError, TypeError, pickle.UnpicklingError,
            SafetensorError, UserError) as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else 'no detail'}"
    return None


def load_checkpoint(folder: str, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    device: torch.device, averaged: WeightAverage | None = None) -> tuple[int, dict[str, Any]]:
    """Restore the trained weights, the optimizer and (with ``averaged``) the average; returns
    the checkpoint's epoch and metrics."""
    for name in (WEIGHTS_FILE, STATE_FILE):
        check_regular(os.path.join(folder, name))
    weights = load_file(os.path.join(folder, WEIGHTS_FILE), device=str(device))
    state = torch.load(os.path.join(folder, STATE_FILE), map_location=device, weights_only=True)
    # A checkpoint of an averaged run keeps the trained weights in its state file.
    model.load_state_dict(state.get("model", weights))
    if averaged is not None:
        averaged.model.load_state_dict(weights)
    optimizer.load_state_dict(state["optimizer"])
    return int(state["epoch"]), dict(state["metrics"])
