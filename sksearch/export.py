"""Export chosen architectures as standalone model definitions with their weights.

An export folder holds:

    model.py              sksearch's own torch-only network module, copied as it is:
                          build(spec) and load(folder)
    spec.json             the ArchSpec (input_size and in_channels included)
    weights.safetensors   the weights (no pickle)
    preprocess.json       what inputs the weights expect: normalisation, classes
    README.md             the metrics, how to load it, how to train it further
    model.onnx            with --onnx (checked with onnxruntime when it is installed)
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import warnings
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from .errors import UserError
from .nn import model as model_module
from .nn.model import SKNet, build
from .spec import ArchSpec, SpecError

MODEL_SOURCE = model_module.__file__


@dataclass
class TrialArtifacts:
    """What a study holds about one trial: its row, spec and last checkpoint's weights."""

    row: pd.Series
    spec: ArchSpec
    weights: str
    trial_dir: str


def _trial_dir(study: str, row: pd.Series) -> str:
    # The table's ray_trial_id names the folder: a sample reissued after a crash may leave a
    # partial folder of an earlier Ray trial with the same number beside it.
    name = f"trial_{int(row['trial_id']):04d}_{row['ray_trial_id']}"
    path = os.path.join(study, "ray", name)
    if not os.path.isdir(path):
        raise UserError(f"{study}: trial {int(row['trial_id'])} has no Ray folder {path}")
    return path


def _latest_checkpoint(trial_dir: str) -> str:
    checkpoints = sorted(d for d in os.listdir(trial_dir) if d.startswith("checkpoint_"))
    for name in reversed(checkpoints):
        weights = os.path.join(trial_dir, name, "model.safetensors")
        if os.path.exists(weights):
            return weights
    raise UserError(f"{trial_dir}: no checkpoint with weights")


def trial_artifacts(study: str, table: pd.DataFrame, trial_id: int) -> TrialArtifacts:
    rows = table[table["trial_id"] == trial_id]
    if rows.empty:
        known = ", ".join(str(int(t)) for t in table["trial_id"].head(20))
        raise UserError(f"--trial {trial_id}: no such trial in {study} (trials: {known}{'...' if len(table) > 20 else ''})")
    row = rows.iloc[0]
    if row["status"] not in ("completed", "stopped_early"):
        raise UserError(f"--trial {trial_id}: it is {row['status']} and has no trained weights; "
                        f"export a completed or stopped_early trial")
    trial_dir = _trial_dir(study, row)
    with open(os.path.join(trial_dir, "params.json")) as fh:
        config = json.load(fh)
    return TrialArtifacts(row, ArchSpec.from_dict(config["arch"]), _latest_checkpoint(trial_dir), trial_dir)


def _readme(spec: ArchSpec, title: str, metrics: dict[str, Any] | None, preprocess: dict[str, Any] | None,
            origin: str) -> str:
    lines = [f"# {title}", "", origin, ""]
    if metrics:
        lines += ["## Metrics", "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {v} |" for k, v in metrics.items()]
        lines.append("")
    branches = ", ".join(f"{k}x{k} d={d}" for k, d in spec.sk.branches)
    stages = "; ".join(f"{s.depth} x ({s.width} wide, {s.out_channels} out, stride {s.stride})" for s in spec.stages)
    lines += [
        "## Architecture", "",
        f"- block `{spec.block}`, stem `{spec.stem}` ({spec.stem_width} channels), groups G={spec.groups}",
        f"- SK: M={spec.sk.M} ({branches}), r={spec.sk.reduction}, L={spec.sk.min_dim}" if spec.block == "sk" else
        f"- SE reduction {spec.se_reduction}" if spec.block == "se" else "- plain ResNeXt bottlenecks",
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
    if preprocess:
        lines += [
            "## Inputs", "",
            "Pixels scaled to [0, 1], then normalised per channel with `preprocess.json`:",
            f"mean {[round(m, 4) for m in preprocess['mean']]}, std {[round(s, 4) for s in preprocess['std']]}.",
            "",
        ]
    lines += [
        "## Train it further", "",
        "```python",
        "import json, torch, model",
        "net = model.load('path/to/this/folder').train()  # or model.build(json.load(open('spec.json'))) to start afresh",
        "opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)",
        "for x, y in loader:                               # your data, normalised as above",
        "    loss = torch.nn.functional.cross_entropy(net(x), y)",
        "    opt.zero_grad(); loss.backward(); opt.step()",
        "torch.save(net.state_dict(), 'weights.pt')        # or safetensors.torch.save_file(net.state_dict(), ...)",
        "```", "",
        "Inside sksearch, `sksearch.load_model(folder)` gives the same network.",
    ]
    return "\n".join(lines) + "\n"


def export_onnx(model: SKNet, spec: ArchSpec, path: str) -> None:
    """``model.onnx`` with a dynamic batch axis; checked against PyTorch with onnxruntime when
    it is installed."""
    try:
        import onnxscript  # noqa: F401 - the exporter needs it
    except ImportError:
        raise UserError("--onnx needs the onnx and onnxscript packages: pip install onnx onnxscript onnxruntime") from None
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
                 onnx: bool = False) -> str:
    """Write an export folder; ``weights`` is a state dict or a safetensors file to copy."""
    from safetensors.torch import save_file

    os.makedirs(out, exist_ok=True)
    shutil.copyfile(MODEL_SOURCE, os.path.join(out, "model.py"))
    with open(os.path.join(out, "spec.json"), "w") as fh:
        fh.write(spec.to_json() + "\n")
    target = os.path.join(out, "weights.safetensors")
    if isinstance(weights, str):
        shutil.copyfile(weights, target)
    else:
        save_file({k: v.detach().cpu().contiguous() for k, v in weights.items()}, target)
    if preprocess:
        with open(os.path.join(out, "preprocess.json"), "w") as fh:
            json.dump(preprocess, fh, indent=2)
    with open(os.path.join(out, "README.md"), "w") as fh:
        fh.write(_readme(spec, title, metrics, preprocess, origin))
    if onnx:
        export_onnx(load_model(out), spec, os.path.join(out, "model.onnx"))
    return out


