"""The HTML report: the figures it embeds read back and checked as a researcher would look at
them (ranges, log axes, labels, hover), that it needs no network, and that a real browser
renders it (skipped where no browser is installed)."""

import json

import numpy as np
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs

from sksearch.search.schedulers import read_results
from sksearch.study.folder import StudyFolder
from sksearch.study.page import read_data, read_figures
from sksearch.study.pareto import front, hypervolume, reference_point
from sksearch.study.report import GREY, write_report
from tests.conftest import assert_drawn_offline, assert_offline_page, find_browser, measure_in_browser, run_cli


@pytest.fixture(scope="module")
def report(finished_study, tmp_path_factory):
    study_dir, _ = finished_study
    folder = StudyFolder.open(str(study_dir))
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_report(folder, str(path))
    return folder, path


def traces(fig, prefix):
    return [t for t in fig["data"] if t.get("name", "").startswith(prefix)]


def hover_rows(path):
    block = read_data(str(path))["trials"]
    return [dict(zip(block["columns"], row)) for row in block["rows"]]


def test_the_report_embeds_the_expected_figures(report):
    folder, path = report
    figs = read_figures(str(path))
    assert set(figs) == {"front_params", "front_macs", "hypervolume", "curves", "parameters"}
    df = folder.table
    rows = hover_rows(path)
    assert [int(r["trial"]) for r in rows] == df.trial_id.tolist()  # one hover row per trial, in order
    for name, cost in (("front_params", "params"), ("front_macs", "macs")):
        fig = figs[name]
        line = traces(fig, "Pareto front")[0]
        expected = front(df, ["accuracy", cost])
        assert line["line"]["shape"] == "hv"
        assert list(line["x"]) == expected[cost].astype(float).tolist()
        assert list(line["y"]) == pytest.approx((expected["accuracy"] * 100).tolist())  # percent everywhere
        done = [y for t in traces(fig, "completed") for y in t["y"]]
        assert sorted(done) == pytest.approx(sorted(df[df.status == "completed"].accuracy * 100))
        # Hover: every point's row is its trial's, with the configuration.
        for trace in traces(fig, "completed"):
            for x, i in zip(trace["x"], trace["customdata"]):
                assert float(df.loc[i, cost]) == x and rows[i]["sk.M"] != "" and rows[i]["lr"]
        assert fig["layout"]["meta"]["rows"] == "trials" and fig["layout"]["xaxis"]["type"] == "log"
        assert fig["layout"]["xaxis"]["title"]["text"].endswith("(log scale)")
        assert fig["layout"]["yaxis"]["title"]["text"] == "validation accuracy (%)"


def test_the_front_plots_zoom_to_the_completed_trials(report):
    folder, path = report
    df = folder.table
    fig = read_figures(str(path))["front_params"]
    lo, hi = fig["layout"]["yaxis"]["range"]
    done = df[df.status == "completed"].accuracy * 100
    assert lo <= done.min() and hi >= done.max() and hi - lo <= ((done.max() - done.min()) * 1.3 + 2) * 1.1
    in_range = traces(fig, "stopped early (")
    below = traces(fig, "stopped early, below the range")
    for trace in in_range + below:
        assert trace["marker"]["color"] == GREY
    for trace in in_range:  # hollow circles where they are, with their own legend entry
        assert trace["marker"]["symbol"] == "circle-open" and trace.get("showlegend", True)
        for y, i in zip(trace["y"], trace["customdata"]):
            assert y == pytest.approx(df.loc[i, "accuracy"] * 100) and y >= lo
    shown = [y for t in in_range + traces(fig, "completed") for y in t["y"]]
    for trace in below:  # triangles in a band under every other point, the real value in the hover
        assert trace["marker"]["symbol"] == "triangle-down-open"
        for y, i in zip(trace["y"], trace["customdata"]):
            real = df.loc[i, "accuracy"] * 100
            assert lo < y < min(shown) and real < min(done) and real < y + (hi - lo)
            assert hover_rows(path)[i]["validation accuracy"] == f"{real / 100:.2%}"


