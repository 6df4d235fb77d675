"""The SQL reader of Optuna's tables gives the table Optuna's own API gives, opens the database
read-only, and refuses missing, empty and foreign databases with a clear message."""

import hashlib
import os
import sqlite3

import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from sksearch.errors import UserError
from sksearch.study.reader import read_records, read_table
from sksearch.study.store import StudyRef, load_study
from sksearch.study.table import records_from_study, trials_table


def via_optuna(url, name):
    study = optuna.load_study(study_name=name, storage=url)
    return trials_table(records_from_study(study), study.metric_names)


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_the_table_equals_optunas_on_a_real_study(finished_study):
    study_dir, _ = finished_study
    url = f"sqlite:///{study_dir / 'optuna.db'}"
    before = digest(study_dir / "optuna.db")
    pd.testing.assert_frame_equal(read_table(StudyRef(url, "tiny", str(study_dir))), via_optuna(url, "tiny"))
    assert digest(study_dir / "optuna.db") == before


@pytest.fixture
def varied(tmp_path):
    """A study with every kind of parameter, value and state the reader must decode."""
    url = f"sqlite:///{tmp_path / 'v.db'}"
    study = optuna.create_study(study_name="v", storage=url, directions=["maximize", "minimize"])
    study.set_metric_names(["accuracy", "params"])
    dists = {"block": CategoricalDistribution(["sk", "se", None]), "flag": CategoricalDistribution([True, False]),
             "M": CategoricalDistribution([1, 2, 3]), "lr": FloatDistribution(1e-3, 1.0, log=True),
             "depth": IntDistribution(1, 9, step=2), "wd": FloatDistribution(0.0, 1.0, step=0.25)}
    values = {"block": "se", "flag": False, "M": 3, "lr": 0.0123, "depth": 7, "wd": 0.75}
    for i, state in enumerate([TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.COMPLETE]):
        trial = study.ask(dists if i != 2 else {"block": dists["block"]})
        for key, value in {"epochs": i, "accuracy": 0.5 + i / 10, "reason": f"r{i}", "nested": {"a": [1, 2]},
                           "status": "rejected" if i == 2 else None}.items():
            if value is not None:
                trial.set_user_attr(key, value)
        if state == TrialState.COMPLETE:
            study.tell(trial, [0.9 if i == 0 else 0.95, 1000.0 + i])  # an infinite one: test_damage.py
        else:
            study.tell(trial, state=state)
    study.enqueue_trial(values)          # a WAITING trial
    study.ask()                          # and a RUNNING one (the enqueued one is taken: ask again for RUNNING)
    study.ask(dists)
    return url


def test_the_table_equals_optunas_for_every_kind_of_value(varied, tmp_path):
    ours, theirs = read_table(StudyRef(varied, "v", str(tmp_path))), via_optuna(varied, "v")
    pd.testing.assert_frame_equal(ours, theirs)
    assert ours.status.tolist()[:3] == ["completed", "stopped_early", "rejected"]
    assert ours.accuracy[3] == 0.95
    records, names = read_records(StudyRef(varied, "v", str(tmp_path)))
    assert names == ["accuracy", "params"]
    assert records[0].user_attrs["nested"] == {"a": [1, 2]}
    assert type(records[0].params["depth"]) is int and type(records[0].params["flag"]) is bool


def test_reading_writes_nothing_and_creates_nothing(varied, tmp_path):
    path = tmp_path / "v.db"
    before, mtime = digest(path), os.stat(path).st_mtime_ns
    read_table(StudyRef(varied, "v", "here"))
    _ = load_study(StudyRef(varied, "v", "here")).trials
    assert digest(path) == before and os.stat(path).st_mtime_ns == mtime
    missing = tmp_path / "moved" / "optuna.db"
    for read in (read_table, load_study):
        with pytest.raises(UserError, match=f"here: its study database {missing} does not exist"):
            read(StudyRef(f"sqlite:///{missing}", "v", "here"))
    assert not missing.parent.exists()


def test_empty_foreign_and_wrong_databases_are_clear_errors(varied, tmp_path):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(UserError, match="is empty"):
        read_table(StudyRef(f"sqlite:///{empty}", "v", "here"))
    foreign = tmp_path / "foreign.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE notes (x)")
    con.commit()
    con.close()
    with pytest.raises(UserError, match="is not an Optuna study database"):
        read_table(StudyRef(f"sqlite:///{foreign}", "v", "here"))
    with pytest.raises(UserError, match="cannot read the Optuna study"):
        load_study(StudyRef(f"sqlite:///{foreign}", "v", "here"))
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(UserError, match="not a readable Optuna database"):
        read_table(StudyRef(f"sqlite:///{junk}", "v", "here"))
    with pytest.raises(UserError, match="holds no study named 'w'.*it holds: v"):
        read_table(StudyRef(varied, "w", "here"))
    with pytest.raises(UserError, match="holds no study named 'w'"):
        load_study(StudyRef(varied, "w", "here"))


def test_partial_reads_are_parts_of_the_whole_table(varied, tmp_path):
    full = read_table(StudyRef(varied, "v", "here"))
    done = read_table(StudyRef(varied, "v", "here"), states=("COMPLETE",))
    expected = full[full.status == "completed"].reset_index(drop=True)
    # (A parameter's column may hold fewer kinds of values among completed trials alone: its
    # dtype may differ, its values may not.)
    def plain(df):
        return df.astype(object).where(df.notna(), None)

    pd.testing.assert_frame_equal(plain(done), plain(expected[done.columns]))
    assert set(done.columns) == set(full.columns)
    lean = read_table(StudyRef(varied, "v", "here"), params=False)
    assert [c for c in full.columns if c not in lean.columns] == ["block", "flag", "M", "lr", "depth", "wd"]
    pd.testing.assert_frame_equal(lean, full[lean.columns])


