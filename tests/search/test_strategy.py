"""The strategy the API hands the search driver: one per ``strategy.name``, and a driver that
names none itself (the one-shot strategy is built on the search wing, above the driver)."""

import ast
import pathlib
from dataclasses import replace

import pytest

from sksearch.api import strategy_for
from sksearch.oneshot.strategy import OneShot
from sksearch.search import driver
from sksearch.search.strategy import Strategy
from sksearch.space.schema import STRATEGIES
from sksearch.study.layout import inherited_dir
from tests.space.test_shared_weights import MODEL, parse_one_shot


@pytest.mark.parametrize("name", STRATEGIES)
def test_the_api_hands_each_strategy_name_its_strategy(name):
    space = parse_one_shot(MODEL, name)
    strategy = strategy_for(space)
    assert isinstance(strategy, Strategy) and strategy.name == name
    assert isinstance(strategy, OneShot) == (name == "one_shot")


def test_the_plain_search_has_no_phases_and_starts_every_trial_from_scratch(tmp_path):
    space = parse_one_shot(MODEL, "standalone")
    plain = strategy_for(space)
    assert (plain.has_phases, plain.one_machine) == (False, False)
    assert plain.init_dir(space, str(tmp_path)) is None
    assert plain.before_trials(space, None, str(tmp_path), "sqlite://", None) is space


def test_the_one_shot_strategy_runs_phases_on_one_machine_and_starts_from_what_it_inherited(tmp_path):
    scratch = parse_one_shot(MODEL, "one_shot")
    one_shot = strategy_for(scratch)
    assert (one_shot.has_phases, one_shot.one_machine) == (True, True)
    assert one_shot.init_dir(scratch, str(tmp_path)) is None  # init: scratch, the default
    inherited = replace(scratch, strategy=replace(scratch.strategy, init="inherited"))
    assert one_shot.init_dir(inherited, str(tmp_path)) == inherited_dir(str(tmp_path))
    assert inherited_dir(str(tmp_path)) == str(tmp_path / "supernet" / "inherited")


def test_the_driver_refuses_a_strategy_the_space_does_not_name(tmp_path):
    space = parse_one_shot(MODEL, "one_shot")
    with pytest.raises(ValueError, match="the space's strategy is one_shot; the caller handed the driver the "
                                         "standalone strategy"):
        driver.run(space, str(tmp_path / "study"), Strategy())
    assert not (tmp_path / "study").exists()  # refused before anything is written


def test_the_driver_names_no_strategy():
    """The driver asks the strategy it is handed, never the space's ``strategy.name``: no
    strategy's name is a string in it."""
    source = pathlib.Path(driver.__file__)
    named = [(node.lineno, node.value) for node in ast.walk(ast.parse(source.read_text()))
             if isinstance(node, ast.Constant) and node.value in STRATEGIES]
    assert not named, named
