"""Attention analysis: which kernel each SK unit selects as objects grow (SKNet paper, Sec. 5).

The validation images are shown at several object scales, as the paper does: crop a window
of side H / s and enlarge it back to H x H (bilinear), so the object grows by s. Where the data
records each object's box (the embedded digits), the window is centred on the object and kept
inside the image, so the object stays in view; elsewhere it is the centre crop. For the
digits, the unmodified images are also grouped by each sample's recorded scale.

Every SK unit's attention (batch x M x C) is read through the layer's own hook
(``SKNet.record_attention``) and averaged over channels, then over samples: for a unit and a
scale the branch means sum to 1. The *mean attention difference* is the mean attention of the
branch with the largest receptive field minus that of the smallest; it rises with the scale
where a unit widens its receptive field for larger objects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..errors import UserError
from ..model.network import SKNet

COLUMNS = ["unit", "stage", "block", "kind", "scale", "scale_range", "class", "branch", "kernel", "dilation",
           "receptive_field", "samples", "mean_attention"]


def receptive_field(kernel: int, dilation: int) -> int:
    """The side of the window a dilated conv branch sees."""
    return dilation * (kernel - 1) + 1


@dataclass(frozen=True)
class Unit:
    """An SK unit with attention: its paper-style name and its branches."""

    name: str
    stage: int
    block: int
    branches: tuple[tuple[int, int], ...]  # (kernel, dilation)

    @property
    def receptive_fields(self) -> list[int]:
        return [receptive_field(k, d) for k, d in self.branches]

    @property
    def widest_and_narrowest(self) -> tuple[int, int] | None:
        """Branch indices of the largest and the smallest receptive field (first of equals);
        None when every branch sees as far."""
        rf = self.receptive_fields
        if max(rf) == min(rf):
            return None
        return int(np.argmax(rf)), int(np.argmin(rf))


@dataclass
class Images:
    """Validation images to analyse: uint8 (N, C, H, W), labels, and where known each
    object's recorded scale and box (top, left, side)."""

    x: np.ndarray
    y: np.ndarray
    class_names: list[str]
    scales: np.ndarray | None = None
    boxes: np.ndarray | None = None


@dataclass
class Attention:
    """Per-sample attention of every unit at every requested scale.

    ``samples[(kind, scale)][unit]`` is (N, M): each sample's channel-mean attention per
    branch; ``kind`` is "enlarged" (the image window enlarged by ``scale``) or "recorded"
    (the unmodified images; rows are grouped by recorded scale afterwards).
    """

    units: list[Unit]
    images: Images
    samples: dict[tuple[str, float], dict[str, np.ndarray]]
    accuracy: dict[tuple[str, float], float]


def attention_units(model: SKNet, what: str = "the model") -> list[Unit]:
    """The SK units with attention (M > 1); ``UserError`` naming ``what`` when there is none."""
    units = []
    for name, conv in model.sk_units():
        if conv.attends:
            _, stage, block = name.split("_")
            units.append(Unit(name, int(stage), int(block.rstrip("p")), tuple(conv.kernel_dilations)))
    if not units:
        raise UserError(f"{what} has no SK unit with attention (M = 1 everywhere, select: sum, or no SK "
                        "blocks): there is nothing to analyse")
    return units


def parse_scales(text: str) -> list[float]:
    try:
        scales = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UserError(f"--scales: {text!r} is not a comma-separated list of numbers, e.g. 1.0,1.5,2.0") from None
    if not scales or any(not math.isfinite(s) or s < 1.0 for s in scales):
        raise UserError(f"--scales: {text!r}: every scale must be a number >= 1 (1.0 is the image as it is)")
    return sorted(set(scales))


