"""``sksearch evaluate``: accuracy and loss of a trained model on one split of its data.

The model is an export folder or a study's trial (``STUDY_DIR:TRIAL_ID``, its last
checkpoint); its data is the one it was trained on, as recorded (an export's ``train.json``,
else its ``preprocess.json``; a study's ``data.json``), so ``val`` is the very hold-out the
search ranked on and ``test`` the set's test split, which no search reads.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from .errors import UserError

SPLITS = ("val", "test")


def export_recipe(target: str) -> dict[str, Any] | None:
    """An export folder's ``train.json`` (None for a study's trial, or an export without one)."""
    from .exports.read import is_export, read_recipe

    return read_recipe(target) if is_export(target) else None


def recorded_data(recipe: dict[str, Any] | None, preprocess: dict[str, Any] | None) -> dict[str, Any] | None:
    """The data spec a model was trained on: an export's recipe wins over its preprocess.json
    (a model trained further by ``sksearch train`` records its own data there)."""
    return (recipe or {}).get("data") or (preprocess or {}).get("data_spec")


def _preprocess_file(target: str) -> str:
    """Where a model's recorded data came from when no train.json holds it: an export's
    preprocess.json, or the data.json of the study of ``STUDY_DIR:TRIAL_ID``."""
    from .exports.layout import ExportLayout
    from .exports.read import is_export
    from .study.layout import Layout

    if is_export(target):
        return ExportLayout(target).preprocess_json
    return Layout(target.rpartition(":")[0]).data_json


def evaluate_target(target: str, split: str = "test", data_root: str | None = None, device: str = "cpu",
                    batch_size: int = 512, threads: int | None = None, storage: str | None = None) -> dict[str, Any]:
    """``{"split", "accuracy", "loss", "samples", "data", "model"}`` of ``target`` on ``split``.
    ``threads``: torch's CPU threads (default: as a trial of its study had, ``fulltrain.trial_threads``);
    ``storage``: the database of a ``STUDY_DIR:TRIAL_ID``'s study (default: the folder's own)."""
    from .fulltrain import torch_threads, trial_threads

    recipe = export_recipe(target)
    with torch_threads(threads or trial_threads((recipe or {}).get("cpus"))):
        return _evaluate(target, recipe, split, data_root, device, batch_size, storage)


def _evaluate(target: str, recipe: dict[str, Any] | None, split: str, data_root: str | None, device: str,
              batch_size: int, storage: str | None = None) -> dict[str, Any]:
    import torch

    from .analysis.trained import load_trained
    from .data.load import load_data, make_batches
    from .exports.layout import ExportLayout
    from .exports.read import check_data_fits
    from .fulltrain import recorded_data_spec
    from .train.loop import evaluate
    from .train.spec import TrainSpec

    if split not in SPLITS:
        raise UserError(f"--split {split}: allowed: {', '.join(SPLITS)}")
    from .model.memory import check_fits

    trained = load_trained(target, storage)
    # The weights are loaded (on the CPU); the forward passes at --batch-size are still to come.
    check_fits(trained.spec, target, device, batch_size, weight_copies=0 if torch.device(device).type == "cpu" else 1)
    record = recorded_data(recipe, trained.preprocess)
    if not record:
        raise UserError(f"{target}: no record of the data it was trained on (no train.json or preprocess.json "
                        f"with a data spec)")
    spec = recorded_data_spec(record, ExportLayout(target).train_json if (recipe or {}).get("data") else
                              _preprocess_file(target))
    if data_root:
        spec = replace(spec, root=data_root)
    data = load_data(spec, test=split == "test")
    if split == "test" and getattr(data, "test_note", None):
        raise UserError(f"--split test: {data.test_note}; add {spec.root}/test/<class>/... to measure one")
    check_data_fits(trained.spec, data, f"{target}: its data ({spec.name})")
    batches = make_batches(data, device, batch_size, workers=min(spec.workers, max(0, (os.cpu_count() or 1) - 1)))
    if hasattr(batches, "eval_batch_size"):
        batches.eval_batch_size = batch_size
    recorded = trained.preprocess or {}
    if "mean" in recorded and "std" in recorded:
        # The normalisation the network trained with, as its export records it: loading the
        # recorded data computes the train split's mean and std, which a refit (trained on
        # train + val) did not use.
        batches.mean = torch.tensor(recorded["mean"], dtype=torch.float32, device=device).view(1, -1, 1, 1)
        batches.std = torch.tensor(recorded["std"], dtype=torch.float32, device=device).view(1, -1, 1, 1)
    model = trained.model.to(device)
    # An export measured with test-time augmentation is measured the same way again.
    tta = ((recipe or {}).get("train") or {}).get("tta", "off")
    accuracy, loss = evaluate(model, batches, torch.device(device), TrainSpec(precision="fp32", tta=tta), split)
    if split == "test":
        samples = len(data.test) if hasattr(data, "test") and data.test is not None else len(data.y_test)
    else:
        samples = len(data.val) if hasattr(data, "val") else len(data.y_val)
    return {"split": split, "accuracy": accuracy, "loss": loss, "samples": samples, "data": spec.name,
            "model": trained.title, "val_is_test": spec.val_split == "test"}
