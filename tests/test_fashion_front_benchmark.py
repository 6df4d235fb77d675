"""benchmarks/fashion_front.py --quick: its six phases on real Fashion-MNIST (2 trials of one
epoch), so that the script the long runs depend on cannot rot. Slow (about 2 minutes): the
suite's default run leaves it out, `pytest -m slow` runs it."""

import json
import os
import subprocess
import sys

import pytest

from sksearch.data.idx import DEBIAN_FASHION_ROOT, FILE_NAMES

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not all(os.path.exists(os.path.join(DEBIAN_FASHION_ROOT, f)) for f in FILE_NAMES),
    reason="needs `apt-get install dataset-fashion-mnist`")]


def run(out, *args):
    proc = subprocess.run([sys.executable, "benchmarks/fashion_front.py", "--out", str(out), "--quick", *args],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_the_fashion_front_pipeline_runs_ships_and_resumes(tmp_path):
    out = tmp_path / "ff"
    first = run(out)
    phases = json.loads((out / "phases.json").read_text())
    assert [p for p, v in phases.items() if v["done"]] == ["search", "confirm", "train", "twins", "ship"]
    winners = json.loads((out / "winners.json").read_text())
    trained = [name for name, row in winners.items() if row is not None]
    assert trained, winners
    for name in trained:
        record = json.loads((out / name / "trained" / "seed_0.json").read_text())
        train_json = json.loads((out / name / "trained" / "seed_0" / "train.json").read_text())
        # the evaluation after training gives the training's own test figure (a refit's normalisation)
        assert record["test"]["accuracy"] == train_json["metrics"]["test_accuracy"]
        assert record["refit"] is True and train_json["refit"]["splits"] == ["train", "val"]
        twin = json.loads((out / name / "twin" / "spec.json").read_text())
        winner = json.loads((out / name / "trained" / "seed_0" / "spec.json").read_text())
        assert len(twin["sk"]["branches"]) != len(winner["sk"]["branches"])
        assert abs(json.loads((out / name / "twin" / "seed_0.json").read_text())["params"] - record["params"]) \
            < 0.05 * record["params"]  # the twin at the winner's params
        shipped = list((out / "shipped").glob(f"{name}_*k"))
        assert len(shipped) == 1 and (shipped[0] / "weights.safetensors").exists()
        assert json.loads((shipped[0] / "seeds.json").read_text())["shipped_seed"] == 0
        assert not (shipped[0] / ".sksearch.lock").exists()  # a training's lock is not shipped
        readme = (shipped[0] / "README.md").read_text()
        assert "## Shipped by `benchmarks/fashion_front.py`" in readme and f"| {record['params']:,} | " in readme
        assert "The M=2 net less the M=1 net, seed by seed (seeds 0): " in readme
        assert f"| [`{shipped[0].name}`]({shipped[0].name}/) |" in (out / "shipped" / "README.md").read_text()
    assert "| winner |" in first and "| twin |" in first and "TOY RUN" in first
    # one seed each in a toy run: the paired answer is there, with no verdict on one pair
    assert "Does SK pay?" in first and "one seed: no verdict" in first
    answers = json.loads((out / "results.json").read_text())["sk_paired"]
    assert {name for name, a in answers.items() if a} == set(trained)
    again = run(out)  # everything done: each phase skipped, nothing trained again; ship redone (seconds)
    assert again.count("done before") == 4 and "$ sksearch run" not in again and "seed 0:" not in again
    assert again.count("shipped ") == len(trained)
    # a winner with a seed still to train is not shipped, and what was shipped stays as it was
    before = {p: p.read_bytes() for p in (out / "shipped").rglob("*") if p.is_file()}
    partial = run(out, "--phase", "ship", "--seeds", "0", "1")
    assert partial.count("not shipped, seeds 1 still to train") == len(trained) and "shipped " not in partial
    assert {p: p.read_bytes() for p in (out / "shipped").rglob("*") if p.is_file()} == before
    assert json.loads((out / "phases.json").read_text()).keys() == phases.keys()
