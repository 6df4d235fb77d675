"""The optuna-dashboard line of docs/concepts/truthful-study.md works on a study folder (skipped without the extra)."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytest.importorskip("optuna_dashboard", reason="optuna-dashboard is not installed (pip install -e \".[dashboard]\")")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_optuna_dashboard_serves_a_study_folder(finished_study, tmp_path):
    study = tmp_path / "study"
    shutil.copytree(finished_study[0], study)
    port = free_port()
    # The command pip installed beside this Python (the venv need not be activated).
    dashboard = (shutil.which("optuna-dashboard", path=os.path.dirname(sys.executable))
                 or shutil.which("optuna-dashboard"))
    assert dashboard, "the optuna-dashboard command is not installed"
    # As docs/concepts/truthful-study.md says: optuna-dashboard sqlite:///results/quickstart/optuna.db
    server = subprocess.Popen([dashboard, f"sqlite:///{study / 'optuna.db'}", "--host", "127.0.0.1",
                               "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as resp:
                    studies = json.load(resp)["study_summaries"]
                break
            except OSError:
                assert server.poll() is None and time.time() < deadline, server.stderr.read()[-2000:]
                time.sleep(0.3)
        assert [s["study_name"] for s in studies] == ["tiny"]
        study_id = studies[0]["study_id"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{study_id}", timeout=10) as resp:
            detail = json.load(resp)
        assert len(detail["trials"]) == 6 and detail["objective_names"] == ["accuracy", "params"]
    finally:
        server.terminate()
        server.wait(timeout=30)
