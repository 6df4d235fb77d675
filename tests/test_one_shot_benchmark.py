"""benchmarks/one_shot.py --quick, as the suite runs it so that it cannot rot: the subnet
search's speed table (positive rates and speed-ups, no more distinct networks than draws), each
tau with its interval and the ranking check, and a killed run's --csv resumed without training a
finished subnet again."""

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str) -> str:
    proc = subprocess.run([sys.executable, "benchmarks/one_shot.py", "--quick", *args], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_the_one_shot_benchmark_runs_quick_and_resumes(tmp_path: Path) -> None:
    table = tmp_path / "subnets.csv"
    out = run("--csv", str(table))
    num = r"([\d.]+)"
    rows = re.findall(rf"^\| ([^|]+) \| {num} \| (\d+) \| (\d+) \| (\d+) \| {num} \| {num} \| {num}x \|$", out,
                      re.M)
    assert [r[0] for r in rows] == ["one evaluation per draw (before)", "each network once",
                                    "each network once, screened on 50"], out
    draws = int(re.search(r"subnet search, (\d+) draws", out).group(1))
    assert draws == 30
    for _name, per_1000, distinct, full, _screenings, per_network, rate, speedup in rows:
        assert float(per_1000) > 0 and float(per_network) > 0 and float(rate) > 0 and float(speedup) > 0
        assert 0 < int(distinct) <= draws and int(full) <= draws
        # wall per 1,000 draws and draws/s are one figure twice
        assert float(per_1000) * float(rate) == pytest.approx(1000, rel=0.02)
    before, once, screened = rows
    # Every draw evaluated against each network once (distinct counts networks outside the budgets too).
    assert int(before[3]) >= int(once[3]) and 0 < int(once[3]) <= int(once[2])
    assert before[7] == "1.00" and float(once[7]) >= 1.0
    assert int(screened[4]) > 0 and int(screened[3]) <= int(screened[4])  # each network screened, some in full
    for tag in ("distill_recal", "distill_no_recal", "plain_recal", "plain_no_recal", "distill_screened"):
        assert re.search(rf"^  {tag} +(Kendall tau [-+][\d.]+ \[[-+][\d.]+, [-+][\d.]+\] \(95%, n=4\)|no ranking)",
                         out, re.M), out
    assert re.search(r"^ranking check: the screened search's tau [-+][\d.]+ \(\d of 4 subnets left at their screening "
                     r"score\) is (within|OUTSIDE) the full score's interval", out, re.M) or "no ranking" in out, out
    with open(table, newline="") as fh:
        first = list(csv.DictReader(fh))
    assert [int(r["subnet"]) for r in first] == [0, 1, 2, 3] and len({r["arch"] for r in first}) == 4

    # A kill during the third training: two rows finished, the third half-written.
    lines = table.read_text().splitlines(keepends=True)
    table.write_text("".join(lines[:3]) + lines[3][:20])
    out = run("--csv", str(table), "--standalone-only")
    assert "2 of them already in" in out, out
    trained = [int(i) for i in re.findall(r"^  subnet (\d+):", out, re.M)]
    assert trained == [2, 3], out
    with open(table, newline="") as fh:
        again = [r for r in csv.DictReader(fh) if r["standalone_s"]]
    assert [int(r["subnet"]) for r in again] == [0, 1, 2, 3]
    assert [r["standalone"] for r in again[:2]] == [r["standalone"] for r in first[:2]]  # read, not retrained


def test_timing_only_needs_an_earlier_runs_kept_one_shot_study(tmp_path: Path) -> None:
    for args in ([], ["--keep", str(tmp_path)]):
        proc = subprocess.run([sys.executable, "benchmarks/one_shot.py", "--timing-only", *args], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 2 and "--timing-only: needs --keep DIR of an earlier run" in proc.stderr
        assert "Traceback" not in proc.stderr