def test_the_parameter_grid(report):
    folder, path = report
    fig = read_figures(str(path))["parameters"]
    layout = fig["layout"]
    # The panels' titles (paper-placed); notes inside a panel are placed on its axes.
    titles = [a["text"] for a in layout["annotations"] if a.get("xref") == "paper"]
    assert {"sk.M", "lr (log scale)", "stages.0.width_per_group"} <= set(titles)
    # The second branch's dilation is sampled only with M=2, and its title says so.
    assert "sk.branches.1.dilation (M ≥ 2)" in titles
    axes = {k: v for k, v in layout.items() if k.startswith("xaxis")}
    ranges = [v.get("range") for k, v in layout.items() if k.startswith("yaxis")]
    assert all(r == ranges[0] for r in ranges) and ranges[0] is not None  # one accuracy range for every panel
    by_title = {t: axes["xaxis" if i == 0 else f"xaxis{i + 1}"] for i, t in enumerate(titles)}
    assert by_title["lr (log scale)"]["type"] == "log"                  # sampled on a log scale
    lr = folder.table["lr"].dropna()
    ticks = by_title["lr (log scale)"]["tickvals"]  # whole values, not plotly's bare minor digits
    assert len(ticks) >= 2 and all(lr.min() <= t <= lr.max() for t in ticks)
    assert by_title["lr (log scale)"]["ticktext"] == [f"{t:g}" for t in ticks]
    assert by_title["stages.0.width_per_group"]["ticktext"] == ["2", "4"]  # integer choices, as written
    assert by_title["sk.M"]["ticktext"] == ["1", "2"]
    markers = {t["name"]: t["marker"]["symbol"] for t in fig["data"] if t.get("showlegend") is not False}
    assert markers.get("completed") == "circle"
    xs = [x for t in fig["data"] if t["xaxis"] == "x" for x in t["x"]]
    assert any(abs(x - round(x)) > 1e-6 for x in xs)  # categories are jittered


def test_the_front_table_has_only_informative_columns(report):
    folder, path = report
    page = path.read_text()
    table = page.split("<table class='front'>", 1)[1].split("</table>", 1)[0]
    head = [h.split("</th>")[0].split(">")[-1] for h in table.split("<th ")[1:]]
    keys = [h.split("'")[0] for h in table.split("<th title='")[1:]]  # the trials.csv key of each column
    assert head[:3] == ["trial", "validation accuracy", "parameters"]
    front_trials = front(folder.table, folder.objectives)
    for column in keys[3:]:
        assert column == "macs" or front_trials[column].notna().any()
    assert "epochs" not in head and "<div class='scroll'>" in page
    first = table.split("<tbody>")[1].split("</tr>")[0]
    assert keys[0] == "trial" and "lr" in keys and "sk.M" in keys
    assert keys.index("lr") == 4  # the continuous parameter first, after trial and the metrics
    assert "M" in head and "width per group, stage 1" in head and not any("." in h for h in head)
    assert "%" in first and "," in first  # 96.50%, 1,022: formatted, not raw floats


def test_the_curves_are_what_the_trials_reported(report):
    folder, path = report
    fig = read_figures(str(path))["curves"]
    layout = fig["layout"]
    assert [s["x0"] for s in layout.get("shapes", [])] == folder.space.scheduler.rungs()  # rungs marked
    drawn = {}
    for trace in fig["data"]:
        if trace.get("mode", "").startswith("lines"):
            for x, y, i in zip(trace["x"], trace["y"], trace["customdata"]):
                if x is not None:
                    drawn[(int(folder.table.loc[i, "trial_id"]), x)] = y
    for row in folder.table.itertuples():
        for result in read_results(str(folder.layout.trial_dir(row.trial_id, row.ray_trial_id) + "/result.json")):
            assert drawn[(row.trial_id, result["epoch"])] == pytest.approx(result["accuracy"] * 100, abs=1e-3)
    assert traces(fig, "front trials")[0]["line"]["width"] > traces(fig, "completed")[0]["line"]["width"]


def test_curves_parquet_holds_every_epoch_with_the_rung_decisions(finished_study):
    study_dir, _ = finished_study
    folder = StudyFolder.open(str(study_dir))
    curves = pd.read_parquet(study_dir / "curves.parquet")
    assert list(curves.columns) == ["trial_id", "epoch", "accuracy", "loss", "train_loss", "lr", "epoch_time", "status",
                                    "rung_decision"]
    pd.testing.assert_frame_equal(curves, folder.learning_curves)
    for row in folder.table.itertuples():
        results = read_results(str(folder.layout.trial_dir(row.trial_id, row.ray_trial_id) + "/result.json"))
        mine = curves[curves.trial_id == row.trial_id].set_index("epoch")
        assert sorted(mine.index) == sorted({r["epoch"] for r in results})
        for r in results:
            assert mine.loc[r["epoch"], "accuracy"] == r["accuracy"] and mine.loc[r["epoch"], "loss"] == r["loss"]
        rung = folder.space.scheduler.rungs()[0]
        if row.status == "stopped_early":
            assert mine.loc[rung, "rung_decision"] == "stop"
        elif row.status == "completed":
            assert mine.loc[rung, "rung_decision"] == "continue"


