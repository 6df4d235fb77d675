"""Bad input to every command: exit code 2, one clear line naming what is wrong, no traceback,
and nothing written or overwritten. One table row per case, so the next gap is one row.

Each row builds its case in a fresh folder (``tmp``) from a finished study (``study``, a copy
the row may break) and returns the command's arguments; ``words`` must all appear in stderr.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable

import pytest
import yaml

from sksearch.cli import main
from tests.conftest import TINY_SPACE, run_cli, tiny_spec, write_space


@dataclass
class Case:
    id: str
    args: Callable  # (tmp, study) -> list of CLI arguments
    words: tuple[str, ...]
    untouched: Callable | None = None  # (tmp, study) -> paths whose bytes must not change


def space_file(tmp, text=None, **replace):
    return str(write_space(tmp, text or TINY_SPACE, **replace))


def raw_space(tmp, data: bytes, name="bad.yaml"):
    path = tmp / name
    path.write_bytes(data)
    return str(path)


def edited_space(tmp, edit):
    raw = yaml.safe_load(TINY_SPACE)
    edit(raw)
    return raw_space(tmp, yaml.safe_dump(raw).encode())


def user_folder(tmp, *names):
    folder = tmp / "mine"
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / name).write_text(f"the user's own {name}\n")
    return str(folder)


def spec_file(tmp, data: bytes):
    path = tmp / "spec.json"
    path.write_bytes(data)
    return str(path)


def with_run_json(study, content: str):
    (study / "run.json").write_text(content)
    return str(study)


def with_db(study, content: bytes | None):
    """The study with its database replaced by ``content`` (None: removed)."""
    db = study / "optuna.db"
    if content is None:
        db.unlink()
    else:
        db.write_bytes(content)
    return str(study)


def first_completed(study) -> str:
    import pandas as pd

    df = pd.read_csv(study / "trials.csv")
    return str(int(df[df.status == "completed"].trial_id.iloc[0]))


def completed_trial_dir(study):
    """(trial id, its Ray folder, its ray_trial_id) of the first completed trial."""
    import pandas as pd

    df = pd.read_csv(study / "trials.csv")
    row = df[df.status == "completed"].iloc[0]
    return int(row.trial_id), study / "ray" / f"trial_{int(row.trial_id):04d}_{row.ray_trial_id}", row.ray_trial_id


def ray_folder_linked_outside(tmp, study):
    trial, folder, _ = completed_trial_dir(study)
    shutil.move(folder, tmp / "outside")
    os.symlink(tmp / "outside", folder)
    return ["export", str(study), "--trial", str(trial), "--to", str(tmp / "x")]


def ray_trial_id_climbing_out(tmp, study):
    """The database names the trial's folder as its own, then ``../`` out of the study."""
    trial, folder, rid = completed_trial_dir(study)
    shutil.copytree(folder, tmp / "outside")
    con = sqlite3.connect(study / "optuna.db")
    con.execute("UPDATE trial_user_attributes SET value_json = ? WHERE key = 'ray_trial_id' AND value_json = ?",
                (json.dumps(f"{rid}/../../../work/outside"), json.dumps(rid)))
    con.commit()
    con.close()
    return ["export", str(study), "--trial", str(trial), "--to", str(tmp / "x")]


def with_sql(study, *statements: str) -> str:
    """The study with its database edited by ``statements`` (what a damaged or hostile copy holds)."""
    con = sqlite3.connect(study / "optuna.db")
    for sql in statements:
        con.execute(sql)
    con.commit()
    con.close()
    return str(study)


FIRST_TRIAL = "trial_id = (SELECT min(trial_id) FROM trials WHERE state = 'COMPLETE')"
INFINITE_ACCURACY = (f"UPDATE trial_values SET value = NULL, value_type = 'INF_POS' "
                     f"WHERE objective = 0 AND {FIRST_TRIAL}")
INFINITE_PARAMS = f"UPDATE trial_values SET value = 1e999 WHERE objective = 1 AND {FIRST_TRIAL}"
NAN_PARAMS = f"UPDATE trial_user_attributes SET value_json = 'NaN' WHERE key = 'params' AND {FIRST_TRIAL}"
NAN_EPOCHS = f"UPDATE trial_user_attributes SET value_json = 'NaN' WHERE key = 'epochs' AND {FIRST_TRIAL}"
UNKNOWN_STATE = f"UPDATE trials SET state = 'BOGUS' WHERE {FIRST_TRIAL}"
UNKNOWN_DISTRIBUTION = "UPDATE trial_params SET distribution_json = '{\"name\": \"Nope\", \"attributes\": {}}'"
HUGE_CHOICE = "UPDATE trial_params SET param_value = 1e300 WHERE param_name = 'sk.M'"
NESTED_CURVE = (f"UPDATE trial_user_attributes SET value_json = '{'[' * 100_000}{']' * 100_000}' "
                f"WHERE key = 'curve' AND {FIRST_TRIAL}")


