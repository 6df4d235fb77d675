"""Is one-shot search worth it here? A supernet's ranking of subnets against stand-alone
training, and the compute each strategy needs to reach the same front.

    python benchmarks/one_shot.py                                # the one-shot quickstart, digits
    python benchmarks/one_shot.py --set data.name=fashion_mnist --set data.train_limit=6000 ...
    python benchmarks/one_shot.py --subnets 24 --csv out.csv --keep results/bench_one_shot

It measures, in one run on one machine:

1. **Rank correlation.** ``--subnets`` subnets spread over the space (its largest and smallest
   and random draws, deduplicated) are each trained stand-alone with the supernet's recipe for
   the scheduler's ``max_epochs`` (what a confirmation trial gets); Kendall's tau and
   Spearman's rho between that accuracy and the supernet's estimate, for a supernet trained with
   and without in-place distillation, each with BatchNorm recalibrated (as the search does) and
   without (the supernet's own running statistics).
2. **Cost.** The supernet's training wall time in multiples of one stand-alone training of its
   largest subnet for the same epochs; subnet evaluations per second in the subnet search.
3. **Compute to reach a front.** The space searched stand-alone (``strategy: standalone``, its
   scheduler, sampler and trial count) and one-shot (supernet, subnet search, confirmations),
   each an ordinary ``sksearch.run``; the normalised hypervolume of each study's front on one
   common reference point, and the epochs and wall time at which each first reaches the
   stand-alone search's final hypervolume (or how close it came). Epochs of the supernet count
   as the largest-subnet epochs its wall time is worth (point 2).

Every network trains on the same data, on the CPU, one thread per process as the trials do.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd
import torch
from scipy.stats import kendalltau, spearmanr

import sksearch
from sksearch.data.load import load_data, make_batches
from sksearch.model.cost import params_and_macs
from sksearch.oneshot.bn import calibration_batches
from sksearch.oneshot.export import supernet_weights
from sksearch.oneshot.sandwich import (
    SandwichSettings,
    arch_space,
    evaluate_subnet,
    extremes,
    random_spec,
    recipe,
    train_supernet,
)
from sksearch.oneshot.search import load_supernet
from sksearch.oneshot.shareable import supernet_layout
from sksearch.oneshot.supernet import Supernet
from sksearch.space.overrides import parse_assignment, prepare_space
from sksearch.space.sample import violations
from sksearch.study.pareto import hypervolume_trace
from sksearch.train.loop import evaluate, run_trial

SPACE = "search_spaces/quickstart_one_shot.yaml"
OBJECTIVES = ["accuracy", "params"]


def say(text: str) -> None:
    print(text, flush=True)


def network_key(spec: Any) -> str:
    """What tells two networks apart: the spec without r and L (two specs whose fuse widths
    d = max(C/r, L) agree build the same network) and the shapes of its weights."""
    from sksearch.model.network import build

    d = json.loads(spec.to_json(indent=None))
    d["sk"].pop("reduction", None)
    d["sk"].pop("min_dim", None)
    shapes = [tuple(v.shape) for v in build(spec.to_dict()).state_dict().values()]
    return json.dumps(d, sort_keys=True) + str(shapes)


def spread_subnets(space: Any, shape: Any, count: int, seed: int) -> list[Any]:
    """The space's two ends and random draws within its constraints, no network twice."""
    largest, smallest = extremes(space, shape)
    chosen, seen = [], set()
    rng = random.Random(seed)
    candidates = [largest, smallest]
    tries = 0
    while len(chosen) < count and tries < 200 * count:
        spec = candidates.pop(0) if candidates else random_spec(space, shape, rng)
        tries += 1
        key = network_key(spec)
        if key in seen:
            continue
        params, macs = params_and_macs(spec)
        if violations(space, params, macs):
            continue
        seen.add(key)
        chosen.append(spec)
    return chosen


