"""Attention analysis: enlargement, recording, tables, differences, the report and the CLI."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from sksearch.analysis.attention import (
    COLUMNS,
    Images,
    attention_units,
    collect,
    differences,
    enlarge,
    parse_scales,
    per_class_differences,
    recorded_bins,
    table,
)
from sksearch.errors import UserError
from sksearch.model.network import build
from sksearch.model.spec import SKSpec, StageSpec
from sksearch.study.page import read_figures
from tests.conftest import assert_drawn_offline, assert_offline_page, find_browser, run_cli, tiny_spec


def images(n=24, size=16, classes=3, seed=0, recorded=False) -> Images:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 3, size, size), dtype=np.uint8)
    y = np.arange(n) % classes
    scales = boxes = None
    if recorded:
        scales = np.linspace(1.0, 2.5, n)
        side = np.round(4 * scales).astype(int)
        boxes = np.stack([np.zeros(n, int), np.zeros(n, int), side], axis=1)
    return Images(x, y, [f"c{i}" for i in range(classes)], scales, boxes)


def model_for(spec):
    torch.manual_seed(0)
    return build(spec.to_dict()).eval()


MEAN, STD = [0.5] * 3, [0.25] * 3


def fixed_attention(model, weights):
    """Make every SK unit's attention exactly ``weights`` (one per branch) for any input: the
    fuse output becomes the constant 1 (BN weight 0, bias 1), and the select fc maps it to
    log(weights) for every channel."""
    for _, conv in model.sk_units():
        if len(conv.kernel_dilations) < 2:
            continue
        bn = conv.fuse[1]
        torch.nn.init.zeros_(bn.weight)
        torch.nn.init.ones_(bn.bias)
        dim = bn.num_features
        with torch.no_grad():
            logits = torch.log(torch.tensor(weights, dtype=torch.float32))
            conv.select.weight.copy_(logits.repeat_interleave(conv.channels)[:, None].expand(-1, dim) / dim)
    return model


# ---- enlargement ----------------------------------------------------------------------------

def square(size=16, top=6, left=6, side=4):
    x = torch.zeros(1, 1, size, size)
    x[..., top:top + side, left:left + side] = 1.0
    return x


def test_scale_one_is_the_image_itself():
    x = torch.rand(2, 3, 8, 8)
    assert enlarge(x, 1.0) is x


def test_enlarging_by_two_doubles_a_centred_object():
    out = enlarge(square(), 2.0)
    assert out.shape == (1, 1, 16, 16)
    # A 4 px square at the centre becomes an 8 px one (bilinear: its edges are soft).
    assert int((out > 0.5).sum()) == 64 and out[0, 0, 4:12, 4:12].min() > 0.5
    assert float(out.sum()) == pytest.approx(4 * 16)


def test_the_window_follows_the_object_and_stays_in_the_image():
    x = square(top=1, left=9, side=4)  # off-centre, near the top edge
    centres = torch.tensor([[1 + 2.0, 9 + 2.0]])
    out = enlarge(x, 2.0, centres)
    assert int((out > 0.5).sum()) == 64  # the whole object, twice as large, still in view
    assert float(out.sum()) == pytest.approx(4 * 16)
    rows = torch.nonzero(out[0, 0] > 0.5)[:, 0]
    assert rows.min() == 2 and rows.max() == 9  # the window was moved down to stay inside


def test_parse_scales():
    assert parse_scales("2,1.0, 1.5") == [1.0, 1.5, 2.0]
    for bad in ("", "0.5,1", "1,x", "nan"):
        with pytest.raises(UserError, match="--scales"):
            parse_scales(bad)


# ---- recording ------------------------------------------------------------------------------

def test_units_are_named_by_stage_and_block_and_m1_units_are_skipped():
    spec = tiny_spec()  # stages of depth 1 and 2
    assert [u.name for u in attention_units(model_for(spec))] == ["SK_2_1", "SK_3_1", "SK_3_2"]
    stages = (StageSpec(depth=1, width=8, out_channels=16, stride=1),
              StageSpec(depth=1, width=16, out_channels=32, stride=2, sk=SKSpec(branches=((3, 1),))))
    mixed = tiny_spec(stages=stages)
    assert [u.name for u in attention_units(model_for(mixed))] == ["SK_2_1"]
    with pytest.raises(UserError, match="no SK unit with attention"):
        collect(model_for(tiny_spec(branches=((3, 1),))), images(), [1.0], MEAN, STD)


def test_shapes_and_sums_for_m3():
    spec = tiny_spec(branches=((3, 1), (3, 2), (5, 1)))
    att = collect(model_for(spec), images(n=20), [1.0, 2.0], MEAN, STD, batch_size=7)
    assert set(att.samples) == {("enlarged", 1.0), ("enlarged", 2.0)}
    for per_unit in att.samples.values():
        assert set(per_unit) == {"SK_2_1", "SK_3_1", "SK_3_2"}
        for a in per_unit.values():
            assert a.shape == (20, 3)
            np.testing.assert_allclose(a.sum(axis=1), 1.0, atol=1e-5)
    df = table(att, per_class=True)
    assert list(df.columns) == COLUMNS
    sums = df.groupby(["unit", "kind", "scale", "class"])["mean_attention"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-5)
    # Rows per unit and scale: 3 branches x (all + 3 classes); per-class samples add up.
    assert len(df) == 3 * 2 * 3 * 4
    per_class = df[(df["class"] != "") & (df.branch == 0) & (df.unit == "SK_2_1") & (df.scale == 1.0)]
    assert per_class.samples.sum() == 20
    # Receptive fields 3, 5, 5: the widest is the first of the two 5s (branch 1).
    u = att.units[0]
    assert u.receptive_fields == [3, 5, 5] and u.widest_and_narrowest == (1, 0)


def test_a_hand_made_model_with_known_attention():
    spec = tiny_spec(branches=((3, 1), (3, 2), (3, 3)))
    model = fixed_attention(model_for(spec), [0.2, 0.3, 0.5])
    att = collect(model, images(n=12, recorded=True), [1.0, 1.5, 2.0], MEAN, STD)
    df = table(att, per_class=True, bins=2)
    for branch, expected in enumerate([0.2, 0.3, 0.5]):
        np.testing.assert_allclose(df[df.branch == branch].mean_attention, expected, atol=1e-6)
    diff = differences(df, att.units)
    np.testing.assert_allclose(diff.difference, 0.5 - 0.2, atol=1e-6)  # RF 7 minus RF 3
    assert set(diff.kind) == {"enlarged", "recorded"}
    pc = per_class_differences(att, att.units[0])
    assert len(pc) == 3 * 3 and np.allclose(pc.difference, 0.3, atol=1e-6)


def test_recorded_scale_groups():
    scales = np.array([1.0, 1.1, 1.6, 2.4, 2.5, 2.5])
    bins = recorded_bins(scales, 3)
    assert [(round(lo, 2), round(hi, 2), int(m.sum())) for lo, hi, m in bins] == [(1.0, 1.5, 2), (1.5, 2.0, 1),
                                                                                  (2.0, 2.5, 3)]
    spec = tiny_spec()
    att = collect(fixed_attention(model_for(spec), [0.4, 0.6]), images(n=30, recorded=True), [1.0], MEAN, STD)
    df = table(att, bins=3)
    rec = df[(df.kind == "recorded") & (df.unit == "SK_2_1") & (df.branch == 0)]
    assert list(rec.scale_range) == ["1.00-1.50", "1.50-2.00", "2.00-2.50"] and rec.samples.sum() == 30
    assert rec.scale.is_monotonic_increasing


def test_equal_receptive_fields_have_no_difference():
    spec = tiny_spec(branches=((3, 1), (3, 1)))
    att = collect(model_for(spec), images(n=6), [1.0], MEAN, STD)
    assert differences(table(att), att.units).difference.isna().all()


# ---- the command on a trained model -------------------------------------------------------

def trained_trial(study) -> int:
    df = pd.read_csv(study / "trials.csv")
    trained = df[df.status.isin(["completed", "stopped_early"]) & (df["sk.M"] == 2)]
    assert len(trained), "the tiny search trained no M=2 trial"
    return int(trained.trial_id.iloc[0])


def test_analyze_a_trained_trial_and_its_export_agree(finished_study, tmp_path):
    study, _ = finished_study
    trial = trained_trial(study)
    out = tmp_path / "att"
    proc = run_cli("analyze", f"{study}:{trial}", "--out", str(out), "--per-class", "--scales", "1,1.5,2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "mean attention difference" in proc.stdout and "SK_2_1" in proc.stdout
    df = pd.read_csv(out / "attention.csv", dtype={"class": str})
    assert list(df.columns) == COLUMNS and set(df.unit) == {"SK_2_1"}
    assert set(df[df.kind == "enlarged"].scale) == {1.0, 1.5, 2.0} and (df.kind == "recorded").any()
    overall = df[df["class"].isna()]
    np.testing.assert_allclose(overall.groupby(["unit", "kind", "scale"]).mean_attention.sum(), 1.0, atol=1e-5)
    assert set(df["class"].dropna()) == {str(i) for i in range(10)}
    assert overall[overall.kind == "enlarged"].samples.eq(200).all()  # the tiny space's validation set

    # The page holds the same numbers as the CSV, and needs no network.
    assert_offline_page((out / "attention.html").read_text())
    figs = read_figures(str(out / "attention.html"))
    assert {"branches_enlarged", "branches_recorded", "difference", "classes"} <= set(figs)
    enlarged = overall[overall.kind == "enlarged"]
    for tr in figs["branches_enlarged"]["data"]:
        branch = 0 if tr["name"].startswith("3x3 d1 ") else 1
        expected = enlarged[enlarged.branch == branch].sort_values("scale").mean_attention.to_numpy()
        np.testing.assert_allclose(tr["y"], expected, rtol=1e-6)
    x1 = [t for t in figs["difference"]["data"] if t["name"] == "x1"][0]
    by_branch = enlarged[enlarged.scale == 1.0].set_index("branch").mean_attention
    assert x1["y"][0] == pytest.approx(by_branch[1] - by_branch[0], abs=1e-6)  # dilation > 1 is the wider branch

    exported = tmp_path / "export"
    assert run_cli("export", str(study), "--trial", str(trial), "--to", str(exported)).returncode == 0
    proc = run_cli("analyze", str(exported), "--per-class", "--scales", "1,1.5,2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = pd.read_csv(exported / "attention" / "attention.csv", dtype={"class": str})
    pd.testing.assert_frame_equal(again, df)


@pytest.mark.skipif(find_browser() is None, reason="no Chromium/Chrome installed (apt-get install chromium)")
def test_a_headless_browser_draws_the_attention_page(finished_study, tmp_path):
    study, _ = finished_study
    out = tmp_path / "att"
    assert run_cli("analyze", f"{study}:{trained_trial(study)}", "--out", str(out)).returncode == 0
    assert_drawn_offline(out / "attention.html", ["branches_enlarged", "branches_recorded", "difference", "classes"],
                         tmp_path)


@pytest.mark.parametrize("args,fragment", [
    (["{study}"], "is a study folder: name a trial as"),
    (["{study}:x"], "'x' is not a trial id"),
    (["{study}:999"], ":999: no such trial"),  # named as the user named it, not as a --trial flag
    (["{study}:{trial}", "--scales", "0.5"], "--scales: '0.5': every scale must be a number >= 1"),
    (["{study}:{trial}", "--unit", "SK_9_9"], "--unit SK_9_9: no such SK unit with attention; allowed: SK_2_1"),
    (["/nonexistent/folder"], "not an export folder (no spec.json), nor STUDY_DIR:TRIAL_ID"),
    pytest.param(["{study}:{trial}", "--device", "cuda"], "--device cuda: CUDA is not available",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")),
])
def test_bad_analyze_requests(finished_study, tmp_path, args, fragment):
    study, _ = finished_study
    trial = trained_trial(study)
    proc = run_cli("analyze", *[a.format(study=study, trial=trial) for a in args], "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert fragment in proc.stderr
    assert not (tmp_path / "o").exists()


def test_data_json_records_how_to_read_the_data_again(finished_study):
    study, _ = finished_study
    info = json.loads((study / "data.json").read_text())
    assert info["data_spec"]["name"] == "digits" and info["data_spec"]["canvas"] == 12 == info["input_size"]


def test_analyze_never_writes_through_a_link_left_in_the_study(finished_study, tmp_path):
    """A link where the analysis goes, to a file or a folder (the study's attention/ or a
    trial's folder), is refused with one line naming it; nothing is written through it."""
    import shutil

    study = tmp_path / "study"
    shutil.copytree(finished_study[0], study)
    trial = trained_trial(study)
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's own file\n")
    folder = study / "attention" / f"trial_{trial:04d}"
    folder.mkdir(parents=True)
    (folder / "attention.csv").symlink_to(victim)
    (folder / "attention.html").symlink_to(victim)
    proc = run_cli("analyze", f"{study}:{trial}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert len(proc.stderr.strip().splitlines()) == 1 and "is a symbolic link" in proc.stderr
    assert victim.read_text() == "the user's own file\n" and (folder / "attention.csv").is_symlink()

    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.rmtree(study / "attention")
    (study / "attention").symlink_to(outside)
    proc = run_cli("analyze", f"{study}:{trial}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "attention: is a symbolic link" in proc.stderr and list(outside.iterdir()) == []
    (study / "attention").unlink()
    (study / "attention").mkdir()
    (study / "attention" / f"trial_{trial:04d}").symlink_to(outside)
    proc = run_cli("analyze", f"{study}:{trial}")
    assert proc.returncode == 2 and "is a symbolic link" in proc.stderr and list(outside.iterdir()) == []


def test_a_trial_named_study_colon_id_is_answered_in_those_words(finished_study):
    from tests.conftest import run_cli

    study, _ = finished_study
    proc = run_cli("analyze", f"{study}:99")
    assert proc.returncode == 2 and f"{study}:99: no such trial" in proc.stderr and "--trial" not in proc.stderr


def test_the_api_returns_the_pages_figures_and_table(finished_study, tmp_path):
    import plotly.graph_objects as go

    import sksearch.api

    study, _ = finished_study
    out = tmp_path / "api"
    found = sksearch.api.analyze(f"{study}:{trained_trial(study)}", "1,2", out=str(out), log=lambda _: None)
    assert {"branches_enlarged", "difference"} <= set(found.figures)
    assert all(isinstance(f, go.Figure) for f in found.figures.values())
    page = read_figures(found.html)
    assert set(page) == set(found.figures)
    assert list(page["difference"]["data"][0]["y"]) == pytest.approx(list(found.figures["difference"].data[0].y))
    assert found.table.to_csv(index=False) == open(found.csv).read()  # attention.csv is this table


def test_analyze_on_a_trial_without_attention_names_the_trials_that_have_it(finished_study, tmp_path):
    """The quickstart's best trial has M=1: the refusal names the study's trials that would work."""
    from sksearch.analysis.analyze import analyze
    from sksearch.errors import UserError

    study, _ = finished_study
    df = pd.read_csv(study / "trials.csv")
    trained = df[df.status.isin(["completed", "stopped_early"])]
    single = trained[trained["sk.M"] == 1]
    assert len(single), "the tiny search trained no M=1 trial"
    with pytest.raises(UserError) as err:
        analyze(f"{study}:{int(single.trial_id.iloc[0])}", [1.0], out=str(tmp_path / "o"))
    message = str(err.value)
    assert "has no SK unit with attention" in message
    named = message.split("that can be analysed: ", 1)[1].split(", e.g.", 1)[0]
    assert named == ", ".join(str(t) for t in trained[trained["sk.M"] == 2].trial_id)
    assert f"`sksearch analyze {study}:{trained_trial(study)}`" in message
    assert not (tmp_path / "o").exists()


def test_the_attention_page_difference_table_is_formatted():
    """Columns named as the figure's legend (x1.5, recorded 0.75-1.75), values signed to three
    decimals: the pivot's to_html printed the recorded bins' mean scales raw (1.213957)."""
    from sksearch.analysis.attention import Unit
    from sksearch.analysis.attention_page import difference_table

    diff = pd.DataFrame({"unit": ["SK_2_1", "SK_3_1"] * 3, "kind": ["enlarged"] * 4 + ["recorded"] * 2,
                         "scale": [1.0, 1.0, 1.5, 1.5, 1.2139570713043213, 1.2139570713043213],
                         "scale_range": ["", "", "", "", "0.75-1.75", "0.75-1.75"], "class": [""] * 6,
                         "difference": [-0.0213, 0.0104, 0.0142, 0.02, -0.046, 0.0231]})
    units = [Unit("SK_2_1", 2, 1, ((3, 1), (3, 3))), Unit("SK_3_1", 3, 1, ((3, 1), (3, 3)))]
    page = difference_table(diff, units)
    head = [h.split("</th>")[0] for h in page.split("</thead>")[0].split("<th>")[1:]]
    assert head == ["SK unit", "x1", "x1.5", "recorded 0.75-1.75"]
    rows = [[c.split("</td>")[0] for c in r.split("<td>")[1:]] for r in page.split("<tbody>")[1].split("</tr>")[:-1]]
    assert rows == [["-0.021", "+0.014", "-0.046"], ["+0.010", "+0.020", "+0.023"]]
    assert "1.213957" not in page and "1.000000" not in page
