"""The recipe ablation on Fashion-MNIST (issue 29): which training-recipe elements pay for a
small SK net, and how far the best recipe goes with more epochs.

    python benchmarks/recipe.py --out results/recipe                 # the full ablation (hours on 2 cores)
    python benchmarks/recipe.py --out results/recipe --epochs 10 --long-epochs 20 40 --seeds 0 1 2
    python benchmarks/recipe.py --out /tmp/recipe --quick            # a smoke run on the digits (seconds)

One net of 110,586 params from search_spaces/fashion_mnist.yaml's space (stem 16, G=8, M=2 with
3x3 and 3x3 dilation-2 branches, r=4, L=16; stages of depth 1/2/1, widths 32/64/64, outputs
32/128/128, stride 2 each). Phase ``ablation``: the space's recipe (SGD, peak lr 0.1, cosine
after half an epoch of warm-up, label smoothing 0.1, the set's crop) at ``--epochs``, then the
elements added one at a time, each kept only when it raises the mean val accuracy over the
seeds (val, never test, chooses): a one-cycle schedule, weight averaging (ema 0.999 every 5
steps), random erasing (p 0.5, 2-25% of the area), test-time augmentation. Phase ``long``: the
recipe kept at each of ``--long-epochs``. Every run trains on the training split less the
6,000-image val hold-out, is validated every epoch, and reads the test split once, at its end.
Each run's final weights are kept under ``OUT/weights/``; test-time augmentation changes the
evaluation alone, so it is measured on the kept recipe's own weights (paired, no retraining)
where they are there.

Resumable: each run's row is appended to ``OUT/runs.csv`` as it ends, and a rerun skips the
runs already there (the choices between elements are remade from those rows). ``OUT/recipe.md``
holds the tables: val and test accuracy (mean and standard deviation over the seeds) and
seconds per epoch, per recipe and epoch count.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sksearch.data.spec import DataSpec  # noqa: E402
from sksearch.model.spec import ArchSpec, SKSpec, StageSpec  # noqa: E402
from sksearch.train.spec import TrainSpec  # noqa: E402

COLUMNS = ["phase", "recipe", "epochs", "seed", "params", "val_accuracy", "val_loss", "test_accuracy",
           "seconds_per_epoch", "train", "data"]
# The space's recipe (search_spaces/fashion_mnist.yaml, lr and weight decay at their ranges' centres).
BASE_TRAIN = {"batch_size": 64, "optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 3e-4,
              "label_smoothing": 0.1, "schedule": "cosine", "warmup_epochs": 0.5}
# The elements in the order they are tried: (name, train changes, data changes).
ELEMENTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("onecycle", {"schedule": "onecycle", "warmup_epochs": 0.0}, {}),
    ("ema", {"ema": 0.999, "ema_every": 5}, {}),
    ("erase", {}, {"erase": 0.5, "erase_min": 0.02, "erase_max": 0.25}),
    ("tta", {"tta": "on"}, {}),
]
# Elements that change the evaluation only: measured on the kept recipe's own weights where
# they are on disk (paired: the same networks with and without), trained afresh where not.
EVALUATION_ONLY = {"tta"}


def network(data: DataSpec, quick: bool) -> ArchSpec:
    shape = data.shape()
    layout = ((1, 8, 8), (1, 16, 16)) if quick else ((1, 32, 32), (2, 64, 128), (1, 64, 128))
    return ArchSpec(stages=tuple(StageSpec(depth=d, width=w, out_channels=o, stride=2) for d, w, o in layout),
                    block="sk", stem="cifar", stem_width=8 if quick else 16, groups=8 if not quick else 4,
                    sk=SKSpec(((3, 1), (3, 2)), reduction=4, min_dim=16 if not quick else 4),
                    num_classes=shape.num_classes, in_channels=shape.in_channels, input_size=shape.input_size)


def run_batches(recipe: TrainSpec, data: Any, erase: dict[str, Any]) -> Any:
    """The CPU batches of one run: the data with ``erase``'s random-erasing settings."""
    from sksearch.data.load import make_batches

    data.erase, data.erase_min, data.erase_max = (erase.get("erase", 0.0), erase.get("erase_min", 0.02),
                                                  erase.get("erase_max", 0.25))
    return make_batches(data, "cpu", recipe.batch_size, seed=recipe.seed, channels_last=recipe.uses_channels_last)


