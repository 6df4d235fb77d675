"""How much of a search's wall time goes into training steps, and what Ray + Optuna cost per trial.

    python benchmarks/harness_overhead.py                  # 16 trials of ~30 s, 2 at a time
    python benchmarks/harness_overhead.py --trial-seconds 10 --trials 8

A real `sksearch run` (in this process) of identical trials on the embedded digits, with no
early stopping, so every trial has the same work. Capacity is the wall time of the search
(from the call to `run`, Ray's start included, to its return after the report) times the
number of trial slots; the share inside
training steps is the trials' summed `train_time` (the time spent in the per-epoch training
loops) over that capacity. Everything else is harness: Ray worker start, data to the device,
model build, evaluation, checkpoints, Optuna and the experiment snapshots.
Target on 2 CPU cores: >= 85% inside training for 30-second trials.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml

SPACE = {
    "name": "harness_overhead",
    "data": {"name": "digits", "train_size": 4000, "val_size": 1000},
    "model": {
        "block": "sk", "stem": "cifar", "stem_width": 16, "groups": 4,
        "sk": {"M": 2, "branches": [{"kernel": 3, "dilation": 1}, {"kernel": 3, "dilation": 2}],
               "reduction": 4, "min_dim": 8},
        "stages": [{"depth": 1, "width": 16, "out_channels": 32, "stride": 2},
                   {"depth": 1, "width": 32, "out_channels": 64, "stride": 2}],
    },
    # lr is searched so Optuna does real work; it does not change a trial's cost.
    "train": {"batch_size": 64, "lr": {"float": [0.05, 0.2], "log": True}},
    "objectives": ["accuracy", "params"],
    "sampler": {"name": "tpe", "seed": 0},
    "scheduler": {"name": "none"},
    "resources": {"cpu": 1},
}


def epoch_seconds(space_path: str) -> float:
    """One epoch of the benchmark's trial, timed on a single thread as a trial runs it."""
    import optuna
    import torch

    from sksearch.data.load import load_data, make_batches
    from sksearch.model.spec import ArchSpec
    from sksearch.space import load_space
    from sksearch.space.sample import sample
    from sksearch.train.loop import run_trial
    from sksearch.train.spec import TrainSpec

    torch.set_num_threads(1)
    space = load_space(space_path)
    s = sample(space, optuna.trial.FixedTrial({"lr": 0.1}), space.data.shape())
    batches = make_batches(load_data(space.data), "cpu", 64, channels_last=True)
    times = []
    run_trial(ArchSpec.from_dict(s.arch), TrainSpec(max_epochs=2, batch_size=64), batches, "cpu",
              lambda m, f: times.append(m["epoch_time"]))
    return times[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=16, help="trials (16: the quickstart's count)")
    parser.add_argument("--slots", type=int, default=2, help="trials at once (1 CPU each)")
    parser.add_argument("--trial-seconds", type=float, default=30.0, help="target length of a trial")
    args = parser.parse_args()

    import sksearch

    work = tempfile.mkdtemp(prefix="sksearch-harness-")
    space_path = os.path.join(work, "space.yaml")
    with open(space_path, "w") as fh:
        yaml.safe_dump(SPACE, fh)
    per_epoch = epoch_seconds(space_path)
    epochs = max(1, round(args.trial_seconds / per_epoch))
    raw = dict(SPACE, trials=args.trials, concurrency=args.slots,
               scheduler={"name": "none", "max_epochs": epochs, "grace_period": 1, "reduction_factor": 3})
    with open(space_path, "w") as fh:
        yaml.safe_dump(raw, fh)
    out = os.path.join(work, "study")
    t0 = time.time()
    study = sksearch.run(space_path, out)
    wall = time.time() - t0
    if not study.status()["finished"]:
        print("the search did not finish")
        return 1
    df = study.table.sort_values("started")
    t_start, t_end = datetime.fromtimestamp(t0), datetime.fromtimestamp(t0 + wall)
    train = float(df["train_time"].sum())
    in_trials = float(df["duration_s"].sum())
    capacity = wall * args.slots
    # Idle slot time before the first trials start (Ray's start, actor start) and after the
    # last ones end (the final table and report); what remains outside trials is the gap
    # between one trial's end and the next one's start on a slot.
    head = sum((t - t_start).total_seconds() for t in df["started"].iloc[:args.slots])
    tail = sum((t_end - t).total_seconds() for t in df["finished"].sort_values().iloc[-args.slots:])
    gaps = capacity - in_trials - head - tail
    first, later = df.iloc[:args.slots], df.iloc[args.slots:]
    setup_first = float((first["duration_s"] - first["train_time"]).mean())
    setup_later = float((later["duration_s"] - later["train_time"]).mean()) if len(later) else float("nan")
    steady = (float(later["train_time"].sum() / (later["duration_s"].sum() + max(gaps, 0.0))) if len(later)
              else float("nan"))
    print(f"\n# harness overhead: {args.trials} trials of {epochs} epochs (~{epochs * per_epoch:.0f} s of work each), "
          f"{args.slots} at a time, 1 CPU each; {os.cpu_count()} cores")
    print(f"wall time                   {wall:8.1f} s  (capacity {capacity:.1f} trial-slot seconds)")
    print(f"inside training steps       {train:8.1f} s  = {train / capacity:6.1%} of capacity")
    print(f"inside trials (Optuna view) {in_trials:8.1f} s  = {in_trials / capacity:6.1%} of capacity")
    print(f"harness overhead per trial  {(capacity - train) / args.trials:8.2f} s  "
          f"(of which outside trials {(capacity - in_trials) / args.trials:.2f} s)")
    print("where the rest goes, in trial-slot seconds:")
    print(f"  before the first trials   {head:8.1f} s  (Ray's start, trial actors' start)")
    print(f"  after the last trials     {tail:8.1f} s  (slots idle while the last trial ends; table, report)")
    print(f"  between trials            {gaps:8.1f} s  ({gaps / max(len(df) - args.slots, 1):.2f} s per later trial)")
    print(f"  in a trial, not training  {setup_first:8.2f} s  per first-round trial (worker imports, data, eval)")
    print(f"                            {setup_later:8.2f} s  per later trial (reused actor: data, build, eval)")
    print(f"steady state (later trials, gaps included): {steady:.1%} inside training")
    verdict = "meets" if train / capacity >= 0.85 else "misses"
    print(f"share inside training: {train / capacity:.1%} ({verdict} the 85% target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