def test_a_shared_database_gives_each_study_its_own_trials(varied, tmp_path):
    other = optuna.create_study(study_name="other", storage=varied, directions=["maximize", "minimize"])
    other.set_metric_names(["accuracy", "params"])
    trial = other.ask({"x": FloatDistribution(0, 1)})
    trial.set_user_attr("epochs", 9)
    other.tell(trial, [0.5, 3.0])
    pd.testing.assert_frame_equal(read_table(StudyRef(varied, "other", "here")), via_optuna(varied, "other"))
    pd.testing.assert_frame_equal(read_table(StudyRef(varied, "v", "here")), via_optuna(varied, "v"))
    assert read_table(StudyRef(varied, "v", "here"), states=("COMPLETE",)).trial_id.tolist() == [0, 3]


# ---- a driver writing between the reader's SELECTs (a shared study) ------------------------

M = CategoricalDistribution([1, 2])
DILATION = CategoricalDistribution([2, 3])


def race_study(url, name):
    """Two completed trials with M=1, whose conditional parameter (the second branch's dilation)
    no trial has sampled yet, and a running one; a function that completes the running one and
    adds a trial with M=2, which samples the dilation."""
    study = optuna.create_study(study_name=name, storage=url, directions=["maximize", "minimize"])
    study.set_metric_names(["accuracy", "params"])
    for i in range(2):
        trial = study.ask({"sk.M": M})
        trial.set_user_attr("epochs", 2)
        study.tell(trial, [0.5 + i / 10, 100.0 + i])
    running = study.ask()

    def another_driver_writes():
        study.tell(running, [0.7, 200.0])  # a snapshot reads it as running, without values
        trial = study.ask({"sk.M": M})  # the distributions are sampled one by one, as the searcher does
        while trial.params["sk.M"] != 2:
            study.tell(trial, state=TrialState.PRUNED)
            trial = study.ask({"sk.M": M})
        trial.suggest_categorical("sk.branches.1.dilation", DILATION.choices)
        trial.set_user_attr("epochs", 2)
        study.tell(trial, [0.9, 300.0])
        return trial.number

    return another_driver_writes


def read_with_a_write_between_queries(monkeypatch, url, name, write):
    """The records read while ``write`` runs right after the reader's distributions SELECT (where
    the parameter rows' SELECT used to see a parameter whose distribution it had not read)."""
    from sksearch.study import reader

    real, written = reader._Connection.query, []

    def query(self, sql, params=None):
        rows = real(self, sql, params)
        if "SELECT DISTINCT param_name" in sql and not written:
            written.append(write())
        return rows

    monkeypatch.setattr(reader._Connection, "query", query)
    records, _ = read_records(StudyRef(url, name, "here"))
    monkeypatch.setattr(reader._Connection, "query", real)
    assert written, "the write did not run between the reader's queries"
    return records, written[0]


def check_race(monkeypatch, url, name):
    write = race_study(url, name)
    before, _ = read_records(StudyRef(url, name, "here"))
    during, number = read_with_a_write_between_queries(monkeypatch, url, name, write)
    # One snapshot: the study as it was when the read began (the running trial running, with no
    # values), nothing of the new trial.
    assert during == before and [r.state for r in during] == ["COMPLETE", "COMPLETE", "RUNNING"]
    assert during[2].values is None and not any("sk.branches.1.dilation" in r.params for r in during)
    after = read_table(StudyRef(url, name, "here"))
    row = after[after.trial_id == number].iloc[0]
    assert row["sk.M"] == 2 and row["sk.branches.1.dilation"] in DILATION.choices
    assert row.status == "completed" and row.accuracy == 0.9
    pd.testing.assert_frame_equal(after, via_optuna(url, name))


def test_a_trial_written_between_the_readers_queries_is_not_read_until_the_next_read(monkeypatch, tmp_path):
    path = tmp_path / "wal.db"
    # WAL: a writer commits while a reader's transaction is open (in the default rollback
    # journal, the reader's shared lock keeps the writer waiting until the read ends).
    sqlite3.connect(path).execute("PRAGMA journal_mode=WAL").fetchall()
    check_race(monkeypatch, f"sqlite:///{path}", "race")


def test_a_parameter_without_a_distribution_read_is_left_out_not_a_crash(monkeypatch, varied):
    """Where a database gives the reader no snapshot, a parameter row whose distribution the
    earlier SELECT did not see is read as unknown (absent) until the next read."""
    from sksearch.study import reader

    real = reader._Connection.query

    def query(self, sql, params=None):
        rows = real(self, sql, params)
        if "SELECT DISTINCT param_name" in sql:
            return [row for row in rows if row[0] != "lr"]
        if sql.startswith("SELECT trial_id, number"):
            return rows[:-1]  # a trial the trials SELECT did not list yet
        return rows

    monkeypatch.setattr(reader._Connection, "query", query)
    records, _ = read_records(StudyRef(varied, "v", "here"))
    monkeypatch.setattr(reader._Connection, "query", real)
    whole, _ = read_records(StudyRef(varied, "v", "here"))
    assert [r.number for r in records] == [r.number for r in whole][:-1]
    for got, full in zip(records, whole):
        assert got.params == {k: v for k, v in full.params.items() if k != "lr"}
        assert (got.values, got.user_attrs, got.state) == (full.values, full.user_attrs, full.state)
    assert any("lr" in r.params for r in whole)
