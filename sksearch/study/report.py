"""``report.html``: one self-contained page about a study, readable offline.

plotly.js is embedded once in the page (no CDN). Each figure is a JSON block
(``<script type="application/json" id="figure-NAME">``, read back by
``page.read_figures``); the trials' hover text is one data block (``data-trials``, one row
per trial) that every figure's points refer to by row index, so the page grows by one row per
trial, not by one copy of its configuration per figure. Figures:

    front_params   accuracy (%) vs params (log x): completed trials, the front as a step line,
                   stopped-early and failed trials hollow and grey; the y-range is the completed
                   trials', and a trial below it sits in a band under it as a triangle
    front_macs     the same against MACs
    hypervolume    the front's normalised hypervolume after each trial ended
    curves         learning curves: accuracy per epoch, stopped trials grey up to where the
                   scheduler stopped them, rungs marked, front trials highlighted
    parameters     accuracy against each searched parameter on one shared range: categories
                   and integers jittered and labelled as integers, log-sampled values on log axes
    confirmation   one-shot searches only: each confirmed subnet's supernet accuracy (inherited
                   weights) against its stand-alone accuracy, Kendall's tau in the title; the
                   fronts also show the evaluated subnets and their front, dashed

and a table of the front (informative columns only). One marker style per status everywhere.
Each figure has one builder from a study folder (``study_front_figure``, ``study_hypervolume_figure``,
``study_curves_figure``, ``study_params_figure``): the page and ``sksearch.Study.plot_*`` call the
same ones, the latter through ``with_hover``, which writes each point's hover text into its trace
(a notebook has no page script to draw it from the trials block).
Past a few thousand trials, the parameter panels and the curves show every completed trial
of the front and an even sample of the rest, and say so.
"""

from __future__ import annotations

import html
import math
from typing import Any, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..objectives import OBJECTIVES
from .confirmations import NOISE_SE, confirm_info, info_lines, read_runs, trial_stats
from .folder import StudyFolder
from .page import data_block, json_block, write_page
from .pareto import baseline_verdicts, front, front_table, hypervolume_trace, reference_point, verdict_sentence
from .subnets import confirmation, distinct_evaluated, one_shot_info, rank_agreement
from .table import param_columns, searched, summary
from .targets import check_file_target

GREY = "rgba(110, 110, 110, 0.7)"
PALETTE = ["#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"]
FRONT_RED = "#d62728"
# One marker per status in every figure.
STATUS = {
    "completed": {"label": "completed", "symbol": "circle", "size": 9},
    "stopped_early": {"label": "stopped early (partial accuracy)", "symbol": "circle-open", "size": 7},
    "failed": {"label": "failed (last accuracy)", "symbol": "x-thin-open", "size": 7},
}
BELOW = {"circle": "triangle-down", "circle-open": "triangle-down-open", "x-thin-open": "triangle-down-open"}
MAX_POINTS = 1500   # per status and panel in the parameter grid
MAX_CURVES = 250    # per group (completed, stopped early) in the curves figure
TEMPLATE = "plotly_white"


# ---- values for people -------------------------------------------------------------------

def fmt_value(value: Any) -> str:
    """A searched value as a label: integers without '.0', floats to 4 significant digits."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (int, np.integer)) or (isinstance(value, (float, np.floating)) and float(value).is_integer()):
        return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def fmt_metric(name: str, value: Any) -> str:
    if value is None or pd.isna(value):
        return ""
    return OBJECTIVES[name].format(float(value)) if name in OBJECTIVES else fmt_value(value)


def trial_rows(df: pd.DataFrame, params: Sequence[str]) -> tuple[list[str], list[list[Any]]]:
    """The hover block: one row of display strings per trial, in the table's order."""
    metrics = [m for m in OBJECTIVES if m in df.columns]
    columns = ["trial", "status", "epochs", *[OBJECTIVES[m].label for m in metrics], *params, "reason"]
    kind = df["baseline"].map(lambda b: f" (baseline {b})", na_action="ignore").fillna("") + df["imported"].map(
        lambda i: " (imported)", na_action="ignore").fillna("")
    cells = [df["trial_id"].astype(int).astype(str).tolist(), (df["status"].str.replace("_", " ") + kind).tolist(),
             [fmt_value(v) for v in df["epochs"].astype("float64")]]
    cells += [[fmt_metric(m, v) for v in df[m]] for m in metrics]
    cells += [[fmt_value(v) for v in df[p]] for p in params]
    cells.append([(r or "")[:160] if isinstance(r, str) else "" for r in df["reason"]])
    return columns, [list(row) for row in zip(*cells)]


# ---- shared pieces -----------------------------------------------------------------------

