"""The HTML report: the figures it embeds, that it needs no network, and that a real browser
renders it (skipped where no browser is installed)."""

import numpy as np
import pandas as pd
import pytest

from sksearch.study.pareto import front, hypervolume, reference_point
from sksearch.study.page import read_figures
from sksearch.study.report import GREY, write_report
from sksearch.study.folder import StudyFolder
from tests.conftest import assert_drawn_offline, assert_offline_page, find_browser, run_cli


@pytest.fixture(scope="module")
def report(finished_study, tmp_path_factory):
    study_dir, _ = finished_study
    study = StudyFolder.open(str(study_dir))
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_report(study, str(path))
    return study, path


def traces(fig, prefix):
    return [t for t in fig["data"] if t.get("name", "").startswith(prefix)]


def test_the_report_embeds_the_expected_figures(report):
    study, path = report
    figs = read_figures(str(path))
    assert set(figs) == {"front_params", "front_macs", "hypervolume", "parameters"}
    df = study.table
    for name, cost in (("front_params", "params"), ("front_macs", "macs")):
        fig = figs[name]
        line = traces(fig, "Pareto front")[0]
        expected = front(df, ["accuracy", cost])
        assert line["line"]["shape"] == "hv"
        assert list(line["x"]) == expected[cost].astype(float).tolist()
        assert list(line["y"]) == expected["accuracy"].tolist()
        done = [y for t in traces(fig, "completed") for y in t["y"]]
        assert sorted(done) == sorted(df[df.status == "completed"].accuracy)
        stopped = traces(fig, "stopped early")
        if (df.status == "stopped_early").any():
            assert stopped[0]["marker"]["color"] == GREY
            assert sorted(stopped[0]["y"]) == sorted(df[df.status == "stopped_early"].accuracy)
        hover = traces(fig, "completed")[0]["text"][0]
        for param in ("sk.M", "lr", "stages.0.width_per_group"):
            assert param in hover


def test_hypervolume_figure_is_the_trace_of_the_completed_front(report):
    study, path = report
    df = study.table
    fig = read_figures(str(path))["hypervolume"]
    ys = list(fig["data"][0]["y"])
    ended = df.status.isin(["completed", "stopped_early", "failed"]).sum()
    assert len(ys) == ended and all(b >= a for a, b in zip(ys, ys[1:]))
    done = df[df.status == "completed"]
    objectives = study.objectives
    expected = hypervolume(done[objectives].to_numpy(dtype=float), objectives, reference_point(df, objectives))
    assert ys[-1] == pytest.approx(expected)
    assert "reference: accuracy 0" in fig["layout"]["title"]["text"]


def test_parameter_figure_has_a_panel_per_searched_parameter(report):
    study, path = report
    fig = read_figures(str(path))["parameters"]
    titles = {a["text"] for a in fig["layout"]["annotations"]}
    assert {"sk.M", "lr", "stages.0.width_per_group"} <= titles


def test_the_report_needs_no_network(report):
    _, path = report
    page = path.read_text()
    assert_offline_page(page)
    assert "<table" in page and "The front over accuracy, params" in page


@pytest.mark.skipif(find_browser() is None, reason="no Chromium/Chrome installed (apt-get install chromium)")
def test_a_headless_browser_renders_every_figure_offline(report, tmp_path):
    _, path = report
    assert_drawn_offline(path, ["front_params", "front_macs", "hypervolume", "parameters"], tmp_path)


def test_report_and_pareto_commands(finished_study, tmp_path):
    study_dir, _ = finished_study
    out = tmp_path / "r.html"
    proc = run_cli("report", str(study_dir), "--out", str(out))
    assert proc.returncode == 0 and out.exists() and f"report: {out}" in proc.stdout
    import json
    rows = json.loads(run_cli("pareto", str(study_dir), "--json").stdout)
    df = pd.read_csv(study_dir / "trials.csv")
    expected = front(df, ["accuracy", "params"])
    assert [r["trial_id"] for r in rows] == expected.trial_id.tolist()
    assert all({"trial_id", "accuracy", "params", "config"} <= set(r) for r in rows)
    rows = json.loads(run_cli("pareto", str(study_dir), "--objectives", "accuracy,macs", "--json").stdout)
    assert [r["trial_id"] for r in rows] == front(df, ["accuracy", "macs"]).trial_id.tolist()
    text = run_cli("pareto", str(study_dir)).stdout
    assert "Pareto front of" in text and "sk.M" in text
    bad = run_cli("pareto", str(study_dir), "--objectives", "accuracy,speed")
    assert bad.returncode == 2 and "'speed' is not an objective" in bad.stderr
    bad = run_cli("pareto", str(study_dir), "--objectives", "accuracy,latency")
    assert bad.returncode == 2 and "'latency' was not measured" in bad.stderr
    assert np.isfinite(df.accuracy.dropna()).all()
