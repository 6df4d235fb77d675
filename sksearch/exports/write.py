"""Write export folders: a trial's, a subnet's (``oneshot/export.py``), a trained network's
(``sksearch train``) or an untrained preset's (``sksearch build``); the files an export holds
are listed in ``layout.py``. Each folder is checked to load before a file of it is written.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import shutil
import warnings
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import UserError
from ..model.spec import ArchSpec
from ..study.artifacts import trial_artifacts
from ..study.folder import StudyFolder
from ..study.nofollow import atomic_write, refuse_link
from ..study.pareto import front
from .layout import ExportLayout
from .read import load_model, with_weights
from .targets import check_export_target, clear_export, is_front_folder

if TYPE_CHECKING:
    import torch

    from ..model.network import SKNet

# The network module that exports ship, found without importing it (and so torch).
MODEL_SOURCE = importlib.util.find_spec("sksearch.model.network").origin


def _readme(spec: ArchSpec, title: str, metrics: dict[str, Any] | None, preprocess: dict[str, Any] | None,
            origin: str, recipe: dict[str, Any] | None = None) -> str:
    lines = [f"# {title}", "", origin, ""]
    if metrics:
        lines += ["## Metrics", "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {v} |" for k, v in metrics.items()]
        lines.append("")
    groups = "depthwise 3x3 convs" if spec.groups is None else f"groups G={spec.groups}"
    head = f", a {spec.head_width}-channel 1x1 head conv" if spec.head_width else ""
    stages = "; ".join(f"{s.depth} x ({s.width} wide, {s.out_channels} out, stride {s.stride})" for s in spec.stages)
    lines += [
        "## Architecture", "",
        f"- family `{spec.family}`, block `{spec.block}`, stem `{spec.stem}` ({spec.stem_width} channels), "
        f"{groups}{head}",
        spec.kind.readme(spec),
        f"- stages: {stages}",
        f"- input {spec.in_channels}x{spec.input_size}x{spec.input_size}, {spec.num_classes} classes",
        "- the full spec is `spec.json`; per-stage overrides live there too", "",
        "## Load it", "",
        "Only PyTorch is needed; `model.py` is the whole network definition.", "",
        "```python",
        "import sys; sys.path.insert(0, 'path/to/this/folder')",
        "import model",
        "net = model.load('path/to/this/folder')          # eval mode, on the CPU",
        "logits = net(x)                                   # x: float, (batch, "
        f"{spec.in_channels}, {spec.input_size}, {spec.input_size})",
        "```", "",
    ]
    lines += ["## Inputs", ""]
    if preprocess and "mean" in preprocess and "std" in preprocess:
        lines += [
            "Pixels scaled to [0, 1], then normalised per channel with `preprocess.json`:",
            f"mean {[round(m, 4) for m in preprocess['mean']]}, std {[round(s, 4) for s in preprocess['std']]}.",
            "",
        ]
    elif preprocess:  # a data.json without its normalisation (a damaged or hand-made one)
        lines += ["Pixels scaled to [0, 1]; `preprocess.json` records no normalisation.", ""]
    else:
        lines += ["Untrained, so no data and no normalisation came with it (no `preprocess.json`, no `train.json`):",
                  "scale pixels to [0, 1] and normalise them per channel with your data's mean and std.", ""]
    lines += _train_further(recipe)
    lines.append("Inside sksearch, `sksearch.load_model(folder)` gives the same network.")
    return "\n".join(lines) + "\n"


def _recipe_notes(recipe: dict[str, Any] | None) -> list[str]:
    """What the README must say for the weights and figures to be read right: averaged weights,
    test-time augmentation, a refit on train + val (no val figure)."""
    if not recipe:
        return []
    t, notes = recipe.get("train") or {}, []
    if t.get("ema"):
        notes.append(f"The weights are an exponential moving average of the trained weights (`train.ema`: decay "
                     f"{t['ema']:g} per step, updated every {t.get('ema_every', 1)} steps, BatchNorm's running "
                     f"statistics averaged with them); validation read the averaged weights too.")
    if t.get("tta") == "on":
        notes.append("Accuracy is measured with test-time augmentation (`train.tta: on`): the logits averaged "
                     "over the data set's own views (`sksearch evaluate` does the same).")
    refit = recipe.get("refit")
    if refit:
        notes.append(f"Refit (`sksearch train --refit`): trained on train + val, {refit['images']:,} images; "
                     f"no val accuracy, since val was trained on.")
    return (["## Recipe", "", *notes, ""] if notes else [])


def _train_further(recipe: dict[str, Any] | None) -> list[str]:
    """The README's section on training the network for a full schedule, from ``train.json``."""
    lines = _recipe_notes(recipe) + ["## Train it further", ""]
    if recipe:
        t = recipe["train"]
        data = (recipe.get("data") or {}).get("name", "the data below")
        lines += [
            f"`train.json` holds the recipe the search trained it with: {t['optimizer']}, peak lr {t['lr']:g}, "
            f"momentum {t['momentum']:g}, weight decay {t['weight_decay']:g} (conv and fc weights only), label "
            f"smoothing {t['label_smoothing']:g}, batch {t['batch_size']}, a {t['schedule']} schedule after "
            f"{t['warmup_epochs']:g} warm-up epochs, {recipe.get('epochs', t['max_epochs'])} epochs on {data}. "
            "With sksearch installed, one command trains it for a full schedule with that recipe (progress, a "
            "checkpoint every epoch, resumed after a crash by running it again):", "",
            "```bash",
            "sksearch train path/to/this/folder --epochs 30 --out trained/            # from these weights",
            "sksearch train path/to/this/folder --epochs 90 --from-scratch --out full/  # the architecture afresh",
            "```", ""]
    lines += [
        "With PyTorch alone:", "",
        "```python",
        "import json, torch, model",
        "net = model.load('path/to/this/folder').train()"
        "  # or model.build(json.load(open('spec.json'))) to start afresh",
    ]
    if recipe and recipe["train"]["optimizer"] == "adamw":
        t = recipe["train"]
        lines.append(f"opt = torch.optim.AdamW(net.parameters(), lr={t['lr']:g}, betas=({t['momentum']:g}, 0.999), "
                     f"weight_decay={t['weight_decay']:g})")
    else:
        t = recipe["train"] if recipe else {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4}
        lines.append(f"opt = torch.optim.SGD(net.parameters(), lr={t['lr']:g}, momentum={t['momentum']:g}, "
                     f"nesterov=True, weight_decay={t['weight_decay']:g})")
    lines += [
        "for x, y in loader:                               # your data, normalised as in Inputs above",
        "    loss = torch.nn.functional.cross_entropy(net(x), y)",
        "    opt.zero_grad(); loss.backward(); opt.step()",
        "torch.save(net.state_dict(), 'weights.pt')        # or safetensors.torch.save_file(net.state_dict(), ...)",
        "```", ""]
    return lines


