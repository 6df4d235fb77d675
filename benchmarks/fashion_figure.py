"""The README's Fashion-MNIST picture: test accuracy against parameters (log scale) of the
searched winners and their M-flipped twins (mean and standard deviation over their seeds), from
``benchmarks/fashion_front.py``'s ``OUT/results.json``, beside the published nets.

    python benchmarks/fashion_figure.py bench/fashion          # docs/fashion_front.png and .html
    python benchmarks/fashion_figure.py bench/fashion --target /tmp/front.png

The PNG is a headless-Chromium screenshot of the plotly page (docs/picture.py); the HTML beside
it is the same figure, interactive.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "docs")]

from fashion_front import twin_m  # noqa: E402
from picture import browser, screenshot  # noqa: E402

from sksearch.study.page import json_block, render  # noqa: E402

TARGET = ROOT / "docs" / "fashion_front.png"
CAP_NAMES = {"under_100k": "< 100K", "under_300k": "< 300K", "under_1m": "< 1M"}
M_COLOURS = {1: "#1f77b4", 2: "#d62728"}
# What issue 29 aimed for: a mean test accuracy over 3 seeds under each cap.
TARGETS = {"under_100k": (100_000, 93.5), "under_300k": (300_000, 94.0)}


def trained_points(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One point per trained network (each cap's winner and twin): its params, M, the mean and
    standard deviation of its seeds' test accuracy, and how many seeds."""
    points = []
    for cap, kinds in results.get("trained", {}).items():
        winner = (results.get("winners") or {}).get(cap) or {}
        for kind, records in kinds.items():
            if not records:
                continue
            tests = [r["test"]["accuracy"] for r in records]
            m = winner.get("M") if kind == "winner" else twin_m(winner.get("M"))
            points.append({"cap": cap, "kind": kind, "M": m, "params": int(records[0]["params"]),
                           "mean": statistics.mean(tests), "sd": statistics.stdev(tests) if len(tests) > 1 else 0.0,
                           "seeds": len(tests), "trial_id": winner.get("trial_id")})
    return points


def figure(results: dict[str, Any]) -> go.Figure:
    fig = go.Figure()
    published = results.get("published", [])
    fig.add_trace(go.Scatter(
        x=[p[2] for p in published], y=[100 * p[3] for p in published], mode="markers+text", name="published",
        text=[p[0] for p in published], textfont={"size": 10, "color": "#555"},
        # below a point that a searched network may cover (the small nets share its corner)
        textposition=["bottom center" if p[2] < 200_000 else "top center" for p in published],
        marker={"symbol": "diamond", "size": 9, "color": "#888"},
        hovertemplate="%{text}<br>%{x:,} params<br>%{y:.2f}% test<extra></extra>"))
    for kind, symbol in (("winner", "circle"), ("twin", "circle-open")):
        for m in (1, 2):
            pts = [p for p in trained_points(results) if p["kind"] == kind and p["M"] == m]
            if not pts:
                continue
            fig.add_trace(go.Scatter(
                x=[p["params"] for p in pts], y=[100 * p["mean"] for p in pts], mode="markers+text",
                texttemplate=f"{kind}, M={m}: %{{y:.2f}}%", textposition="middle right",
                textfont={"size": 11, "color": M_COLOURS[m]},
                name=f"searched {kind}, M={m}" if kind == "winner" else f"its twin, M={m}",
                error_y={"type": "data", "array": [100 * p["sd"] for p in pts], "visible": True},
                marker={"symbol": symbol, "size": 12, "color": M_COLOURS[m], "line": {"width": 2}},
                text=[f"{CAP_NAMES.get(p['cap'], p['cap'])} {kind} (trial {p['trial_id']}), {p['seeds']} seeds"
                      for p in pts],
                hovertemplate="%{text}<br>%{x:,} params<br>%{y:.2f}% test (mean, sd bars)<extra></extra>"))
    xs = [p[2] for p in published] + [p["params"] for p in trained_points(results)]
    span = [math.log10(min(xs, default=1e4)) - 0.25, math.log10(max(xs, default=1e7)) + 0.15]
    for cap in sorted({p["cap"] for p in trained_points(results)} & TARGETS.keys()):
        cap_params, target = TARGETS[cap]
        fig.add_shape(type="line", x0=10 ** span[0], x1=cap_params, y0=target, y1=target,
                      line={"dash": "dot", "width": 1, "color": "#999"})
        fig.add_annotation(x=math.log10(cap_params), y=target, text=f"aimed for {CAP_NAMES[cap]}: {target}%",
                           showarrow=False, xanchor="right", yanchor="bottom", font={"size": 10, "color": "#777"})
    fig.update_layout(
        height=560, width=1000, margin={"t": 20}, template="plotly_white",
        xaxis={"type": "log", "title": "parameters (log scale)", "range": span},
        yaxis={"title": "test accuracy (%)"},
        legend={"x": 0.99, "y": 0.03, "xanchor": "right", "yanchor": "bottom", "bgcolor": "rgba(255,255,255,0.8)"})
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="fashion_front.py's folder (its results.json)")
    parser.add_argument("--target", default=str(TARGET), help=f"the PNG to write (default: {TARGET})")
    args = parser.parse_args(argv)
    source = Path(args.out) / "results.json"
    if not source.is_file():
        print(f"{source}: no such file; run `python benchmarks/fashion_front.py --out {args.out}` first "
              "(its report phase writes it)", file=sys.stderr)
        return 2
    results = json.loads(source.read_text())
    if browser() is None:
        print("needs Chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    fig = figure(results)
    page = render("Fashion-MNIST: test accuracy against parameters", [], [("", json_block("front", fig))])
    target = Path(args.target)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.with_suffix(".html").write_text(page)
    screenshot(page, target, size=(1040, 760))
    print(f"wrote {target} and {target.with_suffix('.html')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
