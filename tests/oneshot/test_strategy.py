"""The one-shot strategy end to end through the CLI: supernet, subnet search, confirmation
trials, and a resume after SIGKILL during the supernet's training that loses no epoch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pandas as pd

from sksearch.oneshot.search import one_shot_study
from tests.conftest import TINY_SPACE, run_cli, write_space

ONE_SHOT = ("strategy: {name: one_shot, supernet_epochs: 3, subnets: 6, confirm: 1, spread: 1, "
            "calibration_batches: 2}")


def _results(path):
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _wait_for_epoch(result_json, epoch, proc, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        if os.path.exists(result_json) and any(r.get("epoch") == epoch for r in _results(result_json)):
            return _results(result_json)
        time.sleep(0.2)
    raise AssertionError(f"the supernet never reported epoch {epoch}")


def test_one_shot_run_resumes_after_sigkill_without_losing_an_epoch(tmp_path):
    space = write_space(tmp_path, TINY_SPACE + ONE_SHOT + "\n", scheduler="scheduler: {name: none, max_epochs: 2}")
    out = tmp_path / "study"
    log = open(tmp_path / "first_run.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "sksearch", "run", str(space), "--out", str(out)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    result_json = out / "supernet" / "supernet" / "result.json"
    before = _wait_for_epoch(result_json, 1, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = (tmp_path / "first_run.log").read_text()
    assert "supernet epoch 1/3: largest" in first and "smallest" in first  # the progress lines

    again = run_cli("resume", str(out))
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "resuming the supernet's training" in again.stdout
    reports = _results(result_json)
    seen = {}
    for r in reports:  # an epoch reported twice was trained twice: the same metrics, or a lost epoch
        key = (r["accuracy"], r["accuracy_smallest"], r["train_time"])
        assert seen.setdefault(r["epoch"], key) == key, f"epoch {r['epoch']} was trained again"
    assert sorted(seen) == [1, 2, 3]
    assert all(seen[r["epoch"]] == (r["accuracy"], r["accuracy_smallest"], r["train_time"]) for r in before)
    # Both ends of the space have a curve.
    assert all(0 <= r["accuracy_smallest"] <= 1 and r["params_smallest"] < r["params"] for r in reports)

    storage = f"sqlite:///{out / 'optuna.db'}"
    subnets = optuna.load_study(study_name=one_shot_study("tiny"), storage=storage).trials
    assert len(subnets) == 6 and all(t.state.is_finished() for t in subnets)
    df = pd.read_csv(out / "trials.csv")
    confirmed = df[df.trial_id >= 0]
    assert len(confirmed) == 2 and set(confirmed.status) == {"completed"}
    # The confirmed subnets are the one-shot study's, trained with the supernet's recipe.
    one_shot_archs = [{k: v for k, v in t.params.items()} for t in subnets if t.state.name == "COMPLETE"]
    main = optuna.load_study(study_name="tiny", storage=storage)
    for t in main.trials:
        arch = {k: v for k, v in t.params.items() if k != "lr"}
        assert arch in one_shot_archs
        assert abs(t.params["lr"] - (0.01 * 0.3) ** 0.5) < 1e-9  # the log-range's centre, as the supernet's