def export_onnx(model: SKNet, spec: ArchSpec, path: str) -> None:
    """``model.onnx`` with a dynamic batch axis; checked against PyTorch with onnxruntime when
    it is installed."""
    import torch

    try:
        import onnxscript  # noqa: F401 - the exporter needs it
    except ImportError:
        raise UserError("--onnx needs the onnx and onnxscript packages: "
                        "pip install onnx onnxscript onnxruntime") from None
    for name in (path, path + ".data"):  # the exporter opens both names itself, following links
        refuse_link(name)
    x = torch.randn(2, spec.in_channels, spec.input_size, spec.input_size)
    quiet = io.StringIO()
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        warnings.simplefilter("ignore")
        # One file while it fits protobuf's 2 GB limit (SKNet-101 is under 200 MB in fp32).
        big = sum(p.numel() * p.element_size() for p in model.parameters()) > 1.5e9
        torch.onnx.export(model, (x,), path, dynamo=True, input_names=["input"], output_names=["logits"],
                          dynamic_shapes=({0: torch.export.Dim("batch", min=1)},), external_data=big)
    try:
        import onnxruntime
    except ImportError:
        return
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    probe = torch.randn(3, spec.in_channels, spec.input_size, spec.input_size)
    with torch.no_grad():
        expected = model(probe).numpy()
    got = session.run(None, {"input": probe.numpy()})[0]
    err = float(abs(got - expected).max())
    if err > 1e-3 * max(1.0, float(abs(expected).max())):
        raise RuntimeError(f"{path}: onnxruntime differs from PyTorch by {err}")


def write_export(out: str, spec: ArchSpec, weights: dict[str, torch.Tensor] | str, title: str, origin: str,
                 metrics: dict[str, Any] | None = None, preprocess: dict[str, Any] | None = None,
                 onnx: bool = False, recipe: dict[str, Any] | None = None) -> str:
    """Write an export folder; ``weights`` is a state dict or a safetensors file to copy;
    ``recipe`` (``{"train": TrainSpec dict, "data": DataSpec dict, "epochs": trained}``) is
    written as ``train.json``."""
    os.makedirs(out, exist_ok=True)
    files = ExportLayout(out)
    # Each file through atomic_write: a link planted in an earlier export is refused, never
    # written through (the command checked the folder for links out of it before this).
    atomic_write(files.model_py, lambda tmp: shutil.copyfile(MODEL_SOURCE, tmp))
    atomic_write(files.spec_json, spec.to_json() + "\n")
    target = files.weights
    if isinstance(weights, str):
        source = weights
        atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))
    else:
        from safetensors.torch import save_file

        state = {k: v.detach().cpu().contiguous() for k, v in weights.items()}
        atomic_write(target, lambda tmp: save_file(state, tmp))
    if preprocess:
        atomic_write(files.preprocess_json, json.dumps(preprocess, indent=2))
    if recipe:
        atomic_write(files.train_json, json.dumps(recipe, indent=2))
    atomic_write(files.readme_md, _readme(spec, title, metrics, preprocess, origin, recipe))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(target, 0o666 & ~umask)  # the weights as readable as the files beside them (a copy keeps 0600)
    if onnx:
        export_onnx(load_model(out), spec, files.model_onnx)
    return out