def accuracy_range(df: pd.DataFrame) -> list[float] | None:
    """The y-range of accuracy plots (percent): the completed trials', with a margin."""
    done = df.loc[df["status"] == "completed", "accuracy"].dropna() * 100
    if done.empty:
        return None
    lo, hi = float(done.min()), float(done.max())
    pad = max(0.5, 0.08 * (hi - lo))
    return [max(0.0, lo - pad), min(100.0, hi + pad) + 0.3]


# Points below the accuracy range sit in a band this deep (a fraction of the range) added under
# it, in the band's middle: clear of the in-range points above and of the tick labels below.
BAND = 0.08


def axis_range(y_range: list[float] | None, accuracy: pd.Series) -> list[float] | None:
    """The y-axis range of a figure whose points have ``accuracy`` (0-1): ``y_range`` with the
    band for points below it added where there are any."""
    if y_range is None or not (accuracy.dropna() * 100 < y_range[0]).any():
        return y_range
    return [y_range[0] - BAND * (y_range[1] - y_range[0]), y_range[1]]


def status_traces(part: pd.DataFrame, x: Any, status: str, y_range: list[float] | None, name: str | None = None,
                  color: str = GREY, legendgroup: str | None = None) -> list[go.Scatter]:
    """Points of one status in its marker style, and those below ``y_range`` as downward
    triangles in the band under it (``axis_range``; their real accuracy is in the hover): two
    traces, each with its own legend entry, since a legend shows one symbol per trace."""
    style = STATUS[status]
    label = name or style["label"]
    y = (part["accuracy"] * 100).to_numpy(dtype=float)
    x = np.asarray(x, dtype=float)
    below = y < y_range[0] if y_range is not None else np.zeros(len(y), bool)
    group = legendgroup or status
    out = []
    for sel, symbol, size, text, grp in (
            (~below, style["symbol"], style["size"], label, group),
            (below, BELOW[style["symbol"]], style["size"] + 2, f"{label.split(' (')[0]}, below the range",
             f"{group} below")):
        if not sel.any():
            continue
        ys = y[sel] if symbol == style["symbol"] else np.full(int(sel.sum()),
                                                              y_range[0] - BAND / 2 * (y_range[1] - y_range[0]))
        marker: dict[str, Any] = {"symbol": symbol, "size": size, "color": color}
        if status == "completed":
            marker["line"] = {"width": 1, "color": "white"}
        out.append(go.Scatter(x=x[sel], y=ys, mode="markers", name=text, marker=marker, cliponaxis=False,
                              customdata=part.index.to_numpy()[sel], hoverinfo="none", legendgroup=grp))
    return out


TITLE_CHARS = 62  # a plotly title never wraps: lines this long fit a figure 800 px wide


def titled(text: str) -> dict[str, Any]:
    """A figure title broken into lines that fit a narrow page (plotly cuts it at the edge)."""
    import textwrap

    return {"text": "<br>".join(textwrap.wrap(text, TITLE_CHARS))}


def top_margin(title: dict[str, Any]) -> int:
    """Room for a title of that many lines above the plot."""
    return 60 + 22 * title["text"].count("<br>")


def even_sample(part: pd.DataFrame, limit: int) -> pd.DataFrame:
    """At most ``limit`` rows, evenly spread over the trials (the same ones every time)."""
    if len(part) <= limit:
        return part
    return part.iloc[np.linspace(0, len(part) - 1, limit).round().astype(int)]


# ---- figures ---------------------------------------------------------------------------------

SUBNET_TEAL = "#17becf"


def subnet_traces(subnets: pd.DataFrame, cost: str) -> list[go.Scatter]:
    """A one-shot search's evaluated subnets (an even sample past ``MAX_POINTS``) and their
    front, dashed: accuracy from inherited weights, so on its own scale beside the trials'."""
    done = subnets[(subnets["status"] == "completed") & subnets["accuracy"].notna() & subnets[cost].notna()]
    if done.empty:
        return []
    shown = even_sample(done, MAX_POINTS)
    hover = [f"subnet {int(t)} (inherited weights)<br>accuracy {a:.2%}<br>{cost} {int(c):,}"
             for t, a, c in zip(shown["trial_id"], shown["accuracy"], shown[cost])]
    sampled = f", {len(shown)} of {len(done)} shown" if len(shown) < len(done) else ""
    pareto = front(done, ["accuracy", cost])
    return [go.Scatter(x=shown[cost].astype(float), y=shown["accuracy"] * 100, mode="markers",
                       name=f"subnets, supernet weights{sampled}", hovertext=hover, hoverinfo="text",
                       marker={"symbol": "circle", "size": 4, "color": SUBNET_TEAL, "opacity": 0.45}),
            go.Scatter(x=pareto[cost].astype(float), y=pareto["accuracy"] * 100, mode="lines",
                       name="supernet front", hoverinfo="skip",
                       line={"shape": "hv", "color": SUBNET_TEAL, "width": 2, "dash": "dash"})]


