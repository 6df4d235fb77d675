"""benchmarks/recipe.py's smoke run, as the suite runs it so that it cannot rot: every run
lands in runs.csv as it ends, a rerun redoes nothing, and a run lost to a kill is redone alone."""

import csv
import subprocess
import sys


def run(out):
    proc = subprocess.run([sys.executable, "benchmarks/recipe.py", "--out", str(out), "--quick"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def rows(out):
    with open(out / "runs.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_recipe_ablation_runs_resumes_and_reports(tmp_path):
    out = tmp_path / "recipe"
    first = run(out)
    done = rows(out)
    # base, then each of the four elements tried once, then the kept recipe at the longer count
    names = [(r["phase"], r["recipe"], r["epochs"]) for r in done]
    assert names[0] == ("ablation", "base", "1") and len(names) == 6 and names[-1][0] == "long"
    assert [n[1].rsplit("+", 1)[-1] for n in names[1:5]] == ["onecycle", "ema", "erase", "tta"]
    for r in done:
        assert 0 <= float(r["val_accuracy"]) <= 1 and 0 <= float(r["test_accuracy"]) <= 1
        assert float(r["seconds_per_epoch"]) > 0 and int(r["params"]) > 0
    # TTA changes the evaluation only: it is measured on the kept recipe's own weights, so its
    # training time is that run's, and every trained run's weights are on disk.
    tta = done[4]
    source = next(r for r in done if r["recipe"] == tta["recipe"].rsplit("+", 1)[0])
    assert tta["seconds_per_epoch"] == source["seconds_per_epoch"]
    kept = [out / "weights" / f"{r['phase']}-{r['recipe']}-{r['epochs']}-s{r['seed']}" for r in done if r is not tta]
    assert all((folder / "model.safetensors").exists() for folder in kept)
    assert not (out / "weights" / f"ablation-{tta['recipe']}-1-s0").exists()
    report = (out / "recipe.md").read_text()
    assert report in first and "| base | 1 | 1 |" in report and "Best recipe:" in report
    # A rerun trains nothing: the file is as it was.
    before = (out / "runs.csv").read_bytes()
    assert "seed 0:" not in run(out)
    assert (out / "runs.csv").read_bytes() == before
    # A kill in the middle of writing the last row: that run, and only it, is trained again.
    text = before.decode().rstrip("\n").split("\n")
    (out / "runs.csv").write_text("\n".join(text[:-1]) + "\n" + text[-1][:20])
    again = run(out)
    assert again.count("seed 0:") == 1 and "long" in again.split("seed 0:")[0]
    redone = rows(out)
    assert [(r["phase"], r["recipe"], r["epochs"]) for r in redone if r["seconds_per_epoch"]] == names
