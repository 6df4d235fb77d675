"""Trial storage outside the study folder (``--trial-storage``, ``resources.trial_storage``):
where the trials of a multi-machine cluster write their checkpoints, read back by export,
evaluate, train, resume and the report; and the refusal of a multi-machine cluster without it."""

import hashlib
import json
import os
import shlex
import signal
import subprocess

import pytest

from sksearch.cli import main
from sksearch.errors import UserError
from sksearch.space.distributions import SpaceError
from sksearch.space.schema import parse
from tests.conftest import TINY_SPACE, run_cli, write_space
from tests.search.test_driver import FINISHED, check_study, start, wait_for_finished


def sha(path) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def trial_folders(experiment) -> list[str]:
    return sorted(n for n in os.listdir(experiment) if n.startswith("trial_"))


# ---- the key and the option ------------------------------------------------------------------

def test_the_key_takes_a_path_or_a_file_uri_and_refuses_object_stores():
    raw = __import__("yaml").safe_load(TINY_SPACE)
    assert parse(raw).resources.trial_storage is None
    for given, kept in (("/mnt/nfs/sk", "/mnt/nfs/sk"), ("file:///mnt/nfs/my%20sk", "/mnt/nfs/my sk"),
                        ("shared/sk", "shared/sk")):
        assert parse({**raw, "resources": {"cpu": 1, "trial_storage": given}}).resources.trial_storage == kept
    for bad in ("s3://bucket/sk", "gs://bucket", "file://otherhost/sk", "", 3):
        with pytest.raises(SpaceError, match="resources.trial_storage"):
            parse({**raw, "resources": {"trial_storage": bad}})
    with pytest.raises(SpaceError, match="resources.trial_storage: the one_shot strategy runs on one machine"):
        parse({**raw, "resources": {"trial_storage": "/mnt/nfs"}, "strategy": {"name": "one_shot"}})


def test_a_missing_trial_storage_is_refused_before_anything_is_written(tmp_path):
    space = write_space(tmp_path)
    out = tmp_path / "study"
    proc = run_cli("run", str(space), "--out", str(out), "--trial-storage", str(tmp_path / "nfs"))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(
        f"sksearch: error: --trial-storage {tmp_path / 'nfs'}: no such folder")
    assert "Traceback" not in proc.stderr and not out.exists()


# ---- the refusal of a multi-machine cluster without it -----------------------------------------

def two_hosts(monkeypatch):
    import ray

    nodes = [{"Alive": True, "NodeID": f"n{i}", "NodeManagerAddress": f"10.0.0.{i}", "Resources": {"CPU": 4.0}}
             for i in (1, 2)]
    monkeypatch.setattr(ray, "nodes", lambda: nodes)


def test_two_hosts_without_trial_storage_are_refused(monkeypatch):
    from sksearch.search.ray_cluster import check_trial_storage

    two_hosts(monkeypatch)
    with pytest.raises(UserError, match=r"spans 2 machines \(10.0.0.1, 10.0.0.2\).*pass --trial-storage DIR"):
        check_trial_storage(None)
    check_trial_storage("/mnt/nfs/sk")  # shared storage given: the trials write there
    with pytest.raises(UserError, match="started without --trial-storage.*resume it on a Ray cluster of one machine"):
        check_trial_storage(None, resuming=True)  # resume has no option to name: it says what to do
    with pytest.raises(UserError, match="one_shot strategy runs on one"):
        check_trial_storage("/mnt/nfs/sk", one_shot=True)
    monkeypatch.setattr(__import__("ray"), "nodes", lambda: [
        {"Alive": True, "NodeManagerAddress": "10.0.0.1"}, {"Alive": True, "NodeManagerAddress": "10.0.0.1"},
        {"Alive": False, "NodeManagerAddress": "10.0.0.9"}])
    check_trial_storage(None)  # two nodes on one machine (and a dead one) share its filesystem


