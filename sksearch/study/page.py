"""The kit for sksearch's HTML pages: one self-contained page (plotly.js inline once, no
CDN, works offline) of summary rows and sections, figures as JSON blocks that tools can read
back (``read_figures``), written atomically.

Hover text for many points is not repeated in every figure: a data block (``data_block``,
``{"columns": [...], "rows": [[...], ...]}``) holds one row per item, a figure's traces carry
the row index of each point as ``customdata``, and ``layout.meta.rows`` names the block. The
page's script then shows the row as a tooltip when a point is hovered.
"""

from __future__ import annotations

import base64
import html
import json
import re
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.utils import PlotlyJSONEncoder

from .layout import atomic_write

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
.summary td {{ text-align: left; }} .figure {{ margin: 1.5em 0; }} h2 {{ margin-top: 1.6em; }}
.scroll {{ max-height: 26em; overflow: auto; border: 1px solid #ddd; }} .scroll table {{ margin: 0; }}
.scroll th {{ position: sticky; top: 0; background: #f4f4f4; vertical-align: bottom; }}
p.note {{ color: #555; font-size: 0.9em; }}
#tip {{ position: fixed; display: none; z-index: 10; pointer-events: none; background: #fff; border: 1px solid #888;
        border-radius: 4px; padding: 6px 8px; font-size: 12px; line-height: 1.35; max-width: 26em;
        box-shadow: 0 2px 6px rgba(0,0,0,.2); }}
</style>
<script>{plotlyjs}</script></head>
<body>
<h1>{title}</h1>
{summary}
{body}
<div id="tip"></div>
<script>
var blocks = {{}}, tip = document.getElementById("tip");
function block(id) {{
  if (!(id in blocks)) blocks[id] = JSON.parse(document.getElementById("data-" + id).textContent);
  return blocks[id];
}}
function esc(s) {{
  return String(s).replace(/[&<>]/g, function (c) {{ return {{"&": "&amp;", "<": "&lt;", ">": "&gt;"}}[c]; }});
}}
document.querySelectorAll('script[type="application/json"][id^="figure-"]').forEach(function (node) {{
  var fig = JSON.parse(node.textContent);
  var div = document.getElementById(node.id.replace("figure-", "plot-"));
  Plotly.newPlot(div, fig.data, fig.layout, {{responsive: true, displaylogo: false}});
  var rows = fig.layout.meta && fig.layout.meta.rows;
  if (!rows) return;
  div.on("plotly_hover", function (ev) {{
    var i = ev.points[0].customdata;
    if (i === undefined || i === null) return;
    var data = block(rows), row = data.rows[Array.isArray(i) ? i[0] : i], html = "";
    data.columns.forEach(function (c, j) {{
      if (row[j] !== null && row[j] !== "") html += (j ? "<br>" : "") + "<b>" + esc(c) + "</b> " + esc(row[j]);
    }});
    tip.innerHTML = html;
    tip.style.display = "block";
    tip.style.left = Math.min(ev.event.clientX + 14, window.innerWidth - tip.offsetWidth - 8) + "px";
    tip.style.top = Math.min(ev.event.clientY + 14, window.innerHeight - tip.offsetHeight - 8) + "px";
  }});
  div.on("plotly_unhover", function () {{ tip.style.display = "none"; }});
}});
</script>
</body></html>
"""


def _plain(node: Any) -> Any:
    """Arrays as plain lists: plotly stores numpy arrays base64-encoded ({dtype, bdata}),
    which other tools reading the report's figures cannot use."""
    if isinstance(node, dict) and "bdata" in node and set(node) <= {"dtype", "bdata", "shape"}:
        arr = np.frombuffer(base64.b64decode(node["bdata"]), dtype=np.dtype(node["dtype"]))
        if "shape" in node:
            arr = arr.reshape([int(n) for n in str(node["shape"]).split(",")])
        return arr.tolist()
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_plain(v) for v in node]
    if hasattr(node, "tolist"):
        return node.tolist()
    return node


def json_block(name: str, fig: go.Figure) -> str:
    payload = json.dumps(_plain(fig.to_plotly_json()), cls=PlotlyJSONEncoder).replace("</", "<\\/")
    return (f'<div class="figure" id="plot-{name}"></div>\n'
            f'<script type="application/json" id="figure-{name}">{payload}</script>')


def data_block(name: str, columns: list[str], rows: list[list[Any]]) -> str:
    """A JSON block of rows that figures' ``layout.meta.rows = name`` refer to for hover text."""
    payload = json.dumps({"columns": columns, "rows": rows}, separators=(",", ":"), default=str).replace("</", "<\\/")
    return f'<script type="application/json" id="data-{name}">{payload}</script>'


def render(title: str, summary_rows: list[tuple[str, str]], sections: list[tuple[str, str]], data: str = "") -> str:
    """The page: summary rows, then each section under its heading; ``data`` (data blocks)
    goes at the end."""
    summary = "<table class='summary'>" + "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in summary_rows) + "</table>"
    body = "\n".join(f"<h2>{html.escape(h)}</h2>\n{content}" for h, content in sections) + "\n" + data
    return PAGE.format(title=html.escape(title), plotlyjs=get_plotlyjs(), summary=summary, body=body)


def write_page(path: str, title: str, summary_rows: list[tuple[str, str]], sections: list[tuple[str, str]],
               data: str = "") -> str:
    """Render and write a page atomically; returns ``path``."""
    return atomic_write(path, render(title, summary_rows, sections, data))


def _blocks(path: str, kind: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        page = fh.read()
    found = re.findall(rf'<script type="application/json" id="{kind}-([\w-]+)">(.*?)</script>', page, re.S)
    return {name: json.loads(body.replace("<\\/", "</")) for name, body in found}


def read_figures(path: str) -> dict[str, dict[str, Any]]:
    """The figures embedded in a page, as plotly JSON dicts (for tests and tools)."""
    return _blocks(path, "figure")


def read_data(path: str) -> dict[str, dict[str, Any]]:
    """The data blocks embedded in a page: ``{"columns": [...], "rows": [...]}`` by name."""
    return _blocks(path, "data")
