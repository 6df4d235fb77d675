"""Which sampler finds the front soonest: hypervolume of the completed front against the
training epochs spent, for tpe, gp, nsga2 and random, over several seeds, each from scratch
and warm-started from an earlier study; and how many samples the budgets reject with and
without the constraints reaching the sampler.

    python benchmarks/sampler_payoff.py                        # quickstart space, seeds 0 1 2
    python benchmarks/sampler_payoff.py --seeds 0 --samplers tpe random --trials 8
    python benchmarks/sampler_payoff.py --rejections-only      # part 2 alone (no training, a minute)

1. **Hypervolume.** Each (sampler, seed, start) is a real `sksearch run` of the quickstart space
   (in this process, one Ray instance) with the sampler and its seed replaced, the space's
   scheduler (MO-ASHA) and trial count kept. ``warm`` runs import the completed trials of one
   earlier study (the quickstart space with TPE at seed 100, run first) through ``warm_start``.
   A run's curve is the hypervolume of its own completed trials (imported ones left out) after
   each trial ended, against the epochs its trials had spent by then. Every run is scored
   against one reference point (accuracy 0; params 1.1 x the largest trial of any run).
2. **Rejections.** No training: the searcher draws ``--draws`` samples of the quickstart space
   under a tight budget (``--budget`` params), telling every valid sample a made-up result at
   the full budget, exactly as a search would tell it. Counted: the samples the budget rejected,
   with the budgets reaching the sampler as constraints (what sksearch does) and without.

Prints tables and writes a plotly figure (HTML, plotly.js from its CDN to stay small).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
import yaml
from scheduler_payoff import hv_at  # beside this file

ROOT = Path(__file__).resolve().parents[1]
SAMPLERS = ("tpe", "gp", "nsga2", "random")
SOURCE_SEED = 100


def sampler_options(sampler: str, seed: int, options: dict[str, int]) -> dict:
    """The sampler section: ``n_startup_trials`` for tpe and gp, ``population_size`` for nsga2
    (the space's defaults, 8 and 20 -> 8 here, unless the command line says)."""
    spec: dict = {"name": sampler, "seed": seed}
    if sampler in ("tpe", "gp") and options.get("n_startup_trials"):
        spec["n_startup_trials"] = options["n_startup_trials"]
    if sampler == "nsga2":
        spec["population_size"] = options.get("population_size") or 8
    return spec


def run_one(raw: dict, name: str, sampler: str, seed: int, work: str, trials: int | None,
            warm: str | None = None, options: dict[str, int] | None = None) -> pd.DataFrame:
    import sksearch

    options = options or {}
    spec = dict(raw, name=name, sampler=sampler_options(sampler, seed, options), warm_start=[warm] if warm else [])
    spec.pop("baselines", None)  # the same trained baseline in every run adds nothing to compare
    if trials:
        spec["trials"] = trials
    path = os.path.join(work, f"{name}.yaml")
    out = os.path.join(work, name)
    if os.path.exists(os.path.join(out, "run.json")):  # a run an interrupted benchmark finished: reused
        done = sksearch.open(out)
        if done.status()["finished"]:
            print(f"--- {name}: reused {out}", flush=True)
            return done.table
        shutil.rmtree(out)
    with open(path, "w") as fh:
        yaml.safe_dump(spec, fh)
    t0 = time.time()
    study = sksearch.run(path, out)
    if not study.status()["finished"]:
        raise SystemExit(f"the {name} search did not finish")
    print(f"--- {name}: {time.time() - t0:.0f} s", flush=True)
    return study.table


def figure(traces: dict[tuple[str, int, str], pd.DataFrame], path: str) -> None:
    import plotly.graph_objects as go

    colours = {"tpe": "#d62728", "gp": "#2ca02c", "nsga2": "#1f77b4", "random": "#7f7f7f"}
    fig = go.Figure()
    for (sampler, seed, start), trace in sorted(traces.items()):
        fig.add_trace(go.Scatter(
            x=[0, *trace["epochs_spent"]], y=[0, *trace["hypervolume"]], mode="lines+markers",
            line={"shape": "hv", "color": colours.get(sampler.split("_")[0]),
                  "dash": "solid" if start == "cold" else "dot"},
            marker={"size": 4}, name=f"{sampler}, seed {seed}, {start}", legendgroup=f"{sampler}-{start}"))
    fig.update_layout(title="Hypervolume of the completed front (accuracy vs params) against epochs spent, by sampler",
                      xaxis_title="training epochs spent (this run's trials)", yaxis_title="normalised hypervolume",
                      template="plotly_white")
    fig.write_html(path, include_plotlyjs="cdn")


def hypervolumes(raw: dict, args: argparse.Namespace, work: str) -> None:
    from sksearch.study.pareto import hypervolume_trace, reference_point
    from sksearch.study.table import searched

    source = run_one(raw, "source_tpe", "tpe", SOURCE_SEED, work, args.trials)
    source_dir = os.path.join(work, "source_tpe")
    tables = {}
    for seed in args.seeds:
        for sampler in args.samplers:
            for start in args.starts:
                name = f"{sampler}{args.label}_seed{seed}_{start}"
                tables[(sampler + args.label, seed, start)] = run_one(raw, name, sampler, seed, work, args.trials,
                                                         source_dir if start == "warm" else None, options(args))
    objectives = list(raw.get("objectives") or ["accuracy", "params"])
    every = pd.concat([source, *tables.values()], ignore_index=True)
    reference = reference_point(every[searched(every)], objectives)
    traces = {}
    for key, df in tables.items():
        traces[key] = hypervolume_trace(df, objectives, reference)  # its own trials: imported ones left out
    common = min(float(t["epochs_spent"].iloc[-1]) for t in traces.values())
    grid = np.linspace(0, common, 50)[1:]
    rows = []
    for (sampler, seed, start), trace in traces.items():
        df = tables[(sampler, seed, start)]
        own = df[searched(df)]
        rows.append({"sampler": sampler, "seed": seed, "start": start,
                     "imported": int(df["imported"].notna().sum()) if "imported" in df else 0,
                     "completed": int((own["status"] == "completed").sum()),
                     "stopped": int((own["status"] == "stopped_early").sum()),
                     "epochs": float(trace["epochs_spent"].iloc[-1]), "hv": float(trace["hypervolume"].iloc[-1]),
                     "hv_at_half": hv_at(trace, common / 2),
                     "mean_hv_common": float(np.mean([hv_at(trace, e) for e in grid]))})
    table = pd.DataFrame(rows)
    table.to_csv(os.path.join(work, "sampler_payoff.csv"), index=False)
    figure(traces, args.figure)
    pd.set_option("display.width", 200)
    print(f"\n# sampler payoff: {args.space}; seeds {args.seeds}; "
          f"warm start from {len(source[source.status == 'completed'])} "
          f"completed trials of a TPE run (seed {SOURCE_SEED}); reference: "
          f"{', '.join(f'{k} {v:,.4g}' for k, v in reference.items())}; common range {common:.0f} epochs")
    print("hv: final hypervolume; hv_at_half: at half the common range; mean_hv: mean over the common range")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}" if abs(v) < 2 else f"{v:.0f}"))
    mean = table.groupby(["sampler", "start"], sort=False)[["epochs", "hv", "hv_at_half", "mean_hv_common"]].mean()
    print("\nmeans over seeds:")
    print(mean.to_string(float_format=lambda v: f"{v:.4f}" if abs(v) < 2 else f"{v:.1f}"))
    print(f"figure: {args.figure}\ntable: {os.path.join(work, 'sampler_payoff.csv')}")


