"""examples/quickstart.ipynb runs end to end in a real Jupyter kernel, headless (nbclient), and
what it prints is what the API promises: ``study.plot_front()`` is a plotly figure whose front
trace holds the front's trials, the export trains, loads and predicts."""

from __future__ import annotations

import json
import pathlib
import re
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
    """The rest of the line that a code cell printed after ``tag``. A cell's stdout is joined
    first: a busy kernel may flush one print in two outputs ("FRONT_IDS", " [2, 0]")."""
    for cell in nb.cells:
        text = "".join(out.get("text", "") for out in cell.get("outputs", [])
                       if out.get("output_type") == "stream" and out.get("name") == "stdout")
        for line in text.splitlines():
            if line.startswith(tag + " "):
                return line[len(tag) + 1:]
    shown = [out.get("text", "")[-300:] for cell in nb.cells for out in cell.get("outputs", [])]
    raise AssertionError(f"no cell printed {tag}; the outputs' ends: {shown}")


def as_html(nb) -> str:
    """The notebook as nbconvert's HTML exporter writes it (what a reader without Jupyter sees)."""
    nbconvert = pytest.importorskip("nbconvert", reason="needs the dev extra's nbconvert (pip install -e '.[dev]')")
    body, _ = nbconvert.HTMLExporter().from_notebook_node(nb)
    return body


def drawn_figures(page: str) -> list[dict]:
    """The plotly figures an HTML page draws: each a div of plotly's whose id a
    ``Plotly.newPlot`` call names with its data, plotly.js loaded before them."""
    divs = re.findall(r'<div[^>]*class="plotly-graph-div"[^>]*>', page)  # nbconvert reorders attributes
    ids = [re.search(r'id="([0-9a-f-]+)"', div).group(1) for div in divs]
    assert ids and re.search(r'<script[^>]+src="https://cdn\.plot\.ly/plotly-[\d.]+\.min\.js"', page)
    assert page.index("cdn.plot.ly") < page.index(ids[0])
    figures = []
    for div in ids:
        call = re.search(rf'Plotly\.newPlot\(\s*"{div}",\s*', page)
        assert call, div
        data = json.JSONDecoder().raw_decode(page, call.end())[0]
        figures.append({"id": div, "data": data})
    return figures


def front_cells(nb, columns: list[str]) -> list[list[str]]:
    """The cells of ``columns`` in the front's table as the notebook shows it (its HTML)."""
    html = next(out["data"]["text/html"] for cell in nb.cells for out in cell.get("outputs", [])
                if out.get("output_type") == "execute_result" and "trial_id" in out["data"].get("text/html", ""))
    head = re.findall(r"<th>([^<]*)</th>", html.split("</thead>")[0])
    rows = [re.findall(r"<td>([^<]*)</td>", row) for row in html.split("<tbody>")[1].split("</tr>")[:-1]]
    # head starts with the index's empty header, which the rows hold as <th>, not <td>
    return [[row[head.index(c) - 1] for c in columns] for row in rows]


def outputs_text(nb) -> str:
    return "".join(out.get("text", "") + json.dumps(out.get("data", {})) for cell in nb.cells
                   for out in cell.get("outputs", []))


def test_the_committed_notebook_shows_its_figures_outside_jupyter():
    """Converted to HTML by nbconvert, the committed notebook draws its four figures (they once
    carried plotly's JSON mimetype only, blank outside a live Jupyter), prints no notice about
    packages the docs do not ask for, and shows whole-number parameters as integers."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)  # run in order, outputs kept
    figures = drawn_figures(as_html(nb))
    assert len(figures) == 4
    front = json.loads(printed(nb, "FRONT_IDS"))
    line = next(t for t in figures[0]["data"] if t.get("name") == "Pareto front")
    assert [int(i) for i in line["ids"]] == front
    text = outputs_text(nb)
    assert "IProgress not found" not in text and "Missing packages" not in text and "ipywidgets" not in text
    cells = front_cells(nb, ["groups", "sk.M"])
    assert cells and all(v.isdigit() for row in cells for v in row), cells


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
    assert front and printed(nb, "FIGURE_TYPE") == "NotebookFigure"  # a plotly Figure with HTML for nbconvert
    assert json.loads(printed(nb, "FIGURE_FRONT_IDS")) == front
    # The figures render inline: plotly's own output, not a text repr.
    shown = [out["data"] for cell in nb.cells for out in cell.get("outputs", []) if "data" in out]
    figures = [d["application/vnd.plotly.v1+json"] for d in shown if "application/vnd.plotly.v1+json" in d]
    assert len(figures) == 4 and all("text/html" in d for d in shown if "application/vnd.plotly.v1+json" in d)
    assert len(drawn_figures(as_html(nb))) == 4  # and nbconvert's page draws them
    text = outputs_text(nb)
    assert "IProgress not found" not in text and "Missing packages" not in text
    assert all(v.isdigit() for row in front_cells(nb, ["groups", "sk.M"]) for v in row)
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


QUIET = """
import sys
from ipykernel.zmqshell import ZMQInteractiveShell
ZMQInteractiveShell.instance()  # this process now looks like a Jupyter kernel to tqdm and Ray
if sys.argv[1] == "sksearch":
    import sksearch
import optuna
import ray.tune
"""


def test_importing_sksearch_in_a_kernel_silences_tqdm_and_ray_widget_notices():
    """In a Jupyter kernel without ipywidgets, Optuna's import of tqdm.auto warns "IProgress not
    found" and Ray logs "Missing packages: ['ipywidgets']" twice; sksearch needs neither widget,
    and after ``import sksearch`` neither notice is printed."""
    import os
    import subprocess

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    plain, quiet = (subprocess.run([sys.executable, "-c", QUIET, first], capture_output=True, text=True, env=env,
                                   timeout=300) for first in ("plain", "sksearch"))
    assert plain.returncode == 0 and quiet.returncode == 0, plain.stderr[-2000:] + quiet.stderr[-2000:]
    # Without sksearch first, the kernel prints both (so this test can see them) ...
    assert "IProgress not found" in plain.stderr and plain.stderr.count("Missing packages: ['ipywidgets']") == 2
    # ... and with it, neither.
    assert "IProgress not found" not in quiet.stderr + quiet.stdout and "Missing packages" not in quiet.stderr


def test_the_api_figures_carry_html_beside_plotly_json(monkeypatch):
    """A Jupyter kernel's plotly renders the JSON mimetype only; the API's figures add the HTML
    that nbconvert shows, without changing plotly's renderer settings."""
    import plotly.graph_objects as go
    import plotly.io as pio

    from sksearch.study.notebook_figure import NotebookFigure, for_notebook

    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")  # what plotly picks in a kernel
    plain = go.Figure(go.Scatter(x=[1, 2], y=[3, 4], ids=["6", "0"], name="Pareto front"))
    assert set(plain._repr_mimebundle_()) == {"application/vnd.plotly.v1+json"}  # blank outside Jupyter
    fig = for_notebook(plain)
    assert isinstance(fig, NotebookFigure) and isinstance(fig, go.Figure) and fig.to_dict() == plain.to_dict()
    bundle = fig._repr_mimebundle_()
    assert set(bundle) == {"application/vnd.plotly.v1+json", "text/html"}
    drawn = drawn_figures(bundle["text/html"])
    assert [t["ids"] for t in drawn[0]["data"]] == [["6", "0"]]
    assert pio.renderers.default == "plotly_mimetype"  # plotly's settings untouched
