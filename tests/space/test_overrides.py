"""--set overrides and spaces given as dicts: applied to the raw file, validated like it."""

import pytest
import yaml

from sksearch.errors import UserError
from sksearch.space.overrides import parse_assignment, set_path, space_from, split_path
from tests.conftest import TINY_SPACE, run_cli, write_space


def test_assignments_read_their_value_as_yaml():
    assert parse_assignment("train.lr=0.05") == ("train.lr", 0.05)
    assert parse_assignment("model.groups={choice: [2, 4]}") == ("model.groups", {"choice": [2, 4]})
    assert parse_assignment("data.root=") == ("data.root", None)
    assert parse_assignment("name=a=b") == ("name", "a=b")
    with pytest.raises(UserError, match="expected KEY.PATH=VALUE"):
        parse_assignment("train.lr")
    with pytest.raises(UserError, match="not valid YAML"):
        parse_assignment("train.lr=[1, 2")


def test_paths_take_dots_and_brackets():
    assert split_path("model.stages[0].depth") == ["model", "stages", 0, "depth"]
    assert split_path("model.stages.0.depth") == ["model", "stages", 0, "depth"]
    assert split_path("model.sk.branches[1].dilation") == ["model", "sk", "branches", 1, "dilation"]
    for bad in ("", "model..x", "model.[0]x", "a b"):
        with pytest.raises(UserError, match="not a key path"):
            split_path(bad)


def test_set_path_makes_mappings_and_refuses_what_is_not_there():
    raw = yaml.safe_load(TINY_SPACE)
    set_path(raw, "sampler.n_startup_trials", 3)
    set_path(raw, "model.stages[0].depth", {"int": [1, 2]})
    set_path(raw, "constraints.params.max", "1M")
    assert raw["sampler"]["n_startup_trials"] == 3 and raw["model"]["stages"][0]["depth"] == {"int": [1, 2]}
    assert raw["constraints"] == {"params": {"max": "1M"}}
    with pytest.raises(UserError, match=r"model.stages has 1 entries \(indices 0-0\)"):
        set_path(raw, "model.stages[3].depth", 2)
    with pytest.raises(UserError, match="train.batch_size is 16, not a mapping"):
        set_path(raw, "train.batch_size.max", 2)
    with pytest.raises(UserError, match="model is not a list"):
        set_path(raw, "model[0]", 2)


def test_overrides_are_validated_as_the_file_is(tmp_path):
    path = str(write_space(tmp_path))
    space = space_from(path, {"train.lr": 0.05, "trials": 3, "model.sk.M": 2})
    assert space.train["lr"] == 0.05 and space.trials == 3 and space.model["sk"]["M"] == 2
    with pytest.raises(UserError) as err:
        space_from(path, {"train.optimizer": "lion"})
    assert str(err.value) == (f"{path}: train.optimizer: must be one of sgd, adamw; got 'lion' "
                              f"(set by --set train.optimizer='lion')")
    with pytest.raises(UserError,
                       match=r"model.stages\[0\].colour: unknown key;.*\(set by --set model.stages.0.colour"):
        space_from(path, {"model.stages.0.colour": "red"})


def test_additions_extend_the_files_lists_and_are_validated_with_it(tmp_path):
    """run(loggers=..., warm_start=...) and --logger/--warm-start go through here, as --set does."""
    raw = yaml.safe_load(TINY_SPACE)
    raw["loggers"] = ["tensorboard"]
    space = space_from(raw, {"trials": 2}, {"loggers": ["mlflow", "tensorboard", "mlflow"], "warm_start": ["a", "a"]})
    assert space.loggers == ("tensorboard", "mlflow") and space.warm_start == ("a",) and space.trials == 2
    assert space_from(space, None, {"loggers": ["mlflow"]}) == space
    with pytest.raises(UserError, match=r"loggers\[1\]: must be one of tensorboard, mlflow, wandb; got 'neptune' "
                                        r"\(added: neptune\)"):
        space_from(raw, None, {"loggers": ["neptune"]})


def test_a_shorter_budget_clips_the_grace_period(tmp_path):
    raw = yaml.safe_load(TINY_SPACE)
    raw["scheduler"] = {"name": "asha", "max_epochs": 9, "grace_period": 3, "reduction_factor": 3}
    assert space_from(raw, {"scheduler.max_epochs": 2}).scheduler.grace_period == 2
    with pytest.raises(UserError, match="grace_period: 3 exceeds max_epochs 2"):
        space_from(raw, {"scheduler.max_epochs": 2, "scheduler.grace_period": 3})


def test_run_set_on_the_command_line(tmp_path):
    path = write_space(tmp_path)
    proc = run_cli("run", str(path), "--out", str(tmp_path / "out"), "--set", "train.lr=-1")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "train.lr: must be a finite number > 0 and <= 1000, got -1 (set by --set train.lr=-1)" in proc.stderr
    assert not (tmp_path / "out").exists()
    proc = run_cli("run", str(path), "--out", str(tmp_path / "out"), "--set", "trainlr")
    assert proc.returncode == 2 and "--set trainlr: expected KEY.PATH=VALUE" in proc.stderr
