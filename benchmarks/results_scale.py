"""The results commands at 1,000 to 50,000 trials, beside Optuna's own plots of the same study.

For each size, a synthetic study (``synthetic_study.py``: the project's sampler, made-up
metrics, 60% stopped early, 35% completed, 5% failed) is timed in one run:

* ``status``, ``pareto --json`` and ``report`` as a user runs them (fresh processes), and
  ``python -c "import pandas, optuna"`` as the floor;
* Optuna's Pareto-front and hypervolume-history plots on the same database (each on a freshly
  loaded study, in one process: the cost of reading the trials and drawing).

Targets (issue 16): at 10,000 trials ``status`` and ``pareto`` at most 2x the floor, ``report``
at most 10 s and 15 MB; at 50,000 no command grows worse than linearly.

    python benchmarks/results_scale.py --sizes 1000 10000 50000 [--work DIR]
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_study import make_study


def entry_point() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "sksearch")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "sksearch"]


def timed(cmd: list[str], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return statistics.median(times)


# Each plot on a freshly loaded study: the time includes reading the trials, as for ours.
OPTUNA_PLOTS = """
import sys, time, warnings
import optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.simplefilter("ignore")
times = []
for plot in (lambda s: optuna.visualization.plot_pareto_front(s),
             lambda s: optuna.visualization.plot_hypervolume_history(s, reference_point=[0.0, 1e9])):
    t = time.perf_counter()
    plot(optuna.load_study(study_name=sys.argv[2], storage=sys.argv[1]))
    times.append(time.perf_counter() - t)
print(*times)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each fast command (median)")
    parser.add_argument("--work", help="keep the studies here (default: a temporary folder, removed)")
    args = parser.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="sksearch-scale-")
    sk = entry_point()
    rows = []
    try:
        for n in args.sizes:
            folder = os.path.join(work, f"study_{n}")
            if not os.path.exists(os.path.join(folder, "run.json")):
                start = time.perf_counter()
                make_study(folder, n)
                print(f"made a study of {n:,} trials in {time.perf_counter() - start:.0f} s", flush=True)
            report = os.path.join(work, f"report_{n}.html")
            floor = timed([sys.executable, "-c", "import pandas, optuna"], args.rounds)
            status = timed([*sk, "status", folder], args.rounds)
            pareto = timed([*sk, "pareto", folder, "--json"], args.rounds)
            rep = timed([*sk, "report", folder, "--out", report], 1)
            size = os.path.getsize(report) / 1e6
            url = f"sqlite:///{os.path.abspath(os.path.join(folder, 'optuna.db'))}"
            out = subprocess.run([sys.executable, "-c", OPTUNA_PLOTS, url, "quickstart"], capture_output=True,
                                 text=True, check=True).stdout.split()
            rows.append((n, floor, status, pareto, rep, size, float(out[0]), float(out[1])))
            print(f"{n:>7,} trials: floor {floor:.2f} s, status {status:.2f} s ({status / floor:.2f}x), pareto "
                  f"{pareto:.2f} s ({pareto / floor:.2f}x), report {rep:.1f} s / {size:.1f} MB; Optuna: front "
                  f"plot {float(out[0]):.1f} s, hypervolume history {float(out[1]):.1f} s", flush=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nload average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print("| trials | floor (s) | status (s) | x floor | pareto --json (s) | x floor | report (s) | report (MB) "
          "| Optuna front plot (s) | Optuna hypervolume history (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for n, floor, status, pareto, rep, size, ofront, ohv in rows:
        print(f"| {n:,} | {floor:.2f} | {status:.2f} | {status / floor:.2f} | {pareto:.2f} | {pareto / floor:.2f} "
              f"| {rep:.1f} | {size:.1f} | {ofront:.1f} | {ohv:.1f} |")


if __name__ == "__main__":
    main()
