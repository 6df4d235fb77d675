"""Experiment trackers, read back with their own libraries: one search logs every trial to
TensorBoard, MLflow and W&B (offline), and each holds what the trials reported. A tracker whose
package is not installed is skipped with the reason (``pip install -e ".[trackers]"``)."""

import glob
import importlib.util
import json
import os

import pandas as pd
import pytest

from tests.conftest import write_space

INSTALLED = [name for name in ("tensorboard", "mlflow", "wandb") if importlib.util.find_spec(name)]


def need(name):
    return pytest.mark.skipif(name not in INSTALLED, reason=f"{name} is not installed (pip install -e \".[trackers]\")")


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    import subprocess
    import sys

    if not INSTALLED:
        pytest.skip("no tracker is installed")
    root = tmp_path_factory.mktemp("tracked")
    space = write_space(root, trials="trials: 3")
    out = root / "study"
    # wandb's staging folders go where TMPDIR says (its Ray workers never remove them); Ray's own
    # session folder stays where it was (its socket paths must stay short).
    import tempfile

    (root / "tmp").mkdir()
    env = {**os.environ, "WANDB_MODE": "offline", "TMPDIR": str(root / "tmp"),
           "RAY_TMPDIR": os.environ.get("RAY_TMPDIR", tempfile.gettempdir())}
    env.pop("MLFLOW_TRACKING_URI", None)
    args = [a for name in INSTALLED for a in ("--logger", name)]
    proc = subprocess.run([sys.executable, "-m", "sksearch", "run", str(space), "--out", str(out), *args],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = pd.read_csv(out / "trials.csv")
    curves = pd.read_parquet(out / "curves.parquet")
    return out, table, curves


def expected(curves, trial_id):
    rows = curves[curves.trial_id == trial_id]
    return dict(zip(rows.epoch, rows.accuracy))


@need("tensorboard")
def test_tensorboard_event_files_hold_each_trials_scalars_and_hparams(tracked):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, table, curves = tracked
    runs = sorted(os.listdir(out / "tensorboard"))
    assert runs == [f"trial_{t:04d}" for t in table.trial_id]
    for t in table.trial_id:
        acc = EventAccumulator(str(out / "tensorboard" / f"trial_{t:04d}")).Reload()
        got = {e.step: e.value for e in acc.Scalars("accuracy")}
        assert got == pytest.approx(expected(curves, t))
        assert {"loss", "train_loss", "lr"} <= set(acc.Tags()["scalars"])
        assert any(k.startswith("_hparams_") for k in acc.summary_metadata)  # the configuration as hparams


@need("mlflow")
def test_mlflow_holds_one_run_per_trial_with_its_metrics(tracked):
    from mlflow.tracking import MlflowClient

    out, table, curves = tracked
    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert sorted(runs) == [f"trial_{t:04d}" for t in table.trial_id]
    for row in table.itertuples():
        run = runs[f"trial_{row.trial_id:04d}"]
        history = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "accuracy")}
        assert history == pytest.approx(expected(curves, row.trial_id))
        assert run.data.tags["status"] == row.status and float(run.data.params["lr"]) == pytest.approx(row.lr)
        assert int(run.data.params["params"]) == row.params


def wandb_records(path):
    """The protobuf records of a W&B run file: a LevelDB-style log (":W&B" header, 32 KB blocks
    of records each with a 7-byte header). wandb 0.31 reads it in Go only."""
    import struct

    from wandb.proto import wandb_internal_pb2

    data = open(path, "rb").read()
    assert data[:4] == b":W&B"
    pos, payload = 7, b""
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a header is padding
            pos += 32768 - pos % 32768
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if length == kind == 0:
            break
        payload += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(payload)
            payload = b""
            yield record


@need("wandb")
def test_wandb_offline_runs_hold_the_history(tracked):
    out, table, curves = tracked
    folders = sorted(glob.glob(str(out / "wandb" / "offline-run-*")))
    assert len(folders) == len(table)
    by_trial = {}
    for folder in folders:
        history, name = {}, None
        for record in wandb_records(glob.glob(os.path.join(folder, "*.wandb"))[0]):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                name = record.run.display_name
            elif kind == "history":
                items = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item}
                if "accuracy" in items:
                    history[items["epoch"]] = items["accuracy"]
        by_trial[name] = history
    for t in table.trial_id:
        assert by_trial[f"trial_{t:04d}"] == pytest.approx(expected(curves, t))


def test_a_missing_tracker_or_key_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    from sksearch.cli import main

    space = write_space(tmp_path)
    assert main(["run", str(space), "--out", str(tmp_path / "o"), "--logger", "neptune"]) == 2
    if "wandb" in INSTALLED:
        monkeypatch.delenv("WANDB_API_KEY", raising=False)
        monkeypatch.setenv("WANDB_MODE", "online")
        monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
        assert main(["run", str(space), "--out", str(tmp_path / "o"), "--logger", "wandb"]) == 2
    assert not (tmp_path / "o").exists()


@need("mlflow")
@pytest.mark.parametrize("uri,words", [("sqlite:////proc/nonexistent/m.db", "No such file or directory"),
                                       ("http://127.0.0.1:1", "127.0.0.1")])
def test_an_mlflow_store_that_cannot_be_reached_is_refused_before_the_first_trial(tmp_path, uri, words):
    import subprocess
    import sys
    import time

    space = write_space(tmp_path)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "sksearch", "run", str(space), "--out", str(tmp_path / "o"),
                           "--logger", "mlflow"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MLFLOW_TRACKING_URI": uri})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert f"loggers: mlflow cannot reach MLFLOW_TRACKING_URI={uri}" in proc.stderr and words in proc.stderr
    assert time.monotonic() - start < 60 and not (tmp_path / "o").exists()