def train_once(spec: ArchSpec, recipe: TrainSpec, data: Any, erase: dict[str, Any],
               keep: Path | None = None) -> dict[str, Any]:
    """One run: val after the last epoch (the averaged weights where ema is on, with TTA where
    it is on), test read once at the end, and seconds per epoch of training. ``keep``: a folder
    the final weights are copied to, so that an evaluation-only element (TTA) reads them."""
    import shutil

    import torch

    from sksearch.exports.read import with_weights
    from sksearch.train.loop import evaluate, run_trial

    batches = run_batches(recipe, data, erase)
    folders: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        t0 = time.perf_counter()
        metrics = run_trial(spec, recipe, batches, "cpu", lambda m, f: folders.append(f), checkpoint_dir=scratch)
        seconds = time.perf_counter() - t0
        test = None
        if batches.has_test:  # the checkpoint's weights: the averaged ones where ema is on
            model = with_weights(spec, os.path.join(folders[-1], "model.safetensors"))
            if recipe.uses_channels_last:
                model = model.to(memory_format=torch.channels_last)
            test = evaluate(model, batches, torch.device("cpu"), recipe, "test")[0]
        if keep is not None:
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(folders[-1], keep)
    return {"params": metrics["params"], "val_accuracy": metrics["accuracy"], "val_loss": metrics["loss"],
            "test_accuracy": test, "seconds_per_epoch": float(metrics["train_time"]) / recipe.max_epochs,
            "wall_s": seconds}


def evaluate_kept(spec: ArchSpec, recipe: TrainSpec, data: Any, erase: dict[str, Any], kept: Path,
                  source: dict[str, Any]) -> dict[str, Any]:
    """An evaluation-only element on a run's kept weights: val and test under ``recipe`` (TTA),
    paired with the run it reads (same weights, so the difference is the evaluation's alone).
    The run's val is re-measured first without the element: a mismatch means the weights are
    not that run's, and the comparison would be void."""
    import dataclasses

    import torch

    from sksearch.exports.read import with_weights
    from sksearch.train.loop import evaluate

    batches = run_batches(recipe, data, erase)
    model = with_weights(spec, os.path.join(kept, "model.safetensors"))
    if recipe.uses_channels_last:
        model = model.to(memory_format=torch.channels_last)
    plain = evaluate(model, batches, torch.device("cpu"), dataclasses.replace(recipe, tta="off"), "val")[0]
    if abs(plain - source["val_accuracy"]) > 1e-9:
        raise RuntimeError(f"{kept}: val {plain} without the element, the run recorded {source['val_accuracy']}")
    t0 = time.perf_counter()
    val, val_loss = evaluate(model, batches, torch.device("cpu"), recipe, "val")
    seconds = time.perf_counter() - t0
    test = evaluate(model, batches, torch.device("cpu"), recipe, "test")[0] if batches.has_test else None
    return {"params": source["params"], "val_accuracy": val, "val_loss": val_loss, "test_accuracy": test,
            "seconds_per_epoch": source["seconds_per_epoch"], "wall_s": seconds}


def read_runs(path: Path) -> list[dict[str, Any]]:
    """The runs already done; a row cut short by a kill (missing fields) is dropped and redone."""
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        rows = [r for r in csv.DictReader(fh)
                if all(r.get(c) not in (None, "") for c in COLUMNS if c != "test_accuracy")]
    for r in rows:
        r["epochs"], r["seed"], r["params"] = int(r["epochs"]), int(r["seed"]), int(r["params"])
        r["val_accuracy"], r["val_loss"] = float(r["val_accuracy"]), float(r["val_loss"])
        r["test_accuracy"] = float(r["test_accuracy"]) if r["test_accuracy"] else None
        r["seconds_per_epoch"] = float(r["seconds_per_epoch"])
    return rows


def append_run(path: Path, row: dict[str, Any], columns: list[str] = COLUMNS) -> None:
    """One row, written and flushed to disk as the run ends (a header first for a new file);
    ``columns`` are the file's (``benchmarks/one_shot.py`` appends its own)."""
    new = not path.exists() or path.stat().st_size == 0
    if not new:
        with open(path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            cut = fh.read(1) != b"\n"  # a row a kill left half-written: end it, read_runs drops it
    with open(path, "a", newline="") as fh:
        if not new and cut:
            fh.write("\n")
        writer = csv.DictWriter(fh, columns, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)
        fh.flush()
        os.fsync(fh.fileno())


class Runner:
    """Runs (phase, recipe, epochs, seed) once: from runs.csv when it is there."""

    def __init__(self, out: Path, spec: ArchSpec, data: Any, data_spec: DataSpec, seeds: list[int],
                 log: Any = print) -> None:
        self.path, self.spec, self.data, self.data_spec = out / "runs.csv", spec, data, data_spec
        self.weights = out / "weights"
        self.seeds, self.log = seeds, log
        self.done = {(r["phase"], r["recipe"], r["epochs"], r["seed"]): r for r in read_runs(self.path)}

    def kept(self, phase: str, name: str, epochs: int, seed: int) -> Path:
        return self.weights / f"{phase}-{name}-{epochs}-s{seed}"

    def can_evaluate(self, phase: str, name: str, epochs: int) -> bool:
        """Whether every seed's run of (phase, name, epochs) is done and its weights kept."""
        return all((phase, name, epochs, s) in self.done
                   and (self.kept(phase, name, epochs, s) / "model.safetensors").exists() for s in self.seeds)

    def runs(self, phase: str, name: str, epochs: int, train: dict[str, Any], erase: dict[str, Any],
             on: str | None = None) -> list[dict]:
        """The seeds' runs; with ``on`` (a recipe name whose weights are kept), an evaluation-only
        element: no training, ``on``'s weights evaluated under ``train``."""
        rows = []
        for seed in self.seeds:
            key = (phase, name, epochs, seed)
            if key not in self.done:
                recipe = TrainSpec(**{**train, "max_epochs": epochs, "seed": seed})
                if on is not None:
                    result = evaluate_kept(self.spec, recipe, self.data, erase, self.kept(phase, on, epochs, seed),
                                           self.done[(phase, on, epochs, seed)])
                else:
                    result = train_once(self.spec, recipe, self.data, erase, self.kept(phase, name, epochs, seed))
                row = {"phase": phase, "recipe": name, "epochs": epochs, "seed": seed, **result,
                       "train": json.dumps(train, sort_keys=True),
                       "data": json.dumps({**self.data_spec.to_dict(), **erase}, sort_keys=True)}
                append_run(self.path, row)
                self.done[key] = row
                test = "-" if row["test_accuracy"] is None else f"{row['test_accuracy']:.2%}"
                self.log(f"{phase} {name} {epochs} epochs seed {seed}: val {row['val_accuracy']:.2%}, test {test}, "
                         f"{row['seconds_per_epoch']:.1f} s/epoch")
            rows.append(self.done[key])
        return rows


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2%}"
    return f"{statistics.mean(values):.2%} ± {statistics.stdev(values):.2%}"