def confirmation_figure(confirmed: pd.DataFrame, agreement: dict[str, Any]) -> go.Figure | None:
    """Supernet against stand-alone accuracy of every confirmed subnet (completed ones filled,
    others hollow); the title gives Kendall's tau."""
    shown = confirmed[confirmed["accuracy"].notna()]
    if shown.empty:
        return None
    fig = go.Figure()
    for status, part in shown.groupby("status", sort=False):
        style = STATUS.get(str(status), STATUS["completed"])
        fig.add_trace(go.Scatter(
            x=part["supernet_accuracy"] * 100, y=part["accuracy"] * 100, mode="markers+text",
            name=style["label"], text=[f"{int(t)}" for t in part["trial_id"]], textposition="top center",
            hovertext=[f"trial {int(t)} = subnet {int(n)}<br>supernet {a:.2%}, stand-alone {b:.2%}<br>{p:,} params"
                       for t, n, a, b, p in zip(part["trial_id"], part["subnet_id"], part["supernet_accuracy"],
                                                part["accuracy"], part["params"])],
            hoverinfo="text", marker={"symbol": style["symbol"], "size": 10, "color": SUBNET_TEAL}))
    tau = agreement["kendall_tau"]
    said = f"Kendall's tau {tau:+.2f}" if tau is not None else "too few completed to rank"
    title = titled(f"Supernet estimate against stand-alone training: {said} over {agreement['completed']} completed")
    fig.update_layout(
        title=title, margin={"t": top_margin(title)},
        xaxis={"title": {"text": "supernet accuracy, inherited weights (%)"}},
        yaxis={"title": {"text": "stand-alone validation accuracy (%)"}},
        legend={"orientation": "h", "y": -0.2}, template=TEMPLATE, height=460)
    return fig


def stats_trace(df: pd.DataFrame, stats: pd.DataFrame, cost: str) -> go.Scatter | None:
    """The repeated trials (``sksearch confirm``) at their mean accuracy over all their runs,
    with error bars of ``NOISE_SE`` standard errors: the interval ``within noise`` is read on."""
    part = stats.merge(df[["trial_id", cost]], on="trial_id").dropna(subset=["accuracy_mean", cost])
    if part.empty:
        return None
    return go.Scatter(x=part[cost].astype(float), y=part["accuracy_mean"] * 100, mode="markers",
                      name=f"mean over each repeated trial's runs (+- {NOISE_SE:g} standard errors)",
                      error_y={"type": "data", "array": (part["accuracy_se"].fillna(0) * NOISE_SE * 100).tolist(),
                               "visible": True, "color": FRONT_RED},
                      text=[f"trial {int(t)}: {n} runs" for t, n in zip(part["trial_id"], part["runs"])],
                      marker={"symbol": "line-ew-open", "size": 14, "color": FRONT_RED}, hoverinfo="text")


