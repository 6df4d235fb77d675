"""``sksearch train``: a trial's export trained further with its own recipe, surviving a SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

import sksearch
from sksearch.cli import main
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def export(finished_study, tmp_path_factory):
    study, _ = finished_study
    table = pd.read_csv(study / "trials.csv")
    trial = int(table[table.status == "completed"].trial_id.iloc[0])
    out = tmp_path_factory.mktemp("exported") / "trial"
    assert main(["export", str(study), "--trial", str(trial), "--to", str(out)]) == 0
    return out


def test_an_export_carries_its_recipe(export, finished_study):
    recipe = json.loads((export / "train.json").read_text())
    params = json.loads(next((finished_study[0] / "ray").glob("trial_*/params.json")).read_text())
    assert set(recipe["train"]) == set(params["train"]) and recipe["epochs"] == 2
    assert recipe["data"]["name"] == "digits" and recipe["data"]["canvas"] == 12
    readme = (export / "README.md").read_text()
    assert "sksearch train path/to/this/folder --epochs" in readme and f"lr={recipe['train']['lr']:g}" in readme


def wait_for_epochs(out, n: int, proc: subprocess.Popen, deadline_s: float = 1800) -> None:
    """Until ``train_log.csv`` lists ``n`` epochs (an event, not a time: a slow machine only takes
    longer); a clear failure if the run ends first or never gets there."""
    log, deadline = out / "train_log.csv", time.time() + deadline_s
    while time.time() < deadline:
        if log.exists() and len(pd.read_csv(log)) >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"sksearch train ended (exit {proc.returncode}) before epoch {n}:\n{proc.stdout.read()[-3000:]}")
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail(f"sksearch train logged fewer than {n} epochs in {deadline_s:.0f} s")


def test_train_continues_further_survives_sigkill_and_resumes(export, tmp_path):
    out = tmp_path / "trained"
    # Larger digits make epochs long enough to kill the run in the middle.
    cmd = [sys.executable, "-m", "sksearch", "train", str(export), "--epochs", "6", "--out", str(out),
           "--set", "data.train_size=30000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    wait_for_epochs(out, 2, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "weights.safetensors").exists()  # not finished
    done_before = len(pd.read_csv(out / "train_log.csv"))
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"resuming after epoch {done_before}" in again.stdout or f"resuming after epoch {done_before - 1}" in again.stdout
    log = pd.read_csv(out / "train_log.csv")
    assert log.epoch.tolist() == [1, 2, 3, 4, 5, 6]  # each epoch once, a re-trained one replaced
    state = json.loads((out / "train.json").read_text())
    assert state["finished"] and state["epochs_done"] == 6 > json.loads((export / "train.json").read_text())["epochs"]
    assert not (out / "checkpoints").exists()
    net = sksearch.load_model(str(out))
    trained, original = load_file(out / "weights.safetensors"), load_file(export / "weights.safetensors")
    assert set(trained) == set(original) and any(not torch.equal(trained[k], original[k]) for k in trained)
    x = torch.randn(2, 1, 12, 12)
    assert net(x).shape == (2, 10)
    finished = run_cli("train", str(export), "--epochs", "6", "--out", str(out), "--set", "data.train_size=30000")
    assert finished.returncode == 0 and "already finished" in finished.stdout


def test_bad_train_requests(export, tmp_path):
    assert main(["train", "sknet51", "--epochs", "1", "--out", str(tmp_path / "a")]) == 2
    assert main(["train", "resnext29_16x32d", "--epochs", "1", "--out", str(tmp_path / "a")]) == 2  # no data named
    assert main(["train", str(export), "--epochs", "1", "--out", str(export)]) == 2
    assert main(["train", str(export), "--epochs", "1", "--out", str(tmp_path / "a"), "--set", "train.max_epochs=3"]) == 2
    assert main(["train", str(export), "--epochs", "1", "--out", str(tmp_path / "a"), "--set", "train.lr=-1"]) == 2
    assert main(["train", str(export), "--epochs", "1", "--out", str(tmp_path / "a"), "--set", "data.colour=1"]) == 2
    assert not (tmp_path / "a").exists()
    assert main(["train", str(export), "--epochs", "1", "--out", str(tmp_path / "b")]) == 0
    # Another job in the same folder is refused, not mixed with the first.
    assert main(["train", str(export), "--epochs", "2", "--out", str(tmp_path / "b"), "--from-scratch"]) == 2


def test_training_on_from_weights_keeps_what_the_trial_learnt(export, tmp_path):
    """The trial's schedule ended near lr 0: training on starts at a tenth of its peak, not the
    peak itself (which took the quickstart's best trial from 82.9% to 42.9% in one epoch)."""
    recipe = json.loads((export / "train.json").read_text())
    peak = recipe["train"]["lr"]
    out = tmp_path / "on"
    assert main(["train", str(export), "--epochs", "2", "--out", str(out)]) == 0
    log = pd.read_csv(out / "train_log.csv")
    assert log.lr.max() <= peak * 0.1 + 1e-12
    trained = json.loads((out / "train.json").read_text())
    assert trained["train"]["lr"] == pytest.approx(peak * 0.1) and trained["cpus"] == 1
    exported = float(next(line for line in (export / "README.md").read_text().splitlines()
                          if line.startswith(("| accuracy", "| val accuracy"))).split("|")[2])
    # 200 validation images: a point is two images.
    assert log.accuracy.iloc[0] >= exported - 0.03, (log.accuracy.tolist(), exported)
    # Named explicitly, the peak is the user's; from scratch, the recipe's own.
    named = tmp_path / "named"
    assert main(["train", str(export), "--epochs", "1", "--out", str(named), "--set", "train.lr=0.2"]) == 0
    assert json.loads((named / "train.json").read_text())["train"]["lr"] == 0.2
    scratch = tmp_path / "scratch"
    assert main(["train", str(export), "--epochs", "1", "--out", str(scratch), "--from-scratch", "--threads", "2"]) == 0
    state = json.loads((scratch / "train.json").read_text())
    assert state["train"]["lr"] == pytest.approx(peak) and state["cpus"] == 2
