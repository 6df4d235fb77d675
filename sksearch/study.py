"""A study folder as the result commands see it: its run record, space and trials table.

The table is rebuilt from the Optuna study (the source of truth), so it is current even for
a search that was interrupted before it rewrote ``trials.csv``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .errors import UserError
from .space import SearchSpace, load_space


@dataclass
class StudyFolder:
    folder: str
    run: dict[str, Any]
    space: SearchSpace
    table: pd.DataFrame

    @property
    def objectives(self) -> list[str]:
        return self.space.metric_names

    def completed(self) -> pd.DataFrame:
        return self.table[self.table["status"] == "completed"]

    def require_completed(self) -> None:
        if self.completed().empty:
            raise UserError(f"{self.folder}: no trial has completed its full budget yet, so there is no front; "
                            f"see `sksearch status {self.folder}`")


def read_run(folder: str) -> dict[str, Any]:
    path = os.path.join(folder, "run.json")
    if not os.path.isdir(folder):
        raise UserError(f"{folder}: no such folder")
    if not os.path.exists(path):
        raise UserError(f"{folder}: not a study folder (no run.json); start one with "
                        f"`sksearch run SPACE.yaml --out {folder}`")
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: unreadable ({exc})") from None


def open_folder(folder: str) -> StudyFolder:
    from .results import trials_table
    from .searcher import open_study

    run = read_run(folder)
    space = load_space(os.path.join(folder, "space.yaml"))
    try:
        study = open_study(run["storage"], run["study_name"], space)
    except KeyError as exc:
        raise UserError(f"{folder}: run.json lacks {exc}") from None
    return StudyFolder(folder, run, space, trials_table(study))