def front_figure(df: pd.DataFrame, cost: str, y_range: list[float] | None,
                 objectives: Sequence[str] | None = None, subnets: pd.DataFrame | None = None,
                 stats: pd.DataFrame | None = None) -> go.Figure:
    """Accuracy against ``cost``: every trial in its status's marker, the baselines as stars,
    and the Pareto front over ``objectives`` (default: accuracy and ``cost``), a step line over
    two objectives, ringed points over more (a front over three is no line on a plane). The
    front's trace carries its trials' ids (``ids``), in the front's order. With a one-shot
    search's ``subnets``, those too, their front dashed."""
    objectives = list(objectives or ["accuracy", cost])
    fig = go.Figure()
    for trace in subnet_traces(subnets, cost) if subnets is not None else ():
        fig.add_trace(trace)
    mine = df[searched(df)]
    for status in ("stopped_early", "failed"):
        part = mine[(mine["status"] == status) & mine["accuracy"].notna() & mine[cost].notna()]
        if len(part):
            fig.add_traces(status_traces(part, part[cost].astype(float), status, y_range))
    imported = df[searched(df, True) & ~searched(df) & df["accuracy"].notna()]  # warm-start trials
    if len(imported):
        fig.add_trace(go.Scatter(x=imported[cost].astype(float), y=imported["accuracy"] * 100, mode="markers",
                                 name="imported (warm start, not trained here)", customdata=imported.index.to_numpy(),
                                 marker={"symbol": "diamond-open", "size": 7, "color": "#8c6d31"}, hoverinfo="none"))
    done = mine[(mine["status"] == "completed") & mine["accuracy"].notna()]
    # One trace per number of branches when M was searched: the legend then reads "M=2".
    groups = ([(f"completed, M={int(m)}", done[done["sk.M"] == m]) for m in sorted(done["sk.M"].dropna().unique())]
              if "sk.M" in done and done["sk.M"].nunique() > 1 else [("completed", done)])
    for i, (label, part) in enumerate(groups):
        fig.add_traces(status_traces(part, part[cost].astype(float), "completed", y_range, label,
                                     PALETTE[i % len(PALETTE)]))
    pareto = front(df, objectives) if len(done) else done
    if len(pareto):
        ids = [str(int(t)) for t in pareto["trial_id"]]
        if len(objectives) == 2:
            fig.add_trace(go.Scatter(
                x=pareto[cost].astype(float), y=pareto["accuracy"] * 100, mode="lines", name="Pareto front",
                line={"shape": "hv", "color": FRONT_RED, "width": 2}, hoverinfo="skip", ids=ids))
        else:
            fig.add_trace(go.Scatter(
                x=pareto[cost].astype(float), y=pareto["accuracy"] * 100, mode="markers", ids=ids,
                name=f"Pareto front over {', '.join(objectives)}", hoverinfo="skip",
                marker={"symbol": "circle-open", "size": 14, "color": FRONT_RED, "line": {"width": 2}}))
    spread = stats_trace(df, stats, cost) if stats is not None and len(stats) else None
    if spread is not None:
        fig.add_trace(spread)
    base = df[df["baseline"].notna() & (df["status"] == "completed") & df["accuracy"].notna()]
    if len(base):
        fig.add_trace(go.Scatter(x=base[cost].astype(float), y=base["accuracy"] * 100, mode="markers+text",
                                 name="baseline", text=base["baseline"].tolist(), textposition="top center",
                                 marker={"symbol": "star", "size": 15, "color": "#222", "line": {"width": 1,
                                                                                              "color": "white"}},
                                 customdata=base.index.to_numpy(), hoverinfo="none", cliponaxis=False))
    label = OBJECTIVES[cost].label
    shown_range = axis_range(y_range, mine.loc[mine[cost].notna(), "accuracy"])
    below = " (trials below the range: triangles under it)" if shown_range != y_range else ""
    over = f" over {', '.join(objectives)}" if objectives != ["accuracy", cost] else ""
    title = titled(f"Accuracy vs {label}: front{over} from completed trials only{below}")
    fig.update_layout(
        title=title, margin={"t": top_margin(title)},
        xaxis={"title": {"text": f"{label} (log scale)"}, "type": "log"},
        yaxis={"title": {"text": "validation accuracy (%)"}, "range": shown_range},
        legend={"orientation": "h", "y": -0.2}, template=TEMPLATE, height=460, meta={"rows": "trials"})
    return fig


def hypervolume_figure(trace: pd.DataFrame, objectives: Sequence[str], reference: dict[str, float]) -> go.Figure:
    """The normalised hypervolume of the completed front after each trial ended."""
    ref = ", ".join(f"{o} {fmt_metric(o, v) if o != 'accuracy' else f'{v:.0%}'}" for o, v in reference.items())
    fig = go.Figure(go.Scatter(
        x=trace["trials_ended"], y=trace["hypervolume"], mode="lines", name="hypervolume",
        line={"shape": "hv"}, customdata=trace[["trial_id", "epochs_spent"]].to_numpy(),
        hovertemplate="after trial %{customdata[0]} (%{x} ended, %{customdata[1]} epochs): %{y:.4f}<extra></extra>"))
    title = titled(f"Hypervolume of the completed front over {', '.join(objectives)} (reference: {ref})")
    fig.update_layout(
        title=title, margin={"t": top_margin(title)},
        xaxis={"title": {"text": "trials ended"}}, yaxis={"title": {"text": "normalised hypervolume"}},
        template=TEMPLATE, height=360)
    return fig


def _lines(curves: pd.DataFrame, trial_ids: Sequence[int], row_of: dict[int, int]) -> tuple[list, list, list]:
    """x, y and row indices of several trials' curves in one trace, separated by gaps."""
    xs: list[Any] = []
    ys: list[Any] = []
    rows: list[Any] = []
    for tid, part in curves[curves["trial_id"].isin(trial_ids)].groupby("trial_id", sort=True):
        xs += part["epoch"].tolist() + [None]
        ys += (part["accuracy"] * 100).round(3).tolist() + [None]
        rows += [row_of[int(tid)]] * len(part) + [None]
    return xs, ys, rows


