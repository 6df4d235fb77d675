"""A real tiny search with the recipe keys of issue 29 (weight averaging, one-cycle, TTA and
random erasing): trials train and report at every rung, and an export says its weights are
averaged."""

from __future__ import annotations

import pandas as pd
import yaml

from tests.conftest import TINY_SPACE, run_cli


def test_a_search_with_ema_onecycle_tta_and_erasing_runs_end_to_end(tmp_path):
    raw = yaml.safe_load(TINY_SPACE)
    raw["name"] = "recipe"
    raw["trials"] = 3
    raw["train"].update(ema={"choice": [0.9, 0.99]}, ema_every=2, schedule="onecycle", tta="on")
    raw["data"].update(erase=0.5, erase_min=0.05, erase_max=0.3)
    space = tmp_path / "recipe.yaml"
    space.write_text(yaml.safe_dump(raw))
    out = tmp_path / "study"
    proc = run_cli("run", str(space), "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    df = pd.read_csv(out / "trials.csv")
    assert len(df) == 3 and set(df.status) <= {"completed", "stopped_early"}, df.status  # by ASHA at a rung
    assert df.accuracy.between(0, 1).all() and (df.epochs >= 1).all()
    assert set(df["ema"]) <= {0.9, 0.99}
    done = df[df.status == "completed"]
    trial = str(int(done.trial_id.iloc[0]))
    proc = run_cli("export", str(out), "--trial", trial, "--to", str(tmp_path / "x"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    readme = (tmp_path / "x" / "README.md").read_text()
    assert "exponential moving average" in readme and "test-time augmentation" in readme
    recipe = yaml.safe_load((tmp_path / "x" / "train.json").read_text())
    assert recipe["train"]["schedule"] == "onecycle" and recipe["data"]["erase"] == 0.5
