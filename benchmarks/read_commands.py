"""How fast the read commands answer, against the floor of any Python tool over a study:
``python -c "import pandas, optuna"``.

Every command runs as a user runs it (a fresh process through the ``sksearch`` entry point),
in interleaved rounds so that a change in the machine's load hits all of them alike; the
table gives each command's median wall time and its ratio to the floor. Targets (issue 10):
``status`` and ``pareto --json`` at most 1.5x the floor.

    python benchmarks/read_commands.py results/quickstart [--rounds 7]

The study folder is any finished search, e.g. the README's quickstart.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import pandas as pd

TARGETS = {"status": 1.5, "pareto --json": 1.5}


def entry_point() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "sksearch")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "sksearch"]


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study", nargs="?", default="results/quickstart", help="a finished study folder")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    if not os.path.exists(os.path.join(args.study, "run.json")):
        raise SystemExit(f"{args.study}: no study there; run `sksearch run search_spaces/quickstart.yaml` first")
    table = pd.read_csv(os.path.join(args.study, "trials.csv"))
    trial = str(int(table[table.status == "completed"].trial_id.iloc[0]))
    sk = entry_point()
    scratch = tempfile.mkdtemp(prefix="sksearch-bench-")
    commands = {
        "floor: import pandas, optuna": [sys.executable, "-c", "import pandas, optuna"],
        "status": [*sk, "status", args.study],
        "pareto --json": [*sk, "pareto", args.study, "--json"],
        "models": [*sk, "models"],
        "cost sknet50 --json": [*sk, "cost", "sknet50", "--json"],
        "report": [*sk, "report", args.study, "--out", os.path.join(scratch, "report.html")],
        "export --trial": [*sk, "export", args.study, "--trial", trial, "--to", os.path.join(scratch, "export")],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    try:
        for cmd in commands.values():  # warm the file cache once
            timed(cmd)
        for _ in range(args.rounds):
            for name, cmd in commands.items():
                if name.startswith("export"):
                    shutil.rmtree(os.path.join(scratch, "export"), ignore_errors=True)
                times[name].append(timed(cmd))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    floor = statistics.median(times["floor: import pandas, optuna"])
    print(f"{args.study}: {len(table)} trials; median of {args.rounds} interleaved rounds; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'command':<30} {'median s':>9} {'x floor':>8}  target")
    for name, values in times.items():
        median = statistics.median(values)
        target = TARGETS.get(name)
        verdict = "" if target is None else f"<= {target}x: {'met' if median / floor <= target else 'MISSED'}"
        print(f"{name:<30} {median:>9.2f} {median / floor:>8.2f}  {verdict}")


if __name__ == "__main__":
    main()
