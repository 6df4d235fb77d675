"""On real images, does the search find SK networks that beat the published ones at the same
cost, and which of its front points can be trusted? Fashion-MNIST, in six phases, each
resumable (run the same command again after a crash or a kill: a finished phase is skipped,
an interrupted search or confirm resumes, an interrupted training continues from its last
epoch, a finished training is not redone):

1. ``search``: ``sksearch run search_spaces/fashion_mnist.yaml`` (val only: the test split is
   never read by it);
2. ``confirm``: ``sksearch confirm --seeds S --top N --audit A``: the front's and near-front
   trials trained S more times with new seeds at the search's full budget (their mean and
   standard error), A trials the scheduler stopped trained to the full budget (what early
   stopping lost), and each rung's rank correlation with the full budget;
3. ``train``: under each parameter cap (``--caps``: 100K and 300K by default, 1M where the
   schedule allows), the most accurate trial, ranked on its mean over the confirmation's runs
   where it has them, exported and trained from scratch for ``--epochs`` with ``--seeds``
   seeds, on the training split and (``--refit``, the default) the val hold-out too: nothing
   is chosen on val any more. Each seed's test accuracy is read once, at its end
   (``sksearch evaluate --split test``). A training takes its trial's one CPU thread, so
   ``--workers`` of them (default: one per core) train at once, each in a process of its own;
4. ``twins``: each winner's twin with the other branch count (M=2 -> M=1, M=1 -> M=2 with a 3x3
   dilation-2 second branch), its stage widths scaled by one factor to the winner's params, trained
   alike with the same seeds: does SK pay on this front?
5. ``ship``: each winner whose seeds have all trained: its export (the seed with the median
   test accuracy, every seed's figures and its twin's in ``seeds.json`` beside it) copied to
   ``--ship`` (``results/fashion_mnist/``), where ``sksearch evaluate
   results/fashion_mnist/NAME --split test`` gives its recorded figure again. Seconds, and
   redone at every call: ``--phase ship`` ships the winners while their twins still train, and
   the twins' figures join them at the end;
6. ``report``: ``OUT/results.md`` (ready for benchmarks/RESULTS.md: the published table, the
   front on val, the confirmation's findings, the winners and twins on test over their seeds,
   the M=2 net less its M=1 twin seed by seed, wall times and load averages) and
   ``OUT/results.json`` (``benchmarks/fashion_figure.py OUT`` draws the README's picture from it).

    nohup python benchmarks/fashion_front.py --out bench/fashion > bench/fashion.log 2>&1 &
    python benchmarks/fashion_front.py --out bench/fashion --phase confirm       # one phase alone
    python benchmarks/fashion_front.py --out bench/fashion --caps under_100k --epochs 40 --seeds 0 1 2
    python benchmarks/fashion_front.py --out /tmp/ff --quick                     # a toy run, minutes

``--quick`` shrinks everything (2 trials of 1 epoch on 300 images, one seed each, winners and
twins trained 1 epoch on 1,000 images): it proves the pipeline, its figures mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sksearch.study.confirmations import mean_se  # noqa: E402  (no torch, no Ray)
from sksearch.study.nofollow import atomic_write  # noqa: E402  (light: no torch, no Ray)

SPACE = ROOT / "search_spaces" / "fashion_mnist.yaml"
CAPS = {"under_100k": 100_000, "under_300k": 300_000, "under_1m": 1_000_000}
# Published Fashion-MNIST test accuracies: the zalandoresearch/fashion-mnist benchmark table, as
# issue 19 quotes it (hardmaru's net: 83,466 params, 30 epochs of Adam, no augmentation), and the
# ResNets of zhunzhong07/Random-Erasing (300 epochs of SGD, crop + flip), as issue 29 quotes
# them. (model, params as the source states them, params for the figure's axis, test accuracy).
PUBLISHED = [("2 conv layers (hardmaru)", "83,466", 83_466, 0.925), ("2 conv layers", "113K", 113_000, 0.922),
             ("2 conv + 3 FC", "1.8M", 1_800_000, 0.932),
             ("DenseNet-BC, with augmentation", "768K", 768_000, 0.954),
             ("ResNet-20, 300 epochs", "0.27M", 270_000, 0.956),
             ("ResNet-20 + random erasing, 300 epochs", "0.27M", 270_000, 0.9598),
             ("ResNet-32, 300 epochs", "0.46M", 460_000, 0.962),
             ("VGG16", "26M", 26_000_000, 0.935), ("ResNet18", "11M", 11_000_000, 0.949),
             ("WRN40-4", "8.9M", 8_900_000, 0.967)]
# The twin's second branch when the winner has one branch: the space's 3x3 of dilation 2.
SECOND_BRANCH = [3, 2]


def sksearch(*args: str, check: bool = True, echo: bool = True) -> subprocess.CompletedProcess:
    """A sksearch command in a fresh process, this checkout first on the path; its output is
    copied to ours line by line as it comes when ``echo`` (the phases run for hours: the log
    shows their progress), and kept in the result's ``stdout``."""
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    print(f"$ sksearch {' '.join(args)}", flush=True)
    lines: list[str] = []
    with subprocess.Popen([sys.executable, "-m", "sksearch", *args], env=env, text=True,
                          stdout=subprocess.PIPE) as child:
        assert child.stdout is not None
        for line in child.stdout:
            lines.append(line)
            if echo:
                sys.stdout.write(line)
                sys.stdout.flush()
    proc = subprocess.CompletedProcess(child.args, child.returncode, "".join(lines))
    if check and proc.returncode != 0:
        raise SystemExit(f"sksearch {args[0]} exited {proc.returncode}; run this script again to resume")
    return proc


