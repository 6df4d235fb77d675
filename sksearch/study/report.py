"""``report.html``: one self-contained page about a study, readable offline.

plotly.js is embedded once in the page (no CDN). Each figure is a JSON block
(``<script type="application/json" id="figure-NAME">``) that a few lines of script hand to
``Plotly.newPlot``, so tools can read the figures back. Figures:

    front_params   accuracy vs params: completed trials, the front as a step line,
                   stopped-early and failed trials greyed; hover shows the full configuration
    front_macs     the same against MACs
    hypervolume    the front's normalised hypervolume after each trial ended
    parameters     accuracy against each searched parameter (M, G, r, dilations, depths, ...)

and a table of the front over all the study's objectives.
"""

from __future__ import annotations

import html
import math
from typing import Any, Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .folder import StudyFolder
from .page import json_block, write_page
from .pareto import front, front_table, hypervolume_trace, reference_point
from .table import param_columns, summary
from .targets import check_file_target

GREY = "rgba(150, 150, 150, 0.55)"
PALETTE = ["#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"]
STATUS_STYLE = {"stopped_early": ("stopped early (partial accuracy)", "circle-open"),
                "failed": ("failed", "x")}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.4g}"
    if isinstance(value, (int,)) and abs(value) >= 10_000:
        return f"{value:,}"
    return str(value)


def hover_text(row: pd.Series, params: Sequence[str]) -> str:
    lines = [f"<b>trial {int(row['trial_id'])}</b> ({row['status']}, {_fmt(row['epochs'])} epochs)"]
    for key in ("accuracy", "params", "macs", "latency", "loss"):
        if key in row and pd.notna(row[key]):
            lines.append(f"{key}: {_fmt(row[key].item() if hasattr(row[key], 'item') else row[key])}")
    lines += [f"{p} = {_fmt(row[p])}" for p in params if pd.notna(row[p])]
    if isinstance(row.get("reason"), str):
        lines.append(f"reason: {html.escape(row['reason'][:120])}")
    return "<br>".join(lines)


def front_figure(df: pd.DataFrame, cost: str, params: Sequence[str]) -> go.Figure:
    fig = go.Figure()
    for status, (label, symbol) in STATUS_STYLE.items():
        part = df[(df["status"] == status) & df["accuracy"].notna()]
        if len(part):
            fig.add_trace(go.Scatter(
                x=part[cost].astype(float), y=part["accuracy"], mode="markers", name=label,
                marker={"color": GREY, "symbol": symbol, "size": 8},
                text=[hover_text(r, params) for _, r in part.iterrows()], hoverinfo="text"))
    done = df[df["status"] == "completed"]
    # One trace per number of branches when M was searched: the legend then reads "M=2".
    groups = ([(f"completed, M={int(m)}", done[done["sk.M"] == m]) for m in sorted(done["sk.M"].dropna().unique())]
              if "sk.M" in done and done["sk.M"].nunique() > 1 else [("completed", done)])
    for i, (label, part) in enumerate(groups):
        fig.add_trace(go.Scatter(
            x=part[cost].astype(float), y=part["accuracy"], mode="markers", name=label,
            marker={"size": 10, "color": PALETTE[i % len(PALETTE)], "line": {"width": 1, "color": "white"}},
            text=[hover_text(r, params) for _, r in part.iterrows()], hoverinfo="text"))
    pareto = front(df, ["accuracy", cost]) if len(done) else done
    if len(pareto):
        fig.add_trace(go.Scatter(
            x=pareto[cost].astype(float), y=pareto["accuracy"], mode="lines", name="Pareto front",
            line={"shape": "hv", "color": "#d62728", "width": 2}, hoverinfo="skip"))
    unit = "multiply-adds" if cost == "macs" else "parameters"
    fig.update_layout(
        title=f"Accuracy vs {unit} (front from completed trials only)",
        xaxis={"title": {"text": unit}, "type": "log"}, yaxis={"title": {"text": "validation accuracy"}},
        legend={"orientation": "h", "y": -0.2}, template="plotly_white", height=480)
    return fig


def hypervolume_figure(trace: pd.DataFrame, objectives: Sequence[str], reference: dict[str, float]) -> go.Figure:
    ref = ", ".join(f"{o} {_fmt(v)}" for o, v in reference.items())
    fig = go.Figure(go.Scatter(
        x=trace["trials_ended"], y=trace["hypervolume"], mode="lines+markers", name="hypervolume",
        line={"shape": "hv"}, customdata=trace[["trial_id", "epochs_spent"]].to_numpy(),
        hovertemplate="after trial %{customdata[0]} (%{x} ended, %{customdata[1]} epochs): %{y:.4f}<extra></extra>"))
    fig.update_layout(
        title=f"Hypervolume of the completed front over {', '.join(objectives)} (reference: {ref})",
        xaxis={"title": {"text": "trials ended"}}, yaxis={"title": {"text": "normalised hypervolume"}},
        template="plotly_white", height=380)
    return fig


