"""The study folder's file names live in ``study/layout.py`` alone."""

import ast
import pathlib

from sksearch.study.layout import FILES, Layout

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "sksearch"


def test_run_json_is_named_by_the_layout_alone():
    """Every module finds ``run.json`` through ``Layout`` (``Layout(root).run_json``): a string
    ``"run.json"`` anywhere else is a second home for the name, which a rename would miss."""
    found = [f"{path.relative_to(PACKAGE)}:{node.lineno}" for path in PACKAGE.rglob("*.py")
             if path != PACKAGE / "study" / "layout.py"
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Constant) and node.value == FILES["run_json"]]
    assert not found, found
    assert Layout("study").run_json == str(pathlib.Path("study", "run.json"))
