"""Weight averaging (``train.ema``): an exponential moving average of a network's weights,
the copy that validation reads and that checkpoints and exports hold.

The decay warms up as in timm and airbench: after ``t`` optimizer steps it is
``min(decay, (1 + t) / (10 + t))``, so the first epochs average over the steps taken so far
instead of being dominated by the initial weights, and a trial stopped at an early rung is
judged on an average of its own training, as a full run would be at that epoch. The average
depends only on the step count, never on the budget: a trial stopped at epoch e holds the
average a full run holds at epoch e.

An update every ``every`` steps applies ``decay_t ** every``, so ``ema`` means the same per-step
decay whatever ``ema_every`` is. BatchNorm's running mean and variance are averaged with the
weights (floating-point buffers are treated as weights, as timm's ModelEmaV2 does);
``num_batches_tracked`` is copied.
"""

from __future__ import annotations

import copy

import torch


def decay_at(decay: float, step: int) -> float:
    """The warmed-up per-step decay after ``step`` optimizer steps (1-based)."""
    return min(decay, (1.0 + step) / (10.0 + step))


class WeightAverage:
    """The averaged copy of ``model`` (``self.model``, never trained, eval use only)."""

    def __init__(self, model: torch.nn.Module, decay: float, every: int = 1) -> None:
        self.decay, self.every = decay, every
        self.model = copy.deepcopy(model)
        self.model.requires_grad_(False)
        # state_dict() tensors share storage with the modules' own: updating them in place
        # updates the averaged model (and a later load_state_dict into either copies in place).
        avg, cur = self.model.state_dict(), model.state_dict()
        floats = [k for k in avg if avg[k].dtype.is_floating_point]
        self._avg_f, self._cur_f = [avg[k] for k in floats], [cur[k] for k in floats]
        self._ints = [(avg[k], cur[k]) for k in avg if k not in floats]

    def update(self, step: int) -> None:
        """Fold the trained model's weights in after optimizer step ``step`` (1-based; counted
        over the whole run, so a resumed run updates at the same steps)."""
        if step % self.every:
            return
        keep = decay_at(self.decay, step) ** self.every
        with torch.no_grad():
            torch._foreach_lerp_(self._avg_f, self._cur_f, 1.0 - keep)  # avg += (1 - keep) (cur - avg)
            for a, c in self._ints:
                a.copy_(c)
