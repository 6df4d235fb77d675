"""The CPU-sized versions of the paper's questions, run end to end (slow: a few minutes each
on 2 cores; run with `python -m pytest -m slow`)."""

import pandas as pd
import pytest

from tests.conftest import run_cli


def run_space(name: str, tmp_path) -> pd.DataFrame:
    out = tmp_path / name
    proc = run_cli("run", f"search_spaces/{name}.yaml", "--out", str(out), timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Pareto front over accuracy, params" in proc.stdout and (out / "report.html").exists()
    df = pd.read_csv(out / "trials.csv")
    assert not (df.status == "failed").any() and (df.status == "completed").any()
    return df


@pytest.mark.slow
def test_ablation_kernels_cpu_compares_selected_and_summed_sets(tmp_path):
    df = run_space("ablation_kernels_cpu", tmp_path)
    first = df.sort_values("trial_id").head(2)
    assert list(first["sk.branches"]) == ["3x3d1+3x3d2"] * 2 and list(first["sk.select"]) == ["softmax", "sum"]
    assert first.params.iloc[0] > first.params.iloc[1]  # the fuse and select fcs are the difference
    assert df["sk.branches"].nunique() >= 4


@pytest.mark.slow
def test_ablation_branch_cpu_keeps_the_budget(tmp_path):
    df = run_space("ablation_branch_cpu", tmp_path)
    tried = df[df.status != "rejected"]
    assert (tried.params <= 96_100).all() and (df[df.status == "rejected"].params > 96_100).all()
    seeds = tried.sort_values("trial_id").head(4)
    assert list(zip(seeds["sk.branches.1.kernel"], seeds["sk.branches.1.groups"])) == [(3, 8), (3, 8), (5, 16), (7, 32)]
    # the ablation spaces (docs/search-space.md) seed these
    assert list(seeds.params) == [89_754, 89_754, 96_026, 95_578]


@pytest.mark.slow
def test_shufflenet_sk_cpu_searches_the_mobile_family(tmp_path):
    df = run_space("shufflenet_sk_cpu", tmp_path)
    assert set(df.width_multiplier) <= {0.25, 0.5} and df.block.nunique() >= 2
    assert df[df.status == "completed"].accuracy.max() > 0.5


FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


@pytest.mark.skipif(not __import__("os").path.exists(FASHION),
                    reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
def test_fashion_mnist_space_runs_on_the_installed_set(tmp_path):
    """The real-data space end to end at toy size (not slow): 200 training images, 1 epoch."""
    out = tmp_path / "fashion"
    proc = run_cli("run", "search_spaces/fashion_mnist.yaml", "--out", str(out), "--trials", "1", "--max-epochs", "1",
                   "--set", "data.train_limit=200", "--set", "data.val_limit=100", "--set", "concurrency=1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    df = pd.read_csv(out / "trials.csv")
    assert (df.status == "completed").sum() == 3 and set(df.baseline.dropna()) == {"plain_m1_84k", "sk_m2_84k"}
    assert (df.params < 1_000_000).all() and df.accuracy.between(0, 1).all()


def test_the_fashion_mnist_file_says_the_augmentation_its_trials_get(tmp_path):
    """The file's comment once promised a horizontal flip that the loader had since dropped."""
    import dataclasses
    import pathlib

    from sksearch.data.load import load_data
    from sksearch.space import load_space
    from tests.data.test_idx import fake_set

    path = pathlib.Path(__file__).resolve().parents[1] / "search_spaces" / "fashion_mnist.yaml"
    fake_set(tmp_path)  # the loader's choice does not depend on the images
    spec = load_space(str(path)).data
    assert spec.augment is None  # the set's own
    data = load_data(dataclasses.replace(spec, root=str(tmp_path), val_size=20, train_limit=None, val_limit=None))
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# Augmentation:"))
    said = " ".join(line.lstrip("# ") for line in lines[start:start + 4] if line.startswith("#"))
    assert data.augment == "crop" and "no horizontal flip" in said and "plus a horizontal flip" not in said
