"""A real small search on an IDX set whose test files cannot be read: the search never reads
them, and `sksearch evaluate` / `sksearch train` do (and report val and test apart)."""

import json

import numpy as np
import pandas as pd
import pytest

from sksearch.data.idx import LABELS_MAGIC, write_idx, write_idx_set
from tests.conftest import run_cli, write_space

# conftest's tiny space on Fashion-MNIST-shaped IDX files: two one-epoch trials, no early stopping.
IDX_LINES = {"train": "train: {batch_size: 32, lr: {float: [0.05, 0.2], log: true}, warmup_epochs: 0}",
             "scheduler": "scheduler: {name: none, max_epochs: 1}", "trials": "trials: 2"}


def learnable(n, rng):
    """Images whose class is a bright 7x7 block in one of ten places: a tiny net learns it."""
    y = np.arange(n) % 10
    x = rng.integers(0, 40, (n, 28, 28), dtype=np.uint8)
    for i, c in enumerate(y):
        r, k = divmod(int(c), 5)
        x[i, 2 + 12 * r:9 + 12 * r, 1 + 5 * k:6 + 5 * k] = 250
    return x, y


@pytest.fixture(scope="module")
def poisoned_study(tmp_path_factory):
    """A study of two trials on a set whose test images file has a wrong magic number and whose
    test labels are truncated: any read of the test split fails with a UserError (exit 2)."""
    root = tmp_path_factory.mktemp("idx")
    rng = np.random.default_rng(0)
    data = root / "data"
    write_idx_set(str(data), learnable(600, rng), learnable(100, rng))
    test_x, test_y = learnable(100, rng)
    write_idx(str(data / "t10k-images-idx3-ubyte.gz"), test_x, magic=LABELS_MAGIC)
    write_idx(str(data / "t10k-labels-idx1-ubyte.gz"), test_y, truncate=10)
    space = write_space(root, data=f"data: {{name: fashion_mnist, root: {data}, val_size: 100, seed: 0}}", **IDX_LINES)
    out = root / "study"
    proc = run_cli("run", str(space), "--out", str(out))
    return out, data, proc


def test_the_search_never_reads_the_test_split(poisoned_study):
    out, data, proc = poisoned_study
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    table = pd.read_csv(out / "trials.csv")
    assert (table.status == "completed").sum() == 2 and table.accuracy.notna().all()
    recorded = json.loads((out / "data.json").read_text())["data_spec"]
    assert recorded["val_split"] == "holdout" and recorded["val_size"] == 100
    # Reading the test split is what fails: the files are poisoned, not missing.
    trial = int(table.trial_id.iloc[0])
    poisoned = run_cli("evaluate", f"{out}:{trial}", "--split", "test")
    assert poisoned.returncode == 2 and "Traceback" not in poisoned.stderr
    assert "t10k-images-idx3-ubyte.gz: not an IDX images file" in poisoned.stderr


def test_evaluate_and_train_report_val_and_test(poisoned_study, tmp_path):
    out, data, _ = poisoned_study
    table = pd.read_csv(out / "trials.csv")
    best = table.sort_values("accuracy").iloc[-1]
    val = run_cli("evaluate", f"{out}:{int(best.trial_id)}", "--split", "val", "--json")
    assert val.returncode == 0, val.stderr
    result = json.loads(val.stdout)
    assert set(result) == {"split", "accuracy", "loss", "samples"} and result["split"] == "val"
    assert result["samples"] == 100 and abs(result["accuracy"] - best.accuracy) < 1e-6  # the val the search ranked on

    # Mend the test split, then train the export further: val and test are reported apart.
    rng = np.random.default_rng(1)
    tx, ty = learnable(100, rng)
    write_idx(str(data / "t10k-images-idx3-ubyte.gz"), tx)
    write_idx(str(data / "t10k-labels-idx1-ubyte.gz"), ty)
    export = tmp_path / "export"
    assert run_cli("export", str(out), "--trial", str(int(best.trial_id)), "--to", str(export)).returncode == 0
    readme = (export / "README.md").read_text()
    assert f"| val accuracy | {round(best.accuracy, 4)} |" in readme and "| test accuracy | not measured" in readme
    test = run_cli("evaluate", str(export), "--json")
    assert test.returncode == 0, test.stderr
    measured = json.loads(test.stdout)
    assert measured["split"] == "test" and measured["samples"] == 100 and 0 <= measured["accuracy"] <= 1

    trained = tmp_path / "trained"
    proc = run_cli("train", str(export), "--epochs", "2", "--out", str(trained), "--log-test")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    state = json.loads((trained / "train.json").read_text())["metrics"]
    assert state["test_samples"] == 100 and 0 <= state["test_accuracy"] <= 1 and 0 <= state["accuracy"] <= 1
    assert f"test accuracy {state['test_accuracy']:.2%}" in proc.stdout
    log = pd.read_csv(trained / "train_log.csv")
    assert log.epoch.tolist() == [1, 2] and log.test_accuracy.iloc[-1] == pytest.approx(state["test_accuracy"])
    readme = (trained / "README.md").read_text()
    assert f"| val accuracy | {round(state['accuracy'], 4)} |" in readme
    assert f"| test accuracy | {round(state['test_accuracy'], 4)} |" in readme
    again = json.loads(run_cli("evaluate", str(trained), "--json").stdout)
    assert again["accuracy"] == pytest.approx(state["test_accuracy"])
    assert again["loss"] == pytest.approx(state["test_loss"])


def test_evaluate_refuses_bad_requests(poisoned_study, tmp_path):
    out, _, _ = poisoned_study
    bad = run_cli("evaluate", f"{out}:1", "--split", "train")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    missing = run_cli("evaluate", f"{out}:999")
    assert missing.returncode == 2 and "no such trial" in missing.stderr