def curves_figure(df: pd.DataFrame, curves: pd.DataFrame, front_ids: Sequence[int], rungs: Sequence[int],
                  max_epochs: int) -> go.Figure | None:
    """Accuracy per epoch of every trial (an even sample past ``MAX_CURVES`` per status), the
    front's trials in red, the scheduler's rungs dotted; None before any epoch was reported."""
    curves = curves.dropna(subset=["accuracy"])
    if curves.empty:
        return None
    row_of = dict(zip(df["trial_id"].astype(int), df.index))
    fig = go.Figure()
    shown_note = []
    mine = searched(df)
    for status, color, width in (("stopped_early", GREY, 1), ("failed", GREY, 1), ("completed", "#9ecae1", 1.2)):
        ids = df.loc[mine & (df["status"] == status) & ~df["trial_id"].isin(front_ids), "trial_id"].astype(int)
        chosen = even_sample(ids.to_frame(), MAX_CURVES)["trial_id"].tolist()
        if len(chosen) < len(ids):
            shown_note.append(f"{len(chosen)} of {len(ids)} {status.replace('_', ' ')}")
        if not chosen:
            continue
        xs, ys, rows = _lines(curves, chosen, row_of)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=STATUS[status]["label"].split(" (")[0],
                                 line={"color": color, "width": width}, customdata=rows, hoverinfo="none",
                                 legendgroup=status, connectgaps=False))
        if status != "completed":  # where the scheduler stopped them
            ends = curves[curves["trial_id"].isin(chosen)].groupby("trial_id").tail(1)
            fig.add_trace(go.Scatter(x=ends["epoch"], y=ends["accuracy"] * 100, mode="markers", showlegend=False,
                                     marker={"symbol": STATUS[status]["symbol"], "size": 6, "color": GREY},
                                     customdata=[row_of[int(t)] for t in ends["trial_id"]], hoverinfo="none",
                                     legendgroup=status))
    if len(front_ids):
        xs, ys, rows = _lines(curves, list(front_ids), row_of)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name="front trials",
                                 line={"color": FRONT_RED, "width": 2.2}, marker={"size": 5},
                                 customdata=rows, hoverinfo="none"))
    for epoch in rungs:
        fig.add_vline(x=epoch, line={"dash": "dot", "color": "#888", "width": 1})
    note = f" (shown: {', '.join(shown_note)})" if shown_note else ""
    title = titled(f"Learning curves: validation accuracy per epoch; dotted lines are the scheduler's rungs{note}")
    fig.update_layout(
        title=title, margin={"t": top_margin(title)},
        xaxis={"title": {"text": "epoch"}, "dtick": 1 if max_epochs <= 20 else None, "range": [0.8, max_epochs + 0.2]},
        yaxis={"title": {"text": "validation accuracy (%)"}}, template=TEMPLATE, height=440,
        legend={"orientation": "h", "y": -0.2}, meta={"rows": "trials"})
    return fig


def log_ticks(lo: float, hi: float) -> list[float]:
    """Tick values for a log axis from ``lo`` to ``hi``: powers of ten, else 1-2-5 steps, else
    finer, the first that gives at least three ticks in range."""
    if not (lo > 0 and hi >= lo):
        return []
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    ticks: list[float] = []
    for mantissas in ((1,), (1, 2, 5), (1, 2, 3, 5), tuple(range(1, 10))):
        ticks = [float(f"{m}e{e}") for e in decades for m in mantissas if lo <= float(f"{m}e{e}") <= hi]
        if len(ticks) >= 3:
            break
    return ticks


