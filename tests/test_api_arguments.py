"""The Python API checks its arguments before it writes anything: a wrong type or range is a
``UserError`` naming the argument (issue 35), never an IndexError or TypeError from deep inside,
nor a trial picked by truncating 0.5 or reading True as 1."""

from __future__ import annotations

import pytest

import sksearch
import sksearch.api
from sksearch import UserError
from tests.conftest import tiny_spec, write_space


@pytest.fixture
def export(tmp_path):
    spec = tiny_spec(num_classes=10, in_channels=1, input_size=24).to_dict()
    return sksearch.api.export_untrained(spec, str(tmp_path / "export"))


@pytest.mark.parametrize("epochs", [0, -3, "3", 2.0, True, None])
def test_train_refuses_an_epoch_count_that_is_no_positive_integer_before_out_exists(export, tmp_path, epochs):
    out = tmp_path / "trained"
    with pytest.raises(UserError, match=r"^epochs: must be an integer of at least 1, got "):
        sksearch.train(export, epochs, str(out), data="digits")
    assert not out.exists()


@pytest.mark.parametrize("kw, words", [
    ({"overrides": ["a"]}, "overrides: must be a mapping"),
    ({"threads": 0}, "threads: must be an integer of at least 1"),
    ({"force": "yes"}, "force: must be True or False"), ({"from_scratch": 1}, "from_scratch: must be True or False")])
def test_train_refuses_other_bad_arguments_before_out_exists(export, tmp_path, kw, words):
    out = tmp_path / "trained"
    with pytest.raises(UserError, match=words):
        sksearch.train(export, 1, str(out), data="digits", **kw)
    assert not out.exists()


def test_a_study_refuses_trials_that_are_no_integers(unfinished_study, tmp_path):
    study = sksearch.open(str(unfinished_study))
    for call, words in ((lambda: study.export(0.5, str(tmp_path / "x")), "trial: must be an integer, got 0.5"),
                        (lambda: study.export("0", str(tmp_path / "x")), "trial: must be an integer, got '0'"),
                        (lambda: study.export(0, 42), "to: must be a non-empty string or path, got 42"),
                        (lambda: study.export(0, str(tmp_path / "x"), force="no"), "force: must be True or False"),
                        (lambda: study.load_model(True), "trial: must be an integer, got True"),
                        (lambda: study.export_subnet(-1, str(tmp_path / "x")),
                         "subnet: must be an integer of at least 0"),
                        (lambda: study.front(5), "objectives: must be a list of strings, got 5"),
                        (lambda: study.front(["accuracy", 3]), "objectives: must be a list of strings"),
                        (lambda: study.front(include_imported="yes"), "include_imported: must be True or False")):
        with pytest.raises(UserError, match=words):
            call()
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("kw, words", [
    ({"overrides": ["a"]}, "overrides: must be a mapping of key paths to values"),
    ({"trials": True}, "trials: must be an integer of at least 1 or None, got True"),
    ({"trials": 0}, "trials: must be an integer of at least 1 or None, got 0"),
    ({"max_epochs": 1.5}, "max_epochs: must be an integer of at least 1 or None"),
    ({"loggers": "wandb"}, "loggers: must be a list of strings, got 'wandb'"),
    ({"warm_start": [1]}, "warm_start: must be a list of strings"),
    ({"progress": "no"}, "progress: must be True or False")])
def test_run_refuses_bad_arguments_before_the_folder_exists(tmp_path, kw, words):
    space = write_space(tmp_path)
    with pytest.raises(UserError, match=words):
        sksearch.run(str(space), str(tmp_path / "out"), **kw)
    assert not (tmp_path / "out").exists()


def test_the_small_functions_check_their_numbers(tmp_path):
    with pytest.raises(UserError, match="input_size: must be an integer of at least 1 or None, got -1"):
        sksearch.cost("sknet29", input_size=-1)
    with pytest.raises(UserError, match="batch_size: must be an integer of at least 1, got 0"):
        sksearch.api.latency("sknet29", "cpu", batch_size=0)
    with pytest.raises(UserError, match="folder: must be a non-empty string or path, got None"):
        sksearch.load_model(None)
    with pytest.raises(UserError, match="bins: must be an integer of at least 1, got 'x'"):
        sksearch.api.analyze(str(tmp_path), "1,2", bins="x")
    with pytest.raises(UserError, match="scales: must be"):
        sksearch.api.analyze(str(tmp_path), 2)
