"""The wings' boundaries: read commands answer without Ray (and the lightest without torch), the
package's layers import in one direction only, and no module imports itself round a circle."""

import ast
import json
import pathlib
import subprocess
import sys

import pytest

SCRIPT = """
import json, sys
from sksearch.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "loaded": sorted(m for m in ("ray", "torch", "optuna", "pandas") if m in sys.modules)}),
      file=sys.stderr)
"""


def loaded_by(*args: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, timeout=300)
    info = json.loads(proc.stderr.strip().splitlines()[-1])
    assert info["code"] == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return set(info["loaded"])


def test_status_pareto_and_models_import_neither_ray_nor_torch(finished_study):
    study, _ = finished_study
    for args in (["status", str(study)], ["status", str(study), "--json"], ["pareto", str(study), "--json"],
                 ["pareto", str(study)], ["models"], ["models", "--json"], ["cost", "sknet50", "--json"]):
        loaded = loaded_by(*args)
        assert not loaded & {"ray", "torch"}, (args, loaded)
    assert "optuna" not in loaded_by("status", str(study))  # the table comes straight from the database
    # Listing the presets reads a JSON file: nothing that builds a table is loaded for it.
    assert not loaded_by("models") & {"pandas", "optuna"}


def test_report_and_export_leave_ray_out(finished_study, tmp_path):
    study, _ = finished_study
    assert "ray" not in loaded_by("report", str(study), "--out", str(tmp_path / "r.html"))
    completed = __import__("pandas").read_csv(study / "trials.csv").query("status == 'completed'")
    trial = str(int(completed.trial_id.iloc[0]))
    loaded = loaded_by("export", str(study), "--trial", trial, "--to", str(tmp_path / "x"))
    # An export loads its weights into the spec's network before it reports success: torch, never Ray.
    assert "ray" not in loaded


PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "sksearch"
# Which wing may import which, at module level or lazily inside a function: no exception.
# Arrows: search -> study -> model; exports -> study, model (an export of a trial reads the study;
# no study module knows the export format); analysis -> exports, study, model; oneshot -> search, study, space.
# errors.py and files.py (bounded reads of regular files) are the bottom every wing stands on.
# What runs a wing above another (the one-shot strategy above the search driver) is handed down
# by a shared module above both (api.strategy_for), never imported from below.
ALLOWED = {
    "model": {"model", "errors", "files"},
    "data": {"data", "errors", "files"},
    "train": {"train", "model", "data", "errors", "files"},
    "space": {"space", "model", "data", "train", "objectives", "errors", "files", "scoped"},
    "study": {"study", "space", "model", "data", "train", "objectives", "errors", "files", "scoped"},
    "search": {"search", "study", "space", "model", "data", "train", "objectives", "errors", "files", "signals",
               "version", "scoped"},
    "exports": {"exports", "study", "model", "errors", "files"},
    "analysis": {"analysis", "exports", "study", "space", "model", "data", "train", "errors", "files", "devices"},
    "oneshot": {"oneshot", "search", "exports", "study", "space", "model", "data", "train", "errors", "files"},
}


