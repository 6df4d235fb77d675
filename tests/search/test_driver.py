"""End-to-end searches on tiny settings: the CLI, the study folder, resume after SIGKILL and
SIGINT, and a two-node Ray cluster on this machine."""

import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pandas as pd
import pytest
from ray.tune.schedulers import TrialScheduler

from sksearch.search.schedulers import make_scheduler, read_results
from sksearch.space import load_space
from tests.conftest import run_cli, write_space

FINISHED = ("completed", "stopped_early", "failed")


def check_study(out, planned: int, max_epochs: int) -> pd.DataFrame:
    """The invariants of every finished study folder."""
    df = pd.read_csv(out / "trials.csv")
    assert df.equals(pd.read_parquet(out / "trials.parquet").astype(df.dtypes.to_dict()))
    tried = df[df.status != "rejected"]
    assert len(tried) == planned and set(tried.status) <= set(FINISHED)
    # Nothing in these tiny searches should fail: name the reasons when something does.
    failed = tried[tried.status == "failed"]
    assert failed.empty, failed[["trial_id", "reason"]].to_string()
    assert (tried[tried.status == "completed"].epochs == max_epochs).all()
    assert (tried[tried.status == "stopped_early"].epochs < max_epochs).all()
    study = optuna.load_study(study_name=json.loads((out / "run.json").read_text())["study_name"],
                              storage=f"sqlite:///{out / 'optuna.db'}")
    assert len(study.trials) == len(df)
    for t in study.trials:
        row = df[df.trial_id == t.number].iloc[0]
        if row.status == "stopped_early":
            assert t.state == optuna.trial.TrialState.PRUNED and t.values is None
        elif row.status == "completed":
            assert t.state == optuna.trial.TrialState.COMPLETE
            assert t.values == [row.accuracy, row.params]
        else:
            assert t.state == optuna.trial.TrialState.FAIL
    return df


def test_end_to_end_search(finished_study):
    out, proc = finished_study
    space = out.parent / "tiny.yaml"
    df = check_study(out, planned=6, max_epochs=2)
    assert (df.status == "stopped_early").any() and (df.status == "completed").any()
    for col in ("trial_id", "status", "epochs", "accuracy", "params", "macs", "loss", "train_time", "sk.M", "lr",
                "stages.0.width_per_group"):
        assert col in df.columns
    assert df.accuracy.between(0, 1).all() and (df.params > 0).all()
    assert load_space(str(out / "space.yaml")).to_dict() == load_space(str(space)).to_dict()
    trial_dirs = sorted(d for d in os.listdir(out / "ray") if d.startswith("trial_"))
    assert [d[:10] for d in trial_dirs] == [f"trial_{i:04d}" for i in range(6)]
    assert "6/6 trials done" in proc.stdout and "Traceback" not in proc.stderr
    assert "WARNING" not in proc.stdout + proc.stderr
    assert "Pareto front over accuracy, params" in proc.stdout and (out / "report.html").exists()

    status = run_cli("status", str(out), "--json")
    info = json.loads(status.stdout)
    assert info["counts"]["completed"] == (df.status == "completed").sum() and info["planned"] == 6
    best = df[df.status == "completed"].accuracy.max()
    assert info["best"]["accuracy"] == best
    text = run_cli("status", str(out)).stdout
    assert "6 of 6 done" in text and f"accuracy {best:.2%}" in text

    again = run_cli("run", str(space), "--out", str(out))
    assert again.returncode == 2 and "already holds a study" in again.stderr


def replay_scheduler(out, space, table: pd.DataFrame) -> dict[int, str]:
    """What the space's scheduler, uninterrupted, decides for these trials run one at a time in order.

    A sample the driver started after Ray's last snapshot leaves a partial folder behind and
    runs again under a new Ray id: only the folder of the table's ``ray_trial_id`` counts."""
    scheduler = make_scheduler(space.scheduler, space.objectives)
    outcome = {}
    current = {f"trial_{int(r.trial_id):04d}_{r.ray_trial_id}" for _, r in table.iterrows()}
    for name in sorted(os.listdir(out / "ray")):
        if name not in current:
            continue
        number = int(name.split("_")[1])
        results = {r["epoch"]: r for r in read_results(str(out / "ray" / name / "result.json")) if "error" not in r}
        outcome[number] = "completed"
        for epoch in sorted(results):
            fake = type("T", (), {"trial_id": name})()
            if scheduler.on_trial_result(None, fake, results[epoch]) == TrialScheduler.STOP:
                outcome[number] = "stopped_early"
                break
    return outcome


