"""Does SK's selection pay on the embedded data? M=1, M=2 (softmax) and M=2 (sum) networks at
matched parameters (within 5%), trained alike over several seeds; prints each arm's accuracy
and the paired differences with their spread.

    python benchmarks/sk_payoff.py                              # the default data set, seeds 0 1 2
    python benchmarks/sk_payoff.py --data digits                # the old embedded setting, by name
    python benchmarks/sk_payoff.py --data digits --set canvas=32 --set max_scale=4
    python benchmarks/sk_payoff.py --epochs 6 --seeds 0 1 2 3 4 --csv out.csv
    python benchmarks/sk_payoff.py --data fashion_mnist --set train_limit=12000 --epochs 12

On a set with a test split (fashion_mnist, mnist, cifar10...) every run is also measured on
the test split, once, after its last epoch; the verdicts are given on val and on test. There
``val`` is the set's hold-out of the training split (``--set val_limit=N`` shortens it).

The three arms share the quickstart's reference SK layout (3 stages, depths 2/2/1, G=8, stem
16): ``m2_softmax`` is that network (3x3 and 3x3 dilation-2 branches, r=4, L=16); ``m2_sum``
adds its branches without fuse or select; ``m1`` has only the 3x3 branch. The last two are
widened (stage widths scaled by one factor, multiples of G) to the first's parameter count.
Every arm trains with the same recipe (the quickstart's: SGD, cosine, label smoothing 0.1),
the same data and the same seeds (weight init and batch order); differences are paired by
seed. "Pays" means the mean difference exceeds twice its standard error.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd

from sksearch.data.spec import DataSpec
from sksearch.model.spec import ArchSpec, SKSpec, StageSpec
from sksearch.train.spec import TrainSpec

GROUPS = 8
BASE_WIDTHS = (32, 64, 64)
DEPTHS = (2, 2, 1)
OUTS = (32, 64, 128)
ARMS = {
    "m1": SKSpec(((3, 1),), reduction=4, min_dim=16),
    "m2_softmax": SKSpec(((3, 1), (3, 2)), reduction=4, min_dim=16),
    "m2_sum": SKSpec(((3, 1), (3, 2)), reduction=4, min_dim=16, select="sum"),
}


def network(sk: SKSpec, factor: float, data: DataSpec) -> ArchSpec:
    shape = data.shape()
    stages = tuple(StageSpec(depth=d, width=max(GROUPS, GROUPS * round(w * factor / GROUPS)), out_channels=o, stride=2)
                   for d, w, o in zip(DEPTHS, BASE_WIDTHS, OUTS))
    return ArchSpec(stages=stages, block="sk", stem="cifar", stem_width=16, groups=GROUPS, sk=sk,
                    num_classes=shape.num_classes, in_channels=shape.in_channels, input_size=shape.input_size)


def matched(sk: SKSpec, target: int, data: DataSpec) -> tuple[ArchSpec, int, int]:
    """The widening of ``sk``'s network whose params are nearest ``target``."""
    from sksearch.model.cost import params_and_macs

    best = None
    for step in range(0, 121):
        spec = network(sk, 1 + step / 100, data)
        params, macs = params_and_macs(spec)
        if best is None or abs(params - target) < abs(best[1] - target):
            best = (spec, params, macs)
    return best


def train_once(spec: ArchSpec, recipe: TrainSpec, data, seed: int) -> tuple[float, float | None, float]:
    """Val accuracy after the last epoch, test accuracy then (None without a test split), and
    the seconds the training took."""
    import tempfile

    import torch

    from sksearch.data.load import make_batches
    from sksearch.exports.read import with_weights
    from sksearch.train.loop import evaluate, run_trial

    recipe = replace(recipe, seed=seed)
    batches = make_batches(data, "cpu", recipe.batch_size, seed=seed, channels_last=True)
    last: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        t0 = time.perf_counter()
        metrics = run_trial(spec, recipe, batches, "cpu", lambda m, f: last.append(f), checkpoint_dir=scratch)
        seconds = time.perf_counter() - t0
        test = None
        if batches.has_test:
            model = with_weights(spec, os.path.join(last[-1], "model.safetensors"))
            model = model.to(memory_format=torch.channels_last)
            test = evaluate(model, batches, torch.device("cpu"), recipe, "test")[0]
    return float(metrics["accuracy"]), test, seconds


