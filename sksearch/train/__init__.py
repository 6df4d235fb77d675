"""Training one configuration: ``spec`` (the recipe, no torch) and ``loop`` (torch: train,
evaluate, report and checkpoint every epoch)."""

from .spec import OPTIMIZERS, SCHEDULES, TrainSpec

__all__ = ["OPTIMIZERS", "SCHEDULES", "TrainSpec"]