def test_hypervolume_figure_is_the_trace_of_the_completed_front(report):
    folder, path = report
    df = folder.table
    fig = read_figures(str(path))["hypervolume"]
    ys = list(fig["data"][0]["y"])
    ended = df.status.isin(["completed", "stopped_early", "failed"]).sum()
    assert len(ys) == ended and all(b >= a for a, b in zip(ys, ys[1:]))
    done = df[df.status == "completed"]
    objectives = folder.objectives
    expected = hypervolume(done[objectives].to_numpy(dtype=float), objectives, reference_point(df, objectives))
    assert ys[-1] == pytest.approx(expected)
    assert "reference: accuracy 0%" in fig["layout"]["title"]["text"]


def test_the_report_needs_no_network_and_stays_light(report):
    _, path = report
    page = path.read_text()
    assert_offline_page(page)
    assert "The front over accuracy, params" in page
    assert len(page.encode()) - len(get_plotlyjs().encode()) < 300_000  # the tiny study's own weight


@pytest.mark.skipif(find_browser() is None, reason="no Chromium/Chrome installed (apt-get install chromium)")
def test_a_headless_browser_renders_every_figure_offline(report, tmp_path):
    _, path = report
    assert_drawn_offline(path, ["front_params", "front_macs", "hypervolume", "curves", "parameters"], tmp_path)


def test_report_and_pareto_commands(finished_study, tmp_path):
    study_dir, _ = finished_study
    out = tmp_path / "r.html"
    proc = run_cli("report", str(study_dir), "--out", str(out))
    assert proc.returncode == 0 and out.exists() and f"report: {out}" in proc.stdout
    answer = json.loads(run_cli("pareto", str(study_dir), "--json").stdout)
    assert sorted(answer) == ["baselines", "front", "noise", "one_shot"]
    # no baseline, no one-shot search, no `sksearch confirm`
    assert answer["baselines"] == [] and answer["one_shot"] is None and answer["noise"] is None
    rows = answer["front"]
    df = pd.read_csv(study_dir / "trials.csv")
    expected = front(df, ["accuracy", "params"])
    assert [r["trial_id"] for r in rows] == expected.trial_id.tolist()
    assert all({"trial_id", "accuracy", "params", "config"} <= set(r) for r in rows)
    rows = json.loads(run_cli("pareto", str(study_dir), "--objectives", "accuracy,macs", "--json").stdout)["front"]
    assert [r["trial_id"] for r in rows] == front(df, ["accuracy", "macs"]).trial_id.tolist()
    text = run_cli("pareto", str(study_dir)).stdout
    assert "Pareto front of" in text and "sk.M" in text
    bad = run_cli("pareto", str(study_dir), "--objectives", "accuracy,speed")
    assert bad.returncode == 2 and "'speed' is not an objective" in bad.stderr
    bad = run_cli("pareto", str(study_dir), "--objectives", "accuracy,latency")
    assert bad.returncode == 2 and "'latency' was not measured" in bad.stderr
    assert np.isfinite(df.accuracy.dropna()).all()


# In the browser: each figure's title inside its box, every marker inside its plot area (not on
# the tick labels below it), no figure wider than the window, and the lr column of the front
# table inside its scroll box. The parameter panels are matched to their plot areas by name.
LAYOUT_CHECK = """
var out = {width: window.innerWidth, titles: [], points: [], wide: [], lr: null};
document.querySelectorAll('.figure').forEach(function (div) {
  var box = div.getBoundingClientRect();
  if (box.right > window.innerWidth + 1) out.wide.push(div.id);
  div.querySelectorAll('.gtitle').forEach(function (t) {
    var r = t.getBoundingClientRect();
    if (r.right > box.right + 1 || r.left < box.left - 1) out.titles.push(div.id + ': ' + t.textContent);
  });
  div.querySelectorAll('.cartesianlayer > g.subplot').forEach(function (sub) {
    var name = Array.from(sub.classList).filter(function (c) { return c !== 'subplot'; })[0];
    var area = div.querySelector('.draglayer > g.' + name + ' > rect.nsewdrag');
    if (!area) return;
    var bottom = area.getBoundingClientRect().bottom;
    sub.querySelectorAll('.scatterlayer path.point').forEach(function (p) {
      var r = p.getBoundingClientRect();
      if (r.height && r.bottom > bottom + 0.5) {
        out.points.push(div.id + ' ' + name + ' ' + (r.bottom - bottom).toFixed(1));
      }
    });
  });
});
var th = document.querySelector("table.front th[title='lr']"), scroll = document.querySelector('.scroll');
if (th) {
  var a = th.getBoundingClientRect(), b = scroll.getBoundingClientRect();
  out.lr = a.left >= b.left - 1 && a.right <= b.right + 1;
}
return out;
"""


