"""The generated references cannot drift: every space key and every command option is in them
with a description, and a description or a page naming a key or option that does not exist
is caught."""

import argparse
import dataclasses
import re

import pytest

from sksearch import docs_reference
from sksearch.cli import build_parser
from sksearch.space import schema
from sksearch.space.parsed import StrategySpec


def test_the_references_are_complete_and_true_today():
    assert docs_reference.problems() == []


def test_every_schema_key_is_in_the_space_reference_with_its_rule_and_default():
    page = docs_reference.space_reference()
    for table, prefix in ((schema.DATA_FIELDS, "data."), (schema.TRAIN_FIELDS, "train."),
                          (schema.STAGE_FIELDS, "model.stages[]."), (schema.STRATEGY_RULES, "strategy.")):
        for key in table:
            assert f"| `{prefix}{key}` |" in page
    row = next(line for line in page.splitlines() if line.startswith("| `model.sk.branches[].kernel` |"))
    assert "odd integer from 1 to 31" in row and "| required |" in row and "| yes |" in row
    row = next(line for line in page.splitlines() if line.startswith("| `train.lr` |"))
    assert "number > 0 and <= 1000" in row and "| 0.1 |" in row
    for field in dataclasses.fields(StrategySpec):  # the one-shot keys, each with its default
        row = next(line for line in page.splitlines() if line.startswith(f"| `strategy.{field.name}` |"))
        assert f"| {str(field.default).lower()} |" in row, row
    assert "standalone \\| one_shot" in page


def test_every_option_is_in_the_command_reference():
    page = docs_reference.cli_reference()
    for name, cmd in docs_reference.commands(build_parser()).items():
        assert f"## `sksearch {name}`" in page
        for action in cmd._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert f"`{flag}" in page
    run = page[page.index("## `sksearch run`"):page.index("## `sksearch resume`")]
    assert "| `--strategy` | `standalone` \\| `one_shot` |" in run
    for name in ("status", "pareto", "report", "export", "evaluate", "analyze"):  # read commands: --storage URL
        section = page[page.index(f"## `sksearch {name}`"):]
        section = section[:section.find("\n## ", 1) % (len(section) + 1)]
        assert "| `--storage` |" in section and "never followed" in section, name


def test_a_new_schema_key_without_a_description_fails(monkeypatch):
    monkeypatch.setitem(schema.TRAIN_FIELDS, "fake_key", schema.integer(1, 9))
    monkeypatch.setitem(schema.STRATEGY_RULES, "fake_phase", schema.boolean)
    assert "| `train.fake_key` | integer from 1 to 9 |" in docs_reference.space_reference()
    problems = docs_reference.problems(pages=[])
    assert "space key train.fake_key: no description in docs_reference.DESCRIPTIONS" in problems
    assert "space key strategy.fake_phase: no description in docs_reference.DESCRIPTIONS" in problems


def test_a_description_of_a_key_the_schema_lacks_fails():
    descriptions = {**docs_reference.DESCRIPTIONS, "train.no_such_key": "gone", "strategy.phases": "never was"}
    problems = docs_reference.problems(descriptions=descriptions, pages=[])
    assert problems == ["DESCRIPTIONS['strategy.phases']: no such space key",
                        "DESCRIPTIONS['train.no_such_key']: no such space key"]
    del descriptions["train.no_such_key"], descriptions["strategy.phases"], descriptions["data.clutter"]
    assert docs_reference.problems(descriptions=descriptions, pages=[]) == [
        "space key data.clutter: no description in docs_reference.DESCRIPTIONS"]


def test_a_key_listed_nowhere_in_the_reference_fails(monkeypatch):
    monkeypatch.setattr(schema, "TOP_KEYS", (*schema.TOP_KEYS, "fake_section"))
    assert "space key fake_section: missing from the generated reference" in docs_reference.problems(pages=[])


def test_an_option_without_help_fails():
    parser = build_parser()
    docs_reference.commands(parser)["run"].add_argument("--fake-option", type=int)
    assert docs_reference.problems(parser, pages=[]) == ["sksearch run --fake-option: no help text (its description)"]
    assert "`--fake-option`" not in docs_reference.cli_reference()  # the page reads the real parser


