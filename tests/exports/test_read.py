"""Reading an export folder back: what it is, its recipe and data record, and the one check
that a data set fits the network (``sksearch train`` and ``sksearch evaluate`` both ask it)."""

import json
import shutil
from types import SimpleNamespace

import pytest

from sksearch.errors import UserError
from sksearch.exports.read import check_data_fits, is_export, read_preprocess, read_recipe
from tests.conftest import tiny_spec
from tests.exports.test_earlier_exports import V_TODAY


def test_the_data_must_give_the_networks_channels_size_and_classes():
    spec = tiny_spec(num_classes=3, in_channels=1, input_size=12)
    check_data_fits(spec, SimpleNamespace(in_channels=1, input_size=12, num_classes=3), "--data digits")
    for wrong in ({"in_channels": 3}, {"input_size": 16}, {"num_classes": 10}):
        data = SimpleNamespace(**{"in_channels": 1, "input_size": 12, "num_classes": 3, **wrong})
        with pytest.raises(UserError) as err:
            check_data_fits(spec, data, "--data digits")
        assert str(err.value) == (f"--data digits gives {data.in_channels} x {data.input_size} px images with "
                                  f"{data.num_classes} classes; the network takes 1 x 12 px and has 3 classes")


def test_an_export_its_recipe_and_its_data_record(tmp_path):
    assert is_export(str(V_TODAY)) and not is_export(str(V_TODAY / "spec.json")) and not is_export(str(tmp_path))
    assert read_recipe(str(V_TODAY)) == json.loads((V_TODAY / "train.json").read_text())
    assert read_preprocess(str(V_TODAY))["data_spec"]["name"] == "digits"
    # An untrained build holds neither; a damaged one is refused naming the file.
    bare = tmp_path / "bare"
    shutil.copytree(V_TODAY, bare, ignore=shutil.ignore_patterns("train.json", "preprocess.json"))
    assert read_recipe(str(bare)) is None and read_preprocess(str(bare)) is None
    (bare / "train.json").write_text("[1, 2]")
    with pytest.raises(UserError, match=r"train\.json: must be a JSON object, got a list"):
        read_recipe(str(bare))
