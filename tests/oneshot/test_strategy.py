"""The one-shot strategy end to end through the CLI: supernet, subnet search, confirmation
trials, and a resume after SIGKILL during the supernet's training that loses no epoch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pandas as pd

from sksearch.study.store import one_shot_study
from tests.conftest import TINY_SPACE, run_cli, write_space

ONE_SHOT = ("strategy: {name: one_shot, supernet_epochs: 3, subnets: 6, confirm: 1, spread: 1, "
            "calibration_batches: 2}")


def _results(path):
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _wait_for_epoch(result_json, epoch, proc, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        if os.path.exists(result_json) and any(r.get("epoch") == epoch for r in _results(result_json)):
            return _results(result_json)
        time.sleep(0.2)
    raise AssertionError(f"the supernet never reported epoch {epoch}")


def test_one_shot_run_resumes_after_sigkill_without_losing_an_epoch(tmp_path):
    space = write_space(tmp_path, TINY_SPACE + ONE_SHOT + "\n", scheduler="scheduler: {name: none, max_epochs: 2}")
    out = tmp_path / "study"
    log = open(tmp_path / "first_run.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "sksearch", "run", str(space), "--out", str(out)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    result_json = out / "supernet" / "supernet" / "result.json"
    before = _wait_for_epoch(result_json, 1, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = (tmp_path / "first_run.log").read_text()
    assert "supernet epoch 1/3: largest" in first and "smallest" in first  # the progress lines

    # status names the interrupted supernet, and export --subnet says the same.
    trained = max(r["epoch"] for r in _results(result_json))
    cut = json.loads(run_cli("status", str(out), "--json").stdout)
    assert cut["one_shot"]["supernet"] == {"epochs": trained, "planned": 3, "state": "interrupted"}
    assert cut["one_shot"]["search"] == "not started" and cut["one_shot"]["chosen"] is None
    assert not cut["finished"]
    assert f"supernet  {trained} of 3 epochs trained, interrupted (`sksearch resume {out}`" in \
        run_cli("status", str(out)).stdout
    early = run_cli("export", str(out), "--subnet", "0", "--to", str(tmp_path / "early"))
    assert early.returncode == 2 and not (tmp_path / "early").exists()
    assert f"no subnet yet (its supernet has trained {trained} of 3 epochs); continue it with `sksearch resume" \
        in early.stderr and "ran no one-shot search" not in early.stderr

    again = run_cli("resume", str(out))
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "resuming the supernet's training" in again.stdout
    reports = _results(result_json)
    seen = {}
    for r in reports:  # an epoch reported twice was trained twice: the same metrics, or a lost epoch
        key = (r["accuracy"], r["accuracy_smallest"], r["train_time"])
        assert seen.setdefault(r["epoch"], key) == key, f"epoch {r['epoch']} was trained again"
    assert sorted(seen) == [1, 2, 3]
    assert all(seen[r["epoch"]] == (r["accuracy"], r["accuracy_smallest"], r["train_time"]) for r in before)
    # Both ends of the space have a curve.
    assert all(0 <= r["accuracy_smallest"] <= 1 and r["params_smallest"] < r["params"] for r in reports)

    storage = f"sqlite:///{out / 'optuna.db'}"
    subnets = optuna.load_study(study_name=one_shot_study("tiny"), storage=storage).trials
    assert len(subnets) == 6 and all(t.state.is_finished() for t in subnets)
    # Each network evaluated once: the other draws of it are repeats, answered from the first.
    networks = {t.user_attrs["arch"] for t in subnets if t.state.name == "COMPLETE"}
    firsts = [t for t in subnets if t.state.name == "COMPLETE" and "repeat_of" not in t.user_attrs]
    assert len(firsts) == len(networks)
    df = pd.read_csv(out / "trials.csv")
    confirmed = df[df.trial_id >= 0]
    assert len(confirmed) == 2 and set(confirmed.status) == {"completed"}
    # The confirmed subnets are the one-shot study's, trained with the supernet's recipe.
    one_shot_archs = [{k: v for k, v in t.params.items()} for t in subnets if t.state.name == "COMPLETE"]
    main = optuna.load_study(study_name="tiny", storage=storage)
    for t in main.trials:
        arch = {k: v for k, v in t.params.items() if k != "lr"}
        assert arch in one_shot_archs
        assert abs(t.params["lr"] - (0.01 * 0.3) ** 0.5) < 1e-9  # the log-range's centre, as the supernet's

    # Both fronts, the confirmations and what they are worth, in pareto, status and the report.
    answer = json.loads(run_cli("pareto", str(out), "--json").stdout)
    one_shot = answer["one_shot"]
    evaluated = firsts
    assert one_shot["study"] == "tiny:one_shot" and one_shot["evaluated"] == len(evaluated)
    assert one_shot["draws"] == 6 and one_shot["repeats"] == 6 - len(evaluated) - one_shot["rejected"]
    # the run's last words name both fronts
    assert f"one-shot: 6 draws of {one_shot['distinct']} distinct subnets, {len(evaluated)} evaluated" in again.stdout
    front_ids = {r["trial_id"] for r in one_shot["front"]}
    assert front_ids and front_ids <= {t.number for t in evaluated}
    best = max(t.values[0] for t in evaluated)
    assert max(r["accuracy"] for r in one_shot["front"]) == best  # the most accurate subnet is on it
    assert {c["trial_id"] for c in one_shot["confirmations"]} == set(confirmed.trial_id)
    by_number = {t.number: t for t in evaluated}
    for c in one_shot["confirmations"]:
        assert c["supernet_accuracy"] == by_number[c["subnet_id"]].values[0]
        assert c["accuracy"] == df.set_index("trial_id").accuracy[c["trial_id"]]
    assert one_shot["kendall_tau"] is None and "too few" in one_shot["verdict"]  # 2 confirmations
    text = run_cli("pareto", str(out)).stdout
    assert f"Supernet front of {len(front_ids)} of {len(evaluated)} distinct subnets (6 draws" in text
    assert "Confirmed stand-alone" in text
    status = run_cli("status", str(out)).stdout
    assert f"one-shot  6 of 6 draws (tiny:one_shot): {one_shot['distinct']} distinct subnets, {len(evaluated)} " \
           f"evaluated" in status and "2 chosen, 2 confirmed stand-alone" in status
    assert "supernet  3 of 3 epochs trained\n" in status
    # status and resume agree that it is finished: its trials are the 2 chosen subnets' (not
    # the space's 6), and a second resume has nothing to do.
    info = json.loads(run_cli("status", str(out), "--json").stdout)
    assert (info["planned"], info["done"], info["finished"]) == (2, 2, True)
    assert sorted(info["one_shot"]["chosen"]) == sorted(c["subnet_id"] for c in one_shot["confirmations"])
    done = run_cli("resume", str(out))
    assert done.returncode == 0 and "is finished (2 of 2 trials done): nothing to resume" in done.stdout
    report = run_cli("report", str(out), "--out", str(tmp_path / "r.html"))
    assert report.returncode == 0, report.stderr
    from sksearch.study.page import read_figures

    figures = read_figures(str(tmp_path / "r.html"))
    assert "supernet front" in [t.get("name") for t in figures["front_params"]["data"]]
    points = [p for t in figures["confirmation"]["data"] for p in zip(t["x"], t["y"])]
    expected = {(round(c["supernet_accuracy"] * 100, 6), round(c["accuracy"] * 100, 6)) for c in one_shot["confirmations"]}
    assert {(round(x, 6), round(y, 6)) for x, y in points} == expected

    # A subnet no trial trained exports only by name, with the weights it was scored with.
    # (or, where every network was confirmed, a repeat draw: its network, scored as its first)
    confirmed_ids = {c["subnet_id"] for c in one_shot["confirmations"]}
    drawn = [t for t in subnets if t.state.name == "COMPLETE"]
    lone = next((t for t in drawn if t.user_attrs.get("repeat_of", t.number) not in confirmed_ids), None) \
        or next(t for t in drawn if "repeat_of" in t.user_attrs)
    proc = run_cli("export", str(out), "--subnet", str(lone.number), "--to", str(tmp_path / "lone"))
    assert proc.returncode == 0, proc.stderr
    assert "never trained stand-alone" in (tmp_path / "lone" / "README.md").read_text()
    measured = json.loads(run_cli("evaluate", str(tmp_path / "lone"), "--split", "val", "--json").stdout)
    assert abs(measured["accuracy"] - lone.values[0]) < 1e-9
    bad = run_cli("export", str(out), "--subnet", "999", "--to", str(tmp_path / "none"))
    assert bad.returncode == 2 and "no such subnet" in bad.stderr and not (tmp_path / "none").exists()