def table_row(name: str, epochs: int, rows: list[dict], note: str = "") -> str:
    tests = [r["test_accuracy"] for r in rows if r["test_accuracy"] is not None]
    return (f"| {name} | {epochs} | {len(rows)} | {mean_std([r['val_accuracy'] for r in rows])} | {mean_std(tests)} | "
            f"{statistics.mean(r['seconds_per_epoch'] for r in rows):.1f} | {note} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the benchmark's folder (runs.csv, recipe.md)")
    parser.add_argument("--data", default="fashion_mnist", help="the data set (default: fashion_mnist)")
    parser.add_argument("--epochs", type=int, default=10, help="the ablation's epochs (default: 10)")
    parser.add_argument("--long-epochs", type=int, nargs="+", default=[20, 40],
                        help="the best recipe's further epoch counts (default: 20 40)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: the embedded digits, a tiny net, 1-2 epochs, one seed (figures meaningless)")
    args = parser.parse_args(argv)

    import torch

    from sksearch.data.load import load_data

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        data_spec = DataSpec.named("digits", train_size=256, val_size=128, canvas=16, max_scale=2.0)
        epochs, long_epochs, seeds = 1, [2], [0]
    else:
        data_spec = DataSpec.named(args.data)
        epochs, long_epochs, seeds = args.epochs, args.long_epochs, args.seeds
    data = load_data(data_spec, test=True)
    spec = network(data_spec, args.quick)
    runner = Runner(out, spec, data, data_spec, seeds)

    lines = [f"# Recipe ablation: {data_spec.name}, {len(seeds)} seed(s)", "",
             "| recipe | epochs | runs | val accuracy | test accuracy | s/epoch | kept |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    train, erase, name = dict(BASE_TRAIN), {}, "base"
    best = runner.runs("ablation", name, epochs, train, erase)
    lines.append(table_row(name, epochs, best, "the space's recipe"))
    for element, train_change, data_change in ELEMENTS:
        trial_name = f"{name}+{element}"
        on = name if element in EVALUATION_ONLY and runner.can_evaluate("ablation", name, epochs) else None
        rows = runner.runs("ablation", trial_name, epochs, {**train, **train_change}, {**erase, **data_change}, on)
        gain = statistics.mean(r["val_accuracy"] for r in rows) - statistics.mean(r["val_accuracy"] for r in best)
        kept = gain > 0
        lines.append(table_row(trial_name, epochs, rows, f"{'yes' if kept else 'no'} (val {gain:+.2%})"))
        if kept:
            train, erase, name, best = {**train, **train_change}, {**erase, **data_change}, trial_name, rows
    lines += ["", f"Best recipe: `{name}`: train {json.dumps(train, sort_keys=True)}, data {json.dumps(erase)}", "",
              "| recipe | epochs | runs | val accuracy | test accuracy | s/epoch | kept |",
              "| --- | --- | --- | --- | --- | --- | --- |", table_row(name, epochs, best, "ablation")]
    for n in long_epochs:
        lines.append(table_row(name, n, runner.runs("long", name, n, train, erase), ""))
    lines += ["", f"Net: {spec.to_dict()['stages']}, {best[0]['params']:,} params." if best else ""]
    report = "\n".join(lines) + "\n"
    (out / "recipe.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
