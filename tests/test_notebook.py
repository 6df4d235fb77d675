"""examples/quickstart.ipynb runs end to end in a real Jupyter kernel, headless (nbclient), and
what it prints is what the API promises: ``study.plot_front()`` is a plotly figure whose front
trace holds the front's trials, the export trains, loads and predicts."""

from __future__ import annotations

import json
import pathlib
import shutil
import sys

import pytest

nbformat = pytest.importorskip("nbformat", reason="needs the dev extra's nbformat (pip install -e '.[dev]')")
nbclient = pytest.importorskip("nbclient", reason="needs the dev extra's nbclient (pip install -e '.[dev]')")
pytest.importorskip("ipykernel", reason="needs the dev extra's ipykernel (pip install -e '.[dev]')")

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"
KERNEL = "sksearch-test"


def kernel_for_this_interpreter(home: pathlib.Path) -> None:
    """A kernelspec that starts this very interpreter (the venv's python, with its PYTHONPATH),
    where Jupyter will look first: a system-wide "python3" kernel may be another Python."""
    spec = home / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "sksearch test", "language": "python"}))


def printed(nb, tag: str) -> str:
    """The rest of the line that a code cell printed after ``tag``."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            for line in out.get("text", "").splitlines() if out.get("output_type") == "stream" else []:
                if line.startswith(tag + " "):
                    return line[len(tag) + 1:]
    raise AssertionError(f"no cell printed {tag}")


def test_the_committed_notebook_has_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_the_quickstart_notebook_runs_and_its_figures_hold_the_front(tmp_path, monkeypatch):
    # The notebook's own layout: examples/ beside search_spaces/, the study under results/.
    (tmp_path / "examples").mkdir()
    shutil.copy(NOTEBOOK, tmp_path / "examples" / NOTEBOOK.name)
    (tmp_path / "search_spaces").symlink_to(ROOT / "search_spaces")
    kernel_for_this_interpreter(tmp_path / "jupyter")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + ((":" + p) if (p := __import__("os").environ.get("PYTHONPATH"))
                                                  else ""))
    nb = nbformat.read(tmp_path / "examples" / NOTEBOOK.name, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name=KERNEL, timeout=500,
                                     resources={"metadata": {"path": str(tmp_path / "examples")}})
    client.execute()

    counts = eval(printed(nb, "STATUS"))  # noqa: S307 - a dict the notebook printed
    assert counts["completed"] == 4 and counts["failed"] == 0  # every trial ran its 2 epochs: no rungs
    assert printed(nb, "BASELINES") == "['reference_sk']"  # trained beside them, shown as a star
    front = json.loads(printed(nb, "FRONT_IDS"))
    assert front and printed(nb, "FIGURE_TYPE") == "Figure"
    assert json.loads(printed(nb, "FIGURE_FRONT_IDS")) == front
    # The figures render inline: plotly's own output, not a text repr.
    shown = [out["data"] for cell in nb.cells for out in cell.get("outputs", []) if "data" in out]
    figures = [d["application/vnd.plotly.v1+json"] for d in shown if "application/vnd.plotly.v1+json" in d]
    assert len(figures) == 4
    star = next(t for t in figures[0]["data"] if t.get("name") == "baseline")
    assert star["text"] == ["reference_sk"]
    # The progress display was one display updated in place, ending on the search's last count.
    progress = [out for cell in nb.cells for out in cell.get("outputs", []) if out.get("output_type") == "display_data"
                and "trials done" in out["data"].get("text/plain", "")]
    assert len(progress) == 1 and "4/4 trials done" in progress[0]["data"]["text/plain"]

    streams = "".join(out.get("text", "") for cell in nb.cells for out in cell.get("outputs", [])
                      if out.get("output_type") == "stream")
    # Ray's Jupyter reporter would clear the cell as the search starts: the header is still there.
    assert "study quickstart: 4 trials of up to 2 epochs" in streams and "loading data: digits" in streams
    best, files = printed(nb, "EXPORTED").split(" ", 1)
    assert int(best) in front and "model.py" in files and "weights.safetensors" in files
    assert "train.json" in printed(nb, "TRAINED")
    prediction = printed(nb, "PREDICTION").split()
    assert 0 <= int(prediction[0]) < 10 and 0 <= int(prediction[2]) < 10 and prediction[4] == "(1,"
    studies = list((tmp_path / "results").iterdir())
    assert len(studies) == 1 and (studies[0] / "trials.csv").exists() and (studies[0] / "report.html").exists()


def test_interrupting_the_kernel_stops_the_search_and_returns_the_resumable_study(tmp_path, monkeypatch):
    """The kernel's interrupt (SIGINT, as Jupyter's stop button sends it) while trials train:
    the cell ends without an error, the search stops with every trial ended, and ``run``
    returns the study, unfinished and resumable."""
    import os
    import signal
    import threading
    import time

    kernel_for_this_interpreter(tmp_path / "jupyter")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    out = tmp_path / "study"
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(
            "import sksearch\n"
            f"study = sksearch.run({str(ROOT / 'search_spaces' / 'quickstart.yaml')!r}, {str(out)!r}, trials=6,\n"
            "                     max_epochs=6, overrides={'data.name': 'digits', 'data.train_size': 3000,\n"
            "                                             'concurrency': 1, 'baselines': []})"),
        nbformat.v4.new_code_cell(
            "s = study.status()\n"
            "print('RESULT', type(study).__name__, s['finished'], s['counts']['running'], s['done'])"),
    ])
    client = nbclient.NotebookClient(nb, kernel_name=KERNEL, timeout=400,
                                     resources={"metadata": {"path": str(tmp_path)}})

    def interrupt_once_training() -> None:
        deadline = time.time() + 300
        # The trials table appears when the search's callback starts, inside Tuner.fit.
        while not (out / "trials.csv").exists() and time.time() < deadline:
            time.sleep(0.5)
        time.sleep(4)  # a trial under way
        os.kill(client.km.provisioner.pid, signal.SIGINT)

    with client.setup_kernel():
        watcher = threading.Thread(target=interrupt_once_training, daemon=True)
        watcher.start()
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        watcher.join(timeout=5)

    kind, finished, running, done = printed(nb, "RESULT").split()
    assert kind == "Study" and finished == "False" and running == "0" and int(done) < 6
    streams = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.get("output_type") == "stream")
    assert "continue it with" in streams  # the resume hint
    assert (out / "run.json").exists()