def _axis(values: pd.Series, dist: dict[str, Any] | None, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """x positions of a parameter's values and its axis settings: categories (and integer
    ranges) jittered around their positions and labelled as written, log scales kept."""
    if dist is None:
        kind = "float" if pd.api.types.is_float_dtype(values) and values.nunique() > 6 else "choice"
        dist = {"kind": kind, "log": False, "choices": sorted(values.dropna().unique(), key=str)}
    n = len(values)
    if dist["kind"] == "choice":
        choices = list(dist.get("choices") or sorted(values.dropna().unique(), key=str))
        index = {fmt_value(c): i for i, c in enumerate(choices)}
        x = np.array([index.get(fmt_value(v), np.nan) for v in values], dtype=float)
        return x + rng.uniform(-0.18, 0.18, n), {"tickvals": list(range(len(choices))),
                                                 "ticktext": [fmt_value(c) for c in choices],
                                                 "range": [-0.5, len(choices) - 0.5]}
    x = values.to_numpy(dtype=float)
    if dist.get("log"):
        ticks = log_ticks(float(np.nanmin(x)), float(np.nanmax(x))) if np.isfinite(x).any() else []
        # plotly labels a log axis of less than a decade with bare digits ("4 5 6 7 8 9 0.1 2 3"):
        # whole values instead, at 1-2-5 steps where those give three or more.
        return x, ({"type": "log", "tickvals": ticks, "ticktext": [f"{t:g}" for t in ticks]} if len(ticks) >= 2
                   else {"type": "log", "tickformat": ".3g"})
    if dist["kind"] == "int":
        lo, hi = np.nanmin(x), np.nanmax(x)
        axis = {"tickformat": "d", "range": [lo - 0.5, hi + 0.5]}
        if hi - lo <= 12:
            axis["dtick"] = 1
        return x + rng.uniform(-0.15, 0.15, n), axis
    return x, {}


def condition(df: pd.DataFrame, param: str) -> str | None:
    """When a parameter is sampled only by the trials with M at least some k (an extra branch's
    kernel, the fuse settings r and L), that condition in words, e.g. "M ≥ 2"; else None."""
    if param == "sk.M" or "sk.M" not in df:
        return None
    known = df[df["sk.M"].notna()]
    has = known[param].notna()
    if known.empty or has.all() or not has.any():
        return None
    k = known.loc[has, "sk.M"].min()
    return f"M ≥ {fmt_value(k)}" if ((known["sk.M"] >= k) == has).all() else None


def parameters_figure(df: pd.DataFrame, params: Sequence[str], distributions: dict[str, dict[str, Any]],
                      y_range: list[float] | None) -> go.Figure | None:
    """One panel per searched parameter: accuracy against its values; None when nothing was
    searched. A parameter only some trials sample says which in its title (M ≥ 2), and a
    panel without a completed trial says so inside it rather than stay blank."""
    shown = [p for p in params if df[p].notna().any()]
    if not shown:
        return None
    cols = min(3, len(shown))
    rows = math.ceil(len(shown) / cols)
    mine = searched(df)
    when = {p: condition(df[mine], p) for p in shown}
    titles = [p + (" (log scale)" if distributions.get(p, {}).get("log") else "") + (f" ({when[p]})" if when[p] else "")
              for p in shown]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles,
                        vertical_spacing=min(0.12, 0.5 / rows), horizontal_spacing=0.06, shared_yaxes=True)
    rng = np.random.default_rng(0)
    notes = set()
    in_legend: set[str] = set()  # one legend entry per kind of point, from whichever panel has it first
    for i, p in enumerate(shown):
        r, c = i // cols + 1, i % cols + 1
        x_all, axis = _axis(df[p], distributions.get(p), rng)
        counts = {}
        for status, color in (("stopped_early", GREY), ("failed", GREY), ("completed", PALETTE[0])):
            mask = mine & (df["status"] == status) & df["accuracy"].notna() & df[p].notna()
            part = df[mask]
            counts[status] = len(part)
            if status != "completed" and len(part) > MAX_POINTS:
                notes.add(f"{MAX_POINTS} of {len(part)} {status.replace('_', ' ')}")
                part = even_sample(part, MAX_POINTS)
            if part.empty:
                continue
            x = x_all[df.index.get_indexer(part.index)]
            for trace in status_traces(part, x, status, y_range, color=color):
                trace.showlegend = trace.legendgroup not in in_legend
                in_legend.add(trace.legendgroup)
                fig.add_trace(trace, row=r, col=c)
        if not counts["completed"]:
            others = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items() if n)
            fig.add_annotation(text=f"no completed trial{' with ' + when[p] if when[p] else ' sampled it'}"
                                    + (f"<br>({others})" if others else ""),
                               x=0.5, y=0.55, xref=f"x{i + 1 if i else ''} domain",
                               yref=f"y{i + 1 if i else ''} domain", showarrow=False,
                               font={"size": 11, "color": "#666"})
        fig.update_xaxes(row=r, col=c, **axis)
    fig.update_yaxes(range=axis_range(y_range, df.loc[mine, "accuracy"]), title_text=None)
    for r in range(1, rows + 1):
        fig.update_yaxes(title_text="accuracy (%)", row=r, col=1)
    note = f" (shown: {', '.join(sorted(notes))} per panel)" if notes else ""
    title = titled(f"Accuracy against each searched parameter, on one accuracy range{note}")
    fig.update_layout(title=title, template=TEMPLATE, height=230 * rows + 110,
                      legend={"orientation": "h", "y": -0.06 - 0.1 / rows},
                      margin={"t": top_margin(title) + 20, "b": 40}, meta={"rows": "trials"})  # + the panels' titles
    return fig


