"""Redraw docs/attention.png (the README's picture) from an attention.html.

    sksearch analyze results/quickstart:ID --out /tmp/att
    python docs/attention_picture.py /tmp/att/attention.html

Takes the page's branch and difference figures, puts them on one plain page and has headless
Chromium screenshot it (no network needed: plotly.js is inline).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# picture.py sits beside this script, whose folder Python puts first on the path.
from picture import browser, screenshot  # noqa: E402

from sksearch.study.page import read_figures, render  # noqa: E402


def main() -> int:
    source = sys.argv[1]
    target = Path(sys.argv[2] if len(sys.argv) > 2 else Path(__file__).with_name("attention.png"))
    if browser() is None:
        print("needs Chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    figs = read_figures(source)
    import json

    def block(name: str) -> str:
        fig = figs[name]
        fig["layout"]["height"] = min(fig["layout"].get("height", 450), 560)
        fig["layout"].pop("title", None)
        return (f'<div class="figure" id="plot-{name}"></div><script type="application/json" '
                f'id="figure-{name}">{json.dumps(fig)}</script>')

    page = render("SK attention against object scale", [],
                  [("Mean attention of each branch as the digits are enlarged", block("branches_enlarged")),
                   ("Mean attention difference (widest receptive field minus narrowest)", block("difference"))])
    screenshot(page, target)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