def parse_sets(items: list[str]) -> dict[str, object]:
    """``--set KEY=VALUE`` items, read as the CLI's ``--set`` reads them (values as YAML)."""
    from sksearch.space.overrides import parse_assignment

    return dict(parse_assignment(item) for item in items)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="a data set name (default: the quickstart's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a data knob, e.g. canvas=32")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--csv", help="write the per-run table here")
    args = parser.parse_args()

    import torch

    from sksearch.data.load import describe, load_data
    from sksearch.space import load_space

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    quick = load_space(str(Path(__file__).resolve().parents[1] / "search_spaces" / "quickstart.yaml"))
    data_spec = quick.data if args.data is None else DataSpec.named(args.data)  # the knobs its name stands for
    data_spec = replace(data_spec, **parse_sets(args.set))
    recipe = TrainSpec(max_epochs=args.epochs, batch_size=64, lr=args.lr, momentum=0.9, weight_decay=5e-4,
                       label_smoothing=0.1, schedule="cosine", warmup_epochs=0.5)
    t0 = time.perf_counter()
    data = load_data(data_spec, test=True)
    print(f"data: {data_spec.to_dict()} ({time.perf_counter() - t0:.1f} s to make)", flush=True)
    info = describe(data)
    print(f"  {info['name']}: {info['in_channels']}x{info['input_size']}px, {info['num_classes']} classes", flush=True)

    from sksearch.model.cost import params_and_macs

    target = params_and_macs(network(ARMS["m2_softmax"], 1.0, data_spec))[0]
    arms = {}
    for name, sk in ARMS.items():
        spec, params, macs = matched(sk, target, data_spec)
        if abs(params - target) / target > 0.05:
            raise SystemExit(f"{name}: no widening within 5% of {target:,} params (nearest {params:,})")
        arms[name] = (spec, params, macs)
        print(f"{name:11s} widths {[s.width for s in spec.stages]}  {params:,} params ({params / target - 1:+.1%})  "
              f"{macs / 1e6:.2f} M MACs", flush=True)

    rows = []
    for seed in args.seeds:
        for name, (spec, params, macs) in arms.items():
            accuracy, test, seconds = train_once(spec, recipe, data, seed)
            rows.append({"arm": name, "seed": seed, "accuracy": accuracy, "test_accuracy": test, "params": params,
                         "macs": macs, "seconds": seconds})
            print(f"  seed {seed} {name:11s} val accuracy {accuracy:.4f}"
                  + (f"  test accuracy {test:.4f}" if test is not None else "") + f"  ({seconds:.0f} s)", flush=True)
    df = pd.DataFrame(rows)
    if args.csv:
        df.to_csv(args.csv, index=False)

    print(f"\n# sk_payoff: {data_spec.name} {parse_sets(args.set) or ''} {args.epochs} epochs, lr {args.lr}, "
          f"seeds {args.seeds}, target {target:,} params")
    splits = [("val", "accuracy")] + ([("test", "test_accuracy")] if df.test_accuracy.notna().all() else [])
    for split, column in splits:
        print(f"on {split}:")
        for name in arms:
            acc = df[df.arm == name][column]
            print(f"{name:11s} mean {acc.mean():.4f}  std {acc.std(ddof=1) if len(acc) > 1 else 0:.4f}  "
                  f"[{', '.join(f'{a:.4f}' for a in acc)}]  {df[df.arm == name].seconds.mean():.0f} s/run")
        wide = df.pivot(index="seed", columns="arm", values=column)
        for a, b in (("m2_softmax", "m1"), ("m2_softmax", "m2_sum"), ("m2_sum", "m1")):
            diff = (wide[a] - wide[b]).tolist()
            mean = statistics.mean(diff)
            sd = statistics.stdev(diff) if len(diff) > 1 else float("nan")
            se = sd / math.sqrt(len(diff)) if len(diff) > 1 else float("nan")
            verdict = "pays" if mean > 2 * se else ("hurts" if mean < -2 * se else "within the seeds' spread")
            print(f"{a} - {b}: {mean * 100:+.2f} points (per seed {', '.join(f'{d * 100:+.2f}' for d in diff)}; "
                  f"sd {sd * 100:.2f}, se {se * 100:.2f}): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
