"""Pictures for the README from plotly pages: headless Chromium screenshots the page (no
network needed: the pages carry plotly.js inline). Used by docs/attention_picture.py and
benchmarks/fashion_figure.py."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def browser() -> str | None:
    """The first headless-capable browser on the path, or None."""
    return next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)


def screenshot(page: str, target: Path, size: tuple[int, int] = (1100, 1100)) -> None:
    """Render the HTML ``page`` and save its screenshot (``size``: width, height in pixels) to
    ``target``; RuntimeError without a browser."""
    found = browser()
    if found is None:
        raise RuntimeError("needs Chromium (apt-get install chromium)")
    # A picture cannot be clicked: plotly's toolbar, which a headless browser draws, is left out.
    page = page.replace("</head>", "<style>.modebar-container { display: none !important; }</style></head>", 1)
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp, "page.html")
        html.write_text(page)
        subprocess.run([found, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp}/profile",
                        "--hide-scrollbars", "--virtual-time-budget=10000", f"--window-size={size[0]},{size[1]}",
                        f"--screenshot={Path(target).resolve()}", html.as_uri()],
                       check=True, capture_output=True, timeout=120)