def weights_replaced(study, content: bytes | None, command: str, tmp):
    """The first completed trial with its checkpoint's weights replaced (None: removed)."""
    trial, folder, _ = completed_trial_dir(study)
    for weights in folder.glob("checkpoint_*/model.safetensors"):
        weights.unlink() if content is None else weights.write_bytes(content)
    if command == "export":
        return ["export", str(study), "--trial", str(trial), "--to", str(tmp / "x")]
    return ["analyze", f"{study}:{trial}", "--out", str(tmp / "x")]


def other_networks_weights(study):
    from safetensors.torch import save_file

    from sksearch.model.network import build

    path = study.parent / "other.safetensors"
    save_file(build(tiny_spec(num_classes=7).to_dict()).state_dict(), str(path))
    return path.read_bytes()


NESTED = b"[" * 100_000 + b"]" * 100_000  # json's and PyYAML's parsers recurse: a RecursionError
HUGE = "1" + "0" * 5000  # more digits than Python turns into an int from text (4,300)


def exported(tmp, study, name="exp"):
    """An export folder of the study's first completed trial."""
    out = tmp / name
    assert main(["export", str(study), "--trial", first_completed(study), "--to", str(out)]) == 0
    return out


def nan_weights(export):
    """The export with one weight set to NaN (a training that diverged)."""
    from safetensors.torch import load_file, save_file

    path = str(export / "weights.safetensors")
    state = load_file(path)
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key].view(-1)[0] = float("nan")
    save_file(state, path)
    return export


def recipe_edited(tmp, study, edit):
    out = exported(tmp, study)
    recipe = json.loads((out / "train.json").read_text())
    edit(recipe)
    (out / "train.json").write_text(json.dumps(recipe))
    return out


def data_json_edited(study, **values):
    record = json.loads((study / "data.json").read_text())
    record.update(values)
    (study / "data.json").write_text(json.dumps(record))
    return study


def export_with(tmp, study, file: str, content: bytes):
    out = exported(tmp, study)
    (out / file).write_bytes(content)
    return out


def trial_params_replaced(study, content: bytes):
    _, folder, _ = completed_trial_dir(study)
    (folder / "params.json").write_bytes(content)
    return str(study)


BOMB = b"""a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
name: *i
"""

