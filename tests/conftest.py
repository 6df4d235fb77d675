"""Shared fixtures: tiny specs and models so the suite stays fast."""

from __future__ import annotations

import pytest
import torch

from sksearch.model.spec import ArchSpec, SKSpec, StageSpec


def tiny_spec(block: str = "sk", branches=((3, 1), (3, 2)), num_classes: int = 3, **kw) -> ArchSpec:
    """Two CIFAR-style stages of narrow units: builds and runs in milliseconds."""
    stages = (
        StageSpec(depth=1, width=8, out_channels=16, stride=1),
        StageSpec(depth=2, width=16, out_channels=32, stride=2),
    )
    defaults = dict(stages=stages, block=block, stem="cifar", stem_width=8, groups=4, se_reduction=4,
                    sk=SKSpec(branches=tuple(branches), reduction=4, min_dim=4), num_classes=num_classes,
                    in_channels=3, input_size=16)
    defaults.update(kw)
    return ArchSpec(**defaults)


@pytest.fixture
def spec() -> ArchSpec:
    return tiny_spec()


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session", autouse=True)
def _ctrl_c_as_from_a_terminal():
    """Ctrl-C raises KeyboardInterrupt in the suite and in the processes it starts, as in a
    terminal, even when the suite itself was started in the background (``nohup ... &``), where
    the shell leaves SIGINT ignored and every child would inherit that: the tests of what a
    Ctrl-C does would then test an ignored signal."""
    import signal

    before = signal.getsignal(signal.SIGINT)
    if before is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


# What the suite's processes (and Ray's workers) once left in the temporary folder: wandb
# stages media and artifacts in tempfile folders that it removes only at a clean interpreter
# exit, which a Ray worker never has.
LEFTOVERS = ("*wandb-artifacts", "*wandb-media")


@pytest.fixture(scope="session", autouse=True)
def _leaves_nothing_in_the_temp_folder(tmp_path_factory):
    """The suite leaves nothing in the temporary folder (issue 35). Its processes (Ray's workers
    too, through TMPDIR) get a folder of their own, which other programs on the machine do not
    write to, and what wandb leaves there is removed at the end; the session fails, naming them,
    when new entries of ``LEFTOVERS`` are left in the system's temporary folder.
    Ray keeps its session folder where it was (its socket paths must stay short), and torch's
    compile cache too."""
    import fnmatch
    import os
    import shutil
    import sys
    import tempfile

    system = tempfile.gettempdir()

    def leftovers(folder: str) -> set[str]:
        return {n for n in os.listdir(folder) if any(fnmatch.fnmatch(n, p) for p in LEFTOVERS)}

    in_system = leftovers(system)  # another program's (or an earlier run's) are not this suite's
    private = tmp_path_factory.getbasetemp() / "tmp"
    private.mkdir()
    saved = {k: os.environ.get(k) for k in ("TMPDIR", "RAY_TMPDIR", "TORCHINDUCTOR_CACHE_DIR")}
    os.environ.setdefault("RAY_TMPDIR", system)
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", os.path.join(system, f"torchinductor_{os.getuid()}"))
    os.environ["TMPDIR"] = str(private)
    tempfile.tempdir = str(private)
    try:
        yield
    finally:
        tempfile.tempdir = None
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    own = set()  # this process's own wandb folders are removed when it exits, after this check
    if "wandb" in sys.modules:
        from wandb.sdk.artifacts.artifact import Artifact
        from wandb.sdk.data_types._private import MEDIA_TMP

        own = {os.path.basename(MEDIA_TMP.name), os.path.basename(Artifact._TMP_DIR.name)}
    # Processes that exit without a clean interpreter exit (Ray's workers) leave wandb's staging
    # folders in the suite's own folder: removed here, so nothing of them outlives the session.
    for name in leftovers(str(private)) - own:
        shutil.rmtree(private / name, ignore_errors=True)
    left = sorted(leftovers(system) - in_system)
    assert not left, f"the tests left these in the system's temporary folder ({system}): {', '.join(left)}"


TINY_SPACE = """
name: tiny
data: {name: digits, train_size: 400, val_size: 200, canvas: 12, min_scale: 1.0, max_scale: 1.5, seed: 0}
model:
  block: sk
  stem: cifar
  stem_width: 4
  groups: 2
  sk:
    M: {choice: [1, 2]}
    branches:
      - {kernel: 3, dilation: 1}
      - {kernel: 3, dilation: {choice: [2, 3]}}
    reduction: 2
    min_dim: 4
  stages:
    - {depth: 1, width_per_group: {choice: [2, 4]}, out_channels: 8, stride: 2}
train: {batch_size: 16, lr: {float: [0.01, 0.3], log: true}, warmup_epochs: 0}
objectives: [accuracy, params]
sampler: {name: random, seed: 0}
scheduler: {name: asha, max_epochs: 2, grace_period: 1, reduction_factor: 3}
resources: {cpu: 1}
concurrency: 1
trials: 6
"""