def test_a_page_naming_an_option_a_command_lacks_fails(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("Run `sksearch run space.yaml --trials 3 --fake-option 2`, then\n"
                    "```bash\nsksearch pareto results/x --json && pip install x --index-url y\n```\n"
                    "and `sksearch report DIR --trials 2`.\n")
    assert docs_reference.problems(pages=[str(page)]) == [
        "page.md: names `sksearch report ... --trials`, an option sksearch report does not have",
        "page.md: names `sksearch run ... --fake-option`, an option sksearch run does not have"]


@pytest.mark.parametrize("path", sorted(docs_reference.pages()))
def test_the_generated_pages_are_markdown_tables_with_one_row_per_entry(path):
    text = docs_reference.pages()[path]
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    columns = 5 if path == "reference/space.md" else 4
    # Each row has its table's columns: no value's own "|" broke a row apart.
    assert rows and all(len(re.split(r"(?<!\\)\|", line)) == columns + 2 for line in rows)
    if path == "reference/space.md":
        assert len(rows) == len(docs_reference.schema_keys()) == len(set(docs_reference.schema_paths()))
    else:
        parser = build_parser()
        expected = sum(1 for cmd in docs_reference.commands(parser).values() for a in cmd._actions
                       if not isinstance(a, argparse._HelpAction))
        assert len(rows) == expected


def test_the_readme_is_short_and_its_links_lead_to_files():
    """The README stays a five-minute read, and what it links to is there (GitHub shows it
    outside the docs site, so mkdocs' own link check does not cover it)."""
    import pathlib

    root = pathlib.Path(docs_reference.__file__).resolve().parents[1]
    text = (root / "README.md").read_text()
    assert len(text.encode()) < 12_000
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    assert links and all((root / link).exists() for link in links if "://" not in link), links
    # The two set-up commands, verbatim: a fresh clone runs them as they are written.
    assert ("python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && pip install -e . && "
            "sksearch run search_spaces/quickstart.yaml") in text
    assert ("python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && "
            'pip install -e ".[dev,docs]" && python -m pytest') in text


def test_the_test_commands_install_what_ci_installs():
    """The README's and the guide's test command install CI's extras: without the docs extra
    the docs-site tests skip, and the counts CI measured are not what a reader gets."""
    import pathlib

    root = pathlib.Path(docs_reference.__file__).resolve().parents[1]
    ci = re.search(r'pip install -q -e "\.\[([\w,]+)\]"', (root / ".ci" / "run").read_text()).group(1)
    for page in ("README.md", "docs/getting-started.md"):
        command = next(line for line in (root / page).read_text().splitlines() if line.endswith("python -m pytest"))
        assert re.search(r'pip install -e "\.\[([\w,]+)\]"', command).group(1) == ci, (page, command)


def test_the_reference_and_the_guide_name_every_block_the_code_accepts():
    """``model.block`` takes resnext, se, sk and plain (read as resnext): the reference once
    listed three of them and the guide another three."""
    import pathlib

    from sksearch.model.spec import BLOCK_ALIASES, BLOCKS

    accepted = [*BLOCKS, *BLOCK_ALIASES]
    for value in accepted:  # each one parses
        schema.MODEL_FIELDS["block"]("model.block", value)
    row = next(line for line in docs_reference.space_reference().splitlines() if line.startswith("| `model.block` |"))
    guide = pathlib.Path(__file__).resolve().parents[1] / "docs" / "search-space.md"
    comment = next(line for line in guide.read_text().splitlines() if line.startswith("  block: sk "))
    for value in accepted:
        assert re.search(rf"\b{value}\b", re.split(r"(?<!\\)\|", row)[2]), (value, row)  # the allowed column
        assert re.search(rf"\b{value}\b", comment), (value, comment)


def test_the_readme_front_is_what_pareto_prints(capsys):
    """The README's and the report guide's `sksearch pareto` block, fed back through the
    printer, prints as shown (they once showed accuracy as 0.6620 where the command prints 66.20%)."""
    import pathlib

    from sksearch.study.pareto import print_front

    root = pathlib.Path(docs_reference.__file__).resolve().parents[1]
    for page in ("README.md", "docs/report.md"):
        front_block_prints_as_shown((root / page).read_text(), print_front, capsys)


def front_block_prints_as_shown(text: str, print_front, capsys) -> None:  # print_front: the printer
    block = text.split("$ sksearch pareto ", 1)[1].split("```", 1)[0].splitlines()
    header = block[2].split()
    assert header[:4] == ["trial", "accuracy", "macs", "params"] and header[-1] == "..."
    shown = [line for line in block[3:] if line.endswith("...")]
    rows = []
    for line in shown:
        cells = dict(zip(header, line.split()))
        number = {k: int(v.replace(",", "")) for k, v in cells.items() if k not in ("accuracy", "...")}
        rows.append({"trial_id": number["trial"], "accuracy": float(cells["accuracy"].rstrip("%")) / 100,
                     "macs": number["macs"], "params": number["params"], "epochs": number["epochs"],
                     "config": {k: number[k] for k in header[5:-1]}})
    assert rows
    print_front(rows)
    printed = capsys.readouterr().out.splitlines()
    assert [line.removesuffix("  ...") for line in [block[2], *shown]] == printed
