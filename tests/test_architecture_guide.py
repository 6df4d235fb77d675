"""The "How to add" guide of docs/architecture.md says what is true: every file it names is
there, every table it quotes is defined in the file beside it, and each plug-in's table is
named under its own how-to (a table that moves, or a guide that forgets it, fails here)."""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

from sksearch import objectives
from sksearch.data import spec as data_spec
from sksearch.space import samplers

ROOT = pathlib.Path(__file__).resolve().parents[1]
HEADING = "## How to add a data set, sampler, objective or block kind"
# Each plug-in's table: the file that defines it and its name. The block kinds' table arrives
# with the block-kind branch (sksearch/model/kinds.py), merged before this one.
TABLES = {
    "A data set": (data_spec.__file__, "DATASETS"),
    "A sampler": (samplers.__file__, "SAMPLERS"),
    "An objective": (objectives.__file__, "OBJECTIVES"),
    "A block kind": ("sksearch/model/kinds.py", "KINDS"),
}
PATH = re.compile(r"`((?:sksearch|tests|docs)/[\w/.-]+\.(?:py|md))`")
NAME = re.compile(r"`([A-Z][A-Za-z0-9_]*)`")  # a table or class the bullet's files define


def how_tos(page: str) -> dict[str, list[str]]:
    """The guide's how-tos by title ("A data set"), each a list of its bullets (a bullet's
    wrapped lines joined)."""
    start = page.find(HEADING)
    if start < 0:
        return {}
    section = page[start + len(HEADING):]
    end = re.search(r"^## ", section, re.M)
    section = section[:end.start()] if end else section
    out: dict[str, list[str]] = {}
    for part in re.split(r"^### ", section, flags=re.M)[1:]:
        title, _, body = part.partition("\n")
        out[title.strip()] = [" ".join(b.split()) for b in re.split(r"^- ", body, flags=re.M)[1:]]
    return out


def defines(path: pathlib.Path, name: str) -> bool:
    """Whether the module at ``path`` binds ``name`` at its top level."""
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return True
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name == name:
            return True
    return False


def problems(page: str, root: pathlib.Path = ROOT, tables: dict[str, tuple[str, str]] | None = None) -> list[str]:
    """What in the guide is not true of the files under ``root``; empty when it all is."""
    tables = TABLES if tables is None else tables
    guide = how_tos(page)
    if not guide:
        return [f"no section {HEADING!r}"]
    out = [f"no how-to {title!r}" for title in tables if title not in guide]
    out += [f"how-to {title!r}: no table of it in the test's TABLES" for title in guide if title not in tables]
    for title, bullets in guide.items():
        for bullet in bullets:
            paths = PATH.findall(bullet)
            if not paths:
                out.append(f"{title}: a bullet names no file: {bullet[:60]!r}")
            for path in paths:
                if not (root / path).is_file():
                    out.append(f"{title}: {path} does not exist")
            modules = [root / p for p in paths if p.endswith(".py") and (root / p).is_file()]
            for name in NAME.findall(bullet):
                for module in modules:
                    if not defines(module, name):
                        out.append(f"{title}: {module.relative_to(root)} does not define {name}")
        if title in tables:
            file, name = tables[title]
            path = pathlib.Path(file).resolve().relative_to(root) if pathlib.Path(file).is_absolute() else file
            if not any(f"`{path}`" in b and f"`{name}`" in b for b in bullets):
                out.append(f"{title}: no bullet names {path} and its table {name}")
    return out


def test_the_guide_is_true_of_the_tree():
    page = (ROOT / "docs" / "architecture.md").read_text()
    assert list(how_tos(page)) == list(TABLES)
    assert problems(page) == []


def test_each_table_is_the_one_its_names_come_from():
    """The tables the guide points at are the ones the schema's and the CLI's names come from."""
    from sksearch.cli import build_parser
    from sksearch.space import schema

    assert data_spec.NAMES == tuple(data_spec.DATASETS)
    run = next(a for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions
               if "--data" in a.option_strings)
    assert tuple(run.choices) == tuple(data_spec.DATASETS)
    assert schema.SAMPLERS is samplers.SAMPLERS and schema.OBJECTIVES is objectives.OBJECTIVES


PAGE = f"""# Title

{HEADING}

Words.

### A data set

- `sksearch/data/spec.py`: one row in `DATASETS`,
  wrapped onto a second line.
- `docs/data.md`: a paragraph.

### A sampler

- `sksearch/space/samplers.py`: one row in `SAMPLERS`.

## Next section

- `sksearch/nowhere.py`: not part of the guide.
"""
SMALL = {"A data set": ("sksearch/data/spec.py", "DATASETS"), "A sampler": ("sksearch/space/samplers.py", "SAMPLERS")}


def test_the_parser_reads_bullets_and_stops_at_the_next_section():
    guide = how_tos(PAGE)
    assert list(guide) == ["A data set", "A sampler"]
    assert guide["A data set"][0] == "`sksearch/data/spec.py`: one row in `DATASETS`, wrapped onto a second line."
    assert problems(PAGE, tables=SMALL) == []


@pytest.mark.parametrize("change, problem", [
    (("`docs/data.md`", "`docs/datasets.md`"), "A data set: docs/datasets.md does not exist"),
    (("one row in `DATASETS`", "one row in `DATA_SETS`"),
     "A data set: sksearch/data/spec.py does not define DATA_SETS"),
    (("- `sksearch/space/samplers.py`: one row in `SAMPLERS`.", "- `sksearch/search/driver.py`: one row."),
     "A sampler: no bullet names sksearch/space/samplers.py and its table SAMPLERS"),
    (("### A sampler", "### A schedule"), "no how-to 'A sampler'"),
    (("- `docs/data.md`: a paragraph.", "- a paragraph in the docs."),
     "A data set: a bullet names no file: 'a paragraph in the docs.'"),
    ((HEADING, "## How to extend"), f"no section {HEADING!r}"),
])
def test_a_guide_that_is_not_true_fails(change, problem):
    assert problem in problems(PAGE.replace(*change), tables=SMALL)
