"""A trained model to analyse: an export folder, or a trial of a study folder (its last
checkpoint), with what it was trained on."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from ..exports.layout import ExportLayout
from ..exports.read import is_export, load_model, read_export_spec, read_preprocess, with_weights
from ..model.spec import ArchSpec
from ..study.artifacts import trial_artifacts
from ..study.folder import StudyFolder
from ..study.layout import Layout

if TYPE_CHECKING:
    from ..model.network import SKNet


@dataclass
class Trained:
    """A trained model to analyse, with what it was trained on."""

    model: SKNet
    spec: ArchSpec
    preprocess: dict[str, Any] | None  # data.json / preprocess.json: shape, classes, normalisation, data spec
    title: str
    default_out: str  # where its analyses go unless told otherwise
    home: str         # the folder default_out lies in (the export or the study), which analyze did not make
    study: StudyFolder | None = None  # the study of a STUDY_DIR:TRIAL_ID target (None for an export)
    trial_id: int | None = None


def load_trained(target: str, storage: str | None = None) -> Trained:
    """An export folder, or ``STUDY_DIR:TRIAL_ID`` (the trial's last checkpoint), whose trials
    are read from ``storage`` if given, else from the study folder's own database."""
    if is_export(target):
        if storage is not None:
            raise UserError(f"{target}: an export folder has no study database to read; --storage is for "
                            f"STUDY_DIR:TRIAL_ID")
        preprocess = read_preprocess(target)
        return Trained(load_model(target), read_export_spec(target), preprocess,
                       os.path.basename(os.path.normpath(target)) or target, ExportLayout(target).attention, target)
    if os.path.isfile(Layout(target).run_json):
        raise UserError(f"{target} is a study folder: name a trial as {target}:ID (trial_id in trials.csv), "
                        f"or export one first with `sksearch export {target} --trial ID --to OUT`")
    root, sep, trial = target.rpartition(":")
    if not sep or not root:
        raise UserError(f"{target}: not an export folder (no spec.json), nor STUDY_DIR:TRIAL_ID")
    try:
        trial_id = int(trial)
    except ValueError:
        raise UserError(f"{target}: {trial!r} is not a trial id; write STUDY_DIR:TRIAL_ID, "
                        f"e.g. results/quickstart:3") from None
    folder = StudyFolder.open(root, storage)
    art = trial_artifacts(folder, trial_id, asked=target)
    return Trained(with_weights(art.spec, art.weights), art.spec, folder.data_info(),
                   f"trial {trial_id} of {folder.name}", folder.layout.attention_dir(trial_id), root, folder, trial_id)


def has_attention(spec: ArchSpec) -> bool:
    """Whether a network of ``spec`` has an SK unit with a selection to read (M > 1, softmax)."""
    return spec.kind.attention and any(spec.sk_of(i).attends for i in range(len(spec.stages)))


def trials_with_attention(folder: StudyFolder, but: int | None = None) -> list[tuple[int, str | None]]:
    """The trials of a study that ``analyze`` can read: trained weights and an SK unit with
    attention, each as (trial_id, its baseline's name or None), ``but`` left out. Each trial's
    own spec decides, not the table's ``sk.M``: a stage may override M, fixed overrides have no
    column, and baselines have no searched values."""
    table = folder.table
    rows = table[table["status"].isin(["completed", "stopped_early"]) & (table["trial_id"] != but)]
    found = []
    for _, row in rows.iterrows():
        try:
            spec = trial_artifacts(folder, int(row["trial_id"])).spec
        except UserError:
            continue  # no weights, or unreadable: not one to suggest
        if has_attention(spec):
            found.append((int(row["trial_id"]), row["baseline"] if isinstance(row.get("baseline"), str) else None))
    return found
