"""Space files built from the schema, then corrupted at random (types, values, encodings,
aliases, truncation): ``run`` answers each with a UserError or starts the search, never a
traceback, never a hang, and never writes to ``--out`` before the search starts."""

import copy
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

import sksearch
import sksearch.search.driver
from sksearch.errors import UserError
from tests.conftest import TINY_SPACE

BASE = yaml.safe_load(TINY_SPACE)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.sampled_from([0, 1, -1, 2**63, 10**6]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["1e-3", "2M", ".inf", "nan", "sk", "resnext", "mo_asha", "digits", "../x", "", "0x10"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["choice", "int", "float", "log", "step", "x"]),
                                                 inner, max_size=3)), max_leaves=8)


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, (*prefix, i))


ALL_PATHS = [p for p in paths(BASE) if p]


@st.composite
def corrupted(draw):
    raw = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(ALL_PATHS))
        node = raw
        try:
            for key in path[:-1]:
                node = node[key]
            action = draw(st.sampled_from(["replace", "delete", "add"]))
            if action == "replace":
                node[path[-1]] = draw(values)
            elif action == "delete" and isinstance(node, dict):
                del node[path[-1]]
            elif isinstance(node, dict):
                node[draw(st.sampled_from(["extra", "colour", "M", "sk"]))] = draw(values)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier corruption removed the way there
    text = yaml.safe_dump(raw, allow_unicode=True)
    how = draw(st.sampled_from(["plain", "utf16", "latin1", "truncate", "alias", "duplicate"]))
    if how == "alias":
        text = "x: &x " + yaml.safe_dump([list(range(9))] * 9, default_flow_style=True) + text.replace(
            "trials:", "bomb: [*x, *x, *x, *x, *x, *x, *x, *x, *x]\ntrials:", 1)
    if how == "duplicate":
        text = text + "trials: 3\n"
    data = text.encode("utf-8")
    if how == "utf16":
        data = text.encode("utf-16")
    elif how == "latin1":
        data = (text + "description: caf\xe9\n").encode("latin-1", errors="replace")
    elif how == "truncate":
        data = data[:draw(st.integers(0, len(data)))]
    return data


@pytest.fixture
def no_search(monkeypatch):
    """Stand in for the search itself: what reaches it is a validated space."""
    started = []

    def fake_run(space, root, *args, **kwargs):
        started.append(space)
        raise UserError("(the test stops here, where the search would start)")

    monkeypatch.setattr(sksearch.search.driver, "run", fake_run)
    return started


@given(data=corrupted())
@settings(max_examples=150, deadline=30_000, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_corrupted_space_files_give_a_clear_error_or_a_valid_space(data, tmp_path, no_search):
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(data)
    out = tmp_path / "out"
    before = len(no_search)
    start = time.monotonic()
    with pytest.raises(UserError) as err:
        sksearch.run(str(path), str(out))
    assert time.monotonic() - start < 30
    assert len(str(err.value)) < 1000
    assert not out.exists()  # nothing written before the search starts
    if len(no_search) > before:
        assert "the test stops here" in str(err.value)  # a valid space reached the search
    else:
        assert str(err.value).startswith(str(path))