class Ledger:
    """``OUT/phases.json``: each phase's wall time and the load average around it. An
    interrupted phase's time so far is added when Python still runs its ``finally`` (Ctrl-C,
    SIGTERM, an error); a SIGKILL loses it, the trainings' own wall times stay in their records."""

    def __init__(self, out: Path) -> None:
        self.path = out / "phases.json"

    def read(self) -> dict[str, Any]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def run(self, name: str, work: Callable[[], None], again: bool = False) -> None:
        """``work`` unless the ledger says it was done (``again``: every time, for a cheap phase
        whose inputs may have grown since, as ``ship`` after the twins)."""
        entry = self.read().get(name, {})
        if entry.get("done") and not again:
            print(f"phase {name}: done before ({entry['wall_s']:.0f} s), skipped", flush=True)
            return
        before, t0, done = os.getloadavg(), time.time(), False
        try:
            work()
            done = True
        finally:
            # Read again before the write: a second process (``--phase ship`` while the twins
            # train) may have recorded its own phase since, and only this one is ours.
            data = self.read()
            entry = data.get(name, {})
            spent = time.time() - t0 + (0.0 if again else entry.get("wall_s", 0.0))
            entry.update(done=done, wall_s=spent, load_before=[round(v, 2) for v in before],
                         load_after=[round(v, 2) for v in os.getloadavg()])
            data[name] = entry
            atomic_write(str(self.path), json.dumps(data, indent=2))


def search(out: Path, quick: bool) -> None:
    study = out / "study"
    extra = ["--trials", "2", "--max-epochs", "1", "--set", "data.train_limit=300", "--set", "data.val_limit=200",
             "--set", "baselines=[]"] if quick else []
    if (study / "run.json").exists():
        status = json.loads(sksearch("status", str(study), "--json", echo=False).stdout)
        if not status["finished"]:
            sksearch("resume", str(study))
        return
    sksearch("run", str(SPACE), "--out", str(study), *extra)


def confirm(out: Path, seeds: int, top: int, audit: int) -> None:
    import sksearch as api

    df = api.open(str(out / "study")).table
    stopped = int(((df["status"] == "stopped_early") & df["baseline"].isna()).sum())
    if stopped < audit:
        print(f"the scheduler stopped {stopped} trials: auditing {stopped}, not {audit}", flush=True)
    # confirm itself resumes: a rerun trains only the runs it does not hold.
    sksearch("confirm", str(out / "study"), "--seeds", str(seeds), "--top", str(top), "--audit",
             str(min(audit, stopped)))


