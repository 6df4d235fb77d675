"""The kit for sksearch's HTML pages: one self-contained page (plotly.js inline once, no
CDN, works offline) of summary rows and sections, figures as JSON blocks that tools can read
back (``read_figures``), written atomically."""

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

from .folder import atomic_write

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; }} td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
.summary td {{ text-align: left; }} .figure {{ margin: 1.5em 0; }} h2 {{ margin-top: 1.6em; }}
</style>
<script>{plotlyjs}</script></head>
<body>
<h1>{title}</h1>
{summary}
{body}
<script>
document.querySelectorAll('script[type="application/json"][id^="figure-"]').forEach(function (node) {{
  var fig = JSON.parse(node.textContent);
  var div = document.getElementById(node.id.replace("figure-", "plot-"));
  Plotly.newPlot(div, fig.data, fig.layout, {{responsive: true, displaylogo: false}});
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


def render(title: str, summary_rows: list[tuple[str, str]], sections: list[tuple[str, str]]) -> str:
    summary = "<table class='summary'>" + "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in summary_rows) + "</table>"
    body = "\n".join(f"<h2>{html.escape(h)}</h2>\n{content}" for h, content in sections)
    return PAGE.format(title=html.escape(title), plotlyjs=get_plotlyjs(), summary=summary, body=body)


def write_page(path: str, title: str, summary_rows: list[tuple[str, str]], sections: list[tuple[str, str]]) -> str:
    """Render and write a page atomically; returns ``path``."""
    return atomic_write(path, render(title, summary_rows, sections))


def read_figures(path: str) -> dict[str, dict[str, Any]]:
    """The figures embedded in a report, as plotly JSON dicts (for tests and tools)."""
    with open(path) as fh:
        page = fh.read()
    blocks = re.findall(r'<script type="application/json" id="figure-([\w-]+)">(.*?)</script>', page, re.S)
    return {name: json.loads(body.replace("<\\/", "</")) for name, body in blocks}