def parameters_figure(df: pd.DataFrame, params: Sequence[str]) -> go.Figure | None:
    shown = [p for p in params if df[p].notna().any()]
    if not shown:
        return None
    # Choices and small integer ranges read best as categories; continuous values keep an axis.
    categorical = {p: not pd.api.types.is_float_dtype(df[p]) or df[p].nunique() <= 6 for p in shown}
    cols = min(3, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=shown, vertical_spacing=0.12 if rows > 1 else 0.2)
    for i, p in enumerate(shown):
        r, c = i // cols + 1, i % cols + 1
        for status, color, name in (("stopped_early", GREY, "stopped early"), ("completed", "#1f77b4", "completed")):
            part = df[(df["status"] == status) & df["accuracy"].notna() & df[p].notna()]
            if part.empty:
                continue
            x = part[p].astype(str) if categorical[p] else part[p]
            fig.add_trace(go.Scatter(
                x=x, y=part["accuracy"], mode="markers", name=name, legendgroup=name, showlegend=i == 0,
                marker={"color": color, "size": 7}, text=[hover_text(row, params) for _, row in part.iterrows()],
                hoverinfo="text"), row=r, col=c)
        fig.update_yaxes(title_text="accuracy" if c == 1 else None, row=r, col=c)
        if categorical[p]:
            order = sorted(df[p].dropna().unique(), key=lambda v: (isinstance(v, str), v))
            fig.update_xaxes(type="category", categoryorder="array", categoryarray=[str(v) for v in order], row=r, col=c)
        elif (df[p].dropna() > 0).all() and df[p].max() / max(df[p].min(), 1e-12) > 20:
            fig.update_xaxes(type="log", row=r, col=c)
    fig.update_layout(title="Accuracy against each searched parameter", template="plotly_white",
                      height=280 * rows + 80, legend={"orientation": "h", "y": -0.08})
    return fig


def figures(df: pd.DataFrame, objectives: Sequence[str]) -> dict[str, go.Figure]:
    params = param_columns(df)
    out = {"front_params": front_figure(df, "params", params), "front_macs": front_figure(df, "macs", params)}
    reference = reference_point(df, objectives)
    out["hypervolume"] = hypervolume_figure(hypervolume_trace(df, objectives, reference), objectives, reference)
    fig = parameters_figure(df, params)
    if fig is not None:
        out["parameters"] = fig
    return out


def write_report(folder: StudyFolder, path: str | None = None) -> str:
    """Write ``report.html`` for a study folder (or to ``path``); returns its path."""
    if path is not None:
        check_file_target(path, "--out")
    df, objectives, space = folder.table, folder.objectives, folder.space
    figs = figures(df, objectives)
    info = summary(df)
    c = info["counts"]
    best = info["best"]
    rows = [("study", folder.name), ("objectives", ", ".join(f"{o.name} ({o.goal})" for o in space.objectives)),
            ("trials", f"{c['completed']} completed, {c['stopped_early']} stopped early, {c['failed']} failed, "
                       f"{c['rejected']} rejected, {c['running']} running (of {space.trials} planned)"),
            ("scheduler", f"{space.scheduler.name}, up to {space.scheduler.max_epochs} epochs")]
    if best:
        rows.append(("best accuracy", f"{best['accuracy']:.2%} (trial {best['trial_id']}, {best['params']:,} params, "
                                      f"{best['macs']:,} MACs)"))
    table = front_table(df, objectives)
    sections = [
        ("Accuracy vs parameters", json_block("front_params", figs["front_params"])),
        ("Accuracy vs MACs", json_block("front_macs", figs["front_macs"])),
        ("How the search converged", json_block("hypervolume", figs["hypervolume"])),
    ]
    if "parameters" in figs:
        sections.append(("Accuracy and the searched parameters", json_block("parameters", figs["parameters"])))
    sections.append((f"The front over {', '.join(objectives)}",
                     table.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-", border=0)
                     if len(table) else "<p>No completed trial yet.</p>"))
    return write_page(path or folder.layout.report_html, f"sksearch report: {folder.name}", rows, sections)