def _metrics(row: pd.Series) -> dict[str, Any]:
    out: dict[str, Any] = {"status": row["status"], "epochs": None if pd.isna(row["epochs"]) else int(row["epochs"])}
    for key in ("accuracy", "loss"):
        if pd.notna(row.get(key)):
            out[f"val {key}"] = round(float(row[key]), 4)
    # A search never reads the test split, so a trial has no test figure until one is measured.
    out["test accuracy"] = "not measured (`sksearch evaluate FOLDER --split test`)"
    for key in ("params", "macs"):
        out[key] = "not recorded" if pd.isna(row[key]) else f"{int(row[key]):,}"
    if "latency" in row and pd.notna(row["latency"]):
        out["latency_ms"] = round(float(row["latency"]), 3)
    return out


def trial_source(folder: StudyFolder, trial_id: int) -> dict[str, Any]:
    """What an export of the trial records as its "source" in train.json: an export folder holding
    the same is replaced without ``--force``."""
    return {"study": folder.name, "trial_id": trial_id, "folder": os.path.abspath(folder.root)}


def export_trial(folder: StudyFolder, trial_id: int, out: str, onnx: bool = False, force: bool = False) -> str:
    """Export a trial into ``out``: a new or empty folder, an earlier export of the same trial,
    or (with ``force``) anything else, an earlier export's files removed first."""
    art = trial_artifacts(folder, trial_id)
    source = trial_source(folder, trial_id)
    replace = check_export_target(out, force=force, source=source)
    with_weights(art.spec, art.weights)  # an export that would not load is never written
    row = art.row
    origin = (f"Trial {trial_id} of the sksearch study in `{os.path.abspath(folder.root)}`"
              f"{'' if row['status'] == 'completed' else ' (stopped early: weights from its last epoch)'}.")
    data = folder.data_info()
    recipe = {"train": art.train, "data": (data or {}).get("data_spec") or folder.space.data.to_dict(),
              "epochs": None if pd.isna(row["epochs"]) else int(row["epochs"]), "cpus": folder.space.resources.cpu,
              "source": source}
    if replace:
        clear_export(out)
    return write_export(out, art.spec, art.weights, f"sksearch trial {trial_id}", origin, _metrics(row),
                        data, onnx, recipe)


def export_front(folder: StudyFolder, objectives: list[str], out: str, onnx: bool = False,
                 force: bool = False) -> list[str]:
    chosen = front(folder.table, objectives)
    if chosen.empty:
        raise UserError(f"{folder.root}: no completed trial yet, so there is no front to export")
    study = {"study": folder.name, "folder": os.path.abspath(folder.root)}
    check_export_target(out, force=force, front=True, source=study)
    was_front = os.path.isdir(out) and bool(os.listdir(out)) and is_front_folder(out)
    for t in chosen["trial_id"]:  # every trial's weights load before the first folder is written
        art = trial_artifacts(folder, int(t))
        with_weights(art.spec, art.weights)
    # A front exported here before (of this study, or of another with --force) keeps no trial
    # that is not on this one: the folder is the front as of now.
    wanted = {f"trial_{int(t):04d}" for t in chosen["trial_id"]}
    for name in sorted(os.listdir(out)) if was_front else []:
        stale = os.path.join(out, name)
        if name not in wanted:
            os.remove(stale) if os.path.islink(stale) else shutil.rmtree(stale)
    return [export_trial(folder, int(t), os.path.join(out, f"trial_{int(t):04d}"), onnx, force=True)
            for t in chosen["trial_id"]]


def export_untrained(spec: ArchSpec, name: str, out: str, onnx: bool = False, seed: int = 0,
                     force: bool = False) -> str:
    import torch

    replace = check_export_target(out, force=force, source=None)
    from ..model.memory import check_fits
    from ..model.network import build

    counted = check_fits(spec, name)  # its weights, and a forward of one image for --onnx
    torch.manual_seed(seed)
    model = build(spec.to_dict())
    params, macs = counted.params, counted.macs
    if replace:
        clear_export(out)
    return write_export(out, spec, model.state_dict(), name, f"`{name}`, untrained (initialised with seed {seed}).",
                        {"params": f"{params:,}", "macs": f"{macs:,}"}, None, onnx)
