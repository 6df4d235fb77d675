"""Fuzzing the readers of a study folder, an export folder and a study's database (issue 35).

One real study (``finished_study``) and one export of it are made once per session; each case
damages a copy of one file (truncation, flipped bytes, huge and NaN numbers, wrong JSON types,
values no search writes in the database, links that dangle, loop or point at a folder) and runs
the read commands in-process. Each must answer (exit 0) or give one clean line (exit 2,
``UserError`` in the API): any other exception fails the test with its traceback. Seeded, so a
failure repeats; bounded, so it runs with the suite (about a minute on two shared cores).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
from typing import Callable

import pytest

import sksearch
from sksearch import UserError
from sksearch.cli import main

SEED = 35
STUDY_CASES = 40
EXPORT_CASES = 24
HOSTILE_NUMBERS = ["1e999", "-1e999", "NaN", "Infinity", "1e300", "-1", "0", "9" * 400, "true", '"text"', "null",
                   "[]", "{}", "[" * 5000 + "]" * 5000]
HOSTILE_SQL = ["NULL", "'text'", "1e999", "-1e999", "1e300", "-5", "X'00ff'", "0.5"]
WRONG_TYPES = [None, 1, -1, 1e300, float("nan"), "x", [], {}, [1, "a"], {"a": {"b": []}}, True]


@pytest.fixture(scope="session")
def fuzz_export(finished_study, tmp_path_factory):
    """An export of the study's first completed trial, made once."""
    import pandas as pd

    study = finished_study[0]
    df = pd.read_csv(study / "trials.csv")
    trial = int(df[df.status == "completed"].trial_id.iloc[0])
    out = tmp_path_factory.mktemp("fuzz") / "export"
    assert main(["export", str(study), "--trial", str(trial), "--to", str(out)]) == 0
    return out


def truncate(rng: random.Random, path: str) -> None:
    data = open(path, "rb").read()
    open(path, "wb").write(data[:rng.randrange(0, max(1, len(data)))])


def flip_bytes(rng: random.Random, path: str) -> None:
    data = bytearray(open(path, "rb").read())
    for _ in range(rng.choice([1, 4, 32])):
        if data:
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
    open(path, "wb").write(bytes(data))


def wrong_json(rng: random.Random, path: str) -> None:
    """One key (or the whole file) of a JSON file set to a value of another type."""
    try:
        data = json.load(open(path))
    except ValueError:
        data = None
    if isinstance(data, dict) and data and rng.random() < 0.8:
        key = rng.choice(sorted(data))
        value = data[key]
        if isinstance(value, dict) and value and rng.random() < 0.5:
            value[rng.choice(sorted(value))] = rng.choice(WRONG_TYPES)
        else:
            data[key] = rng.choice(WRONG_TYPES)
    else:
        data = rng.choice(WRONG_TYPES)
    open(path, "w").write(json.dumps(data))


def not_utf8(rng: random.Random, path: str) -> None:
    open(path, "ab").write(b"\xff\xfe\xc3")


def linked(rng: random.Random, path: str) -> None:
    """The file replaced by a link that dangles, loops or names a folder."""
    os.remove(path)
    kind = rng.choice(["dangling", "loop", "folder"])
    target = {"dangling": path + ".gone", "loop": path, "folder": os.path.dirname(path)}[kind]
    os.symlink(target, path)


def hostile_row(rng: random.Random, db: str) -> None:
    """One value in the database set to what no search writes."""
    edits = [
        f"UPDATE trial_values SET value = {rng.choice(HOSTILE_SQL)} WHERE trial_value_id = (SELECT min(trial_value_id) "
        f"FROM trial_values)",
        "UPDATE trial_values SET value_type = " + rng.choice(["'INF_POS'", "'INF_NEG'", "'WHAT'", "NULL"]),
        "UPDATE trial_user_attributes SET value_json = ? WHERE trial_user_attribute_id = ?",
        "UPDATE trials SET state = " + rng.choice(["'BOGUS'", "NULL", "3", "'complete'"]) + " WHERE trial_id = 2",
        "UPDATE trials SET number = " + rng.choice(["NULL", "'x'", "-7", "1e300"]) + " WHERE trial_id = 3",
        "UPDATE trials SET datetime_start = " + rng.choice(["'yesterday'", "'9999-01-01 00:00:00'", "5", "NULL"]),
        f"UPDATE trial_params SET param_value = {rng.choice(HOSTILE_SQL)}",
        "UPDATE trial_params SET distribution_json = ?",
        "UPDATE study_system_attributes SET value_json = ?",
    ]
    sql = rng.choice(edits)
    con = sqlite3.connect(db)
    try:
        if "trial_user_attribute_id" in sql:
            ids = [r[0] for r in con.execute("SELECT trial_user_attribute_id FROM trial_user_attributes")]
            con.execute(sql, (rng.choice(HOSTILE_NUMBERS), rng.choice(ids)))
        elif "?" in sql:
            con.execute(sql, (rng.choice(HOSTILE_NUMBERS + ['{"name": "Nope"}', '{"name": "FloatDistribution", '
                                                                               '"attributes": {"low": "a"}}']),))
        else:
            con.execute(sql)
        con.commit()
    except sqlite3.IntegrityError:
        pass  # the schema refuses it (NOT NULL): no copy can hold it
    finally:
        con.close()


