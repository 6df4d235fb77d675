"""Training: ``spec`` (the recipe, no torch), ``engine`` (the epoch loop every training runs
on: resume, schedule, autocast, divergence, a checkpoint and a report per epoch),
``checkpoint`` (its folder format) and ``loop`` (one configuration's training on the engine)."""

from .spec import OPTIMIZERS, SCHEDULES, TrainSpec

__all__ = ["OPTIMIZERS", "SCHEDULES", "TrainSpec"]
