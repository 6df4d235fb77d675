"""The export folder's file names live in one module: no other module of the package spells
one out, so a name can neither drift between the writer and a reader nor be changed in one
place only."""

import ast
import pathlib

from sksearch.exports import layout
from sksearch.exports.layout import EXPORT_FILES, EXPORT_MARKERS, SPEC_JSON, WEIGHTS, ExportLayout

PACKAGE = pathlib.Path(layout.__file__).resolve().parents[1]
HOME = pathlib.Path(layout.__file__).resolve()
# model.py is model/network.py copied as it is: it imports nothing but torch, so its load(folder)
# names the two files it reads itself.
SHIPPED = PACKAGE / "model" / "network.py"
# The export's names that name nothing else in the package: README.md is also the repository's
# (docs_reference.py) and attention/ also a study folder's (study/layout.py).
NAMES = {layout.MODEL_PY, SPEC_JSON, WEIGHTS, layout.PREPROCESS_JSON, layout.TRAIN_JSON, layout.MODEL_ONNX,
         layout.ONNX_DATA, layout.TRAIN_LOG, layout.CHECKPOINTS}


def literals(path: pathlib.Path) -> list[tuple[int, str]]:
    """The string literals of a module that are exactly an export file's name, with their lines."""
    return [(node.lineno, node.value) for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and node.value in NAMES]


def test_no_module_but_the_layout_spells_out_an_export_file_name():
    found = {str(p.relative_to(PACKAGE)): literals(p) for p in PACKAGE.rglob("*.py") if p not in (HOME, SHIPPED)}
    assert {p: hits for p, hits in found.items() if hits} == {}
    # the home declares every one (model.onnx.data as model.onnx's name + ".data", as torch names it)
    assert {name for _, name in literals(HOME)} == NAMES - {layout.ONNX_DATA}


def test_the_shipped_model_py_reads_the_files_the_layout_names():
    tree = ast.parse(SHIPPED.read_text())
    load = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "load")
    in_load = {n.value for n in ast.walk(load) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert {SPEC_JSON, WEIGHTS} <= in_load
    assert sorted(name for _, name in literals(SHIPPED)) == sorted([SPEC_JSON, WEIGHTS])  # nowhere else in it


def test_the_layout_names_each_file_of_an_export(tmp_path):
    files = ExportLayout(str(tmp_path))
    assert files.spec_json == str(tmp_path / "spec.json") and files.weights == str(tmp_path / "weights.safetensors")
    assert files.train_json == str(tmp_path / "train.json") and files.attention == str(tmp_path / "attention")
    assert EXPORT_MARKERS == {"model.py", "spec.json", "weights.safetensors"} and EXPORT_MARKERS < EXPORT_FILES
    assert EXPORT_FILES == NAMES | {layout.README_MD, layout.ATTENTION, ".sksearch.lock"}
