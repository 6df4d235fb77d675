"""``sksearch confirm`` end to end on a copy of the tiny finished study: the front's means and
standard errors, the report's error bars, status's audit and rung lines, and a confirm killed
by SIGKILL that, run again, finishes with every (trial, seed) trained exactly once."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import pandas as pd
import pytest

from sksearch.study.confirmations import near_front
from tests.conftest import run_cli


def _copy(finished_study, tmp_path, name: str):
    study, _ = finished_study
    out = tmp_path / name
    shutil.copytree(study, out, ignore=shutil.ignore_patterns(".sksearch.lock"))
    return out


def _confirm_runs(folder) -> list[tuple[str, dict]]:
    """Each run of the study tiny:confirm: its Optuna state and user attributes."""
    con = sqlite3.connect(f"file:{folder / 'optuna.db'}?mode=ro", uri=True)
    try:
        trials = con.execute("SELECT t.trial_id, t.state FROM trials t JOIN studies s ON t.study_id = s.study_id "
                             "WHERE s.study_name = 'tiny:confirm'").fetchall()
        out = []
        for trial_id, state in trials:
            attrs = dict(con.execute("SELECT key, value_json FROM trial_user_attributes WHERE trial_id = ?",
                                     (trial_id,)).fetchall())
            out.append((state, {k: json.loads(v) for k, v in attrs.items()}))
        return out
    except sqlite3.OperationalError:  # no study tables yet
        return []
    finally:
        con.close()


def test_confirm_gives_means_error_bars_audit_and_rung_taus(finished_study, tmp_path):
    folder = _copy(finished_study, tmp_path, "confirmed")
    table = pd.read_csv(folder / "trials.csv")
    stopped = int((table["status"] == "stopped_early").sum())
    assert stopped >= 1, "the tiny study's scheduler stopped no trial: nothing to audit"
    proc = run_cli("confirm", str(folder), "--seeds", "2", "--audit", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    front_ids = near_front(table, ["accuracy", "params"], None)
    assert f"{2 * len(front_ids) + 1} runs asked for" in proc.stdout

    pareto = json.loads(run_cli("pareto", str(folder), "--json").stdout)
    for row in pareto["front"]:
        runs = [r for s, r in _confirm_runs(folder) if r["trial_id"] == row["trial_id"] and r["kind"] == "repeat"]
        values = [float(table.loc[table["trial_id"] == row["trial_id"], "accuracy"].iloc[0])]
        values += [r["accuracy"] for r in runs]
        assert row["runs"] == 3 == len(values)
        assert abs(row["accuracy_mean"] - sum(values) / 3) < 1e-9
        assert abs(row["accuracy_se"] - float(pd.Series(values).std(ddof=1)) / 3 ** 0.5) < 1e-9
    assert {p["name"] for p in pareto["noise"]} == {f"trial {t}" for t in front_ids}

    report = run_cli("report", str(folder))
    assert report.returncode == 0, report.stderr
    page = (folder / "report.html").read_text()
    assert '"error_y"' in page and "Seeds, the audit of early stopping" in page

    status = run_cli("status", str(folder))
    assert status.returncode == 0, status.stderr
    assert f"{2 * len(front_ids)} repeats with new seeds completed, 1 stopped trials audited" in status.stdout
    assert "audit: 1 trial the scheduler stopped, trained to the full budget:" in status.stdout
    assert "rung at epoch 1: tau" in status.stdout and "(95% bootstrap intervals)" in status.stdout
    info = json.loads(run_cli("status", str(folder), "--json").stdout)["confirm"]
    assert info["audit"]["audited"] == 1 and info["rungs"][0]["rung"] == 1
    rung = info["rungs"][0]["completed"]
    assert rung["n"] == int((table["status"] == "completed").sum())
    assert rung["tau"] is None or rung["low"] <= rung["tau"] <= rung["high"]


def test_a_confirm_killed_by_sigkill_finishes_with_no_run_lost_or_twice(finished_study, tmp_path):
    folder = _copy(finished_study, tmp_path, "killed")
    table = pd.read_csv(folder / "trials.csv")
    chosen = near_front(table, ["accuracy", "params"], 3)
    args = [sys.executable, "-m", "sksearch", "confirm", str(folder), "--seeds", "2", "--top", "3"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            if any(state == "COMPLETE" for state, _ in _confirm_runs(folder)):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "confirm ended before it could be killed: " + proc.stderr.read().decode()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    before = _confirm_runs(folder)
    assert 1 <= sum(s == "COMPLETE" for s, _ in before) < 2 * len(chosen)

    again = run_cli("confirm", str(folder), "--seeds", "2", "--top", "3")
    assert again.returncode == 0, again.stdout + again.stderr[-3000:]
    after = _confirm_runs(folder)
    assert all(state == "COMPLETE" for state, _ in after)
    keys = Counter((r["trial_id"], r["seed"]) for _, r in after)
    assert len(after) == 2 * len(chosen) and set(keys.values()) == {1}
    assert sorted({t for t, _ in keys}) == sorted(chosen)
    # The runs finished before the kill are the same runs, kept as they were.
    finished = {(r["trial_id"], r["seed"]): r["accuracy"] for s, r in before if s == "COMPLETE"}
    assert all({(r["trial_id"], r["seed"]): r["accuracy"] for _, r in after}[k] == v for k, v in finished.items())
    # Run a third time: nothing is left to train.
    third = run_cli("confirm", str(folder), "--seeds", "2", "--top", "3")
    assert f"{2 * len(chosen)} already done, 0 to train" in third.stdout
    assert len(_confirm_runs(folder)) == 2 * len(chosen)


# A whole search and its confirm phase (about 40 s): `pytest -m slow`; the command itself, its
# SIGKILL resume and its refusals run in the default suite.
@pytest.mark.slow
def test_the_space_files_confirm_phase_ends_run_and_counts_in_finished(tmp_path):
    from tests.conftest import write_space

    space = write_space(tmp_path, trials="trials: 4")
    space.write_text(space.read_text() + "confirm: {seeds: 1, audit: 1}\n")
    out = tmp_path / "phased"
    proc = run_cli("run", str(space), "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    table = pd.read_csv(out / "trials.csv")
    front_ids = near_front(table, ["accuracy", "params"], None)
    audited = min(1, int((table["status"] == "stopped_early").sum()))
    runs = _confirm_runs(out)
    assert len(runs) == len(front_ids) + audited and all(state == "COMPLETE" for state, _ in runs)
    assert json.loads(proc.stdout)["finished"] is True
    assert "confirm: {seeds: 1, audit: 1" not in (out / "space.yaml").read_text()  # written as YAML mapping
    assert "seeds: 1" in (out / "space.yaml").read_text()
    again = run_cli("resume", str(out))
    assert again.returncode == 0 and "nothing to resume" in again.stdout
    assert len(_confirm_runs(out)) == len(runs)


def test_confirm_refuses_bad_input_and_a_held_folder_and_the_api_gives_the_means(finished_study, tmp_path):
    import sksearch
    from sksearch.study.lock import FolderLock

    folder = _copy(finished_study, tmp_path, "api")
    table = pd.read_csv(folder / "trials.csv")
    stopped = int((table["status"] == "stopped_early").sum())
    too_many = run_cli("confirm", str(folder), "--audit", str(stopped + 1))
    assert too_many.returncode == 2 and f"audit at most {stopped}" in too_many.stderr
    nothing = run_cli("confirm", str(folder), "--seeds", "0")
    assert nothing.returncode == 2 and "nothing to do" in nothing.stderr
    with FolderLock(str(folder)):
        held = run_cli("confirm", str(folder), "--seeds", "1")
    assert held.returncode == 2 and "another sksearch command" in held.stderr
    assert _confirm_runs(folder) == []  # refused before anything was written

    study = sksearch.confirm(str(folder), seeds=1, log=lambda m: None)
    front = study.front()
    assert front["runs"].tolist() == [2] * len(front)
    info = study.confirmations()
    assert {s["trial_id"] for s in info["stats"]} == set(front["trial_id"])
    assert info["runs"]["repeat"] == {"completed": len(front)}


def test_a_stop_while_the_trials_ran_leaves_the_confirm_phase_to_resume(monkeypatch, capsys):
    """A Ctrl-C or SIGTERM that came as the last trial was ending: the search ended complete,
    and the confirm phase must not start behind the user's back."""
    from types import SimpleNamespace

    from sksearch.search import driver

    started = []
    monkeypatch.setattr(driver, "status_info", lambda folder: {"finished": False, "trials_finished": True})
    monkeypatch.setattr(driver, "confirm_phase", lambda root: started.append(root) or "confirmed")
    folder = SimpleNamespace(space=SimpleNamespace(confirm=SimpleNamespace(wanted=True)))
    assert driver._confirm_phase("out", folder, stopped=True) is folder and started == []
    assert "stopped before the confirm phase; continue it with: sksearch resume out" in capsys.readouterr().err
    assert driver._confirm_phase("out", folder) == "confirmed" and started == ["out"]
