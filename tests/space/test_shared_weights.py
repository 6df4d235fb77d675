"""Which spaces one supernet can serve (``space/shared_weights.py``): unshareable searched
values are refused when the space is loaded, naming the key and what to do."""

from __future__ import annotations

import copy

import pytest

from sksearch.errors import UserError
from sksearch.space.distributions import SpaceError
from sksearch.space.schema import load_space, parse
from tests.conftest import TINY_SPACE, run_cli, write_space

MODEL = {"block": "sk", "stem_width": 4, "groups": 2,
         "sk": {"M": {"choice": [1, 2]}, "branches": [{"kernel": 3, "dilation": 1}, {"kernel": 3, "dilation": 2}]},
         "stages": [{"depth": 1, "width": 8, "out_channels": 8, "stride": 2},
                    {"depth": {"int": [1, 2]}, "width": 8, "out_channels": 16, "stride": 2}]}


def parse_one_shot(model, strategy="one_shot"):
    return parse({"name": "t", "model": model, "strategy": {"name": strategy}}, "t.yaml")


def _with(path, value):
    model = copy.deepcopy(MODEL)
    node = model
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return model


@pytest.mark.parametrize("path,value,key,words", [
    (("groups",), {"choice": [1, 2]}, "model.groups", "regroups the channels"),
    (("block",), {"choice": ["sk", "resnext"]}, "model.block", "each block kind has other layers"),
    (("stem",), {"choice": ["cifar", "imagenet"]}, "model.stem", "is searched"),
    (("family",), "shufflenetv2", "model.family", "supports the resnext family"),
    (("stages", 0, "stride"), {"choice": [1, 2]}, "model.stages[0].stride", "is searched"),
    (("stages", 1, "groups"), {"choice": [1, 2]}, "model.stages[1].groups", "is searched"),
    (("head_width",), {"choice": [None, 16]}, "model.head_width", "a head conv and none"),
    (("sk", "branches", 1, "groups"), 2, "model.sk.branches[1].groups", "a branch's own groups"),
])
def test_unshareable_values_are_refused_naming_the_key(path, value, key, words):
    if path == ("family",):
        model = {"family": "shufflenetv2", "stages": [{"depth": 1, "out_channels": 16, "stride": 2}]}
    else:
        model = _with(path, value)
    with pytest.raises(SpaceError) as err:
        parse_one_shot(model)
    assert err.value.key == key and words in str(err.value)
    if path != ("family",):
        assert "fix it to one value, or run one one-shot search per value" in str(err.value)
    parse_one_shot(model, "standalone")  # the normal strategy takes the same space


def test_a_shortcut_that_would_change_kind_is_refused():
    # Stage 0 keeps the 8-wide stem's width or widens it: identity shortcut in some subnets only.
    model = _with(("stages", 0), {"depth": 1, "width": 8, "out_channels": {"choice": [8, 16]}, "stride": 1})
    model["stem_width"] = 8
    with pytest.raises(SpaceError, match=r"identity shortcut in some subnets and a projection in others") as err:
        parse_one_shot(model)
    assert err.value.key == "model.stages[0].out_channels"
    model["stages"][0]["out_channels"] = {"choice": [16, 24]}  # always a projection: shared
    parse_one_shot(model)


def test_the_cli_refuses_an_unshareable_space_with_exit_2(tmp_path):
    text = TINY_SPACE.replace("  groups: 2\n", "  groups: {choice: [1, 2]}\n")
    assert text != TINY_SPACE
    space = write_space(tmp_path, text + "strategy: {name: one_shot}\n")
    with pytest.raises(UserError, match=r"tiny.yaml: model.groups: is searched"):
        load_space(str(space))
    out = tmp_path / "study"
    proc = run_cli("run", str(space), "--out", str(out), timeout=120)
    assert proc.returncode == 2 and "model.groups" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()  # nothing written before validation


def test_strategy_keys_are_checked():
    with pytest.raises(SpaceError, match=r"strategy.init: must be one of scratch, inherited"):
        parse({"name": "t", "model": MODEL, "strategy": {"name": "one_shot", "init": "warm"}}, "t.yaml")
    with pytest.raises(SpaceError, match=r"strategy.name: must be one of standalone, one_shot"):
        parse({"name": "t", "model": MODEL, "strategy": {"name": "oneshot"}}, "t.yaml")
    space = parse_one_shot(MODEL)
    assert parse(space.to_dict(), "again.yaml").strategy == space.strategy


def test_run_strategy_flag_asks_for_one_shot(tmp_path):
    # The space has no strategy key: only --strategy one_shot makes its searched G unshareable.
    text = TINY_SPACE.replace("  groups: 2\n", "  groups: {choice: [1, 2]}\n")
    space = write_space(tmp_path, text)
    out = tmp_path / "study"
    proc = run_cli("run", str(space), "--out", str(out), "--strategy", "one_shot", timeout=120)
    assert proc.returncode == 2 and "model.groups" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()

