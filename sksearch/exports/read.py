"""Read an export folder back (``layout.py`` names its files): its spec, its network with the
weights loaded, its recipe and its record of the data; and the check that a data set fits the
network before anything is trained or measured on it. Exports written by earlier versions read
the same (``tests/exports/test_earlier_exports.py``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from ..files import JSON_LIMIT, check_regular, read_limited
from ..model.spec import ArchSpec, SpecError
from ..study.folder import check_data_record
from ..study.jsonfile import read_json
from .layout import ExportLayout

if TYPE_CHECKING:
    import torch

    from ..model.network import SKNet


def is_export(target: str) -> bool:
    """Whether ``target`` is an export folder (it has a spec.json) rather than a spec file, a
    preset or ``STUDY_DIR:TRIAL_ID``."""
    return os.path.isfile(ExportLayout(target).spec_json)


def read_recipe(folder: str) -> dict[str, Any] | None:
    """The export's ``train.json`` (None where it has none: an untrained ``build``)."""
    path = ExportLayout(folder).train_json
    return read_json(path, mapping=True) if os.path.exists(path) else None


def read_preprocess(folder: str) -> dict[str, Any] | None:
    """The export's ``preprocess.json``, checked as a study's data.json is (None where it has
    none: an untrained ``build``)."""
    path = ExportLayout(folder).preprocess_json
    return check_data_record(read_json(path, mapping=True), path) if os.path.exists(path) else None


def check_data_fits(spec: ArchSpec, data: Any, named: str) -> None:
    """``UserError`` unless the loaded data set ``data`` (``named`` as the message says it: its
    option or its folder) has the channels, image size and classes of ``spec``'s network."""
    shape = (data.in_channels, data.input_size, data.num_classes)
    if shape != (spec.in_channels, spec.input_size, spec.num_classes):
        raise UserError(f"{named} gives {shape[0]} x {shape[1]} px images with {shape[2]} classes; the network "
                        f"takes {spec.in_channels} x {spec.input_size} px and has {spec.num_classes} classes")


def with_weights(spec: ArchSpec, weights: str) -> SKNet:
    """The network of ``spec`` with the safetensors ``weights``, in eval mode; ``UserError``
    naming the file when it is missing, not safetensors (truncated, random bytes) or holds
    another network's weights."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ..model.memory import check_fits
    from ..model.network import build

    check_regular(weights)  # memory-mapped: a FIFO or a device in its place is refused, not mapped
    # The spec may be edited or hostile: a network too large for this machine is refused before
    # it is built (the loaded state dict is a second copy of its weights).
    check_fits(spec, f"the network of {weights}", weight_copies=2)
    try:
        state = load_file(weights)
    except FileNotFoundError:
        raise UserError(f"{weights}: the weights file is missing") from None
    except (OSError, SafetensorError, ValueError) as exc:
        raise UserError(f"{weights}: not a readable safetensors weights file ({str(exc)[:120]})") from None
    # NaN or infinite weights load and run, and score as a constant guess (10% on ten classes):
    # a model that diverged, or a damaged file, is refused here rather than measured.
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(tensor.isfinite().all()):
            bad = tensor[~tensor.isfinite()].flatten()[0].item()
            raise UserError(f"{weights}: {name} holds {bad}: NaN or infinite weights (a training that diverged, or a "
                            f"damaged file) cannot be loaded")
    model = build(spec.to_dict())
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        detail = " ".join(line.strip() for line in str(exc).splitlines()[1:3])
        raise UserError(f"{weights}: not the weights of the network its spec.json describes ({detail[:200]})") from None
    return model.eval()


def read_export_spec(folder: str) -> ArchSpec:
    """The export's ``spec.json``, validated; ``UserError`` naming the file otherwise."""
    spec_path = ExportLayout(folder).spec_json
    if not os.path.exists(spec_path):
        raise UserError(f"{folder}: not an export folder (no spec.json)")
    try:
        return ArchSpec.from_json(read_limited(spec_path, JSON_LIMIT).decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UserError(f"{spec_path}: unreadable (not UTF-8 text, byte {exc.start})") from None
    except SpecError as exc:
        raise UserError(f"{spec_path}: {exc}") from None


def load_model(folder: str, map_location: str | torch.device = "cpu") -> SKNet:
    """An exported model, built by this package (the spec validated), weights loaded, in eval mode."""
    return with_weights(read_export_spec(folder), ExportLayout(folder).weights).to(map_location)
