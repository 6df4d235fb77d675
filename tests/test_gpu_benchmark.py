"""benchmarks/gpu.py at toy sizes on the CPU, as the suite runs it so that it cannot rot: every
section runs, prints numbers, and says that no GPU figure was taken."""

import re
import subprocess
import sys

import pytest
import torch


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU machine, run benchmarks/gpu.py itself")
def test_the_gpu_benchmark_runs_its_toy_sizes_on_the_cpu(tmp_path):
    results = tmp_path / "RESULTS.md"
    results.write_text("# before\n")
    proc = subprocess.run([sys.executable, "benchmarks/gpu.py", "--append-results", "--results", str(results)],
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "no GPU figure was taken" in out and "(toy sizes)" in out
    assert results.read_text() == "# before\n"  # nothing appended without CUDA
    # Train steps: images/s for every eager variant of the quickstart-like net; compiled, only
    # the one-unit net (compiling the larger nets takes minutes on a cold cache), and the table
    # says so rather than leaving the cell out.
    row = re.search(r"^\| quickstart-like \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \| not run \(toy\) \| - \|$", out, re.M)
    assert row, out
    assert all(float(v.replace(",", "")) > 0 for v in row.groups())
    row = re.search(r"^\| one-unit \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \| ([\d.]+) \|$", out, re.M)
    assert row, out
    assert all(float(v.replace(",", "")) > 0 for v in row.groups())
    ratio = re.search(r"^\| quickstart-like \| [\d.]+ \| [\d.]+ \| ([\d.]+) \| ([\d.]+) \|$", out, re.M)
    assert ratio and float(ratio.group(2)) > 1.0  # SK costs more MACs than ResNeXt at the same widths
    # The search: trials per hour and the share inside training steps.
    search = re.search(r"^\| 0 \(CPU\) \| \d+ \| \d+ \| ([\d,]+) \| n/a \(CPU\) \| n/a \(CPU\) "
                       r"\| ([\d,]+) \| (\d+)% \|$", out, re.M)
    assert search and float(search.group(1).replace(",", "")) > 0 and 0 < int(search.group(3)) <= 100
    assert float(search.group(2).replace(",", "")) > 50  # MiB: a worker with torch loaded
    # Analysis and export: analyze ran, and the exported logits agree.
    assert re.search(r"`sksearch analyze \S+:-?\d+ --device cpu`: [\d.]+ s", out), out
    diff = re.search(r"max \|logit difference\| ([\d.e+-]+), same top-1 for (\d+)%", out)
    assert diff and float(diff.group(1)) < 1e-3 and int(diff.group(2)) == 100