def fit_supernet(space: Any, shape: Any, batches: Any, distill: bool, epochs: int,
                 folder: str) -> tuple[Supernet, float]:
    """A supernet trained by the sandwich rule; its training time (without the per-epoch
    evaluations)."""
    t0 = time.perf_counter()
    last: dict[str, Any] = {}

    def report(metrics: dict[str, Any], _folder: str | None) -> None:
        last.update(metrics)
        say(f"  supernet ({'distilled' if distill else 'no distillation'}) epoch {metrics['epoch']}/{epochs}: "
            f"largest {metrics['accuracy']:.4f}, smallest {metrics['accuracy_smallest']:.4f}, "
            f"{time.perf_counter() - t0:.0f} s")

    train_supernet(space, shape, batches, "cpu", report, SandwichSettings(distill, space.strategy.calibration_batches),
                   epochs, checkpoint_dir=folder)
    wall = float(last["train_time"])
    supernet = Supernet(supernet_layout(space.model, shape))
    from safetensors.torch import load_file

    supernet.net.load_state_dict(load_file(os.path.join(folder, f"epoch_{epochs:04d}", "model.safetensors")))
    return supernet.eval(), wall


def no_recalibration(supernet: Supernet, spec: Any, batches: Any, train: Any) -> float:
    """A subnet scored with the statistics its supernet's BatchNorm holds, not its own."""
    model = supernet.subnet(spec).eval()
    return evaluate(model, batches, torch.device("cpu"), train)[0]


def correlations(estimates: list[float], truth: list[float]) -> tuple[float, float]:
    return float(kendalltau(estimates, truth).statistic), float(spearmanr(estimates, truth).statistic)


def study_trace(study: Any, reference: dict[str, float], epochs_before: float = 0.0,
                wall_before: float = 0.0) -> pd.DataFrame:
    """The study's ``hypervolume_trace`` (the report's), with the epochs and wall time spent
    by the time each trial ended."""
    df = study.table
    trace = hypervolume_trace(df, OBJECTIVES, reference)
    ended = df.set_index("trial_id").loc[trace["trial_id"]]
    wall = (ended["finished"] - ended["started"].min()).dt.total_seconds().to_numpy()
    return pd.DataFrame({"trials": trace["trials_ended"], "epochs": epochs_before + trace["epochs_spent"],
                         "wall_s": wall_before + wall, "hypervolume": trace["hypervolume"]})