@pytest.mark.skipif(find_browser() is None, reason="no Chromium/Chrome installed (apt-get install chromium)")
@pytest.mark.parametrize("width", [800, 1280, 1400, 1920])
def test_the_report_fits_ordinary_widths(report, tmp_path, width):
    """At 800 px the figure titles ran off the right edge; at 1400 the front table's box hid lr."""
    _, path = report
    page = tmp_path / "report.html"
    page.write_text(path.read_text())
    seen = measure_in_browser(page, LAYOUT_CHECK, width, tmp_path)
    assert abs(seen["width"] - width) <= 20
    assert seen["titles"] == [] and seen["wide"] == [] and seen["points"] == []
    if width >= 1280:
        assert seen["lr"] is True


def below_the_range_study() -> pd.DataFrame:
    """A table with stopped-early trials far below the completed ones, M=1 and M=2 trials and a
    parameter only M=2 samples, whose completed trials are all M=1."""
    rng = np.random.default_rng(0)
    n = 24
    m = np.where(np.arange(n) % 3 == 0, 2.0, 1.0)
    status = np.where(m == 2, "stopped_early", np.where(np.arange(n) % 3 == 1, "completed", "stopped_early"))
    accuracy = np.where(status == "completed", rng.uniform(0.80, 0.90, n), rng.uniform(0.10, 0.86, n))
    return pd.DataFrame({
        "trial_id": np.arange(n), "status": status, "epochs": np.where(status == "completed", 6, 2),
        "accuracy": accuracy, "params": rng.integers(20_000, 120_000, n), "macs": rng.integers(10**6, 10**7, n),
        "baseline": None, "imported": None, "reason": None, "sk.M": m,
        "sk.reduction": np.where(m == 2, rng.choice([2.0, 4.0, 8.0], n), np.nan),
        "lr": np.exp(rng.uniform(np.log(0.03), np.log(0.3), n))})


def test_points_below_the_range_sit_in_a_band_of_their_own_with_a_legend_entry():
    from sksearch.study.page import _plain
    from sksearch.study.report import accuracy_range, front_figure, parameters_figure

    df = below_the_range_study()
    y_range = accuracy_range(df)
    fig = _plain(front_figure(df, "params", y_range).to_plotly_json())
    lo, hi = fig["layout"]["yaxis"]["range"]
    assert lo < y_range[0] and hi == y_range[1]  # a band added under the completed trials' range
    names = [t["name"] for t in fig["data"]]
    assert "stopped early (partial accuracy)" in names and "stopped early, below the range" in names
    below = traces(fig, "stopped early, below the range")[0]
    assert set(np.broadcast_to(below["marker"]["symbol"], len(below["y"]))) == {"triangle-down-open"}
    assert all(lo < y < y_range[0] for y in below["y"])
    circles = traces(fig, "stopped early (")[0]
    assert circles["marker"]["symbol"] == "circle-open" and all(y >= y_range[0] for y in circles["y"])
    grid = _plain(parameters_figure(df, ["sk.M", "sk.reduction", "lr"], {"lr": {"kind": "float", "log": True}},
                                    y_range).to_plotly_json())
    titles = [a["text"] for a in grid["layout"]["annotations"] if a.get("xref") == "paper"]
    assert titles == ["sk.M", "sk.reduction (M ≥ 2)", "lr (log scale)"]
    notes = [a["text"] for a in grid["layout"]["annotations"] if a.get("xref") != "paper"]
    assert notes == ["no completed trial with M ≥ 2<br>(8 stopped early)"]
    assert grid["layout"]["xaxis3"]["ticktext"] == ["0.05", "0.1", "0.2"]
    legend = [t["name"] for t in grid["data"] if t.get("showlegend") is not False]
    assert sorted(legend) == sorted(set(legend)) and "stopped early, below the range" in legend


@pytest.mark.skipif(find_browser() is None, reason="no Chromium/Chrome installed (apt-get install chromium)")
@pytest.mark.parametrize("width", [800, 1920])
def test_in_the_browser_no_marker_sits_on_the_tick_labels(tmp_path, width):
    from sksearch.study.page import json_block, write_page
    from sksearch.study.report import accuracy_range, front_figure, parameters_figure

    df = below_the_range_study()
    y_range = accuracy_range(df)
    figs = {"front": front_figure(df, "params", y_range),
            "grid": parameters_figure(df, ["sk.M", "sk.reduction", "lr"], {"lr": {"kind": "float", "log": True}},
                                      y_range)}
    page = tmp_path / "page.html"
    write_page(str(page), "markers", [], [(name, json_block(name, fig)) for name, fig in figs.items()])
    seen = measure_in_browser(page, LAYOUT_CHECK, width, tmp_path)
    assert seen["points"] == [] and seen["titles"] == [] and seen["wide"] == []
