"""The docs site builds strictly (no broken link, no missing page or API reference), and its
generated references are in it (skipped without the docs extra: pip install -e ".[docs]")."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("mkdocs", reason='needs the docs extra (pip install -e ".[docs]")')
pytest.importorskip("mkdocstrings", reason='needs the docs extra (pip install -e ".[docs]")')
pytest.importorskip("material", reason='needs the docs extra (pip install -e ".[docs]")')

from tests.conftest import find_browser, measure_in_browser

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The site, built once for this module: the folder and mkdocs's output."""
    site = tmp_path_factory.mktemp("docs") / "site"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    return site, proc


def test_mkdocs_build_strict_passes_and_holds_the_generated_references(built):
    site, proc = built
    assert proc.returncode == 0, proc.stdout + proc.stderr
    space = (site / "reference" / "space" / "index.html").read_text()
    assert "strategy.calibration_batches" in space and "model.stages[].width_per_group" in space
    commands = (site / "reference" / "commands" / "index.html").read_text()
    assert "--strategy" in commands and "--wait-for-resources" in commands
    api = (site / "reference" / "api" / "index.html").read_text()
    assert 'id="sksearch.api.Study.plot_front"' in api and 'id="sksearch.api.run"' in api
    assert (site / "attention.png").exists() and not (site / "hooks.py").exists()
    assert "Benchmark results" in (site / "benchmarks" / "results" / "index.html").read_text()


def test_the_docs_extra_formats_the_api_signatures(built):
    """mkdocstrings formats signatures only with Black or Ruff installed (else it says so and
    leaves each one long line, which runs off its box): the docs extra brings Ruff."""
    import tomllib

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["docs"]
    assert any(d.split(">")[0].split("=")[0] in ("ruff", "black") for d in extra)
    site, proc = built
    assert "requires either Black or Ruff" not in proc.stdout + proc.stderr
    api = (site / "reference" / "api" / "index.html").read_text()
    # run()'s signature, formatted, is one parameter a line rather than one line.
    run = api.split('id="sksearch.api.run"', 1)[1].split('<div class="doc-signature', 1)[1].split("</code>", 1)[0]
    assert run.count("\n") >= 5


@pytest.mark.skipif(find_browser() is None, reason="no Chromium/Chrome installed (apt-get install chromium)")
@pytest.mark.parametrize("width", [800, 1280])
def test_in_a_browser_key_names_stay_whole_and_signatures_fit_their_boxes(built, tmp_path, width):
    site, proc = built
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Each key of the search-space reference on one line: a name broken mid-word has two boxes.
    broken = measure_in_browser(site / "reference" / "space" / "index.html", """
        return Array.from(document.querySelectorAll('td:first-child code'))
            .filter(function (c) { return c.getClientRects().length > 1; })
            .map(function (c) { return c.textContent; });""", width, tmp_path)
    assert broken == []
    # Every signature of the API reference inside its box (no horizontal scrolling).
    over = measure_in_browser(site / "reference" / "api" / "index.html", """
        return Array.from(document.querySelectorAll('.doc-signature pre > code'))
            .filter(function (c) { return c.scrollWidth > c.clientWidth + 1; })
            .map(function (c) { return c.textContent.slice(0, 60); });""", width, tmp_path)
    assert over == []