def enlarge(x: torch.Tensor, scale: float, centres: torch.Tensor | None = None) -> torch.Tensor:
    """Crop a window of side H / scale and resize it to H x H (bilinear): objects grow by
    ``scale``. ``centres`` (N, 2: row, column, in pixels) centre each window, which is then
    moved inside the image; None: the centre crop."""
    if scale == 1.0:
        return x
    n, _, h, w = x.shape
    half_h, half_w = 1.0 / scale, 1.0 / scale  # the window's half side in [-1, 1] coordinates
    if centres is None:
        cy = torch.zeros(n, dtype=x.dtype, device=x.device)
        cx = torch.zeros(n, dtype=x.dtype, device=x.device)
    else:
        cy = (centres[:, 0].to(x.dtype) / h) * 2 - 1
        cx = (centres[:, 1].to(x.dtype) / w) * 2 - 1
        cy = cy.clamp(-1 + half_h, 1 - half_h)
        cx = cx.clamp(-1 + half_w, 1 - half_w)
    theta = torch.zeros(n, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0], theta[:, 0, 2] = half_w, cx
    theta[:, 1, 1], theta[:, 1, 2] = half_h, cy
    grid = F.affine_grid(theta, [n, x.shape[1], h, w], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


@torch.no_grad()
def collect(model: SKNet, images: Images, scales: Sequence[float], mean: Sequence[float], std: Sequence[float],
            batch_size: int = 256, device: str | torch.device = "cpu") -> Attention:
    """Run the validation images through ``model`` at every scale, recording attention."""
    units = attention_units(model)
    model = model.to(device).eval()
    mean_t = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    centres = None
    if images.boxes is not None:
        b = torch.as_tensor(images.boxes, dtype=torch.float32)
        centres = torch.stack([b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 2] / 2], dim=1)
    views = [("enlarged", s) for s in scales]
    if images.scales is not None:
        views.append(("recorded", 1.0))
    samples, accuracy = {}, {}
    for kind, scale in views:
        per_unit: dict[str, list[np.ndarray]] = {u.name: [] for u in units}
        correct = 0
        for start in range(0, len(images.x), batch_size):
            x = torch.as_tensor(images.x[start:start + batch_size], device=device).float() / 255.0
            c = centres[start:start + batch_size].to(device) if centres is not None else None
            x = (enlarge(x, scale, c) - mean_t) / std_t
            with model.record_attention() as records:
                logits = model(x)
            correct += int((logits.argmax(1).cpu().numpy() == images.y[start:start + batch_size]).sum())
            for u in units:
                per_unit[u.name].append(torch.cat(records[u.name]).float().mean(dim=2).cpu().numpy())
        samples[(kind, scale)] = {name: np.concatenate(parts) for name, parts in per_unit.items()}
        accuracy[(kind, scale)] = correct / max(len(images.x), 1)
    return Attention(units, images, samples, accuracy)


def recorded_bins(scales: np.ndarray, bins: int) -> list[tuple[float, float, np.ndarray]]:
    """Equal-width bins over the recorded scales: (low, high, mask) each, empty ones dropped."""
    edges = np.linspace(float(scales.min()), float(scales.max()), bins + 1)
    out = []
    for i in range(bins):
        low, high = edges[i], edges[i + 1]
        mask = (scales >= low) & ((scales < high) if i < bins - 1 else (scales <= high))
        if mask.any():
            out.append((float(low), float(high), mask))
    return out


def table(att: Attention, per_class: bool = False, bins: int = 3) -> pd.DataFrame:
    """One row per (unit, scale, branch[, class]) with the mean attention (``COLUMNS``).

    Rows of kind "enlarged" have ``scale`` = the enlargement; rows of kind "recorded" have
    ``scale`` = the mean recorded scale of their samples and ``scale_range`` = the bin.
    ``class`` is empty for rows over all samples.
    """
    groups: list[tuple[str, float, str, np.ndarray, dict[str, np.ndarray]]] = []
    for (kind, scale), per_unit in att.samples.items():
        if kind == "enlarged":
            groups.append((kind, scale, "", np.ones(len(att.images.y), dtype=bool), per_unit))
        else:
            for low, high, mask in recorded_bins(att.images.scales, bins):
                groups.append((kind, float(att.images.scales[mask].mean()), f"{low:.2f}-{high:.2f}", mask, per_unit))
    rows = []
    for kind, scale, scale_range, mask, per_unit in groups:
        selections = [("", mask)]
        if per_class:
            selections += [(att.images.class_names[c] if c < len(att.images.class_names) else str(c),
                            mask & (att.images.y == c)) for c in np.unique(att.images.y)]
        for label, sel in selections:
            if not sel.any():
                continue
            for u in att.units:
                means = per_unit[u.name][sel].mean(axis=0)
                for i, ((k, d), rf) in enumerate(zip(u.branches, u.receptive_fields)):
                    rows.append({"unit": u.name, "stage": u.stage, "block": u.block, "kind": kind, "scale": scale,
                                 "scale_range": scale_range, "class": label, "branch": i, "kernel": k, "dilation": d,
                                 "receptive_field": rf, "samples": int(sel.sum()),
                                 "mean_attention": float(means[i])})
    return pd.DataFrame(rows, columns=COLUMNS)