CASES = [
    # ---- space files: encodings, hostile YAML, bounds ------------------------------------------
    Case("latin1-space", lambda t, s: ["run", raw_space(t, "name: caf\xe9\n".encode("latin-1"))],
         ("bad.yaml: not UTF-8 text", "save the space file as UTF-8")),
    Case("utf16-space", lambda t, s: ["run", raw_space(t, TINY_SPACE.encode("utf-16"))], ("not UTF-8 text",)),
    Case("binary-space", lambda t, s: ["run", raw_space(t, bytes(range(256)) * 4)], ("bad.yaml: not",)),
    Case("alias-bomb", lambda t, s: ["run", raw_space(t, BOMB)],
         ("bad.yaml: its aliases expand to", "at most 100,000")),
    Case("alias-bomb-under-block", lambda t, s: ["run", raw_space(t, BOMB.replace(b"name: *i", b"model: {block: *i}"))],
         ("bad.yaml: its aliases expand to",)),
    Case("recursive-alias", lambda t, s: ["run", raw_space(t, b"name: &a [1, *a]\n")], ("recursive alias",)),
    Case("duplicate-key", lambda t, s: ["run", raw_space(t, b"name: x\ntrials: 6\ntrials: 7\n")],
         ("bad.yaml: not valid YAML", "the key 'trials' is given twice (lines 2 and 3); keep one")),
    Case("top-level-list", lambda t, s: ["run", raw_space(t, b"- 1\n- 2\n")],
         ("bad.yaml: (the whole file): must be a mapping of keys (name, data, model, ...), got list",)),
    Case("depth-a-million",
         lambda t, s: ["run", edited_space(t, lambda r: r["model"]["stages"][0].update(depth=10**6))],
         ("model.stages[0].depth: must be an integer from 1 to 256, got 1000000",)),
    Case("max-scale-inf", lambda t, s: ["run", edited_space(t, lambda r: r["data"].update(max_scale=float("inf")))],
         ("data.max_scale: must be a finite number",)),
    Case("train-size-1e12", lambda t, s: ["run", edited_space(t, lambda r: r["data"].update(train_size=10**12))],
         ("data.train_size: must be an integer from 10 to 10,000,000",)),
    Case("digits-too-big", lambda t, s: ["run", edited_space(t, lambda r: r["data"].update(train_size=10**7,
                                                                                           canvas=256))],
         ("data.train_size:", "at most 2 GB of images")),
    Case("lr-inf", lambda t, s: ["run", edited_space(t, lambda r: r["train"].update(lr=float("inf")))],
         ("train.lr: must be a finite number > 0",)),
    Case("warmup-inf", lambda t, s: ["run", edited_space(t, lambda r: r["train"].update(warmup_epochs=".inf"))],
         ("train.warmup_epochs: must be a finite number",)),
    Case("name-escapes-results", lambda t, s: ["run", edited_space(t, lambda r: r.update(name="../../x"))],
         ("name: must be 1-100 letters, digits", "not a path), got '../../x'")),
    Case("name-absolute", lambda t, s: ["run", edited_space(t, lambda r: r.update(name="/tmp/x"))], ("name: must be",)),
    Case("long-value-is-cut-short",
         lambda t, s: ["run", edited_space(t, lambda r: r["model"].update(block="x" * 10**5))],
         ("model.block: must be one of resnext, se, sk; got 'xxxxxxxx",)),
    # ---- run: options, resources, storage, folders --------------------------------------------
    Case("gpus-nan", lambda t, s: ["run", space_file(t), "--gpus-per-trial", "nan"],
         ("--gpus-per-trial: expected a finite number, got nan",)),
    Case("cpus-inf", lambda t, s: ["run", space_file(t), "--cpus-per-trial", "inf"],
         ("--cpus-per-trial: expected a finite number, got inf",)),
    Case("gpus-fraction-above-one",
         lambda t, s: ["run", space_file(t), "--gpus-per-trial", "1.5", "--out", str(t / "o")],
         ("resources.gpu: must be 0, a fraction below 1", "(set by --set resources.gpu=1.5)")),
    Case("out-is-a-file", lambda t, s: ["run", space_file(t), "--out", raw_space(t, b"x", "afile")],
         ("--out", "afile: a file is there, not a folder")),
    Case("out-holds-user-files",
         lambda t, s: ["run", space_file(t), "--out", user_folder(t, "space.yaml", "data.json")],
         ("--out", "the folder is not empty and is not a study sksearch wrote", "--force"),
         lambda t, s: [t / "mine" / "space.yaml", t / "mine" / "data.json"]),
    Case("storage-bad-scheme", lambda t, s: ["run", space_file(t), "--out", str(t / "o"), "--storage", "notadb://x"],
         ("--storage notadb://x: cannot open it as an Optuna storage",)),
    Case("storage-sqlite-missing-folder", lambda t, s: ["run", space_file(t), "--out", str(t / "o"), "--storage",
                                                        f"sqlite:///{t}/nowhere/x.db"],
         ("the folder of the SQLite file does not exist",)),
    # A shared study (its folder's own database as --storage) refuses a driver of another space.
    Case("storage-shared-other-objective-names",
         lambda t, s: ["run", space_file(t), "--out", str(t / "o"), "--storage", f"sqlite:///{s}/optuna.db",
                       "--set", "objectives=[accuracy, macs]"],
         ("has the objectives accuracy, params; this space's are accuracy, macs",), lambda t, s: [s / "optuna.db"]),
    Case("storage-shared-other-choices",
         lambda t, s: ["run", space_file(t), "--out", str(t / "o"), "--storage", f"sqlite:///{s}/optuna.db",
                       "--set", "model.stages[0].width_per_group={choice: [2, 8]}"],
         ("searches stages.0.width_per_group over choice [2, 4]", "this space over choice [2, 8]"),
         lambda t, s: [s / "optuna.db"]),
    Case("set-not-a-path", lambda t, s: ["run", space_file(t), "--set", "a..b=1"], ("--set a..b: not a key path",)),
    # ---- read commands on broken studies ------------------------------------------------------
    Case("status-run-json-not-an-object", lambda t, s: ["status", with_run_json(s, "[1, 2]")],
         ("run.json: must be a JSON object",)),
    Case("status-run-json-not-json", lambda t, s: ["status", with_run_json(s, "{oops")], ("run.json: unreadable",)),
    Case("status-study-renamed", lambda t, s: ["status", with_run_json(s, json.dumps({"study_name": "other"}))],
         ("holds no study named 'other'", "it holds: tiny"), lambda t, s: [s / "optuna.db"]),
    Case("pareto-empty-db", lambda t, s: ["pareto", with_db(s, b"")],
         ("its study database", "is empty (0 bytes)"), lambda t, s: [s / "optuna.db"]),
    Case("report-truncated-db", lambda t, s: ["report", with_db(s, (s / "optuna.db").read_bytes()[:3000])],
         ("not a readable Optuna database",)),
    Case("export-missing-db", lambda t, s: ["export", with_db(s, None), "--trial", "0", "--to", str(t / "x")],
         ("optuna.db does not exist (run.json names", "a moved folder keeps its optuna.db")),
    # a hostile database: values no search writes (issue 35)
    *(Case(f"{cmd}-db-{name}", lambda t, s, cmd=cmd, sql=sql: [cmd, with_sql(s, sql)] + (
        ["--front", "--to", str(t / "x")] if cmd == "export" else []), words)
      for cmd in ("status", "pareto", "report", "export")
      for name, sql, words in (
          ("infinite-accuracy", INFINITE_ACCURACY, ("optuna.db: trial", "objective accuracy is inf", "damaged")),
          ("infinite-params", INFINITE_PARAMS, ("optuna.db: trial", "objective params is inf", "damaged")),
          ("nan-params", NAN_PARAMS, ("optuna.db: trial", "params is nan: not a finite number")),
          ("nan-epochs", NAN_EPOCHS, ("optuna.db: trial", "epochs is nan: not a finite number")),
          ("unknown-state", UNKNOWN_STATE, ("optuna.db: trial", "has state 'BOGUS'", "allowed: COMPLETE")),
          ("unknown-distribution", UNKNOWN_DISTRIBUTION, ("optuna.db:", "distribution", "'Nope'")),
          ("huge-choice", HUGE_CHOICE, ("optuna.db:", "value 1e+300 is no index into its 2 choices")),
          ("nested-curve", NESTED_CURVE, ("optuna.db:", "'curve'", "nested too deeply")))
      # status reads neither parameters nor a front, pareto only completed trials' values
      if not (cmd == "status" and name in ("unknown-distribution", "huge-choice"))
      and not (cmd == "pareto" and name == "unknown-state")
      and not (cmd in ("status", "pareto", "export") and name == "nested-curve")),
    Case("run-warm-start-db-infinite-accuracy", lambda t, s: [
        "run", space_file(t), "--out", str(t / "o"), "--warm-start", with_sql(s, INFINITE_ACCURACY)],
         ("optuna.db: trial", "objective accuracy is inf", "damaged")),
    Case("report-into-missing-folder", lambda t, s: ["report", str(s), "--out", str(t / "nope" / "r.html")],
         ("--out", "nope/r.html: the folder", "does not exist")),
    Case("report-onto-a-folder", lambda t, s: ["report", str(s), "--out", str(t)], ("is a folder; give a file path",)),
    # ---- hostile JSON, huge integers, half-made files ------------------------------------------
    Case("cost-nested-spec", lambda t, s: ["cost", spec_file(t, NESTED)], ("spec.json:", "nested too deeply")),
    Case("build-nested-spec", lambda t, s: ["build", spec_file(t, NESTED), "--to", str(t / "b")],
         ("spec.json:", "nested too deeply")),
    Case("train-nested-spec", lambda t, s: ["train", spec_file(t, NESTED), "--epochs", "1", "--out", str(t / "o"),
                                            "--data", "digits"], ("spec.json:", "nested too deeply")),
    Case("cost-huge-int-spec", lambda t, s: ["cost", spec_file(t, json.dumps(tiny_spec().to_dict()).replace(
        '"stem_width": 8', f'"stem_width": {HUGE}').encode())], ("spec.json:",)),
    Case("status-nested-run-json", lambda t, s: ["status", with_run_json(s, NESTED.decode())],
         ("run.json: unreadable", "nested too deeply")),
    Case("analyze-nested-data-json", lambda t, s: [(s / "data.json").write_bytes(NESTED) and "analyze",
                                                   f"{s}:{first_completed(s)}", "--out", str(t / "a")],
         ("data.json: unreadable", "nested too deeply")),
    Case("export-nested-params-json", lambda t, s: ["export", trial_params_replaced(s, NESTED), "--trial",
                                                    first_completed(s), "--to", str(t / "x")],
         ("params.json: unreadable trial configuration",)),
    Case("analyze-nested-preprocess", lambda t, s: ["analyze", str(export_with(t, s, "preprocess.json", NESTED))],
         ("preprocess.json: unreadable", "nested too deeply")),
    Case("analyze-garbage-preprocess", lambda t, s: ["analyze", str(export_with(t, s, "preprocess.json", b"\x00\xff"))],
         ("preprocess.json: unreadable",)),
    Case("analyze-preprocess-a-list", lambda t, s: ["analyze", str(export_with(t, s, "preprocess.json", b"[1, 2]"))],
         ("preprocess.json: must be a JSON object",)),
    Case("analyze-export-truncated-weights", lambda t, s: ["analyze", str(export_with(t, s, "weights.safetensors",
                                                                                      b"\x08\x00"))],
         ("weights.safetensors: not a readable safetensors weights file",)),
    Case("train-export-truncated-weights",
         lambda t, s: ["train", str(export_with(t, s, "weights.safetensors", b"\x08")),
                       "--epochs", "1", "--out", str(t / "o")],
         ("weights.safetensors: not a readable safetensors weights file",)),
    Case("train-recipe-a-list", lambda t, s: ["train", str(export_with(t, s, "train.json", b"[1, 2]")), "--epochs", "1",
                                              "--out", str(t / "o")], ("train.json: must be a JSON object",)),
    Case("train-recipe-nested", lambda t, s: ["train", str(export_with(t, s, "train.json", NESTED)), "--epochs", "1",
                                              "--out", str(t / "o")], ("train.json: unreadable", "nested too deeply")),
    Case("train-recipe-unknown-key",
         lambda t, s: ["train", str(export_with(t, s, "train.json",
                                                b'{"train": {"bogus": 1}, "data": {"name": "digits"}}')),
                       "--epochs", "1", "--out", str(t / "o")],
         ("train.json: train.bogus: unknown recipe key; allowed:",)),
    # ---- damaged exports (issue 35) ---------------------------------------------------------------
    Case("evaluate-spec-not-utf8",
         lambda t, s: ["evaluate", str(export_with(t, s, "spec.json", b'{"name": "\xff\xfe"}'))],
         ("spec.json: unreadable (not UTF-8 text, byte",)),
    Case("evaluate-nan-weights", lambda t, s: ["evaluate", str(nan_weights(exported(t, s))), "--split", "val"],
         ("weights.safetensors:", "holds nan: NaN or infinite weights")),
    Case("train-nan-weights", lambda t, s: ["train", str(nan_weights(exported(t, s))), "--epochs", "1",
                                            "--out", str(t / "o")],
         ("weights.safetensors:", "NaN or infinite weights")),
    Case("train-recipe-bad-lr", lambda t, s: ["train", str(recipe_edited(t, s, lambda r: r["train"].update(lr=-1))),
                                              "--epochs", "1", "--out", str(t / "o")],
         ("exp/train.json: train.lr:",)),
    Case("train-recipe-bad-data", lambda t, s: ["train", str(recipe_edited(t, s, lambda r: r.update(data=[1]))),
                                                "--epochs", "1", "--out", str(t / "o")],
         ("exp/train.json: data: must be an object",)),
    Case("evaluate-recipe-bad-data-name", lambda t, s: ["evaluate", str(recipe_edited(
        t, s, lambda r: r["data"].update(name=7)))], ("exp/train.json: data.name: must be a data set's name, got 7",)),
    Case("evaluate-recipe-bad-canvas", lambda t, s: ["evaluate", str(recipe_edited(
        t, s, lambda r: r["data"].update(canvas="big")))], ("exp/train.json: data.canvas:",)),
    # ---- digits whose settings do not go together: refused where they are given, not by make_digits -----
    Case("train-set-canvas-without-max-scale",
         lambda t, s: ["train", spec_file(t, json.dumps(tiny_spec().to_dict()).encode()), "--epochs", "1",
                       "--out", str(t / "o"), "--data", "digits", "--set", "data.canvas=12"],
         ("data.max_scale: 2.5 makes digits of 20 px, larger than the 12 px canvas",
          "allowed: <= 1.5 (or data.canvas >= 20)")),
    Case("train-cluttered-digits-on-a-smaller-canvas",
         lambda t, s: ["train", spec_file(t, json.dumps(tiny_spec().to_dict()).encode()), "--epochs", "1",
                       "--out", str(t / "o"), "--data", "cluttered_digits", "--set", "data.canvas=24"],
         ("data.max_scale: 3.75 makes digits of 30 px, larger than the 24 px canvas", "allowed: <= 3.0")),
    Case("train-set-digits-of-0-px", lambda t, s: ["train", str(exported(t, s)), "--epochs", "1", "--out",
                                                   str(t / "o"), "--set", "data.min_scale=0.05"],
         ("data.min_scale: 0.05 makes digits of 0 px; allowed: > 0.0625",)),
    Case("evaluate-recipe-digits-off-their-canvas", lambda t, s: ["evaluate", str(recipe_edited(
        t, s, lambda r: r["data"].update(max_scale=2.5)))],
         ("exp/train.json: data.max_scale: 2.5 makes digits of 20 px, larger than the 12 px canvas",)),
    Case("run-set-digits-of-0-px", lambda t, s: ["run", space_file(t), "--set", "data.min_scale=0.05"],
         ("data.min_scale: 0.05 makes digits of 0 px; allowed: > 0.0625",)),
    Case("export-data-json-mean-a-string", lambda t, s: ["export", str(data_json_edited(s, mean="x")), "--trial",
                                                         first_completed(s), "--to", str(t / "x")],
         ("data.json: mean: unexpected value 'x'",)),
    Case("run-huge-int-in-space", lambda t, s: ["run", raw_space(t, TINY_SPACE.replace("trials: 6", f"trials: {HUGE}")
                                                               .encode())],
         ("bad.yaml: not a space file Python can read", "4300 digits")),
    Case("run-set-huge-int", lambda t, s: ["run", space_file(t), "--set", f"trials={HUGE}"],
         ("--set trials: the value is not a number Python reads", "4300 digits")),
    Case("run-set-nested", lambda t, s: ["run", space_file(t), "--set", "train.lr=" + NESTED.decode()[:20000]],
         ("--set train.lr=", "nested too deeply")),
    Case("storage-mysql-without-driver", lambda t, s: ["run", space_file(t), "--out", str(t / "o"), "--storage",
                                                       "mysql://nobody@127.0.0.1:1/db"],
         ("--storage mysql://nobody@127.0.0.1:1/db: cannot open it",)),
    Case("warm-start-mysql-without-driver", lambda t, s: ["run", space_file(t), "--out", str(t / "o"), "--warm-start",
                                                          "mysql://nobody@127.0.0.1:1/db#tiny"],
         ("mysql://nobody@127.0.0.1:1/db#tiny: cannot read it: the database driver is not installed",)),
    Case("warm-start-baselines-study", lambda t, s: ["run", space_file(t), "--out", str(t / "o"), "--warm-start",
                                                     f"sqlite:///{s}/optuna.db#tiny:baselines"],
         ("tiny:baselines", "a study's baselines")),
    Case("status-study-name-baselines", lambda t, s: ["status", with_run_json(s, json.dumps(
        {"study_name": "tiny:baselines"}))], ("tiny:baselines", "a study's baselines")),
    # ---- export and build targets -------------------------------------------------------------
    Case("export-to-a-file", lambda t, s: ["export", str(s), "--trial", first_completed(s), "--to",
                                           raw_space(t, b"x", "f")],
         ("--to", "/f: a file is there, not a folder")),
    Case("export-over-user-files", lambda t, s: ["export", str(s), "--trial", first_completed(s), "--to",
                                                 user_folder(t, "README.md", "model.py")],
         ("the folder is not empty and is not an export folder", "--force"),
         lambda t, s: [t / "mine" / "README.md", t / "mine" / "model.py"]),
    Case("export-front-over-user-files",
         lambda t, s: ["export", str(s), "--front", "--to", user_folder(t, "notes.txt")],
         ("is not a front export",), lambda t, s: [t / "mine" / "notes.txt"]),
    # A study folder whose paths leave it, or whose weights do not load: refused, nothing written.
    Case("export-ray-folder-is-a-link-outside", ray_folder_linked_outside, ("outside the study folder",)),
    Case("export-ray-trial-id-climbs-out", ray_trial_id_climbing_out, ("resolves to", "outside the study folder")),
    Case("export-truncated-weights", lambda t, s: weights_replaced(s, b"\x10\x00\x00", "export", t),
         ("model.safetensors: not a readable safetensors weights file",)),
    Case("export-other-networks-weights", lambda t, s: weights_replaced(s, other_networks_weights(s), "export", t),
         ("model.safetensors: not the weights of the network its spec.json describes",)),
    Case("analyze-random-weights", lambda t, s: weights_replaced(s, os.urandom(5000), "analyze", t),
         ("model.safetensors: not a readable safetensors weights file",)),
    Case("analyze-mismatched-weights", lambda t, s: weights_replaced(s, other_networks_weights(s), "analyze", t),
         ("not the weights of the network its spec.json describes",)),
    Case("analyze-missing-weights", lambda t, s: weights_replaced(s, None, "analyze", t),
         ("no checkpoint with weights",)),
    Case("build-over-a-user-spec", lambda t, s: ["build", "sknet29", "--to", user_folder(t, "spec.json")],
         ("the folder is not empty and is not an export folder",), lambda t, s: [t / "mine" / "spec.json"]),
    # ---- cost and analyze ---------------------------------------------------------------------
    Case("cost-latin1-spec", lambda t, s: ["cost", spec_file(t, '{"block": "sk\xe9"}'.encode("latin-1"))],
         ("spec.json: not UTF-8 text",)),
    Case("cost-huge-depth", lambda t, s: ["cost", spec_file(t, json.dumps(
        {**tiny_spec().to_dict(), "stages": [{"depth": 10**6, "width": 8, "out_channels": 8}]}).encode())],
         ("stages[0].depth: must be an integer from 1 to 256, got 1000000",)),
    Case("cost-input-size-huge", lambda t, s: ["cost", "sknet50", "--input-size", "100000"],
         ("input_size: must be an integer from 1 to 4,096",)),
    Case("cost-latency-bad-device", lambda t, s: ["cost", "sknet29", "--latency", "--device", "xyz"],
         ("--device xyz: not a device",)),
    Case("analyze-bad-device", lambda t, s: ["analyze", f"{s}:0", "--device", "xyz"], ("--device xyz: not a device",)),
    Case("analyze-over-user-files",
         lambda t, s: ["analyze", f"{s}:{first_completed(s)}", "--out", user_folder(t, "a.csv")],
         ("--out", "is not an attention analysis sksearch wrote", "a.csv"), lambda t, s: [t / "mine" / "a.csv"]),
]


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest() if os.path.exists(path) else None


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, finished_study, tmp_path, capsys):
    study = tmp_path / "study"
    shutil.copytree(finished_study[0], study)
    work = tmp_path / "work"
    work.mkdir()
    args = case.args(work, study)
    guarded = case.untouched(work, study) if case.untouched else []
    before = {p: digest(p) for p in guarded}
    listing = {str(p) for p in work.rglob("*")}
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err, err
    assert err.startswith("sksearch: error: ") and err.count("\n") == 1, err  # one clear line
    assert len(err) < 800, err[:800]
    for word in case.words:
        assert word in err, err
    assert {p: digest(p) for p in guarded} == before
    assert {str(p) for p in work.rglob("*")} == listing  # nothing written where the case works


