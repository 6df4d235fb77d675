"""results/fashion_mnist/: each shipped winner is an export a user can load, its figures agree with
each other, and (slow: a pass over the 10,000 test images each) `sksearch evaluate NAME --split
test` gives the test accuracy its seed recorded."""

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

import sksearch
from sksearch.data.idx import DEBIAN_FASHION_ROOT, FILE_NAMES
from sksearch.model.cost import params_and_macs
from sksearch.model.spec import ArchSpec

SHIPPED = sorted(p for p in (Path(__file__).resolve().parents[1] / "results" / "fashion_mnist").glob("*")
                 if p.is_dir())
HAS_FASHION = all(os.path.exists(os.path.join(DEBIAN_FASHION_ROOT, f)) for f in FILE_NAMES)


def test_there_are_shipped_winners_and_an_index_of_them():
    assert {p.name.split("_")[1] for p in SHIPPED} >= {"100k", "300k"}, SHIPPED
    index = (SHIPPED[0].parent / "README.md").read_text()
    for folder in SHIPPED:
        mean = statistics.mean(r["test"]["accuracy"] for r in json.loads((folder / "seeds.json").read_text())["seeds"])
        assert f"| [`{folder.name}`]({folder.name}/) |" in index and f"{100 * mean:.2f}%" in index


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda p: p.name)
def test_a_shipped_winner_loads_and_its_figures_agree(folder):
    seeds = json.loads((folder / "seeds.json").read_text())
    records = seeds["seeds"]
    assert len(records) == 3 and len({r["seed"] for r in records}) == 3
    net = sksearch.load_model(str(folder))
    params = sum(p.numel() for p in net.parameters())
    cap = 1000 * int(folder.name.split("_")[1].rstrip("k"))
    spec = ArchSpec.from_dict(json.loads((folder / "spec.json").read_text()))
    assert params == params_and_macs(spec)[0] == seeds["trial"]["params"] < cap
    assert all(r["params"] == params for r in records)
    assert round(params / 1000) == int(folder.name.rsplit("_", 1)[1].rstrip("k"))
    tests = sorted(r["test"]["accuracy"] for r in records)
    shipped = next(r for r in records if r["seed"] == seeds["shipped_seed"])
    assert shipped["test"]["accuracy"] == statistics.median(tests)  # the median seed is the one shipped
    train = json.loads((folder / "train.json").read_text())
    assert train["metrics"]["test_accuracy"] == shipped["test"]["accuracy"]
    assert train["refit"]["splits"] == ["train", "val"] and train["epochs_done"] == records[0]["epochs"] == 30
    readme = (folder / "README.md").read_text()
    assert f"{100 * statistics.mean(tests):.2f}%" in readme and not (folder / ".sksearch.lock").exists()


@pytest.mark.slow
@pytest.mark.skipif(not HAS_FASHION, reason="needs `apt-get install dataset-fashion-mnist`")
@pytest.mark.parametrize("folder", SHIPPED, ids=lambda p: p.name)
def test_evaluate_reproduces_the_recorded_test_accuracy(folder):
    seeds = json.loads((folder / "seeds.json").read_text())
    recorded = next(r for r in seeds["seeds"] if r["seed"] == seeds["shipped_seed"])["test"]
    proc = subprocess.run([sys.executable, "-m", "sksearch", "evaluate", str(folder), "--split", "test", "--json"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout)
    assert got["samples"] == recorded["samples"] == 10_000 and got["accuracy"] == recorded["accuracy"]
