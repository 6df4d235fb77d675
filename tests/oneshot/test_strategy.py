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
import pytest

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


# Slow (80-220 s on 2 cores): the engine's own tests resume a supernet's training bit for bit
# (tests/oneshot/test_sandwich.py) and a trial's after SIGKILL (tests/search/test_driver.py);
# this runs the whole one-shot command through a kill.
@pytest.mark.slow
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
    expected = {(round(c["supernet_accuracy"] * 100, 6), round(c["accuracy"] * 100, 6))
                for c in one_shot["confirmations"]}
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


# One SIGTERM or SIGINT stops each phase of a one-shot run within seconds. Tune's SIGINT handler
# from the supernet's fit() used to stay installed after it: a stop during the subnet search did
# nothing, and the run went on through every subnet and the confirmations.
WIDE_SPACE = """
name: tiny
data: {name: digits, train_size: 400, val_size: 200, canvas: 12, min_scale: 1.0, max_scale: 1.5, seed: 0}
model:
  block: sk
  stem: cifar
  stem_width: 4
  groups: 2
  sk:
    M: {choice: [1, 2, 3]}
    branches:
      - {kernel: 3, dilation: 1}
      - {kernel: 3, dilation: {choice: [2, 3]}}
      - {kernel: {choice: [3, 5]}, dilation: {choice: [1, 2]}}
    reduction: {choice: [2, 4]}
    min_dim: 4
  stages:
    - {depth: {int: [1, 2]}, width_per_group: {choice: [2, 4]}, out_channels: 8, stride: 2}
    - {depth: {int: [1, 2]}, width_per_group: {choice: [2, 4]}, out_channels: 16, stride: 2}
train: {batch_size: 16, lr: {float: [0.01, 0.3], log: true}, warmup_epochs: 0}
objectives: [accuracy, params]
sampler: {name: random, seed: 0}
scheduler: {name: none, max_epochs: 2}
resources: {cpu: 1}
concurrency: 1
trials: 2
strategy: {name: one_shot, supernet_epochs: 1, subnets: 100, confirm: 1, spread: 1, calibration_batches: 2}
"""  # some 300 distinct subnets: 100 evaluations take far longer than a stop may
STOPPED_WITHIN_S = 30  # a loaded 2-core machine; the stop itself takes a second or two
EXIT = {signal.SIGTERM: 143, signal.SIGINT: 130}


def _start(log_path, *args):
    """``python -m sksearch ARGS`` in a process group of its own, its output into ``log_path``."""
    with open(log_path, "w") as log:
        # SIGINT as a terminal gives it: a suite started in the background (`cmd &` in a script)
        # hands its children SIGINT ignored, and Python then leaves it ignored.
        return subprocess.Popen([sys.executable, "-m", "sksearch", *args], stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for(log_path, text, proc, timeout=300):
    """Until ``text`` is in the run's output (an event, not a time)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in log_path.read_text():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended ({proc.returncode}) before {text!r}:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError(f"no {text!r} in {timeout} s:\n{log_path.read_text()[-3000:]}")


def _stop(proc, sig, log_path):
    """ONE ``sig`` to the run's process group, as ``timeout`` or Slurm sends it; the output."""
    os.killpg(proc.pid, sig)
    try:
        code = proc.wait(timeout=STOPPED_WITHIN_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"still running {STOPPED_WITHIN_S} s after one {sig.name}:\n"
                             f"{log_path.read_text()[-3000:]}") from None
    text = log_path.read_text()
    assert code == EXIT[sig], f"exit {code} after {sig.name}:\n{text[-3000:]}"
    assert "Traceback" not in text and "continue it with: sksearch resume" in text, text[-3000:]
    return text


def _subnet_trials(out):
    study = optuna.load_study(study_name=one_shot_study("tiny"), storage=f"sqlite:///{out / 'optuna.db'}")
    return [(t.number, t.state, t.params, t.values) for t in study.get_trials(deepcopy=False)]


def _supernet_epochs(out):
    return [r["epoch"] for r in _results(out / "supernet" / "supernet" / "result.json")]


def test_one_stop_ends_the_subnet_search_and_the_resume_keeps_its_subnets(tmp_path):
    space = write_space(tmp_path, WIDE_SPACE)
    out = tmp_path / "study"
    log = tmp_path / "run.log"
    proc = _start(log, "run", str(space), "--out", str(out))
    try:
        _wait_for(log, "searching subnets:", proc)
        text = _stop(proc, signal.SIGTERM, log)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "confirming" not in text and not (out / "ray").exists()  # no confirmation was trained
    before = _subnet_trials(out)
    assert len(before) < 100 and all(state.is_finished() for _, state, _, _ in before)
    assert _supernet_epochs(out) == [1]

    # The resume keeps every subnet evaluated so far and trains the supernet no further; Ctrl-C
    # stops its subnet search as SIGTERM did.
    log = tmp_path / "resume.log"
    proc = _start(log, "resume", str(out))
    try:
        _wait_for(log, "searching subnets:", proc)
        text = _stop(proc, signal.SIGINT, log)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "confirming" not in text and not (out / "ray").exists()
    after = _subnet_trials(out)
    assert after[:len(before)] == before and len(after) < 100
    assert _supernet_epochs(out) == [1]


# The two phases that Tune runs (its own handler stops them) cost two more Ray starts and the
# whole chain some 3 minutes on 2 cores: `pytest -m slow` runs them.
@pytest.mark.slow
def test_one_sigterm_ends_the_supernet_training_and_the_confirmations_and_the_run_resumes(tmp_path):
    space = write_space(tmp_path, TINY_SPACE + ONE_SHOT + "\n", scheduler="scheduler: {name: none, max_epochs: 3}")
    out = tmp_path / "study"
    storage = f"sqlite:///{out / 'optuna.db'}"
    runs = [("run", str(space), "--out", str(out)), ("resume", str(out))]
    for phase, args in zip(("supernet epoch 1/3", "confirmations"), runs):
        log = tmp_path / f"{args[0]}.log"
        proc = _start(log, *args)
        try:
            if phase == "confirmations":  # a confirmation trial has reported: Tune's run is under way
                _wait_for(log, "confirming 2 subnets", proc)
                deadline = time.time() + 300
                while not any(p.stat().st_size for p in (out / "ray").glob("trial_*/result.json")):
                    assert proc.poll() is None and time.time() < deadline, log.read_text()[-3000:]
                    time.sleep(0.1)
            else:
                _wait_for(log, phase, proc)
            text = _stop(proc, signal.SIGTERM, log)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        if phase != "confirmations":
            assert "searching subnets" not in text and _supernet_epochs(out)[-1] < 3
            assert one_shot_study("tiny") not in optuna.get_all_study_names(storage)
        else:
            assert "search interrupted with" in text and "resuming the supernet's training" in text
            assert len(_subnet_trials(out)) == 6 and _supernet_epochs(out) == [1, 2, 3]  # none trained again
            table = pd.read_csv(out / "trials.csv")
            assert (table.status != "completed").any() and "running" not in set(table.status)
    done = run_cli("resume", str(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = pd.read_csv(out / "trials.csv")
    assert sorted(table.trial_id) == [0, 1] and set(table.status) == {"completed"} and set(table.epochs) == {3}
    assert len(_subnet_trials(out)) == 6 and _supernet_epochs(out) == [1, 2, 3]