def imported_wings(path: pathlib.Path) -> set[str]:
    """The sksearch wings (first-level modules or packages) a module imports, lazily or not."""
    wing = path.relative_to(PACKAGE).parts[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            parts = list(path.relative_to(PACKAGE).parts[:-1])
            base = parts[: len(parts) - (node.level - 1)]
            target = [*base, *(node.module.split(".") if node.module else [])]
            out.add(target[0] if target else "__init__")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                if name.startswith("sksearch."):
                    out.add(name.split(".")[1])
    out.discard(wing)
    return out


@pytest.mark.parametrize("wing", sorted(ALLOWED))
def test_wings_import_in_one_direction(wing):
    for path in (PACKAGE / wing).rglob("*.py"):
        extra = imported_wings(path) - ALLOWED[wing]
        assert not extra, f"{path.relative_to(PACKAGE)} imports {sorted(extra)}"


def test_a_lazy_import_up_a_wing_is_caught(tmp_path, monkeypatch):
    """The check reads imports inside functions too: the driver's old lazy import of the
    one-shot strategy would fail it."""
    module = tmp_path / "search" / "driver.py"
    module.parent.mkdir()
    module.write_text("def run():\n    from ..oneshot.strategy import prepare\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path)
    assert imported_wings(module) == {"oneshot"} and not {"oneshot"} <= ALLOWED["search"]


def test_only_the_search_wing_imports_ray():
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        if "import ray" in text or "from ray" in text:
            # oneshot/trainable.py is the supernet's Ray Tune trial, a trainable like search's
            assert path.relative_to(PACKAGE).parts[0] == "search" or path.relative_to(PACKAGE) == pathlib.Path(
                "oneshot", "trainable.py"), path


def _module(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in PACKAGE.rglob("*.py")}


def module_imports(path: pathlib.Path) -> list[tuple[str, bool]]:
    """The sksearch modules a module imports at run time, each with whether the import sits in a
    function. Imports under ``if TYPE_CHECKING:`` are left out: they never run."""
    tree = ast.parse(path.read_text())
    me = _module(path).split(".")
    package = me if path.name == "__init__.py" else me[:-1]
    type_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(
        node.test) for n in ast.walk(node)}
    in_function = {id(n) for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for n in ast.walk(node) if n is not node}
    out = []
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - (node.level - 1)] if node.level else []
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            # ``from . import x`` imports the module x when there is one, else a name of the package.
            found = [f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target for a in node.names]
        elif isinstance(node, ast.Import):
            found = [a.name for a in node.names]
        else:
            continue
        out += [(m, id(node) in in_function) for m in found if m in MODULES and m != _module(path)]
    return out


def test_no_module_imports_itself_round_a_circle():
    """A circle works only while every module in it defers its import to a function, and breaks
    at the first one moved to the top; each wing has a bottom instead."""
    graph = {m: {t for t, _ in module_imports(p)} for m, p in MODULES.items()}
    state: dict[str, str] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = "open"
        for t in sorted(graph[m]):
            if state.get(t) == "open":
                pytest.fail("import circle: " + " -> ".join([*path[path.index(t):], t]))
            if t not in state:
                visit(t, [*path, t])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_no_module_hides_an_import_of_its_own_wing_in_a_function():
    """Lazy imports keep heavy libraries (torch, Ray, Optuna) and other wings off a command's
    path; within a wing they would only hide a circle or a module that does two jobs."""
    for m, path in MODULES.items():
        wing = m.split(".")[:2]
        if len(m.split(".")) < 3:
            continue  # a shared module (api, cli, ...) is a wing of its own
        hidden = [t for t, lazy in module_imports(path) if lazy and t.split(".")[:2] == wing]
        assert not hidden, f"{path.relative_to(PACKAGE)} imports {hidden} inside a function"


def test_the_module_table_lists_every_module():
    """The docs' table of wings (docs/architecture.md) names each module of each wing, and no
    module that is gone (a rename that forgot the table fails here)."""
    import re

    readme = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    rows = {m.group(1): set(re.findall(r"`([\w.]+\.py)`", m.group(2)))
            for m in re.finditer(r"^\| `sksearch/(\w+)/` \| ([^|]*) \|", readme, re.M)}
    shared = re.search(r"^\| shared \| ([^|]*) \|", readme, re.M)
    assert shared, "docs/architecture.md's module table has no 'shared' row"
    rows[""] = set(re.findall(r"`([\w.]+\.py)`", shared.group(1)))
    wings = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert set(rows) - {""} == wings
    for wing, listed in rows.items():
        files = {p.name for p in (PACKAGE / wing).glob("*.py")} - {"__init__.py"}
        assert listed == files, (wing or "shared", sorted(files - listed), sorted(listed - files))