def rejections(raw: dict, args: argparse.Namespace, work: str) -> None:
    """Samples rejected by a tight params budget, with and without the constraints reaching the
    sampler; every valid sample is told a made-up result at the full budget."""
    import optuna

    from sksearch.search import optuna_searcher
    from sksearch.search.optuna_searcher import OptunaSearcher
    from sksearch.space.overrides import prepare_space

    rows = []
    told = optuna_searcher.set_constraints
    for sampler in args.samplers:
        for seed in args.seeds:
            for constrained in (True, False):
                spec = dict(raw, name="rejections", sampler=sampler_options(sampler, seed, options(args)),
                            constraints={"params": {"max": args.budget}})
                spec.pop("baselines", None)
                space = prepare_space(spec)
                url = f"sqlite:///{os.path.join(work, f'rej_{sampler}_{seed}_{constrained}.db')}"
                optuna_searcher.set_constraints = told if constrained else (lambda *a, **k: None)
                try:
                    s = OptunaSearcher(space, url, "rejections", space.data.shape(), args.draws)
                    rng = np.random.default_rng(seed)
                    for i in range(args.draws):
                        config = s.suggest(f"r{i}")
                        params = config["cost"]["params"]
                        # A made-up accuracy that favours larger models, as the real ones do.
                        accuracy = float(np.clip(0.5 + 0.3 * np.log10(params / 2e4) + rng.normal(0, 0.03), 0, 1))
                        s.on_trial_complete(f"r{i}", {"epoch": space.scheduler.max_epochs, "accuracy": accuracy,
                                                      "loss": 1 - accuracy, "params": params,
                                                      "macs": config["cost"]["macs"], "train_time": 1.0})
                finally:
                    optuna_searcher.set_constraints = told
                study = optuna.load_study(study_name="rejections", storage=url)
                rejected = sum(1 for t in study.trials if t.user_attrs.get("status") == "rejected")
                rows.append({"sampler": sampler, "seed": seed, "constraints": "on" if constrained else "off",
                             "draws": args.draws, "rejected": rejected})
                print(f"  {sampler} seed {seed} constraints {'on ' if constrained else 'off'}: {rejected} rejected "
                      f"for {args.draws} valid samples", flush=True)
    table = pd.DataFrame(rows)
    wide = table.pivot_table(index="sampler", columns="constraints", values="rejected", aggfunc="mean", sort=False)
    print(f"\n# rejections: {args.draws} valid samples of {args.space} under params <= {args.budget:,}, "
          f"seeds {args.seeds}")
    print(table.to_string(index=False))
    print("\nmean rejected per run:")
    print(wide[["on", "off"]].to_string(float_format=lambda v: f"{v:.1f}"))