def first_reaching(trace: pd.DataFrame, target: float) -> dict[str, Any]:
    hit = trace[trace["hypervolume"] >= target - 1e-12]
    if hit.empty:
        best = float(trace["hypervolume"].max()) if len(trace) else 0.0
        return {"reached": False, "best_fraction": best / target if target else float("nan")}
    row = hit.iloc[0]
    return {"reached": True, "epochs": float(row["epochs"]), "wall_s": float(row["wall_s"]),
            "trials": int(row["trials"])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--space", default=SPACE, help=f"a one-shot space file (default: {SPACE})")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a key of the space (as `sksearch run --set`), e.g. data.name=fashion_mnist")
    ap.add_argument("--subnets", type=int, default=20, help="subnets trained stand-alone for the rank correlation")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random subnet draws")
    ap.add_argument("--standalone-trials", type=int, default=16,
                    help="trials of the stand-alone search (default: 16, the quickstart's)")
    ap.add_argument("--csv", help="write the per-subnet table here")
    ap.add_argument("--keep", metavar="DIR", help="keep the two studies under DIR (default: a temporary folder)")
    args = ap.parse_args()

    torch.set_num_threads(1)
    # The baselines are left out: they train beside either search alike and only blur its time.
    overrides = {"baselines": [], **dict(parse_assignment(text) for text in args.set)}
    base = prepare_space(args.space, overrides)  # the space file as `run` reads it, overrides applied
    if base.strategy.name != "one_shot":
        base = replace(base, strategy=replace(base.strategy, name="one_shot"))
    space = arch_space(base)
    strategy = base.strategy
    epochs = strategy.supernet_epochs
    standalone_epochs = base.scheduler.max_epochs
    load = os.getloadavg()
    say(f"space {base.source} ({base.name}), data {base.data.name}; supernet {epochs} epochs, stand-alone "
        f"{standalone_epochs} epochs per subnet; load before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    data = load_data(base.data, test=False)
    shape = base.data.shape(getattr(data, "num_classes", None))
    train = recipe(space, epochs)
    batches = make_batches(data, "cpu", train.batch_size, seed=train.seed, channels_last=False, workers=0)
    calibration = calibration_batches(batches, strategy.calibration_batches)
    work = args.keep or tempfile.mkdtemp(prefix="one_shot_bench_")
    os.makedirs(work, exist_ok=True)
    t_all = time.perf_counter()

    # 3. The two searches, each an ordinary study; the one-shot one's supernet is the distilled
    # supernet of 1-2.
    say("searching stand-alone")
    standalone_dir = os.path.join(work, "standalone")
    shutil.rmtree(standalone_dir, ignore_errors=True)
    t0 = time.perf_counter()
    alone = sksearch.run(args.space, standalone_dir, overrides={**overrides, "strategy.name": "standalone",
                                                                  "trials": args.standalone_trials}, force=True)
    alone_wall = time.perf_counter() - t0
    say("searching one-shot")
    one_shot_dir = os.path.join(work, "one_shot")
    shutil.rmtree(one_shot_dir, ignore_errors=True)
    t0 = time.perf_counter()
    shot = sksearch.run(args.space, one_shot_dir, overrides={**overrides, "strategy.name": "one_shot"}, force=True)
    shot_wall = time.perf_counter() - t0

    result_json = os.path.join(one_shot_dir, "supernet", "supernet", "result.json")
    with open(result_json) as fh:
        supernet_train_s = [json.loads(line) for line in fh if line.strip()][-1]["train_time"]

    # 1-2. The supernet without distillation, the largest subnet alone, and the spread of
    # subnets stand-alone.
    nets = {True: load_supernet(base, shape, supernet_weights(shot))}
    walls = {True: supernet_train_s}
    say("training the supernet without distillation")
    folder = os.path.join(work, "supernet_plain")
    shutil.rmtree(folder, ignore_errors=True)
    nets[False], walls[False] = fit_supernet(base, shape, batches, False, epochs, folder)
    largest, _smallest = extremes(space, shape)
    largest_wall = run_trial(largest, replace(train, max_epochs=epochs), batches, "cpu",
                             lambda m, f: None)["train_time"]
    say(f"largest subnet alone, {epochs} epochs: {largest_wall:.0f} s training; supernet {walls[True]:.0f} s "
        f"distilled, {walls[False]:.0f} s without")

    subnets = spread_subnets(space, shape, args.subnets, args.seed)
    say(f"{len(subnets)} subnets spread over the space, each trained stand-alone for {standalone_epochs} epochs")
    alone_train = recipe(space, standalone_epochs)
    rows = []
    for i, spec in enumerate(subnets):
        params, macs = params_and_macs(spec)
        row: dict[str, Any] = {"subnet": i, "params": params, "macs": macs, "M": spec.sk.M,
                               "depths": "/".join(str(s.depth) for s in spec.stages)}
        for distill, net in nets.items():
            tag = "distill" if distill else "plain"
            row[f"{tag}_recal"] = evaluate_subnet(net, spec, calibration, batches, torch.device("cpu"), train)[0]
            row[f"{tag}_no_recal"] = no_recalibration(net, spec, batches, train)
        t0 = time.perf_counter()
        row["standalone"] = run_trial(spec, alone_train, batches, "cpu", lambda m, f: None)["accuracy"]
        row["standalone_s"] = time.perf_counter() - t0
        rows.append(row)
        say(f"  subnet {i}: {params:,} params, M={spec.sk.M}: supernet {row['distill_recal']:.4f} "
            f"(no recal {row['distill_no_recal']:.4f}), stand-alone {row['standalone']:.4f}")
    table = pd.DataFrame(rows)
    if args.csv:
        table.to_csv(args.csv, index=False)
    variants = {}
    for tag in ("distill_recal", "distill_no_recal", "plain_recal", "plain_no_recal"):
        variants[tag] = correlations(table[tag].tolist(), table["standalone"].tolist())

    everything = pd.concat([alone.table, shot.table])
    trained = everything[everything["status"].isin(["completed", "stopped_early", "failed"])]
    reference = {"accuracy": 0.0, "params": float(trained["params"].max()) * 1.1}
    subnet_table = shot.subnet_table
    # Each network is evaluated once; its repeat draws (status "repeat") are answered from that
    # evaluation, so the rate counts distinct networks over the whole search's time.
    evaluated = subnet_table[subnet_table["status"] == "completed"]
    repeats = int((subnet_table["status"] == "repeat").sum())
    search_wall = (subnet_table["finished"].max() - subnet_table["started"].min()).total_seconds()
    # Compute in largest-subnet training epochs: the supernet's training and the subnet search
    # are worth the epochs their time would train.
    epoch_s = largest_wall / epochs
    supernet_epochs_worth = supernet_train_s / epoch_s
    search_epochs_worth = search_wall / epoch_s
    # Each study's wall clock starts with its run: Ray's start and the data's load count too.
    alone_trials = alone.table[alone.table["baseline"].isna()]
    alone_trace = study_trace(alone, reference, wall_before=alone_wall - (
        alone_trials["finished"].max() - alone_trials["started"].min()).total_seconds())
    confirmations = shot.table[shot.table["baseline"].isna()]
    confirm_span = (confirmations["finished"].max() - confirmations["started"].min()).total_seconds()
    before_confirm = shot_wall - confirm_span
    shot_trace = study_trace(shot, reference, epochs_before=supernet_epochs_worth + search_epochs_worth,
                             wall_before=before_confirm)
    target = float(alone_trace["hypervolume"].iloc[-1])
    agreement = shot.confirmation()

    say("")
    say(f"== one-shot benchmark: {base.name} on {base.data.name}, {len(table)} subnets, "
        f"{time.perf_counter() - t_all:.0f} s in all; load after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    say("rank correlation with stand-alone accuracy "
        f"({standalone_epochs} epochs each, {len(table)} subnets, "
        f"{table.params.min():,}-{table.params.max():,} params):")
    for tag, (tau, rho) in variants.items():  # nan: every estimate equal (chance accuracy, say)
        say(f"  {tag:<18} Kendall tau {tau:+.3f}   Spearman rho {rho:+.3f}" if not math.isnan(tau) else
            f"  {tag:<18} no ranking: the estimates are all equal")
    say(f"supernet training: {walls[True]:.0f} s distilled / {walls[False]:.0f} s without, for {epochs} epochs = "
        f"{walls[True] / largest_wall:.2f}x / {walls[False] / largest_wall:.2f}x "
        f"the largest subnet's {largest_wall:.0f} s")
    rate = len(evaluated) / max(search_wall, 1e-9)
    say(f"subnet search: {len(subnet_table)} draws ({len(evaluated)} distinct subnets evaluated, {repeats} repeat "
        f"draws answered from the first, the rest outside the budgets) in "
        f"{search_wall:.0f} s = {rate:.1f} evaluations per s, worth {search_epochs_worth:.1f} largest-subnet epochs")
    tau = agreement.attrs.get("kendall_tau")
    say(f"confirmations in the one-shot study: {agreement.attrs['completed']} completed of "
        f"{agreement.attrs['confirmed']}, Kendall tau {tau if tau is None else f'{tau:+.3f}'}")
    say(f"stand-alone search: {len(alone_trace)} trials, {alone_trace.epochs.iloc[-1]:.0f} epochs, {alone_wall:.0f} s "
        f"wall; final hypervolume {target:.4f}")
    say(f"one-shot search: {shot_wall:.0f} s wall ({before_confirm:.0f} s supernet and subnet search before the "
        f"first confirmation), supernet worth {supernet_epochs_worth:.1f} largest-subnet epochs, "
        f"final hypervolume {shot_trace.hypervolume.iloc[-1]:.4f}")
    reach_alone = first_reaching(alone_trace, target)
    reach_shot = first_reaching(shot_trace, target)
    for name, reach in (("stand-alone", reach_alone), ("one-shot", reach_shot)):
        if reach["reached"]:
            say(f"  {name:<12} reaches it after {reach['epochs']:.0f} epochs, {reach['wall_s']:.0f} s wall "
                f"({reach['trials']} trials)")
        else:
            say(f"  {name:<12} does not reach it: its best is {reach['best_fraction']:.1%} of it")
    if reach_alone["reached"] and reach_shot["reached"]:
        say(f"  one-shot / stand-alone compute: {reach_shot['epochs'] / reach_alone['epochs']:.2f} in epochs, "
            f"{reach_shot['wall_s'] / reach_alone['wall_s']:.2f} in wall time")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
