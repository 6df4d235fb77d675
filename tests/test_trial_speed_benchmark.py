"""benchmarks/trial_speed.py --quick, as the suite runs it so that it cannot rot: every table
prints, with positive rates, the compiled column where it ran, and what the harness adds."""

import re
import subprocess
import sys

import pytest


def test_the_trial_speed_benchmark_runs_quick():
    proc = subprocess.run([sys.executable, "benchmarks/trial_speed.py", "--quick"], capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    num = r"([\d,.]+)"
    # images/s: the first layout compiled (aot_eager), the other not, and the ratios beside them.
    row = re.search(rf"^\| tiny_m2 \| ([\d,]+) \| 1x2 \| {num} \| {num} \| {num} \| {num} \| {num} "
                    rf"\[{num}, {num}\] \| {num} \| {num} \| {num} \| "
                    rf"(\d+) \|$", out, re.M)
    assert row, out
    values = [float(v.replace(",", "")) for v in row.groups()]
    assert all(v > 0 for v in values)
    params, trial, _epoch, bare, compiled, ratio, lo, hi, cold, cratio, _compile_s, rss = values
    # The ratios are of the unrounded rates, the rates printed to whole images/s; --quick's one
    # repeat is its own lowest and highest.
    assert ratio == pytest.approx(trial / bare, rel=0.05, abs=0.02)
    assert lo == pytest.approx(ratio, abs=0.011) and hi == pytest.approx(ratio, abs=0.011)
    assert cratio == pytest.approx(compiled / bare, rel=0.05, abs=0.02)
    assert rss > 50  # MiB: a process with torch loaded
    assert re.search(r"^\| tiny_m2 \| [\d,]+ \| 2x1 \| [\d,]+ \| [\d,]+ \| [\d,]+ \| not run \| [\d.]+ "
                     r"\[[\d.]+, [\d.]+\] \| [\d.]+ \| not run \| not run \| \d+ \|$", out, re.M), out
    assert "medians of 1 alternating repeats" in out
    # Against the machine, and the harness's own costs per step, each table a row per layout.
    machine, harness = out.split("## against the machine")[1].split("## what the harness adds")
    five = r"^\| tiny_m2 \| (?:1x2|2x1) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$"
    rates = re.findall(five, machine, re.M)
    assert len(rates) == 2 and all(float(v) > 0 for r in rates for v in r[:3]), machine
    costs = re.findall(five, harness, re.M)
    assert len(costs) == 2 and all(float(c[0]) > 0 and float(c[1]) > 0 and float(c[4]) > 0 for c in costs), harness
    assert re.search(r"load \d+\.\d+ \d+\.\d+ \d+\.\d+", out)
