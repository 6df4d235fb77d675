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
            pytest.fail(f"sksearch train ended (exit {proc.returncode}) before epoch {n}:\n"
                        f"{proc.stdout.read()[-3000:]}")
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail(f"sksearch train logged fewer than {n} epochs in {deadline_s:.0f} s")


# Slow (45-240 s on 2 cores): the engine's resume is checked bit for bit in tests/train/test_engine.py,
# and a kill while a checkpoint is written in the default suite below.
@pytest.mark.slow
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
    assert (f"resuming after epoch {done_before}" in again.stdout
            or f"resuming after epoch {done_before - 1}" in again.stdout)
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
    assert main(["train", str(export), "--epochs", "1", "--out", str(tmp_path / "a"),
                 "--set", "train.max_epochs=3"]) == 2
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


def _digests(folder):
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()}


def test_an_out_that_resolves_to_the_source_or_into_it_is_refused(export, tmp_path, capsys):
    before = _digests(export)
    link = tmp_path / "o1_link"
    link.symlink_to(export)
    assert main(["train", str(export), "--epochs", "1", "--out", str(link)]) == 2
    err = capsys.readouterr().err
    assert "is the folder being trained (it resolves to" in err and "Traceback" not in err
    assert main(["train", str(export), "--epochs", "1", "--out", str(export / "again")]) == 2
    assert "inside the folder being trained" in capsys.readouterr().err
    assert _digests(export) == before and not (export / "again").exists()


def test_a_kill_while_a_checkpoint_is_written_never_blocks_the_resume(export, tmp_path, monkeypatch, capsys):
    """Killed while epoch 2's state.pt is being written (here: a save that stops half way), then
    run again: it resumes after epoch 1. A checkpoint that does not load is skipped, with a word."""
    import shutil

    out = tmp_path / "trained"
    args = ["train", str(export), "--epochs", "3", "--out", str(out)]
    real_save, calls = torch.save, []

    def dies_on_the_second_save(obj, path, *a, **kw):
        calls.append(path)
        if len(calls) == 2:
            open(path, "wb").close()  # the 0-byte state.pt a SIGKILL leaves
            raise KeyboardInterrupt
        return real_save(obj, path, *a, **kw)

    monkeypatch.setattr(torch, "save", dies_on_the_second_save)
    assert main(args) == 130
    monkeypatch.setattr(torch, "save", real_save)
    assert sorted(p.name for p in (out / "checkpoints").iterdir() if not p.name.startswith(".tmp-")) == ["epoch_0001"]
    # A checkpoint cut short in place, as a full disk or a truncated copy leaves one.
    shutil.copytree(out / "checkpoints" / "epoch_0001", out / "checkpoints" / "epoch_0002")
    (out / "checkpoints" / "epoch_0002" / "state.pt").write_bytes(b"")
    capsys.readouterr()
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "epoch_0002: skipped, it does not load" in proc.stdout and "resuming after epoch 1" in proc.stdout
    assert pd.read_csv(out / "train_log.csv").epoch.tolist() == [1, 2, 3]
    assert json.loads((out / "train.json").read_text())["finished"] and not (out / "checkpoints").exists()


def _tree(folder):
    """Every file under ``folder`` with its checksum: what a second training must leave alone."""
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_one_training_per_out_folder_at_a_time(tmp_path):
    """A second identical ``train`` into the folder a first one is writing is refused (exit 2,
    one line naming the folder and the first's pid) and writes nothing; the first finishes
    intact. Without the lock the second resumed from the first's checkpoints and both wrote
    the same files (or it died on a checkpoint the first had pruned)."""
    from tests.conftest import tiny_spec

    spec = tmp_path / "spec.json"
    spec.write_text(tiny_spec(num_classes=10, in_channels=1, input_size=12).to_json())
    out = tmp_path / "trained"
    cmd = [sys.executable, "-m", "sksearch", "train", str(spec), "--data", "digits", "--epochs", "3", "--out", str(out),
           "--set", "data.canvas=12", "--set", "data.train_size=400", "--set", "data.val_size=200",
           "--set", "data.max_scale=1.5"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_for_epochs(out, 1, first, deadline_s=300)
        # Stopped, the first holds its lock and writes nothing while the second one tries: the
        # outcome does not hang on how long an epoch takes on a loaded machine.
        os.killpg(first.pid, signal.SIGSTOP)
        try:
            before = _tree(out)
            second = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            after = _tree(out)
        finally:
            os.killpg(first.pid, signal.SIGCONT)
        assert second.returncode == 2, second.stdout[-3000:] + second.stderr[-3000:]
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and str(out) in lines[0] and f"(pid {first.pid})" in lines[0], second.stderr
        assert second.stdout == "" and after == before
        output, _ = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    assert first.returncode == 0, output[-3000:]
    assert pd.read_csv(out / "train_log.csv").epoch.tolist() == [1, 2, 3]
    state = json.loads((out / "train.json").read_text())
    assert state["finished"] and state["epochs_done"] == 3 and not (out / "checkpoints").exists()
    assert sksearch.load_model(str(out))(torch.randn(2, 1, 12, 12)).shape == (2, 10)
    assert output.count("epoch 2/3") == 1 and "resuming" not in output


def test_a_training_refused_after_taking_the_lock_leaves_the_folder_as_it_was(tmp_path, capsys):
    """The lock is taken before the data is read; a refusal then (the data does not fit the
    network) removes the folder it made, or the lock file it made in a folder that was there."""
    from tests.conftest import tiny_spec

    spec = tmp_path / "spec.json"
    spec.write_text(tiny_spec(num_classes=3, in_channels=1, input_size=12).to_json())  # digits have 10 classes
    args = ["train", str(spec), "--data", "digits", "--epochs", "1", "--set", "data.canvas=12",
            "--set", "data.max_scale=1.5", "--set", "data.train_size=100", "--set", "data.val_size=50"]
    assert main([*args, "--out", str(tmp_path / "new")]) == 2
    assert "3 classes" in capsys.readouterr().err and not (tmp_path / "new").exists()
    (tmp_path / "empty").mkdir()
    assert main([*args, "--out", str(tmp_path / "empty")]) == 2
    assert list((tmp_path / "empty").iterdir()) == []


def test_a_training_that_diverges_is_one_line_and_leaves_no_folder_it_made(tmp_path, monkeypatch):
    """A diverging `sksearch train` (issue 35) was a TrialDiverged traceback and a half-made
    --out; now one line, and the folder it made before its first epoch is gone."""
    import sksearch
    import sksearch.api
    from sksearch.errors import UserError
    from sksearch.train import loop
    from tests.conftest import tiny_spec

    export = sksearch.api.export_untrained(tiny_spec(num_classes=10, in_channels=1, input_size=24).to_dict(),
                                           str(tmp_path / "export"))

    def diverging(*args, **kwargs):
        raise loop.TrialDiverged("training loss is nan at epoch 1")

    monkeypatch.setattr(loop, "run_trial", diverging)
    out = tmp_path / "trained"
    with pytest.raises(UserError, match=r"the training diverged \(training loss is nan at epoch 1\); lower the peak "
                                        r"lr .*nothing was written"):
        sksearch.train(export, 1, str(out), data="digits", overrides={"data.train_size": 100, "data.val_size": 50})
    assert not out.exists()