def options(args: argparse.Namespace) -> dict[str, int]:
    return {"n_startup_trials": args.n_startup_trials, "population_size": args.population_size}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default=str(ROOT / "search_spaces" / "quickstart.yaml"))
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--starts", nargs="+", default=["cold", "warm"], choices=["cold", "warm"])
    parser.add_argument("--trials", type=int, help="trials per run (default: the space's)")
    parser.add_argument("--draws", type=int, default=25, help="valid samples per rejection run")
    parser.add_argument("--budget", type=float, default=30_000, help="the rejection runs' params budget")
    parser.add_argument("--rejections-only", action="store_true")
    parser.add_argument("--skip-rejections", action="store_true")
    parser.add_argument("--n-startup-trials", type=int, help="tpe's and gp's random start (default: the space's, 8)")
    parser.add_argument("--population-size", type=int, help="nsga2's generation (default: 8)")
    parser.add_argument("--label", default="", help="appended to the sampler in run names (runs with other options)")
    parser.add_argument("--figure", default=str(ROOT / "benchmarks" / "sampler_payoff.html"))
    parser.add_argument("--work", help="folder for the study folders (default: a new temporary one)")
    args = parser.parse_args()
    with open(args.space) as fh:
        raw = yaml.safe_load(fh)
    work = args.work or tempfile.mkdtemp(prefix="sksearch-sampler-payoff-")
    os.makedirs(work, exist_ok=True)
    print(f"studies under {work}", flush=True)
    if not args.rejections_only:
        hypervolumes(raw, args, work)
    if not args.skip_rejections:
        rejections(raw, args, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
