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

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_mkdocs_build_strict_passes_and_holds_the_generated_references(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    site = tmp_path / "site"
    space = (site / "reference" / "space" / "index.html").read_text()
    assert "strategy.calibration_batches" in space and "model.stages[].width_per_group" in space
    commands = (site / "reference" / "commands" / "index.html").read_text()
    assert "--strategy" in commands and "--wait-for-resources" in commands
    api = (site / "reference" / "api" / "index.html").read_text()
    assert 'id="sksearch.api.Study.plot_front"' in api and 'id="sksearch.api.run"' in api
    assert (site / "attention.png").exists() and not (site / "hooks.py").exists()
    assert "Benchmark results" in (site / "benchmarks" / "results" / "index.html").read_text()