def front_html(df: pd.DataFrame, objectives: Sequence[str]) -> str:
    """The front as a table of its informative columns, numbers formatted, in a scrolling box."""
    table = front_table(df, objectives)
    if table.empty:
        return "<p>No completed trial yet.</p>"
    metrics = [c for c in table.columns if c in OBJECTIVES]
    params = [c for c in param_columns(table) if table[c].notna().any()]
    # Continuous parameters (lr) first: their values say the most, and a narrow page scrolls the
    # table's last columns out of sight. front_table made whole-number columns integers.
    params.sort(key=lambda c: not pd.api.types.is_float_dtype(table[c]))
    head = [("trial", "trial"), *[(OBJECTIVES[m].label, m) for m in metrics], *[(param_label(p), p) for p in params]]
    body = []
    for _, row in table.iterrows():
        cells = [str(int(row["trial_id"])), *[fmt_metric(m, row[m]) for m in metrics],
                 *[fmt_value(row[p]) for p in params]]
        body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    # Headers in words that wrap, the key as written in trials.csv on hover: dotted keys do not
    # wrap, and at 1100 px their width pushed the last columns (lr among them) out of the box.
    return ("<div class='scroll'><table class='front'><thead><tr>"
            + "".join(f"<th title='{html.escape(key)}'>{html.escape(label)}</th>" for label, key in head)
            + "</tr></thead><tbody>" + "".join(body) + "</tbody></table></div>")


def param_label(key: str) -> str:
    """A trials-table key in words: ``stages.0.width_per_group`` is "width per group, stage 1",
    ``sk.branches.1.dilation`` "branch 2 dilation", ``sk.M`` "M" (the paper's letters)."""
    parts = key.split(".")
    if len(parts) >= 3 and parts[0] == "stages" and parts[1].isdigit():
        return f"{param_label('.'.join(parts[2:]))}, stage {int(parts[1]) + 1}"
    if len(parts) == 4 and parts[:2] == ["sk", "branches"] and parts[2].isdigit():
        return f"branch {int(parts[2]) + 1} {parts[3]}"
    if parts[0] == "sk" and len(parts) == 2:
        return {"M": "M", "reduction": "r", "min_dim": "L"}.get(parts[1], parts[1].replace("_", " "))
    return key.replace("_", " ")


# ---- one builder per figure, from a study folder (the report and ``sksearch.Study`` call them) ----

def _table(folder: StudyFolder) -> pd.DataFrame:
    """The trials table with row positions as its index: the figures' points name rows by it."""
    return folder.table.reset_index(drop=True)


def study_front_figure(folder: StudyFolder, cost: str = "params", objectives: Sequence[str] | None = None) -> go.Figure:
    """Accuracy against ``cost`` with the front over ``objectives`` (default: accuracy, ``cost``)."""
    df = _table(folder)
    subnets = folder.subnet_table
    if subnets is not None:
        subnets = distinct_evaluated(subnets)  # each network once, not each draw of it
    shown = [df] if subnets is None or not (subnets["status"] == "completed").any() else \
        [df, front(subnets, ["accuracy", cost])]  # the supernet front in range too
    runs = read_runs(folder)
    stats = None if runs is None else trial_stats(df, runs)
    return front_figure(df, cost, accuracy_range(pd.concat(shown)), objectives, subnets, stats)


def study_hypervolume_figure(folder: StudyFolder, objectives: Sequence[str] | None = None) -> go.Figure:
    """The hypervolume of the front over ``objectives`` (default: the study's) after each trial."""
    df = _table(folder)
    objectives = list(objectives or folder.objectives)
    reference = reference_point(df, objectives)
    return hypervolume_figure(hypervolume_trace(df, objectives, reference), objectives, reference)


def study_curves_figure(folder: StudyFolder) -> go.Figure | None:
    """The learning curves, the study's front highlighted and its scheduler's rungs marked."""
    df = _table(folder)
    objectives = folder.objectives
    front_ids = front(df, objectives)["trial_id"].astype(int).tolist() if (df["status"] == "completed").any() else []
    scheduler = folder.space.scheduler
    return curves_figure(df, folder.learning_curves, front_ids, scheduler.rungs(), scheduler.max_epochs)


def study_params_figure(folder: StudyFolder) -> go.Figure | None:
    """Accuracy against each searched parameter, on the completed trials' accuracy range."""
    df = _table(folder)
    return parameters_figure(df, param_columns(df), folder.distributions, accuracy_range(df))