def check_cli(args: list[str], capsys) -> int:
    """``sksearch ARGS`` in-process: it answers, or says one line and exits 2."""
    code = main(args)
    err = capsys.readouterr().err
    assert code in (0, 2), (args, code, err[-2000:])
    if code == 2:
        assert err.startswith("sksearch: error: ") and "Traceback" not in err, err[-2000:]
    return code


def check_api(call: Callable[[], object]) -> None:
    try:
        call()
    except UserError:
        pass


STUDY_FILES = ["optuna.db", "run.json", "space.yaml", "data.json"]
STUDY_DAMAGE = {"optuna.db": [truncate, flip_bytes, hostile_row, hostile_row, hostile_row, linked],
                "run.json": [truncate, flip_bytes, wrong_json, not_utf8, linked],
                "space.yaml": [truncate, flip_bytes, not_utf8, linked],
                "data.json": [truncate, flip_bytes, wrong_json, not_utf8, linked]}


def test_damaged_study_folders_give_an_answer_or_one_clean_line(finished_study, tmp_path, capsys):
    rng = random.Random(SEED)
    for case in range(STUDY_CASES):
        study = tmp_path / f"study{case}"
        shutil.copytree(finished_study[0], study, symlinks=True, ignore=shutil.ignore_patterns("report.html"))
        name = rng.choice(STUDY_FILES + ["optuna.db"] * 3)  # the database has the most to get wrong
        damage = rng.choice(STUDY_DAMAGE[name])
        damage(rng, str(study / name))
        check_cli(["status", str(study)], capsys)
        check_cli(["status", str(study), "--json"], capsys)
        check_cli(["pareto", str(study)], capsys)
        check_cli(["export", str(study), "--front", "--to", str(tmp_path / f"front{case}")], capsys)
        if case % 4 == 0:  # the report draws every figure: the slowest reader
            check_cli(["report", str(study), "--out", str(tmp_path / f"report{case}.html")], capsys)

        def through_api(study=study) -> None:  # called at once, in this pass of the loop
            opened = sksearch.open(str(study))
            opened.front()
            opened.status()
            opened.load_model(int(opened.front()["trial_id"].iloc[0]))

        check_api(through_api)


EXPORT_FILES = ["spec.json", "weights.safetensors", "train.json", "preprocess.json"]
EXPORT_DAMAGE = {"spec.json": [truncate, flip_bytes, wrong_json, not_utf8, linked],
                 "weights.safetensors": [truncate, flip_bytes, linked, "nan"],
                 "train.json": [truncate, flip_bytes, wrong_json, wrong_json, not_utf8, linked],
                 "preprocess.json": [truncate, wrong_json, wrong_json, not_utf8, linked]}


def nan_weights(rng: random.Random, path: str) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(path)
    key = rng.choice(sorted(k for k, v in state.items() if v.is_floating_point()))
    state[key].view(-1)[0] = rng.choice([float("nan"), float("inf")])
    save_file(state, path)


def test_damaged_export_folders_give_an_answer_or_one_clean_line(fuzz_export, tmp_path, capsys):
    rng = random.Random(SEED)
    for case in range(EXPORT_CASES):
        export = tmp_path / f"export{case}"
        shutil.copytree(fuzz_export, export, symlinks=True)
        name = rng.choice(EXPORT_FILES)
        damage = rng.choice(EXPORT_DAMAGE[name])
        (nan_weights if damage == "nan" else damage)(rng, str(export / name))
        check_api(lambda export=export: sksearch.load_model(str(export)))
        code = check_cli(["evaluate", str(export), "--split", "val"], capsys)
        if name == "weights.safetensors" and damage == "nan":
            assert code == 2  # NaN weights are refused, never measured as a 10% model
        # train refuses before it writes; one epoch of a tiny network on 400 images when it does not
        out = tmp_path / f"trained{case}"
        code = check_cli(["train", str(export), "--epochs", "1", "--out", str(out), "--set", "data.train_size=64",
                          "--set", "data.val_size=32"], capsys)
        if code == 2:
            assert not out.exists(), f"a refused train left {out}"