def test_run_on_two_hosts_without_trial_storage_exits_2_and_writes_nothing(tmp_path, monkeypatch, capsys):
    import ray

    two_hosts(monkeypatch)
    out = tmp_path / "study"
    try:
        assert main(["run", str(write_space(tmp_path)), "--out", str(out)]) == 2
    finally:
        ray.shutdown()
    err = capsys.readouterr().err
    assert "the Ray cluster spans 2 machines" in err and "--trial-storage DIR" in err and "Traceback" not in err
    assert not out.exists()


# ---- a real search with its trials elsewhere ---------------------------------------------------

def test_a_two_node_search_keeps_its_trials_in_the_trial_storage(tmp_path):
    """Two Ray nodes, the trials in a folder of their own that the study folder does not
    contain: the search runs, and export, evaluate, train and the report read them there."""
    import ray
    from ray.cluster_utils import Cluster

    from sksearch import api

    space = write_space(tmp_path, trials="trials: 3", concurrency="concurrency: 2",
                        scheduler="scheduler: {name: none, max_epochs: 2}",
                        data="data: {name: digits, train_size: 3000, val_size: 200, canvas: 12, max_scale: 1.5}")
    shared = tmp_path / "nfs"
    shared.mkdir()
    out = tmp_path / "study"
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        study = api.run(str(space), str(out), address=cluster.address, trial_storage=str(shared), progress=False)
        nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    finally:
        ray.shutdown()
        cluster.shutdown()
    df = check_study(out, planned=3, max_epochs=2)
    # Trials ran on this two-node cluster (on which nodes is Ray's choice: on a loaded machine all
    # three may go to one; test_two_node_cluster_runs_trials_on_both_nodes asserts the spread).
    assert set(df.node) <= nodes and len(nodes) == 2
    run = json.loads((out / "run.json").read_text())
    experiment = shared / f"tiny-{run['run_id']}"
    assert run["trial_storage"] == str(experiment)
    assert not (out / "ray").exists() and os.listdir(shared) == [experiment.name]
    assert len(trial_folders(experiment)) == 3 and (experiment / "tuner.pkl").exists()
    assert (out / "report.html").exists() and study.status()["finished"]
    best = int(df[df.status == "completed"].sort_values("accuracy").trial_id.iloc[-1])
    row = df[df.trial_id == best].iloc[0]
    weights = sorted((experiment / f"trial_{best:04d}_{row.ray_trial_id}").glob("checkpoint_*/model.safetensors"))
    assert main(["export", str(out), "--trial", str(best), "--to", str(tmp_path / "exported")]) == 0
    assert sha(tmp_path / "exported" / "weights.safetensors") == sha(weights[-1])
    os.remove(out / "report.html")
    assert main(["report", str(out)]) == 0 and (out / "report.html").stat().st_size > 0
    assert main(["evaluate", f"{out}:{best}", "--json"]) == 0
    assert main(["train", str(tmp_path / "exported"), "--epochs", "1", "--out", str(tmp_path / "trained")]) == 0
    assert (tmp_path / "trained" / "weights.safetensors").exists()
    # A study whose trial storage is not mounted here says so, naming run.json's key.
    moved = tmp_path / "nfs-elsewhere"
    os.rename(shared, moved)
    with pytest.raises(UserError, match="trial storage .* is not on this machine; mount it"):
        api.open(str(out)).export(best, str(tmp_path / "again"))


