import json

import pytest
from hypothesis import given, settings, strategies as st

from sksearch.model.spec import ArchSpec, SKSpec, SpecError, StageSpec
from tests.conftest import tiny_spec

odd_kernels = st.sampled_from([1, 3, 5, 7])
sk_specs = st.builds(
    SKSpec,
    branches=st.lists(st.tuples(odd_kernels, st.integers(1, 4)), min_size=1, max_size=4).map(tuple),
    reduction=st.one_of(st.integers(1, 32), st.floats(0.25, 64, allow_nan=False)),
    min_dim=st.integers(1, 64),
)


@st.composite
def arch_specs(draw):
    groups = draw(st.sampled_from([1, 2, 4, 8]))
    stages = []
    for _ in range(draw(st.integers(1, 4))):
        stage_groups = draw(st.one_of(st.none(), st.sampled_from([1, 2, 4])))
        g = stage_groups or groups
        stages.append(StageSpec(
            depth=draw(st.integers(1, 5)), width=g * draw(st.integers(1, 16)),
            out_channels=draw(st.integers(16, 512)), stride=draw(st.sampled_from([1, 2])),
            groups=stage_groups, sk=draw(st.one_of(st.none(), sk_specs)),
        ))
    return ArchSpec(
        stages=tuple(stages), block=draw(st.sampled_from(["resnext", "se", "sk"])),
        stem=draw(st.sampled_from(["imagenet", "cifar"])), stem_width=draw(st.integers(1, 128)),
        groups=groups, se_reduction=draw(st.integers(1, 16)), sk=draw(sk_specs),
        num_classes=draw(st.integers(1, 1000)), in_channels=draw(st.integers(1, 4)),
        input_size=draw(st.integers(8, 512)),
    )


@given(arch_specs())
@settings(max_examples=200, deadline=None)
def test_json_round_trip_is_exact(spec):
    text = spec.to_json()
    back = ArchSpec.from_json(text)
    assert back == spec
    assert back.to_json() == text
    assert json.loads(text) == spec.to_dict()


def test_stage_sk_may_be_partial_and_inherits_the_network_settings():
    data = tiny_spec().to_dict()
    data["stages"][1]["sk"] = {"branches": [[3, 1], [5, 1], [3, 3]]}
    spec = ArchSpec.from_dict(data)
    assert spec.sk_of(1) == SKSpec(((3, 1), (5, 1), (3, 3)), reduction=4, min_dim=4)
    assert spec.sk_of(0) == spec.sk


def good() -> dict:
    return tiny_spec().to_dict()


def mutate(path, value):
    data = good()
    target = data
    *parents, last = path
    for p in parents:
        target = target[p]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return data


@pytest.mark.parametrize("path,value,field,fragment", [
    (["block"], "dense", "block", "resnext, se, sk"),
    (["stem"], "tiny", "stem", "imagenet, cifar"),
    (["stem_width"], 0, "stem_width", "from 1 to 4,096"),
    (["groups"], 3, "groups", "divisor of 8 (1, 2, 4, 8)"),
    (["groups"], 2.0, "groups", "integer"),
    (["num_classes"], True, "num_classes", "integer"),
    (["in_channels"], -1, "in_channels", "from 1 to 64"),
    (["input_size"], "32", "input_size", "integer"),
    (["se_reduction"], 0, "se_reduction", "from 1 to 4,096"),
    (["sk", "branches"], [], "sk.branches", "M >= 1"),
    (["sk", "branches"], [[4, 1]], "sk.branches[0].kernel", "odd positive"),
    (["sk", "branches"], [[3, 1], [-3, 1]], "sk.branches[1].kernel", "odd positive"),
    (["sk", "branches"], [[3, 0]], "sk.branches[0].dilation", "from 1 to 64"),
    (["sk", "branches"], [[3, 1, 2]], "sk.branches[0]", "[kernel, dilation] pair"),
    (["sk", "branches"], "3x3", "sk.branches", "list"),
    (["sk", "reduction"], 0, "sk.reduction", "> 0"),
    (["sk", "reduction"], float("nan"), "sk.reduction", "> 0"),
    (["sk", "min_dim"], 0, "sk.min_dim", "from 1 to 65,536"),
    (["sk", "extra"], 1, "sk.extra", "allowed keys: branches, reduction, min_dim"),
    (["stages"], [], "stages", "at least one"),
    (["stages"], KeyError, "stages", "required"),
    (["stages"], {"depth": 1}, "stages", "list"),
    (["stages", 0, "depth"], 0, "stages[0].depth", "from 1 to 256"),
    (["stages", 0, "depth"], 10**6, "stages[0].depth", "from 1 to 256, got 1000000"),
    (["stages", 1, "width"], KeyError, "stages[1].width", "required"),
    (["stages", 1, "stride"], 3, "stages[1].stride", "1 or 2"),
    (["stages", 1, "groups"], 5, "stages[1].groups", "divisor of 16"),
    (["stages", 0, "sk"], {"branches": [[2, 1]]}, "stages[0].sk.branches[0].kernel", "odd"),
    (["stages", 0, "colour"], "red", "stages[0].colour", "allowed keys"),
    (["colour"], "red", "colour", "allowed keys"),
])
def test_every_validation_error_names_the_field_and_what_is_allowed(path, value, field, fragment):
    with pytest.raises(SpecError) as err:
        ArchSpec.from_dict(mutate(path, value))
    assert err.value.path == field
    assert fragment in str(err.value)


def test_se_reduction_cannot_exceed_the_output_width():
    with pytest.raises(SpecError, match="se_reduction: 64 exceeds"):
        tiny_spec("se", se_reduction=64)


def test_bad_json_is_a_spec_error():
    with pytest.raises(SpecError, match="not valid JSON"):
        ArchSpec.from_json("{nope")
    with pytest.raises(SpecError, match="JSON object"):
        ArchSpec.from_json("[1, 2]")
