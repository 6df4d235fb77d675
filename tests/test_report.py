"""The HTML report: the figures it embeds, that it needs no network, and that a real browser
renders it (skipped where no browser is installed)."""

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from sksearch.pareto import front, hypervolume, reference_point
from sksearch.report import GREY, read_figures, write_report
from sksearch.study import open_folder
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def report(finished_study, tmp_path_factory):
    study_dir, _ = finished_study
    study = open_folder(str(study_dir))
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
    from plotly.offline import get_plotlyjs

    _, path = report
    page = path.read_text()
    library = get_plotlyjs()
    assert page.count(library) == 1  # plotly.js itself is inline, once
    # plotly.js holds URL strings in its code (map tiles, its logo's link) that 2D plots never
    # fetch; the browser test below blocks the network. The rest of the page has no URL at all.
    rest = page.replace(library, "")
    assert not re.search(r"https?:|//[a-z0-9.-]+\.[a-z]{2,}/", rest, re.I), re.search(r"https?:.{0,60}", rest).group(0)
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=", rest, re.I)
    assert "Plotly.newPlot" in rest
    assert "<table" in page and "The front over accuracy, params" in page


def find_browser():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(find_browser() is None, reason="no Chromium/Chrome installed (apt-get install chromium)")
def test_a_headless_browser_renders_every_figure_offline(report, tmp_path):
    _, path = report
    browser = find_browser()
    offline = ["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"]  # any request would fail
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", *offline]
    dom = subprocess.run([browser, *flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for name in ("front_params", "front_macs", "hypervolume", "parameters"):
        block = dom.stdout.split(f'id="plot-{name}"', 1)[1].split('id="figure-', 1)[0]
        assert 'class="main-svg"' in block, f"{name} was not drawn"
    shot = tmp_path / "report.png"
    subprocess.run([browser, *flags, "--window-size=1200,2400", f"--screenshot={shot}", path.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 50_000


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
