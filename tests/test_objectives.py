"""The one table of objectives is what every part of sksearch goes by."""

import inspect

import pytest
import yaml

from sksearch.model.network import SKConv
from sksearch.model.spec import DEFAULT_BRANCHES, SKSpec
from sksearch.objectives import GOALS, OBJECTIVES, objective
from sksearch.space import parse
from sksearch.space.schema import SK_DEFAULTS
from tests.conftest import TINY_SPACE


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_a_space_accepts_every_objective_of_the_table_with_its_direction(name):
    raw = yaml.safe_load(TINY_SPACE)
    raw["objectives"] = ["accuracy", name] if name != "accuracy" else ["accuracy"]
    space = parse(raw, "x.yaml")
    assert space.objectives[-1] is OBJECTIVES[name]
    assert space.directions[-1] == ("maximize" if GOALS[name] == "max" else "minimize")


def test_the_table_formats_and_refuses_unknown_names():
    assert objective("accuracy").format(0.98765) == "98.77%"
    assert objective("params").format(27479784) == "27,479,784"
    with pytest.raises(KeyError, match="'speed' is not an objective; allowed: accuracy, params, macs"):
        objective("speed")


def test_the_paper_branches_are_the_default_everywhere():
    assert SKSpec().branches == DEFAULT_BRANCHES == ((3, 1), (3, 2))
    assert [(b["kernel"], b["dilation"]) for b in SK_DEFAULTS["branches"]] == list(DEFAULT_BRANCHES)
    # The shipped network file cannot import the spec; its layer default must agree by itself.
    default = inspect.signature(SKConv).parameters["branches"].default
    assert tuple(map(tuple, default)) == DEFAULT_BRANCHES
