import json

import pytest
from hypothesis import given, settings, strategies as st

from sksearch.model.spec import ArchSpec, SKSpec, SpecError, StageSpec
from tests.conftest import tiny_spec

odd_kernels = st.sampled_from([1, 3, 5, 7])
# A branch's own groups of 1 divide every width; other values are tested by hand below.
branch = st.one_of(st.tuples(odd_kernels, st.integers(1, 4)), st.tuples(odd_kernels, st.integers(1, 4), st.just(1)))
sk_specs = st.builds(
    SKSpec,
    branches=st.lists(branch, min_size=1, max_size=4).map(tuple),
    reduction=st.one_of(st.integers(1, 32), st.floats(0.25, 64, allow_nan=False)),
    min_dim=st.integers(1, 64),
    select=st.sampled_from(["softmax", "sum"]),
)
depthwise_sk_specs = st.builds(
    SKSpec, branches=st.lists(st.tuples(odd_kernels, st.integers(1, 4)), min_size=1, max_size=3).map(tuple),
    reduction=st.integers(1, 32), min_dim=st.integers(1, 64), select=st.sampled_from(["softmax", "sum"]),
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
        input_size=draw(st.integers(8, 512)), head_width=draw(st.one_of(st.none(), st.integers(16, 256))),
    )


@st.composite
def shufflenet_specs(draw):
    stages = tuple(StageSpec(depth=draw(st.integers(1, 4)), width=draw(st.integers(1, 64)),
                             out_channels=2 * draw(st.integers(8, 128)), stride=draw(st.sampled_from([1, 2])),
                             sk=draw(st.one_of(st.none(), depthwise_sk_specs)))
                   for _ in range(draw(st.integers(1, 4))))
    return ArchSpec(stages=stages, family="shufflenetv2", groups=None,
                    block=draw(st.sampled_from(["resnext", "se", "sk"])),
                    stem=draw(st.sampled_from(["shufflenet", "cifar", "imagenet"])),
                    stem_width=draw(st.integers(1, 64)),
                    se_reduction=draw(st.integers(1, 16)), sk=draw(depthwise_sk_specs),
                    head_width=draw(st.one_of(st.none(), st.integers(16, 1024))), num_classes=draw(st.integers(1, 100)))


@given(st.one_of(arch_specs(), shufflenet_specs()))
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
    (["sk", "branches"], [[3, 1, 2, 4]], "sk.branches[0]", "[kernel, dilation] or [kernel, dilation, groups]"),
    (["sk", "branches"], [[3, 1], [3, 2, 3]], "sk.branches[1].groups", "divisor of 8 (1, 2, 4, 8)"),
    (["sk", "branches"], [[3, 1], [3, 2, 0]], "sk.branches[1].groups", "from 1 to 4,096"),
    (["sk", "select"], "max", "sk.select", "softmax, sum"),
    (["stages", 1, "sk"], {"branches": [[3, 1, 32]]}, "stages[1].sk.branches[0].groups", "divisor of 16"),
    (["family"], "mobilenet", "family", "resnext, shufflenetv2"),
    (["head_width"], 0, "head_width", "from 1 to 65,536"),
    (["stem"], "vit", "stem", "imagenet, cifar, shufflenet"),
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


def shuffle_data(**changes) -> dict:
    data = {"family": "shufflenetv2", "block": "sk", "stem": "shufflenet", "stem_width": 8, "head_width": 64,
            "sk": {"branches": [[3, 1], [3, 2]], "reduction": 4, "min_dim": 4},
            "stages": [{"depth": 2, "width": 8, "out_channels": 16, "stride": 2}], "num_classes": 5, "input_size": 32}
    data.update(changes)
    return data


def test_a_shufflenet_spec_reads_without_groups_and_its_convs_are_depthwise():
    spec = ArchSpec.from_dict(shuffle_data())
    assert spec.groups is None and spec.groups_of(0) is None and spec.head_width == 64
    assert ArchSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize("changes,field,fragment", [
    ({"groups": 4}, "groups", "must be null in the shufflenetv2 family"),
    ({"stages": [{"depth": 1, "width": 8, "out_channels": 15}]}, "stages[0].out_channels", "must be even"),
    ({"stages": [{"depth": 1, "width": 8, "out_channels": 16, "groups": 2}]}, "stages[0].groups", "must be null"),
    ({"sk": {"branches": [[3, 1], [3, 2, 2]]}}, "sk.branches[1]", "shufflenetv2 branches are depthwise"),
])
def test_shufflenet_specs_refuse_what_the_family_cannot_build(changes, field, fragment):
    with pytest.raises(SpecError) as err:
        ArchSpec.from_dict(shuffle_data(**changes))
    assert err.value.path == field and fragment in str(err.value)


def test_a_resnext_spec_still_needs_groups():
    with pytest.raises(SpecError, match="groups: must be an integer"):
        tiny_spec(groups=None)


def test_block_plain_reads_as_resnext():
    """``plain`` is the clearer word for the unit with neither SE nor SK; a spec keeps writing
    ``resnext``, which every spec.json and table already holds."""
    spec = ArchSpec.from_dict({**good(), "block": "plain"})
    assert spec.block == "resnext" and spec == ArchSpec.from_dict({**good(), "block": "resnext"})
    assert spec.to_dict()["block"] == "resnext"
