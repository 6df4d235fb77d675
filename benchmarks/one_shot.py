"""Is one-shot search worth it here? A supernet's ranking of subnets against stand-alone
training, the subnet search's speed, and the compute each strategy needs to reach the same front.

    python benchmarks/one_shot.py                                # the one-shot quickstart, digits
    python benchmarks/one_shot.py --set data.name=fashion_mnist --set data.train_limit=6000 ...
    python benchmarks/one_shot.py --subnets 50 --csv subnets.csv --keep results/bench_one_shot
    python benchmarks/one_shot.py --quick                        # tiny, under a minute, no Ray

It measures, in one run on one machine:

1. **Rank correlation.** ``--subnets`` distinct subnets spread over the space (its largest and
   smallest and random draws within its constraints, each network once by the subnet search's
   ``network_key``) are each trained stand-alone with the supernet's recipe for the scheduler's
   ``max_epochs`` (what a confirmation trial gets); Kendall's tau, with its bootstrap interval
   (``kendall_interval``), and Spearman's rho between that accuracy and the supernet's estimate,
   for a supernet trained with and without in-place distillation, each with BatchNorm
   recalibrated (as the search does) and without (the supernet's own running statistics); and
   for the score the screened search (point 2) gives the subnets: a subnet that a network it
   scored in full beats by the screening margin keeps its screening score. The check "the same
   tau within its interval" compares the screened tau with the full score's interval.
2. **Cost.** The supernet's training wall time in multiples of one stand-alone training of its
   largest subnet for the same epochs. The subnet search (``search_subnets``, the code a study
   runs) on the distilled supernet, the space's draws with the sampler's seed, timed side by
   side: each network scored once in full (the default), and screened on ``--screen-images``
   val images (default a quarter of val: the screening recalibrates on a quarter of the
   calibration batches, so a screening costs about a quarter of a full score, and its margin at
   80% accuracy is 3 standard errors, 7.6 points, plus 1); against one evaluation per draw, the
   search before networks were counted once: the first's time plus one evaluation per repeat
   draw at its mean time per evaluation (the sampler is told the same values either way, so it
   draws the same). Wall time per 1,000 draws, distinct networks, evaluations in full and
   screenings, draws per second and the speed-ups. Each timed search runs in a fresh process,
   as ``sksearch run``'s driver searches subnets (its supernet trains in a Tune worker).
   ``--timing-only --keep DIR`` times it again on the supernet an earlier run kept in DIR.
3. **Compute to reach a front.** The space searched stand-alone (``strategy: standalone``, its
   scheduler, sampler and trial count) and one-shot (supernet, subnet search, confirmations),
   each an ordinary ``sksearch.run``; the normalised hypervolume of each study's front on one
   common reference point, and the epochs and wall time at which each first reaches the
   stand-alone search's final hypervolume (or how close it came). Epochs of the supernet count
   as the largest-subnet epochs its wall time is worth (point 2).

The stand-alone trainings come first: with ``--csv`` each is appended to the file as it ends,
and a rerun with the same file (and the same data and recipe) trains only the subnets it does
not hold, so a killed run goes on where it stopped; ``--standalone-only`` stops after them.
``--quick`` (320 images, one epoch, 30 draws, 4 subnets) skips point 3 and trains the
distilled supernet itself: the script's own check, its figures meaningless.

Every network trains on the same data, on the CPU, one thread per process as the trials do.
"""

from __future__ import annotations

import argparse
import hashlib
import json
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd
import torch
from recipe import append_run  # a row appended and flushed as each run ends, as recipe.py's runs.csv
from scipy.stats import spearmanr

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
from sksearch.oneshot.screen import FirstImages, calibration_share, within_reach
from sksearch.oneshot.search import load_supernet, network_key, search_subnets
from sksearch.oneshot.shareable import supernet_layout
from sksearch.oneshot.supernet import Supernet
from sksearch.space.overrides import parse_assignment, prepare_space
from sksearch.space.sample import violations
from sksearch.study.pareto import hypervolume_trace
from sksearch.study.rank import kendall_interval
from sksearch.train.loop import evaluate, run_trial

