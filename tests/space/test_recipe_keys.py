"""The recipe keys of issue 29 (train.ema, train.ema_every, train.tta, train.schedule: onecycle,
data.erase*) refused with one line naming the file, the key and what is allowed, exit 2, before
anything is written; searchable train keys accepted as distributions."""

from __future__ import annotations

import json

import pytest
import yaml

from sksearch.cli import main
from sksearch.space.schema import parse
from tests.conftest import TINY_SPACE, tiny_spec

BAD_SPACE = [
    ("train", "ema", 1.0, "must be a finite number >= 0 and < 1"),
    ("train", "ema", -0.1, "must be a finite number >= 0 and < 1"),
    ("train", "ema", {"choice": [0.9, 1.5]}, "must be a finite number >= 0 and < 1"),
    ("train", "ema_every", 0, "must be an integer from 1 to 10,000"),
    ("train", "tta", "flip", "must be one of off, on"),
    ("train", "schedule", "triangle", "must be one of cosine, linear, constant, onecycle"),
    ("data", "erase", 1.5, "must be a finite number >= 0 and <= 1"),
    ("data", "erase_min", 0, "must be a finite number > 0 and <= 1"),
    ("data", "erase_max", "big", "must be a finite number > 0 and <= 1"),
]


@pytest.mark.parametrize("section,key,value,words", BAD_SPACE, ids=[f"{s}.{k}={v}" for s, k, v, _ in BAD_SPACE])
def test_a_bad_recipe_value_in_a_space_file_is_one_line_and_writes_nothing(section, key, value, words, tmp_path,
                                                                             capsys):
    raw = yaml.safe_load(TINY_SPACE)
    raw[section][key] = value
    space = tmp_path / "bad.yaml"
    space.write_text(yaml.safe_dump(raw))
    out = tmp_path / "study"
    assert main(["run", str(space), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sksearch: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{space}: {section}.{key}" in err and words in err, err
    assert not out.exists()


def test_an_erase_area_that_runs_downwards_is_refused(tmp_path, capsys):
    raw = yaml.safe_load(TINY_SPACE)
    raw["data"].update(erase=0.5, erase_min=0.4, erase_max=0.2)
    space = tmp_path / "bad.yaml"
    space.write_text(yaml.safe_dump(raw))
    assert main(["run", str(space), "--out", str(tmp_path / "study")]) == 2
    assert f"{space}: data.erase_min: 0.4 is above erase_max 0.2" in capsys.readouterr().err
    assert not (tmp_path / "study").exists()


def test_the_train_keys_are_searchable():
    raw = yaml.safe_load(TINY_SPACE)
    raw["train"].update(ema={"choice": [0.0, 0.99, 0.999]}, ema_every={"int": [1, 5]}, tta={"choice": ["off", "on"]},
                        schedule={"choice": ["cosine", "onecycle"]})
    raw["data"].update(erase=0.5, erase_min=0.02, erase_max=0.3)
    space = parse(raw)
    assert space.train["tta"].to_dict() == {"choice": ["off", "on"]}
    raw["train"]["tta"] = {"choice": [False, True]}  # what YAML 1.1 makes of an unquoted [off, on]
    assert parse(raw).train["tta"].to_dict() == {"choice": ["off", "on"]}
    assert parse(yaml.safe_load(TINY_SPACE.replace("train: {", "train: {tta: on, "))).train["tta"] == "on"
    assert space.train["ema"].to_dict() == {"choice": [0.0, 0.99, 0.999]}
    assert space.train["schedule"].to_dict() == {"choice": ["cosine", "onecycle"]}
    assert (space.data.erase, space.data.erase_min, space.data.erase_max) == (0.5, 0.02, 0.3)
    assert parse(yaml.safe_load(space.to_yaml())).data == space.data  # written to the study and read back


BAD_SET = [
    ("train.ema=0.9999999999999999999", None),  # parses as 1.0 in float: refused
    ("train.ema_every=-3", "train.ema_every: must be an integer from 1 to 10,000"),
    ("train.tta=flip", "train.tta: must be one of off, on"),
    ("train.schedule=cyclic", "train.schedule: must be one of cosine, linear, constant, onecycle"),
    ("data.erase_max=2", "data.erase_max: must be a finite number > 0 and <= 1"),
    ("data.erase_min=0.5", "data.erase_min: 0.5 is above erase_max 0.25"),
]


@pytest.mark.parametrize("setting,words", BAD_SET, ids=[s for s, _ in BAD_SET])
def test_a_bad_recipe_value_for_sksearch_train_is_refused_before_anything_is_written(setting, words, tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(tiny_spec(num_classes=10, in_channels=1, input_size=24).to_dict()))
    out = tmp_path / "out"
    assert main(["train", str(spec), "--epochs", "1", "--out", str(out), "--data", "digits", "--set", setting]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sksearch: error: ") and err.count("\n") == 1, err
    assert (words or "train.ema: must be a finite number >= 0 and < 1") in err, err
    assert not out.exists()


@pytest.mark.parametrize("key", ["compile", "channels_last", "tta"])
def test_an_unquoted_on_or_off_means_what_was_written(key):
    # YAML 1.1 reads `compile: off` as false: it was refused as "got False" before.
    for written, meant in (("off", "off"), ("on", "on")):
        space = parse(yaml.safe_load(TINY_SPACE.replace("train: {", f"train: {{{key}: {written}, ")))
        assert space.train[key] == meant
    raw = yaml.safe_load(TINY_SPACE)
    raw["train"][key] = {"choice": [False, True]}  # an unquoted [off, on]
    assert parse(raw).train[key].to_dict() == {"choice": ["off", "on"]}
    raw["train"][key] = "maybe"
    with pytest.raises(Exception, match=f"train.{key}: must be one of"):
        parse(raw)
