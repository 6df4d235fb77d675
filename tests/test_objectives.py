"""The one table of objectives is what every part of sksearch goes by."""

import inspect

import pytest
import yaml

from sksearch.model.network import SKConv
from sksearch.model.spec import DEFAULT_BRANCHES, SKSpec
from sksearch.objectives import COUNTED, GOALS, MEASURED, OBJECTIVES, objective
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


def copies_of_the_table(source: str) -> list[int]:
    """The lines of ``source`` where a tuple, list or set literal names four or more
    objectives: a copy of the table's names, which goes stale when an objective is added."""
    import ast

    names = set(OBJECTIVES)
    return [node.lineno for node in ast.walk(ast.parse(source)) if isinstance(node, (ast.Tuple, ast.List, ast.Set))
            and len(names & {e.value for e in node.elts if isinstance(e, ast.Constant)}) >= 4]


def test_no_module_copies_the_objectives_names():
    import pathlib

    package = pathlib.Path(inspect.getfile(objective)).parent
    copies = {str(p.relative_to(package)): copies_of_the_table(p.read_text()) for p in package.rglob("*.py")
              if p.name != "objectives.py"}
    assert {path: lines for path, lines in copies.items() if lines} == {}
    # The check catches a copy: the metrics list the trials table kept before it read the table.
    assert copies_of_the_table('METRICS = ("epochs", "accuracy", "loss", "params", "macs", "latency")') == [1]


def test_the_metric_lists_are_the_tables():
    from sksearch.search.trackers import EPOCH_METRICS
    from sksearch.study import damage, table

    assert COUNTED == ("params", "macs") and MEASURED == ("accuracy", "latency", "loss")
    assert set(OBJECTIVES) <= set(table.METRICS) and table.METRICS[1:1 + len(OBJECTIVES)] == tuple(OBJECTIVES)
    assert table.INTEGER_COLUMNS == damage.COUNTS == ("epochs", *COUNTED)
    assert set(MEASURED) <= set(table.FLOAT_COLUMNS) and not set(COUNTED) & set(table.FLOAT_COLUMNS)
    assert set(MEASURED) <= set(EPOCH_METRICS) and not set(COUNTED) & set(EPOCH_METRICS)
    assert set(table.CURVE_KEYS) >= set(OBJECTIVES)
