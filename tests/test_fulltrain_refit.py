"""``sksearch train --refit``: the final training on train + val, val never read, the test
split read once at the end, and the export saying so (issue 29 item 3)."""

from __future__ import annotations

import csv
import json

import pytest

import sksearch
from sksearch.cli import main
from sksearch.errors import UserError
from sksearch.fulltrain import plan
from tests.conftest import tiny_spec

DATA = {"data.train_size": 120, "data.val_size": 60, "data.canvas": 12, "data.max_scale": 1.5}


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(tiny_spec(num_classes=10, in_channels=1, input_size=12).to_dict()))
    return str(path)


def test_a_refit_trains_on_train_plus_val_and_the_export_records_it(spec_file, tmp_path, capsys):
    out = tmp_path / "refit"
    args = ["train", spec_file, "--epochs", "1", "--out", str(out), "--data", "digits", "--refit", "--device", "cpu"]
    for key, value in {**DATA, "train.batch_size": 30, "train.ema": 0.9, "train.tta": "on",
                       "data.augment": "crop"}.items():  # crop: TTA has shifted views to average
        args += ["--set", f"{key}={value}"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "refit: no val" in printed and "val accuracy: none (refit: no val)" in printed
    record = json.loads((out / "train.json").read_text())
    assert record["refit"] == {"images": 180, "splits": ["train", "val"]}  # 120 + 60
    assert record["job"]["refit"] is True
    assert record["metrics"]["accuracy"] is None and record["metrics"]["test_samples"] == 60
    assert 0 <= record["metrics"]["test_accuracy"] <= 1
    readme = (out / "README.md").read_text()
    assert "Refit (`sksearch train --refit`): trained on train + val, 180 images" in readme
    assert "| val accuracy | none (refit: no val) |" in readme and "| training images | 180 (train + val) |" in readme
    assert "exponential moving average" in readme  # train.ema: the export says its weights are averaged
    # sksearch evaluate reads the averaged weights with the recorded TTA: the recorded test figure again.
    from sksearch.evaluate import evaluate_target

    again = evaluate_target(str(out), "test")
    assert again["accuracy"] == pytest.approx(record["metrics"]["test_accuracy"])
    # Normalised as the refit trained: with train + val's mean and std (preprocess.json), not the
    # mean and std of the train split alone that loading the recorded data gives (the loss was
    # 2e-4 off, and on Fashion-MNIST 4 of 10,000 test images changed class); within
    # channels_last's rounding.
    assert again["loss"] == pytest.approx(record["metrics"]["test_loss"], rel=1e-5)
    with open(out / "train_log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["accuracy"] == "" and float(rows[0]["train_loss"]) > 0
    # 180 images in batches of 30: 6 steps; without --refit 120 images are 4 (the lr trace shows the steps).
    plain = tmp_path / "plain"
    sksearch.train(spec_file, 1, str(plain), data="digits", overrides={**DATA, "train.batch_size": 30},
                   device="cpu")
    plain_record = json.loads((plain / "train.json").read_text())
    assert "refit" not in plain_record and plain_record["metrics"]["accuracy"] is not None


def test_the_api_refit_and_steps_count_the_val_images(spec_file, tmp_path, monkeypatch):
    seen = []
    import importlib

    loop = importlib.import_module("sksearch.train.loop")  # sksearch.train is the API's function

    real = loop.run_trial

    def spy(arch, train, batches, *a, **kw):
        seen.append((batches.train_size, kw.get("validate")))
        return real(arch, train, batches, *a, **kw)

    monkeypatch.setattr(loop, "run_trial", spy)
    sksearch.train(spec_file, 1, str(tmp_path / "r"), data="digits", overrides=DATA, device="cpu", refit=True)
    assert seen == [(180, False)]


def test_a_refit_whose_val_is_the_test_split_is_refused(spec_file):
    with pytest.raises(UserError, match="--refit: cifar10's val is its test split"):
        plan(spec_file, 1, data="cifar10", overrides={"data.val_split": "test"}, refit=True)