def test_a_run_refused_for_its_cluster_leaves_nothing_behind(tmp_path):
    space = write_space(tmp_path)
    for args, words in ((["--gpus-per-trial", "3"], "asks for 1 CPUs and 3 GPUs on one node"),
                        (["--set", "resources.cpu=1000"], "asks for 1000 CPUs and 0 GPUs")):
        proc = run_cli("run", str(space), "--out", str(tmp_path / "out"), *args)
        assert proc.returncode == 2 and words in proc.stderr and "--wait-for-resources" in proc.stderr
        assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


def test_an_address_that_does_not_answer_fails_within_seconds(tmp_path):
    import socket
    import time

    space = write_space(tmp_path)
    start = time.monotonic()
    proc = run_cli("run", str(space), "--out", str(tmp_path / "out"), "--address", "127.0.0.1:1")
    elapsed = time.monotonic() - start
    assert proc.returncode == 2 and "--address 127.0.0.1:1: nothing answers there" in proc.stderr, proc.stderr[-2000:]
    assert elapsed < 30 and not (tmp_path / "out").exists(), elapsed
    # A port that accepts the connection but never speaks Ray: bounded by the connect timeout.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    env = {**os.environ, "SKSEARCH_CONNECT_TIMEOUT_S": "4"}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "sksearch", "run", str(space), "--out", str(tmp_path / "out"),
                           "--address", f"127.0.0.1:{silent.getsockname()[1]}"], capture_output=True, text=True,
                          env=env, timeout=120)
    silent.close()
    elapsed = time.monotonic() - start
    assert proc.returncode == 2 and "did not answer within 4 s" in proc.stderr, proc.stderr[-2000:]
    assert elapsed < 60 and not (tmp_path / "out").exists(), elapsed