def write_space(folder, text: str = TINY_SPACE, name: str = "tiny.yaml", **replace: str):
    """A space file under ``folder``; ``replace`` swaps whole lines that start with a key."""
    lines = text.strip("\n").splitlines()
    for key, line in replace.items():
        lines = [line if ln.startswith(f"{key}:") else ln for ln in lines]
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


def run_cli(*args: str, timeout: int = 400):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "sksearch", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def finished_study(tmp_path_factory):
    """One real tiny search, run once per test session through the CLI; tests only read it."""
    root = tmp_path_factory.mktemp("finished")
    space = write_space(root)
    out = root / "study"
    proc = run_cli("run", str(space), "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    return out, proc


@pytest.fixture
def unfinished_study(tmp_path):
    """A real study folder whose only trial was stopped early (built without Ray)."""
    import json

    from sksearch.search.optuna_searcher import OptunaSearcher
    from sksearch.space import load_space

    space_file = write_space(tmp_path)
    out = tmp_path / "unfinished"
    out.mkdir()
    space = load_space(str(space_file))
    (out / "space.yaml").write_text(space.to_yaml())
    url = f"sqlite:///{out / 'optuna.db'}"
    (out / "run.json").write_text(json.dumps({"study_name": "tiny", "storage": url, "address": None}))
    searcher = OptunaSearcher(space, url, "tiny", space.data.shape(), 6)
    config = searcher.suggest("ray_a")
    searcher.on_trial_complete("ray_a", {"epoch": 1, "accuracy": 0.2, "loss": 2.0, **config["cost"]})
    return out


def assert_offline_page(page: str) -> None:
    """A page written by sksearch loads nothing from the network: plotly.js is inline, once."""
    import re

    from plotly.offline import get_plotlyjs

    library = get_plotlyjs()
    assert page.count(library) == 1
    # plotly.js holds URL strings in its code (map tiles, its logo's link) that 2D plots never
    # fetch; the browser check blocks the network. The rest of the page has no URL at all.
    rest = page.replace(library, "")
    found = re.search(r"https?:.{0,60}|//[a-z0-9.-]+\.[a-z]{2,}/", rest, re.I)
    assert found is None, found.group(0)
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=", rest, re.I)
    assert "Plotly.newPlot" in rest


def find_browser():
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def assert_drawn_offline(path, figures: list[str], tmp_path) -> None:
    """Headless Chromium, with every network request failing, draws each named figure."""
    import subprocess

    browser = find_browser()
    offline = ["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"]  # any request would fail
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", *offline]
    dom = subprocess.run([browser, *flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for name in figures:
        block = dom.stdout.split(f'id="plot-{name}"', 1)[1].split('id="figure-', 1)[0]
        assert 'class="main-svg"' in block, f"{name} was not drawn"
    shot = tmp_path / "page.png"
    subprocess.run([browser, *flags, "--window-size=1200,2400", f"--screenshot={shot}", path.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 50_000


def measure_in_browser(path, script: str, width: int, tmp_path, height: int = 1000):
    """What ``script`` (a JavaScript function body that returns a JSON-able value) returns in
    headless Chromium showing the page at ``path`` in a window ``width`` px wide, once the page
    has loaded and drawn. The page is copied beside itself (its relative links still resolve)
    with the script appended; the answer comes back through the dumped DOM."""
    import json
    import pathlib
    import subprocess

    path = pathlib.Path(path)
    probe = path.with_name(f"{path.stem}.measure-{width}{path.suffix}")
    hook = ("<script>window.addEventListener('load', function () { setTimeout(function () {"
            "var out = document.createElement('pre'); out.id = 'sksearch-measure';"
            f"out.textContent = JSON.stringify((function () {{ {script} }})());"
            "document.body.appendChild(out); }, 1500); });</script>")
    page = path.read_text(encoding="utf-8")
    probe.write_text(page.replace("</body>", hook + "</body>") if "</body>" in page else page + hook, encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
             f"--user-data-dir={tmp_path / f'profile-{width}'}", "--virtual-time-budget=10000",
             f"--window-size={width},{height}"]
    try:
        dom = subprocess.run([find_browser(), *flags, "--dump-dom", probe.as_uri()], capture_output=True, text=True,
                             timeout=180)
    finally:
        probe.unlink()
    assert dom.returncode == 0, dom.stderr[-2000:]
    import html as _html

    found = dom.stdout.split('<pre id="sksearch-measure">', 1)
    assert len(found) == 2, "the page's measurement did not run: " + dom.stderr[-2000:]
    return json.loads(_html.unescape(found[1].split("</pre>", 1)[0]))