def differences(df: pd.DataFrame, units: Sequence[Unit]) -> pd.DataFrame:
    """The mean attention difference (widest receptive field minus narrowest) per unit, view
    and class of an attention table; NaN for a unit whose branches all see as far."""
    pick = {u.name: u.widest_and_narrowest for u in units}
    rows = []
    for (unit, kind, scale, scale_range, label), g in df.groupby(["unit", "kind", "scale", "scale_range", "class"],
                                                                 sort=False):
        pair = pick[unit]
        value = float("nan")
        if pair is not None:
            by_branch = g.set_index("branch")["mean_attention"]
            value = float(by_branch[pair[0]] - by_branch[pair[1]])
        rows.append({"unit": unit, "kind": kind, "scale": scale, "scale_range": scale_range, "class": label,
                     "difference": value})
    return pd.DataFrame(rows, columns=["unit", "kind", "scale", "scale_range", "class", "difference"])


def per_class_differences(att: Attention, unit: Unit) -> pd.DataFrame:
    """Mean attention difference of one unit per class at each enlargement."""
    pair = unit.widest_and_narrowest
    rows = []
    for (kind, scale), per_unit in att.samples.items():
        if kind != "enlarged" or pair is None:
            continue
        a = per_unit[unit.name]
        diff = a[:, pair[0]] - a[:, pair[1]]
        for c in np.unique(att.images.y):
            name = att.images.class_names[c] if c < len(att.images.class_names) else str(c)
            rows.append({"class": name, "scale": scale, "difference": float(diff[att.images.y == c].mean())})
    return pd.DataFrame(rows, columns=["class", "scale", "difference"])


def analysis_images(spec_input_size: int, spec_in_channels: int, preprocess: dict | None, data_name: str | None,
                    data_root: str | None, limit: int | None) -> tuple[Images, list[float], list[float], str]:
    """The validation images to analyse and the normalisation the model expects.

    By default the data the model was trained on (recorded in the study's data.json or the
    export's preprocess.json); ``data_name`` (with ``data_root``) picks another set of the same
    input shape."""
    from dataclasses import replace

    from ..data.load import FolderData, balanced_subset, describe, load_data
    from ..data.spec import NAMES, DataSpec

    recorded = (preprocess or {}).get("data_spec")
    if data_name is None and preprocess is None:
        raise UserError("there is no record of the data this model was trained on: pass --data NAME "
                        f"({', '.join(NAMES)})")
    name = data_name or (preprocess or {}).get("name")
    if recorded and recorded.get("name") == name:
        spec = DataSpec.from_record(recorded)
    else:
        spec = DataSpec.named(name, canvas=spec_input_size, image_size=spec_input_size)
    if data_root:
        spec = replace(spec, root=data_root)
    data = load_data(spec)
    if (data.input_size, data.in_channels) != (spec_input_size, spec_in_channels):
        raise UserError(f"--data {name}: its images are {data.in_channels} x {data.input_size} x {data.input_size}, "
                        f"the model takes {spec_in_channels} x {spec_input_size} x {spec_input_size}")
    info = preprocess if preprocess and preprocess.get("name") == data.name else describe(data)
    class_names = list(info.get("class_names") or data.class_names)
    if isinstance(data, FolderData):
        val = data.val
        count = len(val) if limit is None else min(limit, len(val))
        keep = balanced_subset(np.asarray(val.labels), count, 0) if count < len(val) else np.arange(len(val))
        x = np.stack([val[int(i)][0].numpy() for i in keep])
        y = np.asarray([val.labels[int(i)] for i in keep], dtype=np.int64)
        return Images(x, y, class_names), info["mean"], info["std"], data.name
    x, y, scales, boxes = data.x_val, data.y_val, data.scales_val, data.boxes_val
    if limit is not None and limit < len(y):
        keep = balanced_subset(y, limit, 0)
        x, y = x[keep], y[keep]
        scales = scales[keep] if scales is not None else None
        boxes = boxes[keep] if boxes is not None else None
    return Images(x, y, class_names, scales, boxes), info["mean"], info["std"], data.name