def test_a_storage_that_cannot_be_reached_leaves_nothing_behind(tmp_path):
    proc = run_cli("run", str(write_space(tmp_path)), "--out", str(tmp_path / "out"),
                   "--storage", "postgresql://nobody@127.0.0.1:1/nothing")
    assert proc.returncode == 2 and "--storage postgresql://nobody@127.0.0.1:1/nothing: cannot open" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


def test_a_broken_pipe_is_quiet():
    proc = subprocess.run(f"{sys.executable} -m sksearch models | head -1", shell=True, capture_output=True, text=True)
    assert proc.stdout.startswith("name") and proc.stderr == ""


def test_a_cifar_meta_file_that_is_not_a_dict_or_runs_code(tmp_path):
    import pickle

    import numpy as np

    from sksearch.data.cifar import CIFAR10, write_archive
    from sksearch.data.load import load_data
    from sksearch.data.spec import DataSpec
    from sksearch.errors import UserError

    rng = np.random.default_rng(0)
    batches = [(rng.integers(0, 256, (2, 3, 32, 32), dtype=np.uint8), [0, 1]) for _ in range(5)]
    archive = tmp_path / "c.tar.gz"
    write_archive(str(archive), "cifar10", batches, batches[0], [f"c{i}" for i in range(10)])
    import tarfile

    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path, filter="data")
    meta = tmp_path / CIFAR10.folder / CIFAR10.meta_file

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'owned'}",))

    for content, words in ((pickle.dumps([1, 2, 3]), "not a cifar10 meta file"),
                           (pickle.dumps({b"label_names": Evil()}), "not allowed in a CIFAR archive")):
        meta.write_bytes(content)
        with pytest.raises(UserError, match=words):
            load_data(DataSpec(name="cifar10", root=str(tmp_path)))
    assert not (tmp_path / "owned").exists()


