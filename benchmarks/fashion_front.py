"""On real images, does the search find SK networks that beat the published ones at the same
cost? Fashion-MNIST, in three phases, each resumable (run the same command again after a crash
or a kill: a finished phase is skipped, an interrupted search resumes, an interrupted training
continues from its last epoch):

1. ``search``: ``sksearch run search_spaces/fashion_mnist.yaml`` (val only: the test split is
   never read by it);
2. ``train``: the front's most accurate trial under 100K params, then its most accurate under
   1M, each exported and trained by ``sksearch train --from-scratch`` on the whole training
   split less the val hold-out (54,000 images) for ``--epochs``, then measured on the **test**
   split (``sksearch evaluate --split test``);
3. ``report``: ``OUT/results.md`` (ready for benchmarks/RESULTS.md: the published table, the
   front on val, the winners on test, wall times and load averages) and ``OUT/results.json``.

    nohup python benchmarks/fashion_front.py --out bench/fashion > bench/fashion.log 2>&1 &
    python benchmarks/fashion_front.py --out bench/fashion --phase search      # one phase alone
    python benchmarks/fashion_front.py --out /tmp/ff --quick                  # a toy run, ~2 min

``--quick`` shrinks everything (2 trials of 1 epoch on 300 images, winners trained 1 epoch
on 1,000): it proves the pipeline, its figures mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "search_spaces" / "fashion_mnist.yaml"
CAPS = (("under_100k", 100_000), ("under_1m", 1_000_000))
# The zalandoresearch/fashion-mnist benchmark table (test accuracy), as issue 19 quotes it.
PUBLISHED = [("2 conv layers (hardmaru)", "< 100K", 0.925), ("2 conv layers", "113K", 0.922),
             ("2 conv + 3 FC", "1.8M", 0.932), ("DenseNet-BC, with augmentation", "768K", 0.954),
             ("VGG16", "26M", 0.935), ("ResNet18", "11M", 0.949), ("WRN40-4", "8.9M", 0.967)]


def sksearch(*args: str, check: bool = True, echo: bool = True) -> subprocess.CompletedProcess:
    """A sksearch command in a fresh process, this checkout first on the path; its output is
    copied to ours when ``echo`` (the phases run for hours: the log shows progress)."""
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    print(f"$ sksearch {' '.join(args)}", flush=True)
    proc = subprocess.run([sys.executable, "-m", "sksearch", *args], env=env, text=True, stdout=subprocess.PIPE)
    if echo:
        sys.stdout.write(proc.stdout)
    sys.stdout.flush()
    if check and proc.returncode != 0:
        raise SystemExit(f"sksearch {args[0]} exited {proc.returncode}; run this script again to resume")
    return proc


class Ledger:
    """``OUT/phases.json``: each phase's wall time and the load average around it."""

    def __init__(self, out: Path) -> None:
        self.path = out / "phases.json"
        self.data = json.loads(self.path.read_text()) if self.path.exists() else {}

    def run(self, name: str, work) -> None:  # work: a callable
        if self.data.get(name, {}).get("done"):
            print(f"phase {name}: done before ({self.data[name]['wall_s']:.0f} s), skipped", flush=True)
            return
        before, t0 = os.getloadavg(), time.time()
        work()
        entry = self.data.get(name, {})
        entry.update(done=True, wall_s=entry.get("wall_s", 0.0) + time.time() - t0,
                     load_before=[round(v, 2) for v in before], load_after=[round(v, 2) for v in os.getloadavg()])
        self.data[name] = entry
        self.path.write_text(json.dumps(self.data, indent=2))


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


def front(out: Path) -> list[dict]:
    rows = json.loads(sksearch("pareto", str(out / "study"), "--json", echo=False).stdout)
    return [r for r in rows if "baseline" not in r]


def winners(rows: list[dict]) -> dict[str, dict | None]:
    """The most accurate front trial under each parameter cap."""
    out = {}
    for name, cap in CAPS:
        under = [r for r in rows if r["params"] < cap]
        out[name] = max(under, key=lambda r: r["accuracy"]) if under else None
    return out


