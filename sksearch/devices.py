"""The device a command runs on: ``cost --latency``, ``train``, ``evaluate`` and ``analyze``
all take ``--device`` and read it alike."""

from __future__ import annotations

import torch

from .errors import UserError


def pick_device(device: str | None) -> str:
    """``device`` checked (``UserError`` for a CUDA device without CUDA or a bad name); CUDA
    when there is one and none is named, else the CPU."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device}: CUDA is not available on this machine; use --device cpu")
    try:
        torch.device(device)
    except RuntimeError:
        raise UserError(f"--device {device}: not a device; use cpu, cuda or cuda:N") from None
    return device
