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


def test_train_continues_further_survives_sigkill_and_resumes(export, tmp_path):
    out = tmp_path / "trained"
    # Larger digits make epochs long enough to kill the run in the middle.
    cmd = [sys.executable, "-m", "sksearch", "train", str(export), "--epochs", "6", "--out", str(out),
           "--set", "data.train_size=30000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline:
        log = out / "train_log.csv"
        if log.exists() and len(pd.read_csv(log)) >= 2:
            break
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "weights.safetensors").exists()  # not finished
    done_before = len(pd.read_csv(out / "train_log.csv"))
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
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