# A second Ray start and a stopped run (about 40 s): `pytest -m slow`; the two-node search above
# reads its trials back from the trial storage in the default suite.
@pytest.mark.slow
def test_resume_continues_from_the_trial_storage(tmp_path):
    """A search stopped by SIGTERM resumes from Ray's snapshot in the trial storage, and every
    trial folder, old and new, lies there."""
    space = write_space(tmp_path, trials="trials: 4")
    shared = tmp_path / "nfs"
    shared.mkdir()
    out = tmp_path / "study"
    proc = start(space, out, "--trial-storage", str(shared))
    wait_for_finished(out, 1, proc)
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=120) == 143
    experiment = shared / f"tiny-{json.loads((out / 'run.json').read_text())['run_id']}"
    assert (experiment / "tuner.pkl").exists() and not (out / "ray").exists()
    again = run_cli("resume", str(out))
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resuming study tiny from {experiment}" in again.stdout
    df = check_study(out, planned=4, max_epochs=2)
    tried = df[df.status.isin(FINISHED)]
    assert ({f"trial_{int(r.trial_id):04d}_{r.ray_trial_id}" for _, r in tried.iterrows()}
            <= set(trial_folders(experiment)))
    assert not (out / "ray").exists()


# ---- the shipped cluster examples -------------------------------------------------------------

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")


def test_the_slurm_script_parses_and_gives_the_trials_a_shared_folder():
    script = os.path.join(EXAMPLES, "slurm", "sksearch.sbatch")
    proc = subprocess.run(["bash", "-n", script], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    with open(script) as fh:
        text = fh.read()
    assert '--trial-storage "$TRIALS"' in text and 'sksearch resume "$STUDY" --address "$address"' in text
    assert "#SBATCH --signal=B:TERM@" in text and 'kill -TERM "$driver"' in text


def test_the_kuberay_example_is_yaml_with_a_shared_volume_and_the_trial_storage_on_it():
    import yaml

    with open(os.path.join(EXAMPLES, "kuberay", "raycluster.yaml")) as fh:
        claim, cluster = yaml.safe_load_all(fh)
    with open(os.path.join(EXAMPLES, "kuberay", "rayjob.yaml")) as fh:
        (job,) = yaml.safe_load_all(fh)
    assert (claim["kind"], cluster["kind"], job["kind"]) == ("PersistentVolumeClaim", "RayCluster", "RayJob")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    pods = [cluster["spec"]["headGroupSpec"]["template"]["spec"]]
    pods += [group["template"]["spec"] for group in cluster["spec"]["workerGroupSpecs"]]
    for pod in pods:  # every node mounts the one volume at /shared, and agrees on the auth mode
        assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
        assert {"name": "shared", "mountPath": "/shared"} in pod["containers"][0]["volumeMounts"]
        assert {"name": "RAY_AUTH_MODE", "value": "disabled"} in pod["containers"][0]["env"]
    assert job["spec"]["clusterSelector"] == {"ray.io/cluster": cluster["metadata"]["name"]}
    assert "--trial-storage /shared/trials" in job["spec"]["entrypoint"]
    shell, flag, script = shlex.split(job["spec"]["entrypoint"])  # the entrypoint's script parses
    proc = subprocess.run([shell, "-n", flag, script], capture_output=True, text=True, check=False)
    assert (shell, flag, proc.returncode) == ("bash", "-c", 0), proc.stderr


def test_resume_refuses_a_link_out_of_the_trial_storage(tmp_path):
    """Ray writes into the trial storage on resume: a link there leading out of it (a trial
    folder linked to another study's) is refused before anything is written, as in ray/."""
    from sksearch.api import strategy_for
    from sksearch.search.driver import resume

    experiment = tmp_path / "nfs" / "tiny-0123abcd"
    experiment.mkdir(parents=True)
    (tmp_path / "other").mkdir()
    os.symlink(tmp_path / "other", experiment / "trial_0000_abc")
    study = tmp_path / "study"
    study.mkdir()
    (study / "run.json").write_text(json.dumps({"study_name": "tiny", "run_id": "0123abcd",
                                                "trial_storage": str(experiment)}))
    with pytest.raises(UserError, match="trial_0000_abc"):
        resume(str(study), strategy_for)
    assert os.listdir(study) == ["run.json"] and os.listdir(tmp_path / "other") == []