def test_symlinked_image_folders_are_refused_unless_asked(tmp_path):
    from PIL import Image

    from sksearch.data.load import load_data
    from sksearch.data.spec import DataSpec
    from sksearch.errors import UserError

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    Image.new("RGB", (8, 8)).save(elsewhere / "x.png")
    for split in ("train", "val"):
        (tmp_path / "root" / split / "a").mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "root" / split / "a" / "y.png")
        os.symlink(elsewhere, tmp_path / "root" / split / "b")
    with pytest.raises(UserError, match=r"root/train/b is a symbolic link .*data.follow_symlinks: true"):
        load_data(DataSpec(name="imagefolder", root=str(tmp_path / "root"), image_size=8))
    data = load_data(DataSpec(name="imagefolder", root=str(tmp_path / "root"), image_size=8, follow_symlinks=True))
    assert data.class_names == ["a", "b"] and len(data.train) == 2


def test_space_files_accept_numbers_written_as_strings(tmp_path):
    from sksearch.space import load_space

    path = edited_space(tmp_path, lambda r: r["train"].update(lr="1e-3", batch_size="32", warmup_epochs="5e-1"))
    assert "1e-3" in open(path).read()  # PyYAML reads it as a string
    train = load_space(path).train
    assert train["lr"] == 0.001 and train["batch_size"] == 32 and train["warmup_epochs"] == 0.5
    written = yaml.safe_load(load_space(path).to_yaml())["train"]
    assert written["lr"] == 0.001 and isinstance(written["batch_size"], int)