def _metrics(row: pd.Series) -> dict[str, Any]:
    out: dict[str, Any] = {"status": row["status"], "epochs": int(row["epochs"])}
    for key in ("accuracy", "loss"):
        if pd.notna(row.get(key)):
            out[key] = round(float(row[key]), 4)
    for key in ("params", "macs"):
        out[key] = f"{int(row[key]):,}"
    if "latency" in row and pd.notna(row["latency"]):
        out["latency_ms"] = round(float(row["latency"]), 3)
    return out


def _preprocess(study: str) -> dict[str, Any] | None:
    path = os.path.join(study, "data.json")
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return json.load(fh)


def export_trial(study: str, table: pd.DataFrame, trial_id: int, out: str, onnx: bool = False) -> str:
    art = trial_artifacts(study, table, trial_id)
    row = art.row
    origin = (f"Trial {trial_id} of the sksearch study in `{os.path.abspath(study)}`"
              f"{'' if row['status'] == 'completed' else ' (stopped early: weights from its last epoch)'}.")
    return write_export(out, art.spec, art.weights, f"sksearch trial {trial_id}", origin, _metrics(row),
                        _preprocess(study), onnx)


def export_front(study: str, table: pd.DataFrame, objectives: list[str], out: str, onnx: bool = False) -> list[str]:
    from .pareto import front

    chosen = front(table, objectives)
    if chosen.empty:
        raise UserError(f"{study}: no completed trial yet, so there is no front to export")
    return [export_trial(study, table, int(t), os.path.join(out, f"trial_{int(t):04d}"), onnx)
            for t in chosen["trial_id"]]


def export_untrained(spec: ArchSpec, name: str, out: str, onnx: bool = False, seed: int = 0) -> str:
    torch.manual_seed(seed)
    model = build(spec.to_dict())
    from .cost import params_and_macs

    params, macs = params_and_macs(spec)
    return write_export(out, spec, model.state_dict(), name, f"`{name}`, untrained (initialised with seed {seed}).",
                        {"params": f"{params:,}", "macs": f"{macs:,}"}, None, onnx)


def _with_weights(spec: ArchSpec, weights: str) -> SKNet:
    """The network of ``spec`` with the safetensors ``weights``, in eval mode."""
    from safetensors.torch import load_file

    model = build(spec.to_dict())
    model.load_state_dict(load_file(weights))
    return model.eval()


def load_model(folder: str, map_location: str | torch.device = "cpu") -> SKNet:
    """An exported model, built by this package (the spec validated), weights loaded, in eval mode."""
    spec_path = os.path.join(folder, "spec.json")
    if not os.path.exists(spec_path):
        raise UserError(f"{folder}: not an export folder (no spec.json)")
    with open(spec_path) as fh:
        try:
            spec = ArchSpec.from_json(fh.read())
        except SpecError as exc:
            raise UserError(f"{spec_path}: {exc}") from None
    return _with_weights(spec, os.path.join(folder, "weights.safetensors")).to(map_location)


@dataclass
class Trained:
    """A trained model to analyse, with what it was trained on."""

    model: SKNet
    spec: ArchSpec
    preprocess: dict[str, Any] | None  # data.json / preprocess.json: shape, classes, normalisation, data spec
    title: str
    default_out: str  # where its analyses go unless told otherwise


def load_trained(target: str) -> Trained:
    """An export folder, or ``STUDY_DIR:TRIAL_ID`` (the trial's last checkpoint)."""
    if os.path.isfile(os.path.join(target, "spec.json")):
        preprocess = None
        path = os.path.join(target, "preprocess.json")
        if os.path.exists(path):
            with open(path) as fh:
                preprocess = json.load(fh)
        model = load_model(target)
        return Trained(model, ArchSpec.from_dict(model.spec), preprocess, os.path.basename(os.path.normpath(target)) or target,
                       os.path.join(target, "attention"))
    if os.path.isfile(os.path.join(target, "run.json")):
        raise UserError(f"{target} is a study folder: name a trial as {target}:ID (trial_id in trials.csv), "
                        f"or export one first with `sksearch export {target} --trial ID --to OUT`")
    study, sep, trial = target.rpartition(":")
    if not sep or not study:
        raise UserError(f"{target}: not an export folder (no spec.json), nor STUDY_DIR:TRIAL_ID")
    try:
        trial_id = int(trial)
    except ValueError:
        raise UserError(f"{target}: {trial!r} is not a trial id; write STUDY_DIR:TRIAL_ID, e.g. results/quickstart:3") from None
    from .study import open_folder

    folder = open_folder(study)
    art = trial_artifacts(folder.folder, folder.table, trial_id)
    return Trained(_with_weights(art.spec, art.weights), art.spec, _preprocess(folder.folder), f"trial {trial_id} of {folder.run['study_name']}",
                   os.path.join(folder.folder, "attention", f"trial_{trial_id:04d}"))