SPACE = "search_spaces/quickstart_one_shot.yaml"
OBJECTIVES = ["accuracy", "params"]
# The rows of ``--csv``: one per finished stand-alone training, keyed by network and setting.
CSV_COLUMNS = ["subnet", "arch", "setting", "params", "macs", "M", "depths", "standalone", "standalone_s"]
# --quick: a tiny data set, one epoch everywhere, a few draws and subnets; no Ray searches.
QUICK = {"data.train_size": 320, "data.val_size": 200, "strategy.supernet_epochs": 1, "strategy.subnets": 30,
         "strategy.calibration_batches": 4, "scheduler.max_epochs": 1, "scheduler.grace_period": 1}
QUICK_SUBNETS, QUICK_SCREEN = 4, 50


def say(text: str) -> None:
    print(text, flush=True)


def spread_subnets(space: Any, shape: Any, count: int, seed: int) -> list[Any]:
    """The space's two ends and random draws within its constraints, no network twice (keyed as
    the subnet search keys them, ``network_key``); fewer than ``count`` only when the space has
    no more valid networks within ``200 * count`` draws."""
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


def read_finished(path: str | None, setting: str) -> dict[str, dict[str, Any]]:
    """The stand-alone trainings a ``--csv`` already holds for this ``setting``, by network key;
    a row a kill cut short (no accuracy) is trained again."""
    if not path or not os.path.exists(path) or os.path.getsize(path) == 0:
        return {}
    table = pd.read_csv(path, dtype={"arch": str, "setting": str})
    table = table[(table["setting"] == setting) & table["standalone"].notna() & table["standalone_s"].notna()]
    return {str(r["arch"]): r for r in table.to_dict("records")}


def fit_supernet(space: Any, shape: Any, batches: Any, distill: bool, epochs: int,
                 folder: str) -> tuple[Supernet, float, str]:
    """A supernet trained by the sandwich rule; its training time (without the per-epoch
    evaluations) and its weights file."""
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

    weights = os.path.join(folder, f"epoch_{epochs:04d}", "model.safetensors")
    supernet.net.load_state_dict(load_file(weights))
    return supernet.eval(), wall, weights


def no_recalibration(supernet: Supernet, spec: Any, batches: Any, train: Any) -> float:
    """A subnet scored with the statistics its supernet's BatchNorm holds, not its own."""
    model = supernet.subnet(spec).eval()
    return evaluate(model, batches, torch.device("cpu"), train)[0]


def correlations(estimates: list[float], truth: list[float]) -> tuple[dict[str, Any], float]:
    """Kendall's tau with its bootstrap interval (``kendall_interval``), and Spearman's rho."""
    return kendall_interval(estimates, truth), float(spearmanr(estimates, truth).statistic)


def tau_text(tau: dict[str, Any]) -> str:
    if tau["tau"] is None:
        return "no ranking: the estimates are all equal"
    return f"Kendall tau {tau['tau']:+.3f} [{tau['low']:+.3f}, {tau['high']:+.3f}] (95%, n={tau['n']})"


