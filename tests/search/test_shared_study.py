"""Several drivers on one study (SQLite and a real PostgreSQL server), baselines, seed
configurations, warm starts and the samplers."""

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid

import optuna
import pandas as pd
import pytest
from ray.tune.search import Searcher

from sksearch.cli import main
from sksearch.search.optuna_searcher import OptunaSearcher
from sksearch.space import load_space
from sksearch.study.folder import StudyFolder
from tests.conftest import run_cli, write_space

# ---- two drivers at once ---------------------------------------------------------------------

def two_drivers(tmp_path, url, n=3):
    """Two `sksearch run` processes on one study, started together; their study folders."""
    space = write_space(tmp_path, trials=f"trials: {n}")
    outs = [tmp_path / f"driver{i}" for i in (1, 2)]
    procs = [subprocess.Popen([sys.executable, "-m", "sksearch", "run", str(space), "--out", str(out),
                               "--storage", url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for out in outs]
    for proc in procs:
        log = proc.communicate(timeout=600)[0]
        assert proc.returncode == 0, log[-3000:]
    return outs


def check_shared(outs, n, url):
    # A shared study is read from the database named on the command line, never from run.json's word.
    tables = [StudyFolder.open(str(out), storage=url).table for out in outs]
    pd.testing.assert_frame_equal(tables[0], tables[1])  # one study, whichever folder reads it
    table = tables[0]
    trained = table[table.status.isin(["completed", "stopped_early", "failed"])]
    assert len(trained) == 2 * n and trained.trial_id.is_unique and (trained.status != "failed").all()
    runs = [json.loads((out / "run.json").read_text())["run_id"] for out in outs]
    assert sorted(trained.run_id.value_counts().tolist()) == [n, n] and set(trained.run_id) == set(runs)
    for out, run_id in zip(outs, runs):
        # Each driver trained exactly its own trials, once: one Ray folder per trial of its run.
        folders = [os.path.basename(p) for p in glob.glob(str(out / "ray" / "trial_*"))]
        mine = trained[trained.run_id == run_id]
        assert sorted(int(f.split("_")[1]) for f in folders) == sorted(mine.trial_id)
        assert all(f"trial_{t:04d}_{r}" in folders for t, r in zip(mine.trial_id, mine.ray_trial_id))
        info = json.loads(run_cli("status", str(out), "--json", "--storage", url).stdout)
        assert info["done"] == n and info["finished"] and len(info["runs"]) == 2


# Slow (about 30 s): the PostgreSQL variant below runs the same two drivers in the default suite.
@pytest.mark.slow
def test_two_drivers_on_one_sqlite_study(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    outs = two_drivers(tmp_path, url)
    check_shared(outs, 3, url)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The server's data is deleted after the tests: no commit needs to wait for the disk (on a
# loaded machine, fsync made each driver's hundreds of commits the slowest part of a test).
THROWAWAY = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


@pytest.fixture(scope="module")
def postgres_url():
    """A PostgreSQL server of its own, started for these tests (as the postgres user when the
    tests run as root, since PostgreSQL refuses to run as root)."""
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -e \".[dev]\" or \".[postgres]\")")
    bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("pg_config") else ""
    initdb = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))), None) \
        or (os.path.join(bindir, "initdb") if bindir else None)
    if not initdb or not os.path.exists(initdb):
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; .ci/run installs it)")
    pg_ctl = os.path.join(os.path.dirname(os.path.realpath(initdb)), "pg_ctl")
    prefix = []
    base = tempfile.mkdtemp(prefix="sksearch-pg-", dir="/tmp")
    if os.geteuid() == 0:
        import pwd

        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run PostgreSQL as")
        os.chown(base, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = os.path.join(base, "data"), free_port()
    subprocess.run([*prefix, initdb, "-D", data, "-A", "trust", "-U", "sksearch"], check=True, capture_output=True)
    subprocess.run([*prefix, pg_ctl, "-D", data, "-l", os.path.join(base, "log"), "-w", "-o",
                    f"-p {port} -k {base} -c listen_addresses=127.0.0.1 {THROWAWAY}", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql://sksearch@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", data, "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_two_drivers_on_one_postgresql_study(tmp_path, postgres_url):
    outs = two_drivers(tmp_path, postgres_url)
    check_shared(outs, 3, postgres_url)
    assert json.loads((outs[0] / "run.json").read_text())["storage"] == postgres_url


def test_a_trial_written_between_the_readers_queries_on_postgresql(monkeypatch, postgres_url):
    """The race of issue 33 made certain: another driver writes a trial with a new conditional
    parameter right after the reader's distributions SELECT (READ COMMITTED, PostgreSQL's
    default, would let the next SELECT see it)."""
    from tests.study.test_reader import check_race

    check_race(monkeypatch, postgres_url, f"race_{uuid.uuid4().hex[:8]}")


# A driver's writes as the searcher makes them (a trial asked, its parameters sampled one by one,
# user attributes, an epoch's curve, then told), without Ray, torch or training, as fast as the
# database takes them. Every trial with M=2 samples a parameter no trial had before: each one is
# the moment a reader used to crash at (a parameter row whose distribution it had not read).
WRITER = """
import sys
import optuna

url, name, run_id, n = sys.argv[1:]
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.load_study(study_name=name, storage=url, sampler=optuna.samplers.RandomSampler(seed=len(run_id)))
for i in range(int(n)):
    trial = study.ask()
    trial.set_user_attr("run_id", run_id)
    if trial.suggest_categorical("sk.M", [1, 2]) == 2:
        trial.suggest_categorical(f"sk.branches.1.dilation_{run_id}_{i}", [2, 3])
    lr = trial.suggest_float("lr", 0.01, 0.3, log=True)
    trial.set_user_attr("curve", [{"epoch": 1, "accuracy": 0.4}])
    trial.set_user_attr("curve", [{"epoch": 1, "accuracy": 0.4}, {"epoch": 2, "accuracy": 0.5}])
    trial.set_user_attr("status", "completed")
    study.tell(trial, [0.5 + lr, 100.0 + i])
"""


def test_three_drivers_and_polling_readers_on_one_postgresql_study(tmp_path, postgres_url):
    """Three drivers write one study while two threads read it over and over through every
    reader function, as the progress display, `status` and the report do: no read fails,
    every read is a study that was (each trial's values and curve whole), and the last read
    is Optuna's own table."""
    from sksearch.study.reader import read_curves, read_distributions, read_records, read_table
    from sksearch.study.store import StudyRef
    from tests.study.test_reader import via_optuna

    n, name = 20, f"stress_{uuid.uuid4().hex[:8]}"
    ref = StudyRef(postgres_url, name, str(tmp_path))
    optuna.create_study(study_name=name, storage=postgres_url, directions=["maximize", "minimize"]) \
        .set_metric_names(["accuracy", "params"])
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, postgres_url, name, f"run{i}", str(n)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(3)]
    failures, reads, conditional = [], [0, 0], set()

    def poll(k):
        while any(w.poll() is None for w in writers):
            try:
                records, _ = read_records(ref)
                for r in records:
                    # One snapshot: a completed trial is read with its values and whole curve.
                    if r.state == "COMPLETE":
                        assert r.values is not None and len(r.user_attrs["curve"]) == 2, r
                conditional.update(p for p in read_distributions(ref) if p.startswith("sk.branches"))
                read_table(ref)
                read_table(ref, states=("COMPLETE",))
                read_curves(ref)
                reads[k] += 1
            except Exception as exc:  # noqa: BLE001 - any failure of a read is what this test looks for
                failures.append(f"{type(exc).__name__}: {exc}")
                return

    pollers = [threading.Thread(target=poll, args=(k,)) for k in range(2)]
    for t in pollers:
        t.start()
    logs = [w.communicate(timeout=600)[0] for w in writers]
    for t in pollers:
        t.join(timeout=120)
    assert all(w.returncode == 0 for w in writers), "\n".join(log[-2000:] for log in logs)
    assert not failures, failures[:3]
    assert min(reads) >= 3 and len(conditional) >= 10, (reads, len(conditional))
    table = read_table(ref)
    pd.testing.assert_frame_equal(table, via_optuna(postgres_url, name))
    assert len(table) == 3 * n and (table.status == "completed").all() and table.trial_id.is_unique
    sampled = {p for t in optuna.load_study(study_name=name, storage=postgres_url).trials for p in t.distributions}
    assert set(read_distributions(ref)) == sampled and conditional <= sampled and {"sk.M", "lr"} <= sampled


def test_a_restored_driver_hands_out_only_its_own_orphans(tmp_path):
    space = load_space(str(write_space(tmp_path)))
    url = f"sqlite:///{tmp_path / 'o.db'}"
    a = OptunaSearcher(space, url, "tiny", space.data.shape(), 6, run_id="aaaa")
    b = OptunaSearcher(space, url, "tiny", space.data.shape(), 6, run_id="bbbb")
    mine = [a.suggest(f"a{i}")["trial_number"] for i in range(2)]
    theirs = [b.suggest(f"b{i}")["trial_number"] for i in range(2)]
    a.save(str(tmp_path / "a.json"))
    a.suggest("a_lost")  # after the snapshot, then driver A dies
    again = OptunaSearcher(space, url, "tiny", space.data.shape(), 6, run_id="aaaa")
    again.restore(str(tmp_path / "a.json"))
    lost = again.suggest("a_new")["trial_number"]
    assert lost not in mine + theirs and lost == 4  # A's own sample drawn after its snapshot
    assert not set(again.reissue) & set(theirs)
    fresh = OptunaSearcher(space, url, "tiny", space.data.shape(), 6, run_id="bbbb")
    fresh.suggest("b_new")
    assert sorted(fresh.trial_map.values()) in ([theirs[0]], [theirs[1]])  # B's orphans only


def test_each_driver_counts_only_its_own_trials(tmp_path):
    space = load_space(str(write_space(tmp_path)))
    url = f"sqlite:///{tmp_path / 'c.db'}"
    first = OptunaSearcher(space, url, "tiny", space.data.shape(), 2, run_id="first")
    for i in range(2):
        config = first.suggest(f"f{i}")
        first.on_trial_complete(f"f{i}", {"epoch": 2, "accuracy": 0.5, "loss": 1.0, **config["cost"]})
    assert first.suggest("f2") == Searcher.FINISHED
    second = OptunaSearcher(space, url, "tiny", space.data.shape(), 2, run_id="second")
    assert second.suggest("s0")["trial_number"] == 2  # the first driver's trials do not use up its budget


# ---- baselines, seeds, warm starts ---------------------------------------------------------

BASELINE = """
baselines:
  - name: reference
    model: {block: sk, stem: cifar, stem_width: 4, groups: 2,
            sk: {M: 2, branches: [{kernel: 3, dilation: 1}, {kernel: 3, dilation: 2}], reduction: 2, min_dim: 4},
            stages: [{depth: 1, width: 8, out_channels: 8, stride: 2}]}
    train: {lr: 0.05}
seed_configs:
  - {sk.M: 2, sk.branches.1.dilation: 3, stages.0.width_per_group: 2, lr: 0.1}
constraints: {params: {max: 1000}}
"""


@pytest.fixture(scope="module")
def with_baseline(tmp_path_factory):
    root = tmp_path_factory.mktemp("baseline")
    space = write_space(root, text=__import__("tests.conftest", fromlist=["TINY_SPACE"]).TINY_SPACE + BASELINE,
                        trials="trials: 3")
    out = root / "study"
    proc = run_cli("run", str(space), "--out", str(out), timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc


def test_a_baseline_is_trained_once_with_the_budget_and_shown_everywhere(with_baseline):
    out, proc = with_baseline
    table = pd.read_csv(out / "trials.csv")
    base = table[table.baseline.notna()]
    assert base.baseline.tolist() == ["reference"] and base.trial_id.tolist() == [-1]
    assert base.status.tolist() == ["completed"] and base.epochs.tolist() == [2]  # the full budget, never cut
    # Over the budget (1,022 params > 1,000): trained all the same, and said so.
    assert "baseline reference breaks the budgets (params 1,022 > max 1,000" in proc.stdout, proc.stdout[-2000:]
    assert base.params.tolist() == [1022]
    searched = table[table.baseline.isna()]
    assert len(searched[searched.status != "rejected"]) == 3  # a baseline is not one of the trials
    assert glob.glob(str(out / "ray" / "baseline_0000_*"))
    params = json.loads(open(glob.glob(str(out / "ray" / "baseline_0000_*" / "params.json"))[0]).read())
    assert params["train"]["lr"] == 0.05 and params["baseline"] == "reference"
    # Not on the front; the sentence says which front trials dominate it.
    answer = json.loads(run_cli("pareto", str(out), "--json").stdout)
    front = answer["front"]
    assert len(answer["baselines"]) == 1 and answer["one_shot"] is None
    verdict = answer["baselines"][0]
    assert verdict["baseline"] == "reference"
    assert -1 not in [r["trial_id"] for r in front] and verdict["trial_id"] == -1
    dominated = verdict["dominated_by"]
    for t in dominated:
        r = next(f for f in front if f["trial_id"] == t)
        assert r["accuracy"] >= verdict["accuracy"] and r["params"] <= verdict["params"]
    text = run_cli("pareto", str(out)).stdout
    assert "Baseline reference (" in text and ("dominated by" in text or "not dominated" in text)
    from sksearch.study.page import read_figures

    figure = read_figures(str(out / "report.html"))["front_params"]
    stars = [t for t in figure["data"] if t.get("name") == "baseline"]
    assert stars and stars[0]["marker"]["symbol"] == "star" and stars[0]["text"] == ["reference"]
    assert "Baselines against the front" in (out / "report.html").read_text()


def test_seed_configurations_are_proposed_first(with_baseline):
    out, _ = with_baseline
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'optuna.db'}")
    assert study.trials[0].params == {"sk.M": 2, "sk.branches.1.dilation": 3, "stages.0.width_per_group": 2, "lr": 0.1}


def test_a_warm_start_informs_the_sampler_but_is_kept_apart(with_baseline, tmp_path):
    earlier, _ = with_baseline
    space = write_space(tmp_path, trials="trials: 2")
    out = tmp_path / "warm"
    proc = run_cli("run", str(space), "--out", str(out), "--warm-start", str(earlier), timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    before = pd.read_csv(earlier / "trials.csv")
    table = pd.read_csv(out / "trials.csv")
    imported = table[table.imported.notna()]
    source = before[(before.status == "completed") & before.baseline.isna()]
    assert len(imported) == len(source) and "warm start:" in proc.stdout
    assert sorted(imported.accuracy) == sorted(source.accuracy) and imported.run_id.isna().all()
    kept = ["accuracy", "loss", "params", "macs", "epochs", "train_time"]  # every metric the source recorded
    assert sorted(map(tuple, imported[kept].values)) == sorted(map(tuple, source[kept].values))
    mine = table[table.imported.isna() & (table.status != "rejected")]
    assert len(mine) == 2  # imported trials never count as this run's
    front = json.loads(run_cli("pareto", str(out), "--json").stdout)["front"]
    assert not set(r["trial_id"] for r in front) & set(imported.trial_id)
    both = json.loads(run_cli("pareto", str(out), "--json", "--include-imported").stdout)["front"]
    assert any(r.get("imported") for r in both) or set(r["trial_id"] for r in both) <= set(mine.trial_id)


@pytest.mark.parametrize("extra,words", [
    ("baselines: [sknet51]", "baselines[0].preset: must be one of sknet26"),
    ("baselines: [{name: x, model: {stages: [{depth: {int: [1, 2]}, width: 8, out_channels: 8}]}}]",
     "baselines[0].model.stages[0].depth: a baseline's values are fixed"),
    ("seed_configs: [{sk.M: 5}]", "seed_configs[0].sk.M: must be one of 1, 2; got 5"),
    ("seed_configs: [{lr: 9.0}]", "seed_configs[0].lr: must be a number from 0.01 to 0.3; got 9.0"),
    ("seed_configs: [{colour: 1}]", "seed_configs[0].colour: is not a searched parameter of this space"),
    ("warm_start: [/nowhere/study]", "warm_start: /nowhere/study: no such study folder"),
    # The architecture fixed, the sampler to fill lr: still costed, and over the budget.
    ("constraints: {params: {max: 800}}\nseed_configs: [{sk.M: 2, sk.branches.1.dilation: 3, "
     "stages.0.width_per_group: 4}]", "seed_configs[0]: is rejected: params 1,022 > max 800"),
    ("baselines: [{name: odd, model: {groups: 3, stem_width: 4, sk: {M: 1, branches: [{kernel: 3, dilation: 1}]}, "
     "stages: [{depth: 1, width: 8, out_channels: 8, stride: 2}]}}]",
     "baselines[0]: the baseline odd is rejected: invalid architecture"),
    ("baselines: [{name: x, model: {bogus: 1, stages: [{depth: 1, width: 8, out_channels: 8}]}}]",
     "baselines[0].model.bogus"),
])
def test_bad_baselines_seeds_and_warm_starts_are_refused_before_anything_runs(tmp_path, capsys, extra, words):
    from tests.conftest import TINY_SPACE

    space = write_space(tmp_path, text=TINY_SPACE + extra + "\n")
    assert main(["run", str(space), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and not (tmp_path / "out").exists(), err


def test_a_warm_start_with_other_objectives_is_refused(finished_study, tmp_path, capsys):
    from tests.conftest import TINY_SPACE

    space = write_space(tmp_path, text=TINY_SPACE.replace("objectives: [accuracy, params]",
                                                          "objectives: [accuracy, macs]"))
    assert main(["run", str(space), "--out", str(tmp_path / "out"), "--warm-start", str(finished_study[0])]) == 2
    assert "its objectives are accuracy, params; this space's are accuracy, macs" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
