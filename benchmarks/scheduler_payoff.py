"""What early stopping buys a multi-objective search: hypervolume of the completed front against
the training epochs spent, for the schedulers none / asha / mo_asha, over several seeds.

    python benchmarks/scheduler_payoff.py                     # quickstart space, seeds 0 1 2
    python benchmarks/scheduler_payoff.py --seeds 0 --trials 8

Each (seed, scheduler) pair is a real `sksearch run` of the quickstart space (in this process,
one Ray instance) with the sampler seed and scheduler replaced. A run's curve is the
hypervolume of its completed trials after each trial ended, against the epochs all its trials
had spent by then (stopped ones included). Every run is scored against one reference point
(accuracy 0; params 1.1 x the largest of any trial in any run), so the numbers compare.

The budget is 9 epochs with rungs at 1 and 3 (grace 1, eta 3) rather than the quickstart's
6 epochs with one rung at 2: there every trial pays at least 2 of 6 epochs, so no halving
scheduler can find the same front with a third of the epochs. The search without early
stopping runs ``--trials`` trials; the halving ones run ``--halving-trials`` (default 3x as
many), which spend about as many epochs, so the curves can be compared over one range.

Targets: mo_asha reaches the hypervolume of the search without early stopping (same seed)
with at most a third of that search's epochs, and beats asha's hypervolume at equal epochs.
Prints a table and writes a plotly figure (HTML, plotly.js from its CDN to stay small).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
import yaml

SCHEDULERS = ("none", "asha", "mo_asha")
ROOT = Path(__file__).resolve().parents[1]


def run_one(raw: dict, seed: int, scheduler: str, trials: int, work: str, budget: dict) -> pd.DataFrame:
    import sksearch

    name = f"{scheduler}_seed{seed}"
    spec = dict(raw, name=name, trials=trials, sampler=dict(raw.get("sampler") or {}, seed=seed),
                scheduler=dict(raw["scheduler"], name=scheduler, **budget))
    path = os.path.join(work, f"{name}.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump(spec, fh)
    out = os.path.join(work, name)
    t0 = time.time()
    study = sksearch.run(path, out)
    if not study.status()["finished"]:
        raise SystemExit(f"the {name} search did not finish")
    df = study.table
    print(f"--- {name}: {time.time() - t0:.0f} s", flush=True)
    return df


def hv_at(trace: pd.DataFrame, epochs: float) -> float:
    """The hypervolume a run had once it had spent ``epochs`` (0 before its first trial ended)."""
    before = trace[trace["epochs_spent"] <= epochs]
    return float(before["hypervolume"].iloc[-1]) if len(before) else 0.0


def epochs_to_reach(trace: pd.DataFrame, target: float) -> float:
    hit = trace[trace["hypervolume"] >= target - 1e-12]
    return float(hit["epochs_spent"].iloc[0]) if len(hit) else float("nan")


def figure(traces: dict[tuple[int, str], pd.DataFrame], path: str) -> None:
    import plotly.graph_objects as go

    colours = {"none": "#7f7f7f", "asha": "#1f77b4", "mo_asha": "#d62728"}
    dashes = ["solid", "dash", "dot", "dashdot", "longdash"]
    fig = go.Figure()
    for (seed, sched), trace in sorted(traces.items()):
        fig.add_trace(go.Scatter(
            x=[0, *trace["epochs_spent"]], y=[0, *trace["hypervolume"]], mode="lines+markers",
            line={"shape": "hv", "color": colours[sched], "dash": dashes[seed % len(dashes)]},
            marker={"size": 4}, name=f"{sched}, seed {seed}", legendgroup=sched))
    fig.update_layout(title="Hypervolume of the completed front (accuracy vs params) against epochs spent",
                      xaxis_title="training epochs spent (all trials)", yaxis_title="normalised hypervolume",
                      template="plotly_white")
    fig.write_html(path, include_plotlyjs="cdn")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default=str(ROOT / "search_spaces" / "quickstart.yaml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, help="trials of the run without early stopping (default: the space's)")
    parser.add_argument("--halving-trials", type=int, help="trials of the asha and mo_asha runs (default: 3x --trials)")
    parser.add_argument("--max-epochs", type=int, default=9)
    parser.add_argument("--grace-period", type=int, default=1)
    parser.add_argument("--reduction-factor", type=int, default=3)
    parser.add_argument("--figure", default=str(ROOT / "benchmarks" / "scheduler_payoff.html"))
    parser.add_argument("--work", help="folder for the study folders (default: a new temporary one)")
    args = parser.parse_args()

    from sksearch.space.parsed import DEFAULT_TRIALS
    from sksearch.study.pareto import hypervolume_trace, reference_point

    with open(args.space) as fh:
        raw = yaml.safe_load(fh)
    trials = args.trials or raw.get("trials", DEFAULT_TRIALS)
    halving = args.halving_trials or 3 * trials
    budget = {"max_epochs": args.max_epochs, "grace_period": args.grace_period,
              "reduction_factor": args.reduction_factor}
    work = args.work or tempfile.mkdtemp(prefix="sksearch-payoff-")
    os.makedirs(work, exist_ok=True)
    print(f"studies under {work}", flush=True)
    tables = {(seed, sched): run_one(raw, seed, sched, trials if sched == "none" else halving, work, budget)
              for seed in args.seeds for sched in SCHEDULERS}

    objectives = list(raw.get("objectives") or ["accuracy", "params"])
    reference = reference_point(pd.concat(tables.values(), ignore_index=True), objectives)
    traces = {key: hypervolume_trace(df, objectives, reference) for key, df in tables.items()}

    rows = []
    for seed in args.seeds:
        full = traces[(seed, "none")]
        full_epochs = float(full["epochs_spent"].iloc[-1])
        full_hv = float(full["hypervolume"].iloc[-1])
        common = min(float(traces[(seed, s)]["epochs_spent"].iloc[-1]) for s in ("asha", "mo_asha"))
        for sched in SCHEDULERS:
            trace, df = traces[(seed, sched)], tables[(seed, sched)]
            grid = np.linspace(0, common, 50)[1:]
            rows.append({
                "seed": seed, "scheduler": sched, "completed": int((df["status"] == "completed").sum()),
                "stopped": int((df["status"] == "stopped_early").sum()),
                "epochs": float(trace["epochs_spent"].iloc[-1]), "hv": float(trace["hypervolume"].iloc[-1]),
                "hv_at_third": hv_at(trace, full_epochs / 3),
                "epochs_to_full_hv": epochs_to_reach(trace, full_hv),
                "share_to_full_hv": epochs_to_reach(trace, full_hv) / full_epochs,
                "mean_hv_common": float(np.mean([hv_at(trace, e) for e in grid])),
                "full_hv": full_hv, "full_epochs": full_epochs, "common_epochs": common,
            })
    table = pd.DataFrame(rows)
    table.to_csv(os.path.join(work, "scheduler_payoff.csv"), index=False)
    figure(traces, args.figure)

    pd.set_option("display.width", 200)
    print(f"\n# scheduler payoff: {args.space}, {trials} trials without early stopping, {halving} with; "
          f"budget {args.max_epochs} epochs, grace {args.grace_period}, eta {args.reduction_factor}; "
          f"seeds {args.seeds}; "
          f"reference: {', '.join(f'{k} {v:,.4g}' for k, v in reference.items())}")
    print("hv: final hypervolume; hv@E/3: at a third of the no-stopping run's epochs; "
          "to_full: epochs (and share of the no-stopping run's) to reach its final hypervolume; "
          "mean_hv: mean over epochs both halving runs reached")
    shown = table.assign(to_full=table["epochs_to_full_hv"], share=table["share_to_full_hv"])[
        ["seed", "scheduler", "completed", "stopped", "epochs", "hv", "hv_at_third", "to_full", "share",
         "mean_hv_common"]]
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}" if abs(v) < 2 else f"{v:.0f}"))
    mean = table.groupby("scheduler", sort=False)[["epochs", "hv", "hv_at_third", "mean_hv_common"]].mean()
    print("\nmeans over seeds:")
    print(mean.to_string(float_format=lambda v: f"{v:.4f}" if abs(v) < 2 else f"{v:.1f}"))

    mo = table[table.scheduler == "mo_asha"].set_index("seed")
    asha = table[table.scheduler == "asha"].set_index("seed")
    reached = (mo["share_to_full_hv"] <= 1 / 3 + 1e-9)
    beats = mo["mean_hv_common"] > asha["mean_hv_common"]
    print(f"\nmo_asha reaches the no-stopping hypervolume within a third of its epochs: "
          f"{int(reached.sum())} of {len(reached)} seeds ({'meets' if reached.all() else 'misses'} the target)")
    print(f"mo_asha beats asha at equal epochs (mean hypervolume over the common range): "
          f"{int(beats.sum())} of {len(beats)} seeds; means {mo['mean_hv_common'].mean():.4f} vs "
          f"{asha['mean_hv_common'].mean():.4f} ({'meets' if beats.all() else 'misses'} the target)")
    print(f"figure: {args.figure}\ntable: {os.path.join(work, 'scheduler_payoff.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
