"""``sksearch confirm --workers N``: runs trained N at a time, each in a process of its own,
give the same figures as one after the other, leave no process behind a SIGKILL, and resume."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from types import SimpleNamespace

import pandas as pd

from sksearch.search.confirm import max_workers
from sksearch.study.confirmations import near_front
from tests.conftest import run_cli
from tests.search.test_confirm import _confirm_runs, _copy


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as fh:
            found |= {int(c) for c in fh.read().split()}
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_two_workers_give_the_figures_of_one_after_the_other(finished_study, tmp_path):
    one, two = _copy(finished_study, tmp_path, "one"), _copy(finished_study, tmp_path, "two")
    args = ("--seeds", "1", "--top", "2", "--audit", "1")
    first = run_cli("confirm", str(one), *args, "--workers", "1")
    assert first.returncode == 0, first.stdout + first.stderr[-3000:]
    assert "at a time" not in first.stdout
    both = run_cli("confirm", str(two), *args, "--workers", "2")
    assert both.returncode == 0, both.stdout + both.stderr[-3000:]
    assert "2 runs at a time, each in a process of its own" in both.stdout
    runs_one = {(r["trial_id"], r["seed"], r["kind"]): (s, r["accuracy"], r["loss"]) for s, r in _confirm_runs(one)}
    runs_two = {(r["trial_id"], r["seed"], r["kind"]): (s, r["accuracy"], r["loss"]) for s, r in _confirm_runs(two)}
    assert len(runs_one) >= 3 and runs_one.keys() == runs_two.keys()
    for key, (state, accuracy, loss) in runs_one.items():
        assert state == runs_two[key][0] == "COMPLETE"
        assert accuracy == runs_two[key][1] and abs(loss - runs_two[key][2]) < 1e-6, key
    # each run's line came back through its worker, once
    assert both.stdout.count(": accuracy ") == len(runs_two)


def test_a_parallel_confirm_killed_by_sigkill_leaves_no_worker_and_resumes(finished_study, tmp_path):
    folder = _copy(finished_study, tmp_path, "killed2")
    chosen = near_front(pd.read_csv(folder / "trials.csv"), ["accuracy", "params"], 3)
    args = [sys.executable, "-m", "sksearch", "confirm", str(folder), "--seeds", "2", "--top", "3", "--workers", "2"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    workers: set[int] = set()
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            workers |= {c for c in _children(proc.pid) if _is_spawned(c)}
            if len(workers) >= 2 and any(state == "COMPLETE" for state, _ in _confirm_runs(folder)):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "confirm ended before it could be killed: " + proc.stderr.read().decode()[-2000:]
        assert len(workers) >= 2, "no two runs trained at once"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    deadline = time.time() + 30
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "a worker outlived its killed parent"

    again = run_cli("confirm", str(folder), "--seeds", "2", "--top", "3", "--workers", "2")
    assert again.returncode == 0, again.stdout + again.stderr[-3000:]
    after = _confirm_runs(folder)
    assert all(state == "COMPLETE" for state, _ in after)
    keys = Counter((r["trial_id"], r["seed"]) for _, r in after)
    assert len(after) == 2 * len(chosen) and set(keys.values()) == {1}


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def _is_spawned(pid: int) -> bool:
    """A run's process (multiprocessing's spawn), not its resource tracker."""
    line = _cmdline(pid)
    return "spawn_main" in line and "resource_tracker" not in line


def test_workers_default_to_the_concurrency_this_machine_holds():
    space = SimpleNamespace(resources=SimpleNamespace(cpu=1.0, gpu=0.0), concurrency=None)
    cores = len(os.sched_getaffinity(0))
    assert max_workers(space, None, 100) == cores
    assert max_workers(space, None, 1) == 1
    space.concurrency = 1
    assert max_workers(space, None, 100) == 1
    space.concurrency, space.resources.cpu = 64, float(cores)
    assert max_workers(space, None, 100) == 1  # each run takes every core
    assert max_workers(space, 3, 100) == 3 and max_workers(space, 3, 2) == 2  # asked for: as asked, at most the runs


def test_workers_are_refused_unless_a_positive_whole_number(finished_study, tmp_path):
    folder = _copy(finished_study, tmp_path, "refused")
    for bad in ("0", "-1", "two"):
        proc = run_cli("confirm", str(folder), "--workers", bad)
        assert proc.returncode == 2 and "--workers" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert _confirm_runs(folder) == []