def start(space, out) -> subprocess.Popen:
    log = open(out.parent / "first_run.log", "w")
    return subprocess.Popen([sys.executable, "-m", "sksearch", "run", str(space), "--out", str(out)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_finished(out, n: int, proc: subprocess.Popen, timeout: float = 300) -> pd.DataFrame:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, "the search ended before it could be interrupted"
        try:
            df = pd.read_csv(out / "trials.csv")
            if df.status.isin(FINISHED).sum() >= n:
                return df
        except (FileNotFoundError, pd.errors.EmptyDataError):
            pass
        time.sleep(0.2)
    raise AssertionError("no trials finished in time")


@pytest.mark.parametrize("sig,scheduler", [(signal.SIGKILL, "mo_asha"), (signal.SIGINT, "asha")],
                         ids=["sigkill-mo_asha", "sigint-asha"])
def test_resume_loses_and_reruns_nothing(tmp_path, sig, scheduler):
    # One trial at a time, three rungs' worth of epochs: decisions are reproducible.
    space_file = write_space(tmp_path, trials="trials: 8", scheduler=f"scheduler: {{name: {scheduler}, max_epochs: 4, "
                                                                      "grace_period: 1, reduction_factor: 2}")
    out = tmp_path / "study"
    proc = start(space_file, out)
    before = wait_for_finished(out, 3, proc)
    if sig == signal.SIGKILL:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and everything it started
        proc.wait()
    else:
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=120) == 130
        assert "sksearch resume" in (tmp_path / "first_run.log").read_text()
    done_before = before[before.status.isin(FINISHED)]

    proc2 = run_cli("resume", str(out))
    assert proc2.returncode == 0, proc2.stdout + proc2.stderr[-6000:]
    df = check_study(out, planned=8, max_epochs=4)
    for _, row in done_before.iterrows():
        now = df[df.trial_id == row.trial_id].iloc[0]
        assert (now.status, now.epochs, now.accuracy, now.finished) == (row.status, row.epochs, row.accuracy, row.finished)
    for name in os.listdir(out / "ray"):
        if name.startswith("trial_") and int(name.split("_")[1]) in set(done_before.trial_id):
            # A trial Ray's last snapshot still showed running is restored from its final
            # checkpoint and reports the saved metrics again; it must not train again, so
            # every report of an epoch carries the same accuracy and training time.
            seen = {}
            for r in read_results(str(out / "ray" / name / "result.json")):
                key = (r["accuracy"], r["train_time"])
                assert seen.setdefault(r["epoch"], key) == key, f"{name} trained epoch {r['epoch']} again"
    # The restored scheduler knew the rungs it had: its decisions equal an uninterrupted run's.
    resolved = load_space(str(out / "space.yaml"))
    assert resolved.scheduler.name == scheduler
    replay = replay_scheduler(out, resolved, df)
    assert {int(r.trial_id): r.status for _, r in df.iterrows()} == replay
    assert (df.status == "stopped_early").any()  # the scheduler did stop trials, in both runs


def test_two_node_cluster_runs_trials_on_both_nodes(tmp_path):
    import ray
    from ray.cluster_utils import Cluster

    from sksearch.search.driver import run

    # Trials that outlast a worker's start on the second node (several seconds here, more under
    # load), so the second trial runs there rather than waiting to reuse the first node's worker.
    space = load_space(str(write_space(
        tmp_path, trials="trials: 4", concurrency="concurrency: 2",
        scheduler="scheduler: {name: none, max_epochs: 3}",
        data="data: {name: digits, train_size: 6000, val_size: 200, canvas: 12, max_scale: 1.5}")))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        out = tmp_path / "study"
        assert run(space, str(out), address=cluster.address).table.status.isin(FINISHED).all()
        df = check_study(out, planned=4, max_epochs=3)
        nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
        assert set(df.node) == nodes and len(nodes) == 2
    finally:
        ray.shutdown()
        cluster.shutdown()