def candidates(out: Path) -> list[dict[str, Any]]:
    """The completed searched trials (baselines left out) with their params, M and the accuracy
    they are ranked on: the mean over the confirmation's runs where there are any (``runs``),
    else the search's one run."""
    import pandas as pd

    import sksearch as api

    study = api.open(str(out / "study"))
    df = study.table
    df = df[(df["status"] == "completed") & df["baseline"].isna() & df["accuracy"].notna()]
    info = study.confirmations() or {}
    stats = {int(s["trial_id"]): s for s in info.get("stats", [])}
    rows = []
    for r in df.to_dict("records"):
        s = stats.get(int(r["trial_id"]))
        m = r.get("sk.M")
        rows.append({"trial_id": int(r["trial_id"]), "params": int(r["params"]), "macs": int(r["macs"]),
                     "accuracy": float(r["accuracy"]), "M": int(m) if pd.notna(m) else None,
                     "runs": s["runs"] if s else 1, "mean": s["accuracy_mean"] if s else float(r["accuracy"]),
                     "se": s["accuracy_se"] if s else None})
    return rows


def front_of(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """The rows no other row beats on ``key`` (max) at no more params (min), by params."""
    front = [r for r in rows if not any(o[key] >= r[key] and o["params"] <= r["params"]
                                        and (o[key] > r[key] or o["params"] < r["params"]) for o in rows)]
    return sorted(front, key=lambda r: r["params"])


def winners(rows: list[dict[str, Any]], caps: list[str]) -> dict[str, dict[str, Any] | None]:
    """The trial with the highest ranked accuracy (``mean``) under each parameter cap."""
    out = {}
    for name in caps:
        under = [r for r in rows if r["params"] < CAPS[name]]
        out[name] = max(under, key=lambda r: (r["mean"], -r["params"])) if under else None
    return out


def twin_spec(spec: dict[str, Any]) -> tuple[dict[str, Any], int, int]:
    """``spec`` (an ArchSpec dict) with the other branch count, its stage widths scaled by the
    one factor (multiples of each stage's groups) whose params come nearest the original's;
    returns the twin, its params and the original's."""
    from sksearch.model.cost import params_and_macs
    from sksearch.model.spec import ArchSpec

    def flip(sk: dict[str, Any] | None) -> dict[str, Any] | None:
        if sk is None:
            return None
        branches = sk["branches"][:1] if len(sk["branches"]) > 1 else [sk["branches"][0], SECOND_BRANCH]
        return {**sk, "branches": branches}

    target = params_and_macs(ArchSpec.from_dict(spec))[0]
    flipped = {**spec, "sk": flip(spec["sk"]), "stages": [{**st, "sk": flip(st.get("sk"))} for st in spec["stages"]]}
    best = None
    for step in range(40, 251):
        stages = []
        for st in flipped["stages"]:
            g = st.get("groups") or flipped["groups"]
            stages.append({**st, "width": max(g, g * round(st["width"] * step / 100 / g))})
        candidate = {**flipped, "stages": stages}
        params = params_and_macs(ArchSpec.from_dict(candidate))[0]
        if best is None or abs(params - target) < abs(best[1] - target):
            best = (candidate, params)
    return best[0], best[1], target


def train_seed(export: Path, folder: Path, seed: int, epochs: int, refit: bool, quick: bool,
               spec: dict[str, Any] | None = None) -> None:
    """``export`` (or ``spec`` on ``export``'s recipe and data) trained from scratch with
    ``seed`` into ``folder/seed_K``, its record in ``folder/seed_K.json`` (test accuracy read
    once, at its end; its wall time summed over resumes)."""
    from dataclasses import replace

    from sksearch.fulltrain import plan, train_job
    from sksearch.model.cost import params_and_macs
    from sksearch.model.spec import ArchSpec

    limit = {"data.train_limit": 1000 if quick else None, "data.val_limit": None}
    record = folder / f"seed_{seed}.json"
    out = folder / f"seed_{seed}"
    part = folder / f"seed_{seed}.wall"
    t0 = time.time()
    try:
        job = plan(str(export), 1 if quick else epochs, None, None, {**limit, "train.seed": seed}, True, refit)
        if spec is not None:
            job = replace(job, spec=ArchSpec.from_dict(spec))
        tag = f"  {folder.parent.name} {folder.name} seed {seed}:"
        train_job(job, str(out), log=lambda m, tag=tag: print(tag, m, flush=True))
    finally:  # the wall time of an interrupted training is kept for its resume
        spent = (float(part.read_text()) if part.exists() else 0.0) + time.time() - t0
        part.write_text(f"{spent:.1f}")
    test = json.loads(sksearch("evaluate", str(out), "--split", "test", "--json", echo=False).stdout)
    params = params_and_macs(job.spec)[0]
    record.write_text(json.dumps({"seed": seed, "params": params, "test": test, "train_wall_s": spent,
                                  "epochs": 1 if quick else epochs, "refit": refit, "threads": job.threads,
                                  "load_after": [round(v, 2) for v in os.getloadavg()]}, indent=2))
    print(f"{folder.parent.name} {folder.name} seed {seed}: test {test['accuracy']:.2%} in {spent / 60:.1f} min",
          flush=True)


def _stop(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def stoppable() -> None:
    """Ctrl-C and SIGTERM raise KeyboardInterrupt here, so that a stop still runs the
    ``finally`` blocks that keep a phase's and a training's wall time. Also where a shell
    started this script in the background: it starts background jobs with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop)


def _seed_process(*args: Any) -> None:
    stoppable()
    try:
        train_seed(*args)
    except KeyboardInterrupt:  # the parent, stopped too, says how to resume
        sys.exit(130)


def train_all(jobs: list[tuple[Path, Path, int, dict[str, Any] | None]], epochs: int, refit: bool, quick: bool,
              workers: int) -> None:
    """Each (export, folder, seed, spec) trained by ``train_seed`` unless its record exists,
    ``workers`` at a time, each in a process of its own: a training takes its trial's one CPU
    thread (``fulltrain.trial_threads``), so one after the other would leave a core idle."""
    import multiprocessing

    todo = []
    for export, folder, seed, spec in jobs:
        if (folder / f"seed_{seed}.json").exists():
            print(f"{folder.parent.name} {folder.name} seed {seed}: trained before", flush=True)
        else:
            todo.append((export, folder, seed, epochs, refit, quick, spec))
    if workers <= 1 or len(todo) <= 1:
        for args in todo:
            train_seed(*args)
        return
    print(f"{len(todo)} trainings, {workers} at a time", flush=True)
    ctx = multiprocessing.get_context("spawn")
    running: list[tuple[Any, tuple[Any, ...]]] = []
    try:
        while todo or running:
            while todo and len(running) < workers:
                args = todo.pop(0)
                proc = ctx.Process(target=_seed_process, args=args)
                proc.start()
                running.append((proc, args))
            time.sleep(1)
            for proc, args in list(running):
                if proc.exitcode is None:
                    continue
                running.remove((proc, args))
                if proc.exitcode != 0:
                    raise SystemExit(f"training {args[1].parent.name} {args[1].name} seed {args[2]} exited "
                                     f"{proc.exitcode}; run this script again to resume")
    finally:  # a stop or a failure: the others keep their last epoch's checkpoint
        for proc, _ in running:
            proc.terminate()
            proc.join()


def train_winners(out: Path, caps: list[str], seeds: list[int], epochs: int, refit: bool, quick: bool,
                  workers: int) -> None:
    chosen = winners(candidates(out), caps)
    (out / "winners.json").write_text(json.dumps(chosen, indent=2))
    jobs: list[tuple[Path, Path, int, dict[str, Any] | None]] = []
    for name, row in chosen.items():
        if row is None:
            print(f"{name}: no completed trial under the cap", flush=True)
            continue
        export = out / name / "export"
        if not (export / "spec.json").exists():
            sksearch("export", str(out / "study"), "--trial", str(row["trial_id"]), "--to", str(export), "--force")
        jobs += [(export, out / name / "trained", seed, None) for seed in seeds]
    train_all(jobs, epochs, refit, quick, workers)


def train_twins(out: Path, caps: list[str], seeds: list[int], epochs: int, refit: bool, quick: bool,
                workers: int) -> None:
    jobs: list[tuple[Path, Path, int, dict[str, Any] | None]] = []
    for name in caps:
        export = out / name / "export"
        if not (export / "spec.json").exists():
            continue
        twin, params, target = twin_spec(json.loads((export / "spec.json").read_text()))
        folder = out / name / "twin"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "spec.json").write_text(json.dumps(twin, indent=2))
        print(f"{name} twin: {len(twin['sk']['branches'])} branches, {params:,} params (the winner {target:,})",
              flush=True)
        jobs += [(export, folder, seed, twin) for seed in seeds]
    train_all(jobs, epochs, refit, quick, workers)


def ship(out: Path, caps: list[str], to: Path, seeds: list[int]) -> None:
    """Each cap's winner into ``to/NAME`` (NAME: the cap and the params) once all ``seeds`` have
    trained: the export of its seed with the median test accuracy (weights, spec, recipe,
    training log, README), and beside it ``seeds.json`` with every seed's test accuracy, wall
    time and load (its twin's too, those trained so far), so that ``sksearch evaluate
    to/NAME --split test`` gives the figure that seed recorded."""
    import shutil

    from sksearch.study.lock import LOCK_FILE

    for name in caps:
        recs = seed_records(out / name / "trained")
        waiting = sorted(set(seeds) - {r["seed"] for r in recs})
        if waiting:
            if (out / name / "export").exists():
                print(f"{name}: not shipped, seeds {' '.join(map(str, waiting))} still to train", flush=True)
            continue
        ranked = sorted(recs, key=lambda r: r["test"]["accuracy"])
        median = ranked[(len(ranked) - 1) // 2]
        dest = to / f"{name}_{round(median['params'] / 1000)}k"
        part = dest.with_name(dest.name + ".partial")
        shutil.rmtree(part, ignore_errors=True)
        shutil.copytree(out / name / "trained" / f"seed_{median['seed']}", part,
                        ignore=shutil.ignore_patterns(LOCK_FILE))
        twin = seed_records(out / name / "twin")
        trial = json.loads((out / "winners.json").read_text()).get(name)
        (part / "seeds.json").write_text(json.dumps({
            "shipped_seed": median["seed"], "seeds": recs, "twin": twin, "trial": trial}, indent=2))
        with open(part / "README.md", "a") as fh:
            fh.write(shipped_section(trial, median["seed"], recs, twin))
        if dest.exists():
            shutil.rmtree(dest)
        part.rename(dest)  # whole or not at all: a kill leaves the .partial copy, redone next time
        print(f"shipped {dest} (seed {median['seed']}, test {median['test']['accuracy']:.2%})", flush=True)
    if to.is_dir():
        atomic_write(str(to / "README.md"), shipped_index(to))


def shipped_index(to: Path) -> str:
    """``to/README.md``: what the shipped folders are, one row each, and how to use them."""
    rows = []
    for folder in sorted(p for p in to.iterdir() if (p / "seeds.json").is_file()):
        info = json.loads((folder / "seeds.json").read_text())
        trial, recs, twin = info.get("trial") or {}, info["seeds"], info.get("twin") or []
        shipped = next(r for r in recs if r["seed"] == info["shipped_seed"])
        twin_cell = (f"{mean_sd([r['test']['accuracy'] for r in twin])} (M={twin_m(trial.get('M'))}, "
                     f"{twin[0]['params']:,} params, {len(twin)} seeds)" if twin else "not trained yet")
        rows.append(f"| [`{folder.name}`]({folder.name}/) | {trial.get('trial_id', '-')} | {recs[0]['params']:,} | "
                    f"{trial.get('M', '-')} | {mean_sd([r['test']['accuracy'] for r in recs])} ({len(recs)} seeds) | "
                    f"{pct(shipped['test']['accuracy'])} (seed {shipped['seed']}) | {twin_cell} |")
    return "\n".join([
        "# Fashion-MNIST winners, shipped", "",
        "Written by `python benchmarks/fashion_front.py` (its ship phase): under each parameter cap, the most accurate "
        "network of the `search_spaces/fashion_mnist.yaml` search on its mean val accuracy, trained from scratch on "
        "train + val with 3 seeds, the test split read once per seed at its end. Each folder is an export: the seed "
        "with the median test accuracy (weights, `spec.json`, `train.json` with the recipe, `train_log.csv`), "
        "`seeds.json` with every seed's figures, wall time and load, and its twin's (the other branch count at about "
        "the same params, trained alike). benchmarks/RESULTS.md, \"Fashion-MNIST front\", tells the whole run.", "",
        "| folder | trial | params | M | test, mean +- sd | shipped seed's test | twin's test |",
        "| --- | --- | --- | --- | --- | --- | --- |", *rows, "",
        "```python", "import sksearch", "net = sksearch.load_model(\"results/fashion_mnist/NAME\")   # eval mode, CPU",
        "```", "",
        "`sksearch evaluate results/fashion_mnist/NAME --split test` gives the shipped seed's test accuracy again "
        "(it reads Fashion-MNIST's test split: `apt-get install dataset-fashion-mnist`, or `--data-root DIR` where "
        "its IDX files lie).", "",
        "A search of `search_spaces/fashion_mnist.yaml` run from a checkout would default to this folder: give it its "
        "own, `sksearch run search_spaces/fashion_mnist.yaml --out results/my_fashion` (sksearch refuses to write a "
        "study into a folder that holds other files).", ""])


def shipped_section(trial: dict[str, Any] | None, shipped: int, recs: list[dict[str, Any]],
                    twin: list[dict[str, Any]]) -> str:
    """The shipped README's last section: where the network comes from and every seed's figures."""
    def rows(records: list[dict[str, Any]]) -> list[str]:
        out = [f"| {r['seed']} | {r['params']:,} | {pct(r['test']['accuracy'])} | {r['train_wall_s'] / 60:.1f} min | "
               f"{' '.join(map(str, r.get('load_after', [])))} |" for r in records]
        return out + [f"| mean +- sd | | {mean_sd([r['test']['accuracy'] for r in records])} | | |"]

    head = ["| seed | params | test accuracy | wall | load after (1, 5, 15 min) |", "| --- | --- | --- | --- | --- |"]
    origin = (f"trial {trial['trial_id']} of the `fashion_mnist` search ({pct(trial['mean'])} mean val over "
              f"{trial['runs']} runs of its budget, M={trial['M']})" if trial else "a winner of the search")
    text = ["", "## Shipped by `benchmarks/fashion_front.py`", "",
            f"This network is {origin}, trained from scratch with {len(recs)} seeds; this folder is seed "
            f"{shipped}, the median on test. Each seed's test accuracy was read once, at its end; "
            "`sksearch evaluate . --split test` gives this seed's figure again. `seeds.json` holds the same figures.",
            "", *head, *rows(recs)]
    if twin:
        text += ["", "Its twin, the other branch count at about the same params, trained alike with the same seeds "
                 "(does SK pay?):", "", *head, *rows(twin)]
        answer = sk_paired(recs, twin, trial["M"]) if trial else None
        if answer:
            per_seed, mean = paired_cells(answer)
            text += ["", f"The M=2 net less the M=1 net, seed by seed (seeds {', '.join(map(str, answer['seeds']))}): "
                     f"{per_seed} points, mean {mean} (standard error): {answer['verdict']}."]
    return "\n".join(text) + "\n"


def pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def seed_records(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("seed_*.json"))]


def mean_sd(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return pct(values[0])
    return f"{pct(statistics.mean(values))} +- {100 * statistics.stdev(values):.2f}"


def sk_paired(winner: list[dict[str, Any]], twin: list[dict[str, Any]], winner_m: int) -> dict[str, Any] | None:
    """Does SK pay? The M=2 net's test accuracy less its M=1 twin's, seed by seed (the same seed
    draws the same data order and augmentation for both), on the seeds both have trained.

    Paired, because the seeds' spread (0.1-0.3 points) is as large as the effect asked about; the
    verdict uses the same rule as the front's (beyond noise when the mean difference is more than
    2 standard errors from zero)."""
    twin_by_seed = {r["seed"]: r["test"]["accuracy"] for r in twin}
    pairs = [(r["seed"], r["test"]["accuracy"], twin_by_seed[r["seed"]]) for r in winner if r["seed"] in twin_by_seed]
    if not pairs:
        return None
    sign = 1 if winner_m == 2 else -1
    diffs = [sign * (w - t) for _, w, t in pairs]
    mean, se = mean_se(diffs)
    if se is None:
        verdict = "one seed: no verdict"
    elif abs(mean) > 2 * se:
        verdict = f"M={2 if mean > 0 else 1} ahead, beyond noise"
    else:
        verdict = "within noise"
    return {"seeds": [s for s, _, _ in pairs], "diffs": diffs, "mean": mean, "se": se,
            "m2_ahead": sum(d > 0 for d in diffs), "verdict": verdict}


def paired_cells(answer: dict[str, Any]) -> tuple[str, str]:
    """``sk_paired``'s figures as text, in points: the per-seed differences and the mean (+- se)."""
    spread = f" +- {100 * answer['se']:.2f}" if answer["se"] is not None else ""
    return ", ".join(f"{100 * d:+.2f}" for d in answer["diffs"]), f"{100 * answer['mean']:+.2f}{spread}"


def twin_m(m: int | None) -> int:
    """The branch count of a winner's twin: M=2 -> 1, M=1 -> 2."""
    return 1 if m == 2 else 2


def status_lines(out: Path) -> list[str]:
    """``sksearch status``'s lines on the confirmation (noise, audit, rung taus)."""
    text = sksearch("status", str(out / "study"), echo=False, check=False).stdout
    lines, keep = [], False
    for line in text.splitlines():
        if line.startswith("confirm "):
            keep = True
        elif line and not line.startswith(" "):
            keep = False
        if keep:
            lines.append(line.strip())
    return lines


def report(out: Path, caps: list[str], quick: bool) -> str:
    rows = candidates(out)
    single = front_of(rows, "accuracy")
    confirmed = [r for r in rows if r["runs"] > 1]
    on_means = front_of(confirmed, "mean") if confirmed else []
    phases = json.loads((out / "phases.json").read_text()) if (out / "phases.json").exists() else {}
    chosen = json.loads((out / "winners.json").read_text()) if (out / "winners.json").exists() else {}
    toy = " -- TOY RUN (--quick), figures meaningless" if quick else ""
    lines = [f"## Fashion-MNIST front (`benchmarks/fashion_front.py`){toy}",
             "", f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} CPU cores. Search: "
             f"`search_spaces/fashion_mnist.yaml` ({len(rows)} completed trials; trials train on a class-balanced "
             "subset of the training split and rank on val, 6,000 images held out of it; the test split is never "
             "read by the search or the confirmation).",
             "", "Published (zalandoresearch/fashion-mnist benchmark; zhunzhong07/Random-Erasing's ResNets; test "
             "accuracy):", "",
             "| model | params | test accuracy |", "| --- | --- | --- |"]
    lines += [f"| {m} | {p} | {a:.2%} |" for m, p, _, a in PUBLISHED]
    lines += ["", "Front of the search (val accuracy of one run each, at the search's budget; mean +- standard "
              "error over the confirmation's runs where it ran):", "",
              "| trial | params | MACs | M | val (search's run) | runs | val mean +- se |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['trial_id']} | {r['params']:,} | {r['macs']:,} | {r['M']} | {pct(r['accuracy'])} | {r['runs']} | "
              + (f"{pct(r['mean'])} +- {100 * (r['se'] or 0):.2f} |" if r["runs"] > 1 else "- |") for r in single]
    if confirmed:
        m2 = (sum(1 for r in single if r["M"] == 2), sum(1 for r in on_means if r["M"] == 2))
        lines += ["", f"Ranked on their means ({len(confirmed)} confirmed trials): a front of {len(on_means)} points, "
                  f"M=2 on {m2[1]} of them (on {m2[0]} of the {len(single)} single-run front points):", "",
                  "| trial | params | M | val mean +- se | runs |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {r['trial_id']} | {r['params']:,} | {r['M']} | {pct(r['mean'])} +- {100 * (r['se'] or 0):.2f} "
                  f"| {r['runs']} |" for r in on_means]
        lines += ["", "What `sksearch status` says of the confirmation:", "", "```", *status_lines(out), "```"]
    lines += ["", "Winners and their twins trained in full (test accuracy read once per seed, at its end; mean +- "
              "standard deviation over the seeds):", "",
              "| cap | network | trial | params | M | val (ranked) | seeds | **test** | train wall per seed |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    results: dict[str, Any] = {}
    for name in caps:
        row = chosen.get(name)
        if row is None:
            lines.append(f"| < {CAPS[name]:,} | none | | | | | | | |")
            continue
        for kind, folder in (("winner", out / name / "trained"), ("twin", out / name / "twin")):
            recs = seed_records(folder)
            results.setdefault(name, {})[kind] = recs
            if not recs:
                continue
            tests = [r["test"]["accuracy"] for r in recs]
            m = row["M"] if kind == "winner" else twin_m(row["M"])
            walls = statistics.mean(r["train_wall_s"] for r in recs) / 60
            lines.append(f"| < {CAPS[name]:,} | {kind} | {row['trial_id']} | {int(recs[0]['params'] or 0):,} | {m} | "
                         f"{pct(row['mean']) if kind == 'winner' else '-'} | {len(recs)} | **{mean_sd(tests)}** | "
                         f"{walls:.0f} min |")
    answers = {name: sk_paired(recs.get("winner", []), recs.get("twin", []), chosen[name]["M"])
               for name, recs in results.items()}
    if any(answers.values()):
        lines += ["", "Does SK pay? The M=2 net's test accuracy less its M=1 twin's, seed by seed (points; beyond "
                  "noise when the mean is more than 2 standard errors from zero):", "",
                  "| cap | seeds | M=2 - M=1 per seed | mean +- se | M=2 ahead on | verdict |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for name, a in answers.items():
            if a:
                per_seed, mean = paired_cells(a)
                lines.append(f"| < {CAPS[name]:,} | {', '.join(map(str, a['seeds']))} | {per_seed} | {mean} | "
                             f"{a['m2_ahead']} of {len(a['diffs'])} | {a['verdict']} |")
    lines += ["", "Wall time and load average (1, 5, 15 min) before and after each phase:", "",
              "| phase | wall | load before | load after |", "| --- | --- | --- | --- |"]
    lines += [f"| {p} | {v['wall_s'] / 60:.1f} min | {v['load_before']} | {v['load_after']} |"
              for p, v in phases.items()]
    text = "\n".join(lines) + "\n"
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(json.dumps({"front": single, "front_on_means": on_means, "winners": chosen,
                                                  "trained": results, "sk_paired": answers, "phases": phases,
                                                  "published": PUBLISHED,
                                                  "quick": quick}, indent=2, default=str))
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the benchmark's folder (study, winners, results)")
    parser.add_argument("--phase", choices=("search", "confirm", "train", "twins", "ship", "report", "all"),
                        default="all")
    parser.add_argument("--caps", nargs="+", choices=sorted(CAPS), default=["under_100k", "under_300k"],
                        help="the parameter caps whose winners are trained (default: under_100k under_300k)")
    parser.add_argument("--epochs", type=int, default=30, help="the winners' full schedule (default: 30)")
    parser.add_argument("--seeds", type=int, nargs="+",
                        help="the seeds each winner and twin trains with (default: 0 1 2; --quick: 0)")
    parser.add_argument("--no-refit", dest="refit", action="store_false",
                        help="train the winners on the training split less val (default: train + val)")
    parser.add_argument("--confirm-seeds", type=int, default=2,
                        help="new seeds per confirmed trial, beside the search's run (default: 2, so 3 runs each)")
    parser.add_argument("--confirm-top", type=int, default=8,
                        help="trials confirmed, by non-dominated rank (default: 8)")
    parser.add_argument("--audit", type=int, default=8, help="stopped trials trained to the full budget (default 8)")
    parser.add_argument("--ship", metavar="DIR", default=str(ROOT / "results" / "fashion_mnist"),
                        help="where the winners are shipped (default: results/fashion_mnist; --quick: OUT/shipped)")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="trainings at once in the train and twins phases, each of one CPU thread (default: "
                             "this machine's cores)")
    parser.add_argument("--quick", action="store_true", help="a toy run that proves the pipeline (figures meaningless)")
    args = parser.parse_args()
    if args.quick:
        args.confirm_seeds, args.confirm_top, args.audit = 1, 2, 1
    if args.seeds is None:
        args.seeds = [0] if args.quick else [0, 1, 2]
    out = Path(args.out)
    if args.quick and args.ship == str(ROOT / "results" / "fashion_mnist"):
        args.ship = str(out / "shipped")  # a toy run never lands in the repository's results
    out.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(out)
    steps = {"search": lambda: search(out, args.quick),
             "confirm": lambda: confirm(out, args.confirm_seeds, args.confirm_top, args.audit),
             "train": lambda: train_winners(out, args.caps, args.seeds, args.epochs, args.refit, args.quick,
                                            args.workers),
             "twins": lambda: train_twins(out, args.caps, args.seeds, args.epochs, args.refit, args.quick,
                                          args.workers),
             "ship": lambda: ship(out, args.caps, Path(args.ship), args.seeds)}
    stoppable()
    try:
        for name, work in steps.items():
            if args.phase in (name, "all"):
                ledger.run(name, work, again=name == "ship")
    except KeyboardInterrupt:
        print("stopped; run the same command again to resume (finished work is kept, a training continues from "
              "its last epoch)", file=sys.stderr, flush=True)
        return 130
    if args.phase in ("report", "all"):
        print(report(out, args.caps, args.quick), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
