"""The README's first command, the real quickstart search (slow: about 2 minutes on 2 cores;
run with `python -m pytest -m slow`)."""

import pandas as pd
import pytest

from tests.conftest import run_cli


@pytest.mark.slow
def test_the_quickstart_search_finds_small_accurate_models(tmp_path):
    out = tmp_path / "quickstart"
    proc = run_cli("run", "search_spaces/quickstart.yaml", "--out", str(out), timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    df = pd.read_csv(out / "trials.csv")
    assert (df.status == "stopped_early").any() and not (df.status == "failed").any()
    done = df[df.status == "completed"]
    # The space file's promise: 75%+ accuracy from well under 100K parameters (82.9% from 60.7K
    # in the run the README shows; the cluttered digits are not the first round's 98%).
    assert ((done.accuracy >= 0.75) & (done.params < 100_000)).any(), done[["accuracy", "params"]]
    assert "Pareto front over accuracy, params" in proc.stdout and (out / "report.html").exists()