def timed_search(space: Any, weights: str, folder: str, screen: int) -> dict[str, Any]:
    """``_timed_search`` in a fresh process of its own, as ``sksearch run`` searches subnets in a
    driver whose supernet trained in a Tune worker: this script trains supernets and runs
    studies in its own process first, and what that leaves behind (a heap of freed tensors,
    threads) slowed the search's Python by a third (51.7 s against 33 s of a fresh process's
    per 1,000 draws, measured side by side at load 2)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_timed_search, space, weights, folder, screen).result()


def _timed_search(space: Any, weights: str, folder: str, screen: int) -> dict[str, Any]:
    """The subnet search (``search_subnets``, the code a study runs) on a fresh study of its own,
    timed: its draws, distinct networks, evaluations in full and screenings, and the networks it
    scored in full (what a screened network must be within reach of)."""
    torch.set_num_threads(1)
    data = load_data(space.data, test=False)
    space = replace(space, strategy=replace(space.strategy, screen_images=screen))
    path = os.path.join(folder, f"subnets_screen_{screen}.db")
    if os.path.exists(path):
        os.remove(path)
    t0 = time.perf_counter()
    study = search_subnets(space, data, weights, f"sqlite:///{path}")
    wall = time.perf_counter() - t0
    trials = study.get_trials(deepcopy=False)
    first = [t for t in trials if "repeat_of" not in t.user_attrs and t.user_attrs.get("status") != "rejected"]
    evaluated = [t for t in first if t.values is not None]
    full = [t for t in evaluated if "screened_on" not in t.user_attrs]
    names = space.metric_names
    costs = [n for n in names if n != "accuracy"]
    return {"draws": len(trials), "wall": wall, "distinct": len({t.user_attrs.get("arch") for t in trials} - {None}),
            "evaluated": len(evaluated), "full": len(full), "screened": len(evaluated) if screen else 0,
            "repeats": sum(t.user_attrs.get("status") == "repeat" for t in trials),
            "eval_s": sum(t.user_attrs["eval_time"] for t in evaluated) / max(len(evaluated), 1),
            "scored": [([t.values[names.index(n)] for n in costs], t.values[names.index("accuracy")]) for t in full]}


def speed_table(searches: dict[int, dict[str, Any]], screen: int, calibration: int, val_size: int) -> None:
    """Point 2's table: one evaluation per draw (the search before networks were counted once:
    the first's time plus one evaluation per repeat draw, at its mean time per evaluation; the
    sampler draws the same networks either way, told the same values), each network once, and
    screened."""
    once, screened = searches[0], searches[screen]
    per_draw_wall = once["wall"] + once["repeats"] * once["eval_s"]
    say(f"subnet search, {once['draws']:,} draws on the distilled supernet (full score: "
        f"{calibration} calibration batches, {val_size:,} val images; {once['eval_s']:.2f} s per evaluation), each in "
        f"a fresh process; load after {' '.join(f'{x:.2f}' for x in os.getloadavg())}:")
    say("| search | wall s per 1,000 draws | distinct networks | full evaluations | screenings | "
        "s per new network | draws/s | speed-up |")
    say("| --- | --- | --- | --- | --- | --- | --- | --- |")
    lines = [("one evaluation per draw (before)", per_draw_wall, once, once["evaluated"] + once["repeats"]),
             ("each network once", once["wall"], once, once["full"]),
             (f"each network once, screened on {screen}", screened["wall"], screened, screened["full"])]
    for name, wall, found, evaluations in lines:
        say(f"| {name} | {wall * 1000 / found['draws']:.1f} | {found['distinct']} | {evaluations} | "
            f"{found['screened']} | {found['eval_s']:.3f} | {found['draws'] / wall:.2f} | "
            f"{per_draw_wall / wall:.2f}x |")


def screened_score(net: Supernet, spec: Any, calibration: list[torch.Tensor], batches: Any, train: Any, screen: int,
                   full: float, search: dict[str, Any], space: Any) -> float:
    """The score a screened search gives ``spec``: its screening score where a network the
    search scored in full (``search["scored"]``, all of them: the strictest the search gets)
    beats it by the margin at costs no worse, else its score in full (``full``)."""
    accuracy = evaluate_subnet(net, spec, calibration_share(calibration), FirstImages(batches, screen),
                               torch.device("cpu"), train)[0]
    params, macs = params_and_macs(spec)
    found = {"params": params, "macs": macs}
    directions = dict(zip(space.metric_names, space.directions))
    costs = [n for n in space.metric_names if n != "accuracy"]
    minimize = [directions[n] == "minimize" for n in costs]
    return full if within_reach([found[n] for n in costs], accuracy, screen, search["scored"], minimize) else accuracy


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


def front_to_front(alone: Any, shot: Any, alone_wall: float, shot_wall: float, supernet_train_s: float,
                   largest_wall: float, epochs: int) -> None:
    """3. The two studies' hypervolume against the compute each spent, and the one-shot
    study's own subnet search and confirmations."""
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
    rate = len(evaluated) / max(search_wall, 1e-9)
    say(f"the one-shot study's subnet search: {len(subnet_table)} draws ({len(evaluated)} distinct subnets "
        f"evaluated, {repeats} repeat draws answered from the first, the rest outside the budgets) in "
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--space", default=SPACE, help=f"a one-shot space file (default: {SPACE})")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a key of the space (as `sksearch run --set`), e.g. data.name=fashion_mnist")
    ap.add_argument("--subnets", type=int, help="subnets trained stand-alone for the rank correlation (default: 20; "
                    f"{QUICK_SUBNETS} with --quick)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random subnet draws")
    ap.add_argument("--standalone-trials", type=int, default=16,
                    help="trials of the stand-alone search (default: 16, the quickstart's)")
    ap.add_argument("--screen-images", type=int,
                    help="val images the screened subnet search screens on (default: a quarter of val, "
                         f"{QUICK_SCREEN} with --quick)")
    ap.add_argument("--csv", help="the stand-alone trainings, a row appended as each ends; a rerun with the same "
                                  "file and settings trains only the subnets it does not hold")
    ap.add_argument("--standalone-only", action="store_true",
                    help="train the subnets stand-alone into --csv (those it does not hold yet) and stop")
    ap.add_argument("--keep", metavar="DIR", help="keep the two studies under DIR (default: a temporary folder)")
    ap.add_argument("--timing-only", action="store_true",
                    help="time the subnet search alone (point 2) on the distilled supernet that an earlier run "
                         "kept under --keep DIR (DIR/one_shot), without training anything")
    ap.add_argument("--quick", action="store_true",
                    help="a tiny run (320 images, one epoch, 30 draws, 4 subnets) without the two Ray searches: "
                         "the script's own check")
    args = ap.parse_args()
    if args.standalone_only and not args.csv:
        print("--standalone-only: needs --csv, the file the trainings go to", file=sys.stderr)
        return 2
    kept = os.path.join(args.keep or "", "one_shot")
    if args.timing_only and not (args.keep and os.path.isfile(os.path.join(kept, "optuna.db"))):
        print(f"--timing-only: needs --keep DIR of an earlier run, its one-shot study in DIR/one_shot "
              f"({kept or 'no --keep given'} holds none)", file=sys.stderr)
        return 2

    torch.set_num_threads(1)
    # The baselines are left out: they train beside either search alike and only blur its time.
    overrides = {"baselines": [], **(QUICK if args.quick else {}),
                 **dict(parse_assignment(text) for text in args.set)}
    base = prepare_space(args.space, overrides)  # the space file as `run` reads it, overrides applied
    if base.strategy.name != "one_shot":
        base = replace(base, strategy=replace(base.strategy, name="one_shot"))
    count = args.subnets if args.subnets is not None else (QUICK_SUBNETS if args.quick else 20)
    if count < 3:
        print(f"--subnets {count}: a tau needs at least 3 subnets", file=sys.stderr)
        return 2
    unknown = [n for n in base.metric_names if n not in ("accuracy", "params", "macs")]
    if unknown:
        print(f"{base.source}: objectives {unknown}: the screened ranking is measured for accuracy, params and "
              "macs only", file=sys.stderr)
        return 2
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
    val_size = len(batches.y_val) if hasattr(batches, "y_val") else len(batches.val_set)
    screen = args.screen_images if args.screen_images is not None else (QUICK_SCREEN if args.quick else val_size // 4)
    if not 0 < screen < val_size:
        print(f"--screen-images {screen}: must be 1 to {val_size - 1} (fewer than the {val_size} val images)",
              file=sys.stderr)
        return 2
    t_all = time.perf_counter()
    if args.timing_only:
        say(f"timing the subnet search on the supernet kept in {kept}: {strategy.subnets} draws (sampler "
            f"{base.sampler.name}, seed {base.sampler.seed}), each network once, then screened on {screen} val images")
        weights = supernet_weights(sksearch.open(kept))
        searches = {n: timed_search(base, weights, args.keep, n) for n in (0, screen)}
        speed_table(searches, screen, len(calibration), val_size)
        return 0

    # 1. The subnets trained stand-alone first: they need no supernet, so a rerun after a kill
    # (``--csv``) goes on with the next of them before anything else.
    subnets = spread_subnets(space, shape, count, args.seed)
    if len(subnets) < count:
        say(f"the space holds only {len(subnets)} distinct valid networks within {200 * count} draws, not {count}")
    alone_train = recipe(space, standalone_epochs)
    # What a stand-alone accuracy depends on beside the network: the data and the recipe.
    setting = hashlib.sha1(f"{base.data!r} {alone_train!r}".encode()).hexdigest()[:12]
    finished = read_finished(args.csv, setting)
    keys = [network_key(spec) for spec in subnets]
    held = f"; {sum(k in finished for k in keys)} of them already in {args.csv}" if args.csv else ""
    say(f"{len(subnets)} distinct subnets spread over the space, each trained stand-alone for {standalone_epochs} "
        f"epochs{held}")
    rows = []
    for i, (spec, key) in enumerate(zip(subnets, keys)):
        params, macs = params_and_macs(spec)
        row: dict[str, Any] = {"subnet": i, "arch": key, "setting": setting, "params": params, "macs": macs,
                               "M": spec.sk.M, "depths": "/".join(str(s.depth) for s in spec.stages)}
        if key in finished:
            row.update(standalone=float(finished[key]["standalone"]), standalone_s=float(finished[key]["standalone_s"]))
        else:
            t0 = time.perf_counter()
            row["standalone"] = run_trial(spec, alone_train, batches, "cpu", lambda m, f: None)["accuracy"]
            row["standalone_s"] = time.perf_counter() - t0
            if args.csv:
                append_run(Path(args.csv), row, CSV_COLUMNS)
            say(f"  subnet {i}: {params:,} params, M={spec.sk.M}: stand-alone {row['standalone']:.4f} "
                f"in {row['standalone_s']:.0f} s")
        rows.append(row)
    if args.standalone_only:
        say(f"{len(rows)} subnets trained stand-alone, in {args.csv}")
        return 0
    work = args.keep or tempfile.mkdtemp(prefix="one_shot_bench_")
    os.makedirs(work, exist_ok=True)

    # 3. The two searches, each an ordinary study; the one-shot one's supernet is the distilled
    # supernet of 1-2. --quick trains that supernet here instead, without Ray.
    alone = shot = None
    if not args.quick:
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
        shot = sksearch.run(args.space, one_shot_dir, overrides={**overrides, "strategy.name": "one_shot"},
                            force=True)
        shot_wall = time.perf_counter() - t0
        result_json = os.path.join(one_shot_dir, "supernet", "supernet", "result.json")
        with open(result_json) as fh:
            supernet_train_s = [json.loads(line) for line in fh if line.strip()][-1]["train_time"]
        weights = supernet_weights(shot)
        nets = {True: load_supernet(base, shape, weights)}
        walls = {True: supernet_train_s}
    else:
        say("training the supernet with distillation")
        nets, walls = {}, {}
        nets[True], walls[True], weights = fit_supernet(base, shape, batches, True, epochs,
                                                       os.path.join(work, "supernet_distilled"))

    # 1-2. The supernet without distillation, the largest subnet alone, and the supernets'
    # estimates of the subnets.
    say("training the supernet without distillation")
    folder = os.path.join(work, "supernet_plain")
    shutil.rmtree(folder, ignore_errors=True)
    nets[False], walls[False], _ = fit_supernet(base, shape, batches, False, epochs, folder)
    largest, _smallest = extremes(space, shape)
    largest_wall = run_trial(largest, replace(train, max_epochs=epochs), batches, "cpu",
                             lambda m, f: None)["train_time"]
    say(f"largest subnet alone, {epochs} epochs: {largest_wall:.0f} s training; supernet {walls[True]:.0f} s "
        f"distilled, {walls[False]:.0f} s without")
    for spec, row in zip(subnets, rows):
        for distill, net in nets.items():
            tag = "distill" if distill else "plain"
            row[f"{tag}_recal"] = evaluate_subnet(net, spec, calibration, batches, torch.device("cpu"), train)[0]
            row[f"{tag}_no_recal"] = no_recalibration(net, spec, batches, train)

    # 2. The subnet search's speed, side by side on the distilled supernet: each network scored
    # once in full (the search's default), and screened; one evaluation per draw (the search
    # before networks were counted once) is the first's time plus one evaluation per repeat
    # draw, at the first's mean time per evaluation: the sampler draws the same networks either
    # way, told the same values.
    say(f"timing the subnet search: {strategy.subnets} draws (sampler {base.sampler.name}, seed "
        f"{base.sampler.seed}), each network once, then screened on {screen} val images")
    searches = {0: timed_search(base, weights, work, 0), screen: timed_search(base, weights, work, screen)}
    for spec, row in zip(subnets, rows):
        row["distill_screened"] = screened_score(nets[True], spec, calibration, batches, train, screen,
                                                 row["distill_recal"], searches[screen], base)
    table = pd.DataFrame(rows)
    variants = {tag: correlations(table[tag].tolist(), table["standalone"].tolist())
                for tag in ("distill_recal", "distill_no_recal", "plain_recal", "plain_no_recal", "distill_screened")}

    say("")
    say(f"== one-shot benchmark: {base.name} on {base.data.name}, {len(table)} subnets, "
        f"{time.perf_counter() - t_all:.0f} s in all; load after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    say("rank correlation with stand-alone accuracy "
        f"({standalone_epochs} epochs each, {len(table)} subnets, "
        f"{table.params.min():,}-{table.params.max():,} params):")
    for tag, (tau, rho) in variants.items():
        say(f"  {tag:<18} {tau_text(tau)}" + ("" if tau["tau"] is None else f"   Spearman rho {rho:+.3f}"))
    full, shown = variants["distill_recal"][0], variants["distill_screened"][0]
    left = int((table["distill_screened"] != table["distill_recal"]).sum())
    if full["tau"] is not None and shown["tau"] is not None:
        inside = full["low"] <= shown["tau"] <= full["high"]
        say(f"ranking check: the screened search's tau {shown['tau']:+.3f} ({left} of {len(table)} subnets left at "
            f"their screening score) is {'within' if inside else 'OUTSIDE'} the full score's interval "
            f"[{full['low']:+.3f}, {full['high']:+.3f}]: {'same ranking' if inside else 'ranking changed'}")
    say(f"supernet training: {walls[True]:.0f} s distilled / {walls[False]:.0f} s without, for {epochs} epochs = "
        f"{walls[True] / largest_wall:.2f}x / {walls[False] / largest_wall:.2f}x "
        f"the largest subnet's {largest_wall:.0f} s")
    speed_table(searches, screen, len(calibration), val_size)
    if shot is not None:
        front_to_front(alone, shot, alone_wall, shot_wall, supernet_train_s, largest_wall, epochs)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
