"""benchmarks/fashion_figure.py: the README's picture of the searched winners against the
published nets is drawn from fashion_front.py's results.json, each point where its figures say."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import fashion_figure  # noqa: E402
from fashion_front import PUBLISHED  # noqa: E402


def record(params, accuracy):
    return {"params": params, "test": {"accuracy": accuracy}}


RESULTS = {"published": PUBLISHED,
           "winners": {"under_100k": {"trial_id": 12, "M": 2}, "under_300k": {"trial_id": 30, "M": 1}},
           "trained": {"under_100k": {"winner": [record(88_000, 0.935), record(88_000, 0.937), record(88_000, 0.933)],
                                      "twin": [record(87_500, 0.930), record(87_500, 0.932)]},
                       "under_300k": {"winner": [record(250_000, 0.941)], "twin": []}}}


def test_each_trained_network_is_one_point_at_its_mean_with_its_seeds_spread():
    points = {(p["cap"], p["kind"]): p for p in fashion_figure.trained_points(RESULTS)}
    assert set(points) == {("under_100k", "winner"), ("under_100k", "twin"), ("under_300k", "winner")}
    w = points[("under_100k", "winner")]
    assert (w["M"], w["params"], w["seeds"]) == (2, 88_000, 3)
    assert w["mean"] == pytest.approx(0.935) and w["sd"] == pytest.approx(0.002)
    assert points[("under_100k", "twin")]["M"] == 1 and points[("under_300k", "winner")]["sd"] == 0.0

    fig = fashion_figure.figure(RESULTS)
    traces = {t.name: t for t in fig.data}
    assert list(traces["published"].x) == [p[2] for p in PUBLISHED]
    assert list(traces["published"].y) == pytest.approx([100 * p[3] for p in PUBLISHED])
    assert list(traces["searched winner, M=2"].y) == pytest.approx([93.5])
    assert list(traces["searched winner, M=2"].error_y.array) == pytest.approx([0.2])
    assert list(traces["searched winner, M=1"].x) == [250_000] and list(traces["its twin, M=1"].x) == [87_500]
    assert fig.layout.xaxis.type == "log"
    # each trained cap's target, a dotted line that ends at the cap
    assert sorted((sh.x1, sh.y0, sh.y1) for sh in fig.layout.shapes) == [(100_000, 93.5, 93.5), (300_000, 94.0, 94.0)]
    assert {a.text for a in fig.layout.annotations} == {"aimed for < 100K: 93.5%", "aimed for < 300K: 94.0%"}


def test_without_results_it_says_what_to_run_and_exits_2(tmp_path):
    proc = subprocess.run([sys.executable, "benchmarks/fashion_figure.py", str(tmp_path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "results.json: no such file" in proc.stderr
    assert "fashion_front.py --out" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.skipif(fashion_figure.browser() is None, reason="needs Chromium (apt-get install chromium)")
def test_it_writes_the_png_and_the_interactive_page(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(RESULTS))
    target = tmp_path / "front.png"
    proc = subprocess.run([sys.executable, "benchmarks/fashion_figure.py", str(tmp_path), "--target", str(target)],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 10_000
    assert "searched winner, M=2" in target.with_suffix(".html").read_text()