def test_sqlite_files_are_opened_read_only_by_every_read_command(finished_study, tmp_path):
    study = tmp_path / "study"
    shutil.copytree(finished_study[0], study)
    os.chmod(study / "optuna.db", 0o444)
    if os.access(study / "optuna.db", os.W_OK):
        pytest.skip("running as a user who may write any file (root): the two tests below cover it as root")
    for args in (["status", str(study)], ["pareto", str(study)], ["report", str(study), "--out", str(tmp_path / "r")]):
        assert main(args) == 0


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="drops root's privileges (run as root)")
def test_read_commands_work_for_a_user_who_may_not_write_the_database(finished_study):
    """As root (how CI runs) no file is read-only to the test: the read commands run as
    ``nobody`` on a copy of the study that user may read but not write."""
    import tempfile

    try:
        subprocess.run([sys.executable, "-c", "import sksearch"], user=65534, group=65534, extra_groups=[],
                       capture_output=True, timeout=120, cwd="/", check=True)
    except (PermissionError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"nobody cannot run this Python or import sksearch here ({exc}); "
                    f"test_read_commands_open_sqlite_with_mode_ro_and_write_nothing covers root")
    top = tempfile.mkdtemp(prefix="sksearch-ro-")  # pytest's tmp_path is root's own (0o700)
    try:
        os.chmod(top, 0o755)
        study = os.path.join(top, "study")
        shutil.copytree(finished_study[0], study)
        for folder, _dirs, files in os.walk(study):
            os.chmod(folder, 0o555)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o444)
        scratch = os.path.join(top, "scratch")  # nobody's home and the report's folder
        os.mkdir(scratch)
        os.chmod(scratch, 0o777)
        before = digest(os.path.join(study, "optuna.db"))
        env = {**os.environ, "HOME": scratch, "MPLCONFIGDIR": scratch, "PYTHONDONTWRITEBYTECODE": "1"}
        for args in (["status", study], ["pareto", study], ["report", study, "--out", os.path.join(scratch, "r")]):
            proc = subprocess.run([sys.executable, "-m", "sksearch", *args], capture_output=True, text=True,
                                  timeout=400, user=65534, group=65534, extra_groups=[], env=env, cwd=scratch)
            assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-2000:])
        assert os.path.exists(os.path.join(scratch, "r")) and digest(os.path.join(study, "optuna.db")) == before
    finally:
        for folder, _dirs, _files in os.walk(top):
            os.chmod(folder, 0o755)
        shutil.rmtree(top, ignore_errors=True)