def train_winners(out: Path, epochs: int, quick: bool) -> None:
    chosen = winners(front(out))
    for name, row in chosen.items():
        if row is None:
            print(f"{name}: no front trial under the cap", flush=True)
            continue
        folder = out / name
        export, trained = folder / "export", folder / "trained"
        if not (export / "spec.json").exists():
            sksearch("export", str(out / "study"), "--trial", str(int(row["trial_id"])), "--to", str(export), "--force")
        limit = "data.train_limit=1000" if quick else "data.train_limit=null"
        t0 = time.time()
        sksearch("train", str(export), "--epochs", str(1 if quick else epochs), "--from-scratch", "--out", str(trained),
                 "--set", limit, "--set", "data.val_limit=null")
        test = json.loads(sksearch("evaluate", str(trained), "--split", "test", "--json").stdout)
        val = json.loads(sksearch("evaluate", str(trained), "--split", "val", "--json").stdout)
        record = folder / "result.json"
        previous = json.loads(record.read_text()) if record.exists() else {}
        record.write_text(json.dumps({"trial": row, "test": test, "val": val,
                                      "train_wall_s": previous.get("train_wall_s", 0.0) + time.time() - t0}, indent=2))


def pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def report(out: Path, epochs: int, quick: bool) -> str:
    rows = front(out)
    phases = json.loads((out / "phases.json").read_text()) if (out / "phases.json").exists() else {}
    status = json.loads(sksearch("status", str(out / "study"), "--json", echo=False).stdout)
    results = {name: json.loads((out / name / "result.json").read_text()) if (out / name / "result.json").exists()
               else None for name, _ in CAPS}
    # The schedule the winners were trained with, as they recorded it (not this run's --epochs).
    trained = [json.loads((out / name / "trained" / "train.json").read_text()).get("epochs")
               for name, _ in CAPS if (out / name / "trained" / "train.json").exists()]
    epochs = trained[0] if trained and len(set(trained)) == 1 else epochs
    lines = ["## Fashion-MNIST front (`benchmarks/fashion_front.py`)"
             f"{' -- TOY RUN (--quick), figures meaningless' if quick else ''}",
             "",
             f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} CPU cores. "
             "Search: `search_spaces/fashion_mnist.yaml` "
             f"({status['done']} trials; trials train on a class-balanced subset of the training split "
             "and rank on val, "
             "6,000 images held out of it; the test split is never read by the search). Winners: the front's most "
             f"accurate trial under 100K and under 1M params, trained from scratch for {1 if quick else epochs} epochs "
             f"on {'1,000 images of ' if quick else ''}the training split less the val hold-out (54,000 images), then "
             "measured once on the 10,000 test images.",
             "", "Published (zalandoresearch/fashion-mnist benchmark, test accuracy):", "",
             "| model | params | test accuracy |", "| --- | --- | --- |"]
    lines += [f"| {m} | {p} | {a:.1%} |" for m, p, a in PUBLISHED]
    lines += ["", "Front of the search (val accuracy, at the search's budget):", "",
              "| trial | params | MACs | val accuracy | M |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {int(r['trial_id'])} | {int(r['params']):,} | {int(r['macs']):,} | {pct(r['accuracy'])} | "
              f"{r.get('config', {}).get('sk.M', '-')} |" for r in sorted(rows, key=lambda r: r["params"])]
    lines += ["", "Winners trained in full (test accuracy measured once, at the end):", "",
              "| cap | trial | params | val (search) | val (trained) | **test** | train wall |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, cap in CAPS:
        r = results[name]
        if r is None:
            lines.append(f"| < {cap:,} | none | | | | | |")
            continue
        lines.append(f"| < {cap:,} | {int(r['trial']['trial_id'])} | {int(r['trial']['params']):,} | "
                     f"{pct(r['trial']['accuracy'])} | {pct(r['val']['accuracy'])} | "
                     f"**{pct(r['test']['accuracy'])}** | "
                     f"{r['train_wall_s'] / 60:.0f} min |")
    lines += ["", "Wall time and load average (1, 5, 15 min) before and after each phase:", "",
              "| phase | wall | load before | load after |", "| --- | --- | --- | --- |"]
    lines += [f"| {p} | {v['wall_s'] / 60:.1f} min | {v['load_before']} | {v['load_after']} |"
              for p, v in phases.items()]
    text = "\n".join(lines) + "\n"
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(json.dumps({"front": rows, "winners": results, "phases": phases,
                                                  "published": PUBLISHED, "quick": quick}, indent=2, default=str))
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the benchmark's folder (study, winners, results)")
    parser.add_argument("--phase", choices=("search", "train", "report", "all"), default="all")
    parser.add_argument("--epochs", type=int, default=30, help="the winners' full schedule (default: 30)")
    parser.add_argument("--quick", action="store_true", help="a toy run that proves the pipeline (figures meaningless)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(out)
    if args.phase in ("search", "all"):
        ledger.run("search", lambda: search(out, args.quick))
    if args.phase in ("train", "all"):
        ledger.run("train", lambda: train_winners(out, args.epochs, args.quick))
    if args.phase in ("report", "all"):
        print(report(out, args.epochs, args.quick), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
