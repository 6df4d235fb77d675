"""attention.html: the attention analysis as a self-contained page (plotly.js inline, offline)."""

from __future__ import annotations

import html
import math
from typing import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..study.page import json_block, write_page
from .attention import Attention, Unit, differences, per_class_differences, receptive_field

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def branch_label(kernel: int, dilation: int) -> str:
    return f"{kernel}x{kernel} d{dilation} (RF {receptive_field(kernel, dilation)})"


def branches_figure(df: pd.DataFrame, units: Sequence[Unit], kind: str) -> go.Figure:
    """Per unit, each branch's mean attention against the scale."""
    cols = min(4, len(units))
    rows = math.ceil(len(units) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[u.name for u in units], shared_yaxes=True,
                        vertical_spacing=min(0.12, 0.9 / max(rows, 1)))
    overall = df[(df["kind"] == kind) & (df["class"] == "")]
    shown: set[str] = set()
    for n, unit in enumerate(units):
        g = overall[overall["unit"] == unit.name]
        for i, (k, d) in enumerate(unit.branches):
            b = g[g["branch"] == i].sort_values("scale")
            label = branch_label(k, d)
            fig.add_trace(go.Scatter(
                x=b["scale"].tolist(), y=b["mean_attention"].tolist(), mode="lines+markers", name=label,
                legendgroup=label, showlegend=label not in shown, line={"color": PALETTE[i % len(PALETTE)]},
                customdata=b["scale_range"].tolist(),
                hovertemplate=f"{unit.name}, {label}<br>scale %{{x:.2f}}<br>mean attention %{{y:.3f}}<extra></extra>"),
                row=n // cols + 1, col=n % cols + 1)
            shown.add(label)
    what = "object enlarged by" if kind == "enlarged" else "recorded object scale"
    fig.update_xaxes(title_text=what, row=rows)
    fig.update_yaxes(title_text="mean attention", col=1)
    fig.update_layout(height=260 * rows + 120, template="plotly_white", legend={"title": "branch"})
    return fig


def difference_figure(diff: pd.DataFrame, units: Sequence[Unit]) -> go.Figure:
    """The paper's Fig. 3 style: mean attention difference per unit, one line per scale."""
    fig = go.Figure()
    order = [u.name for u in units]
    overall = diff[diff["class"] == ""]
    for n, ((kind, scale, scale_range), g) in enumerate(overall.groupby(["kind", "scale", "scale_range"], sort=False)):
        g = g.set_index("unit").reindex(order)
        name = f"x{scale:g}" if kind == "enlarged" else f"recorded {scale_range}"
        fig.add_trace(go.Scatter(x=order, y=g["difference"].tolist(), mode="lines+markers", name=name,
                                 line={"dash": "solid" if kind == "enlarged" else "dot",
                                       "color": PALETTE[n % len(PALETTE)]},
                                 hovertemplate="%{x}<br>difference %{y:.3f}<extra>" + name + "</extra>"))
    fig.add_hline(y=0, line={"color": "#999", "width": 1})
    # Axis titles short enough for the plot's height: a longer one was cut at the top edge.
    fig.update_layout(xaxis_title="SK unit", yaxis_title="attention: widest - narrowest RF",
                      template="plotly_white", legend={"title": "scale"})
    return fig


def classes_figure(per_class: pd.DataFrame, unit: Unit) -> go.Figure:
    fig = go.Figure()
    for n, (scale, g) in enumerate(per_class.groupby("scale", sort=True)):
        fig.add_trace(go.Bar(x=g["class"].astype(str).tolist(), y=g["difference"].tolist(), name=f"x{scale:g}",
                             marker_color=PALETTE[n % len(PALETTE)]))
    fig.update_layout(barmode="group", xaxis_title="class", xaxis_type="category",
                      yaxis_title=f"attention difference, {unit.name}", template="plotly_white",
                      legend={"title": "object enlarged by"})
    return fig


def attention_figures(att: Attention, df: pd.DataFrame, class_unit: Unit) -> dict[str, go.Figure]:
    """Every figure of ``attention.html``, by name (the page and ``sksearch.analyze`` share them):
    ``branches_enlarged``, ``branches_recorded`` (digits with recorded scales only),
    ``difference`` and ``classes`` (a unit with a widest and a narrowest branch only)."""
    out = {"branches_enlarged": branches_figure(df, att.units, "enlarged")}
    if (df["kind"] == "recorded").any():
        out["branches_recorded"] = branches_figure(df, att.units, "recorded")
    out["difference"] = difference_figure(differences(df, att.units), att.units)
    if class_unit.widest_and_narrowest is not None:
        out["classes"] = classes_figure(per_class_differences(att, class_unit), class_unit)
    return out


def write_attention_report(att: Attention, df: pd.DataFrame, path: str, title: str, data_name: str,
                           class_unit: Unit, figures: dict[str, go.Figure] | None = None) -> str:
    """Write the page to ``path`` (``figures``: ``attention_figures``'s, built here if not given)."""
    figures = figures or attention_figures(att, df, class_unit)
    diff = differences(df, att.units)
    summary = [("model", title), ("data", f"{data_name}: {len(att.images.y)} validation images"),
               ("SK units with attention", ", ".join(f"{u.name} (M={len(u.branches)})" for u in att.units)),
               ("accuracy", ", ".join(f"x{s:g} {a:.2%}" if k == "enlarged" else f"as recorded {a:.2%}"
                                      for (k, s), a in att.accuracy.items()))]
    sections = [
        ("Mean attention of each branch as objects are enlarged", json_block("branches_enlarged",
                                                                            figures["branches_enlarged"])),
    ]
    if "branches_recorded" in figures:
        sections.append(("Mean attention of each branch by the recorded object scale",
                         json_block("branches_recorded", figures["branches_recorded"])))
    sections.append(("Mean attention difference per unit (largest receptive field minus smallest)",
                     "<p>Above zero: the unit leans to its widest branch. In the paper, low and middle "
                     "units lean further as objects grow; the effect fades in the last stage.</p>"
                     + json_block("difference", figures["difference"])))
    if "classes" in figures:
        sections.append((f"Per-class mean attention difference in {class_unit.name}",
                         json_block("classes", figures["classes"])))
    sections.append(("Mean attention differences", difference_table(diff, att.units)))
    return write_page(path, f"sksearch attention analysis: {title}", summary, sections)


def difference_table(diff: pd.DataFrame, units: Sequence[Unit]) -> str:
    """The differences as an HTML table: a row per unit, a column per scale named as the
    figure's legend names it (x1.5, recorded 1.5-2.5), values signed to three decimals. A
    pivot's to_html printed the recorded bins' mean scales as raw floats (1.213957)."""
    overall = diff[diff["class"] == ""]
    columns = []
    values: dict[tuple[str, str], float] = {}
    for (kind, scale, scale_range), g in overall.groupby(["kind", "scale", "scale_range"], sort=False):
        label = f"x{scale:g}" if kind == "enlarged" else f"recorded {scale_range}"
        columns.append(label)
        values.update({(unit, label): v for unit, v in zip(g["unit"], g["difference"])})
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["SK unit", *columns])
    rows = "".join("<tr><th>" + html.escape(u.name) + "</th>" + "".join(
        f"<td>{values[(u.name, c)]:+.3f}</td>" if pd.notna(values.get((u.name, c))) else "<td></td>" for c in columns)
        + "</tr>" for u in units)
    return f"<table class='differences'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