def test_read_commands_open_sqlite_with_mode_ro_and_write_nothing(finished_study, tmp_path, monkeypatch):
    """Whoever runs the tests: every connection a read command makes to the study's database
    asks SQLite for ``mode=ro`` (which refuses writes even to root), and the file's bytes and
    mtime do not change."""
    study = tmp_path / "study"
    shutil.copytree(finished_study[0], study)
    db = study / "optuna.db"
    before, mtime = digest(db), os.stat(db).st_mtime_ns
    opened: list[tuple[str, bool]] = []
    real = sqlite3.connect

    def spy(database, *args, **kwargs):
        opened.append((str(database), bool(kwargs.get("uri"))))
        return real(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", spy)
    monkeypatch.setattr(sqlite3.dbapi2, "connect", spy)  # SQLAlchemy's pysqlite connects through dbapi2
    for args in (["status", str(study)], ["pareto", str(study)], ["report", str(study), "--out", str(tmp_path / "r")],
                 ["status", str(study), "--json"]):
        assert main(args) == 0
    mine = [(d, uri) for d, uri in opened if "optuna.db" in d]
    assert mine, opened  # the spy saw the commands' connections
    assert all(uri and d.startswith("file:") and "mode=ro" in d for d, uri in mine), mine
    assert digest(db) == before and os.stat(db).st_mtime_ns == mtime
    con = real(f"file:{db}?mode=ro", uri=True)  # and mode=ro is what refuses a write, even as root
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        con.execute("CREATE TABLE t (x)")
    con.close()


def test_a_zero_byte_or_missing_database_is_never_rewritten(finished_study, tmp_path):
    study = tmp_path / "study"
    shutil.copytree(finished_study[0], study)
    (study / "optuna.db").write_bytes(b"")
    for cmd in ("status", "pareto", "report"):
        assert main([cmd, str(study)]) == 2
    assert (study / "optuna.db").read_bytes() == b""
    (study / "optuna.db").unlink()
    assert main(["status", str(study)]) == 2 and not (study / "optuna.db").exists()
    con = sqlite3.connect(tmp_path / "x.db")
    con.execute("CREATE TABLE t (x)")
    con.close()
    shutil.copy(tmp_path / "x.db", study / "optuna.db")
    assert main(["status", str(study)]) == 2


def test_a_full_or_read_only_disk_is_one_line_with_how_to_go_on(finished_study, tmp_path, capsys, monkeypatch):
    """A fault of the machine while writing (the disk fills, the folder turns read-only) is exit 1
    and one line saying what happened and how to continue; nothing already written changes."""
    import errno

    import sqlalchemy.exc

    import sksearch.search.driver as driver
    import sksearch.study.page as page

    study = tmp_path / "study"
    shutil.copytree(finished_study[0], study)
    before = digest(study / "optuna.db")

    def disk_full(*a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device", str(study / "report.html"))

    monkeypatch.setattr(page, "atomic_write", disk_full)
    assert main(["report", str(study)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "the disk is full" in err and "nothing already written is lost" in err and "same command again" in err

    def database_full(*a, **kw):
        import sqlite3

        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError as exc:
            raise sqlalchemy.exc.OperationalError("UPDATE trials ...", {}, exc) from exc

    monkeypatch.setattr(driver, "read_records", database_full)
    assert main(["resume", str(study)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "the disk is full (database or disk is full)" in err and f"sksearch resume {study}" in err

    def read_only(*a, **kw):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "o" / "space.yaml"))

    monkeypatch.setattr(driver, "init_ray", lambda address: None)
    monkeypatch.setattr(driver, "check_resources", lambda *a: None)
    monkeypatch.setattr(driver, "check_trial_storage", lambda *a: None)  # asks Ray, which is not started here
    monkeypatch.setattr(driver, "atomic_write", read_only)
    assert main(["run", str(write_space(tmp_path)), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the file system is read-only" in err and "Traceback" not in err, err
    assert not (tmp_path / "o").exists() and digest(study / "optuna.db") == before
