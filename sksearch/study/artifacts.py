"""What a study holds about one trained trial: its row of the table, its spec and recipe (the
trial's ``params.json``) and its last checkpoint's weights, each path checked to lie in the
study (or its trial storage)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import UserError, show
from ..model.spec import ArchSpec, SpecError
from .folder import StudyFolder, inside_study
from .jsonfile import read_json
from .layout import PARAMS_FILE, latest_weights


@dataclass
class TrialArtifacts:
    """What a study holds about one trial: its row, spec and last checkpoint's weights."""

    row: pd.Series
    spec: ArchSpec
    weights: str
    trial_dir: str
    train: dict[str, Any]  # the trial's TrainSpec values


def trial_artifacts(folder: StudyFolder, trial_id: int, asked: str | None = None) -> TrialArtifacts:
    """A trial's row, spec, weights and recipe; ``asked`` is how the user named it in messages
    (default ``--trial ID``; ``analyze`` and ``evaluate`` pass ``STUDY:ID``)."""
    asked = asked or f"--trial {trial_id}"
    table = folder.table
    rows = table[table["trial_id"] == trial_id]
    if rows.empty:
        known = ", ".join(str(int(t)) for t in table["trial_id"].head(20))
        raise UserError(f"{asked}: no such trial in {folder.root} "
                        f"(trials: {known}{'...' if len(table) > 20 else ''})")
    row = rows.iloc[0]
    if row["status"] not in ("completed", "stopped_early"):
        raise UserError(f"{asked}: it is {row['status']} and has no trained weights; "
                        f"export a completed or stopped_early trial")
    # The table's ray_trial_id names the folder: a sample reissued after a crash may leave a
    # partial folder of an earlier Ray trial with the same number beside it.
    trial_dir = folder.layout.trial_dir(trial_id, str(row["ray_trial_id"]))
    # The name comes from the database and the folders may be links: a hostile study could
    # otherwise hand out any file of the machine as this trial's weights.
    trials = folder.run.trial_storage  # where the trial folders lie, when not in the study folder
    inside_study(folder.root, trial_dir, f"trial {trial_id}'s Ray folder", trials)
    if not os.path.isdir(trial_dir):
        if trials and not os.path.isdir(trials):
            raise UserError(f"{folder.root}: the study's trial storage {trials} (run.json's trial_storage) is not "
                            f"on this machine; mount it at that path")
        raise UserError(f"{folder.root}: trial {trial_id} has no Ray folder {trial_dir}")
    weights = latest_weights(trial_dir)
    if weights is None:
        raise UserError(f"{trial_dir}: no checkpoint with weights")
    inside_study(folder.root, weights, f"trial {trial_id}'s weights", trials)
    inside_study(folder.root, os.path.join(trial_dir, PARAMS_FILE), f"trial {trial_id}'s configuration", trials)
    params = os.path.join(trial_dir, PARAMS_FILE)
    try:
        config = read_json(params, mapping=True)  # a regular file, bounded
        spec = ArchSpec.from_dict(config["arch"])
    except UserError as exc:
        raise UserError(f"{trial_dir}/{PARAMS_FILE}: unreadable trial configuration "
                        f"({str(exc).removeprefix(params + ': ')})") from None
    except (ValueError, KeyError, TypeError, SpecError) as exc:
        raise UserError(f"{trial_dir}/{PARAMS_FILE}: unreadable trial configuration ({show(exc)})") from None
    return TrialArtifacts(row, spec, weights, trial_dir, dict(config.get("train") or {}))