def study_confirmation_figure(folder: StudyFolder) -> go.Figure | None:
    """A one-shot search's confirmed subnets: supernet against stand-alone accuracy, Kendall's
    tau in the title; None for a study without one, or before a confirmation reported."""
    subnets = folder.subnet_table
    if subnets is None:
        return None
    confirmed = confirmation(_table(folder), subnets)
    return confirmation_figure(confirmed, rank_agreement(confirmed))


def figures(folder: StudyFolder) -> dict[str, go.Figure]:
    """Every figure of the report, by name."""
    out = {"front_params": study_front_figure(folder, "params"), "front_macs": study_front_figure(folder, "macs"),
           "hypervolume": study_hypervolume_figure(folder)}
    for name, fig in (("curves", study_curves_figure(folder)), ("parameters", study_params_figure(folder)),
                      ("confirmation", study_confirmation_figure(folder))):
        if fig is not None:
            out[name] = fig
    return out


def with_hover(fig: go.Figure, df: pd.DataFrame) -> go.Figure:
    """The figure standing on its own (a notebook's): each point's hover text written into its
    trace. In the report the page's script draws it from the one trials block instead, which
    keeps the page one row per trial; ``df`` is the table the figure was built from."""
    columns, rows = trial_rows(df, param_columns(df))

    def text(row: Any) -> str | None:
        if row is None or (isinstance(row, float) and math.isnan(row)):
            return None
        return "<br>".join(f"{c}: {v}" for c, v in zip(columns, rows[int(row)]) if v != "")

    for trace in fig.data:
        if trace.hoverinfo == "none" and trace.customdata is not None:
            trace.hovertext = [text(r) for r in trace.customdata]
            trace.hoverinfo = "text"
    return fig


TITLES = {"front_params": "Accuracy vs parameters", "front_macs": "Accuracy vs MACs",
          "hypervolume": "How the search converged", "curves": "Learning curves and the scheduler's cuts",
          "parameters": "Accuracy and the searched parameters",
          "confirmation": "One-shot search: the supernet's ranking against stand-alone training"}


def write_report(folder: StudyFolder, path: str | None = None) -> str:
    """Write ``report.html`` for a study folder (or to ``path``); returns its path."""
    if path is not None:
        check_file_target(path, "--out")
    df, objectives, space = folder.table.reset_index(drop=True), folder.objectives, folder.space
    figs = figures(folder)
    info = summary(df)
    c = info["counts"]
    best = info["best"]
    rows = [("study", folder.name), ("objectives", ", ".join(f"{o.name} ({o.goal})" for o in space.objectives)),
            ("trials", f"{c['completed']} completed, {c['stopped_early']} stopped early, {c['failed']} failed, "
                       f"{c['rejected']} rejected, {c['running']} running (of {space.trials} planned)"),
            ("scheduler", f"{space.scheduler.name}, up to {space.scheduler.max_epochs} epochs"
                          + (f", rungs at epochs {', '.join(map(str, space.scheduler.rungs()))}"
                             if space.scheduler.rungs() else ""))]
    if best:
        rows.append(("best accuracy", f"{best['accuracy']:.2%} (trial {best['trial_id']}, {best['params']:,} params, "
                                      f"{best['macs']:,} MACs)"))
    columns, trial_data = trial_rows(df, param_columns(df))
    sections = [(f"The front over {', '.join(objectives)}", front_html(df, objectives)),
                *((TITLES[name], json_block(name, fig)) for name, fig in figs.items())]
    one_shot = one_shot_info(df, folder.subnet_table, objectives, folder.name)
    if one_shot:
        rows.append(("one-shot", f"{one_shot['evaluated']:,} distinct subnets evaluated with the supernet's weights "
                                 f"({one_shot['draws']:,} draws, {one_shot['study']}), {len(one_shot['front'])} on "
                                 f"their front, "
                                 f"{one_shot['confirmed']} confirmed stand-alone"))
        sections.insert(1, ("What the one-shot search's ranking is worth",
                            f"<p class='baseline'>{html.escape(one_shot['verdict'])}</p>"))
    confirmed = confirm_info(folder, read_runs(folder), one_shot)
    if confirmed:
        lines = "".join(f"<p class='baseline'>{html.escape(line.strip())}</p>" for line in info_lines(confirmed))
        sections.insert(1, ("Seeds, the audit of early stopping and the rungs' rank correlation", lines))
    verdicts = baseline_verdicts(df, objectives)
    if verdicts:
        sentences = "".join(f"<p class='baseline'>{html.escape(verdict_sentence(v))}</p>" for v in verdicts)
        sections.insert(1, ("Baselines against the front", sentences))
    return write_page(path or folder.layout.report_html, f"sksearch report: {folder.name}", rows, sections,
                      data_block("trials", columns, trial_data))
