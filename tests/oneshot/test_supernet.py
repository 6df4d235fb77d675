"""The supernet: every elastic dimension's subnets, extracted, are exactly the stand-alone
networks of their specs (logits, parameters, MACs), and they share the supernet's weights."""

from __future__ import annotations

import random

import pytest
import torch
import yaml

from sksearch.data.spec import DataShape
from sksearch.model.cost import count_macs, count_params, input_shape, params_and_macs
from sksearch.model.network import build
from sksearch.model.spec import ArchSpec, SpecError
from sksearch.oneshot.shareable import ExtremeDraw, RandomDraw, supernet_layout
from sksearch.oneshot.supernet import Supernet
from sksearch.space.sample import sample
from sksearch.space.schema import parse

SHAPE = DataShape(in_channels=1, input_size=12, num_classes=5)

# A base space in which nothing is searched; each case below searches one dimension.
BASE = {
    "block": "sk", "stem": "cifar", "stem_width": 4, "groups": 2,
    "sk": {"M": 2, "branches": [{"kernel": 3, "dilation": 1}, {"kernel": 3, "dilation": 2}],
           "reduction": 2, "min_dim": 4},
    "stages": [{"depth": 1, "width": 8, "out_channels": 8, "stride": 2},
               {"depth": 2, "width": 8, "out_channels": 16, "stride": 2}],
}


def _case(**changes):
    model = yaml.safe_load(yaml.safe_dump(BASE))
    for path, value in changes.items():
        node, keys = model, path.split("/")
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        if keys[-1].isdigit() and int(keys[-1]) == len(node):
            node.append(value)
        else:
            node[int(keys[-1]) if keys[-1].isdigit() else keys[-1]] = value
    return model


CASES = {
    "depth": (_case(**{"stages/1/depth": {"int": [1, 3]}}), lambda s: s.stages[1].depth),
    "width_grouped": (_case(**{"stages/1/width": {"choice": [4, 8, 12]}}), lambda s: s.stages[1].width),
    "width_G1": (_case(groups=1, **{"stages/0/width": {"choice": [3, 5, 8]}}), lambda s: s.stages[0].width),
    "width_per_group": (_case(**{"stages/0": {"depth": 1, "width_per_group": {"choice": [2, 4]}, "out_channels": 8,
                                              "stride": 2}}), lambda s: s.stages[0].width),
    "out_channels": (_case(**{"stages/1/out_channels": {"choice": [12, 16, 24]}}), lambda s: s.stages[1].out_channels),
    "stem_width": (_case(stem_width={"choice": [2, 4, 6]}), lambda s: s.stem_width),
    "M": (_case(**{"sk/M": {"choice": [1, 2, 3]}, "sk/branches/2": {"kernel": 5, "dilation": 1}}),
          lambda s: s.sk.M),
    "branch_set": (_case(**{"sk": {"branches": {"choice": [[{"kernel": 3, "dilation": 1}, {"kernel": 3, "dilation": 2}],
                                                           [{"kernel": 3, "dilation": 1}, {"kernel": 5, "dilation": 1}],
                                                           [{"kernel": 5, "dilation": 1}]]},
                                   "reduction": 2, "min_dim": 4}}), lambda s: s.sk.branches),
    "dilation": (_case(**{"sk/branches/1/dilation": {"choice": [1, 2, 3]}}), lambda s: s.sk.branches[1][1]),
    "kernel": (_case(**{"sk/branches/1/kernel": {"choice": [1, 3, 5]}}), lambda s: s.sk.branches[1][0]),
    "reduction": (_case(**{"sk/reduction": {"choice": [1, 2, 4]}, "sk/min_dim": 2}), lambda s: s.sk.reduction),
    "min_dim": (_case(**{"sk/min_dim": {"choice": [2, 6, 10]}}), lambda s: s.sk.min_dim),
    "select": (_case(**{"sk/select": {"choice": ["softmax", "sum"]}}), lambda s: s.sk.select),
    "stage_sk": (_case(**{"stages/1/sk": {"M": {"choice": [1, 2]}, "branches": [{"kernel": 3, "dilation": 1},
                                                                               {"kernel": {"choice": [3, 5]},
                                                                                "dilation": 2}]}}),
                 lambda s: s.stages[1].sk.branches),
    "head_width": (_case(head_width={"choice": [8, 20]}), lambda s: s.head_width),
    "se_block": (_case(block="se", se_reduction=2, **{"stages/1/out_channels": {"choice": [8, 16]}}),
                 lambda s: s.stages[1].out_channels),
    "resnext_block": (_case(block="resnext",
                            **{"stages/1/width": {"choice": [4, 8]}, "stages/1/depth": {"int": [1, 2]}}),
                      lambda s: (s.stages[1].width, s.stages[1].depth)),
    "imagenet_stem": (_case(stem="imagenet", stem_width={"choice": [4, 8]}), lambda s: s.stem_width),
}


def _space(model):
    raw = {"name": "t", "data": {"name": "digits", "train_size": 100, "val_size": 20, "canvas": 12, "max_scale": 1.5},
           "model": model, "strategy": {"name": "one_shot"}}
    return parse(raw, "t.yaml")


def _subnets(space, n=6):
    rng = random.Random(0)
    specs = {}
    for draw in [ExtremeDraw(True), ExtremeDraw(False)] + [RandomDraw(rng) for _ in range(n)]:
        try:
            spec = ArchSpec.from_dict(sample(space, draw, SHAPE).arch)
        except SpecError:
            continue
        specs[spec.to_json()] = spec
    return list(specs.values())


def _scramble_bn(module):
    """Distinct running statistics everywhere: equal logits then need the very same statistics."""
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)


@pytest.mark.parametrize("name", list(CASES))
def test_extracted_subnet_is_the_standalone_network(name):
    model, value = CASES[name]
    space = _space(model)
    supernet = Supernet(supernet_layout(space.model, SHAPE)).eval()
    _scramble_bn(supernet)
    specs = _subnets(space)
    assert len({str(value(s)) for s in specs}) >= 2, "the case must exercise its dimension"
    x = torch.randn(3, 1, 12, 12)
    for spec in specs:
        standalone = build(spec.to_dict())
        standalone.load_state_dict(supernet.extract(spec), strict=True)
        standalone.eval()
        with torch.no_grad():
            assert torch.allclose(supernet(x, spec), standalone(x), atol=1e-5), spec.to_json()
        params, macs = params_and_macs(spec)
        assert count_params(standalone) == params
        if name != "imagenet_stem":
            # On a 12 px input the imagenet stem's net counts 864 more MACs on the CPU than on the
            # meta device that params_and_macs counts on: a FlopCounterMode difference between
            # devices (the same network without any supernet shows it), not a subnet's.
            assert count_macs(standalone, input_shape(spec)) == macs


def test_the_largest_subnet_is_the_supernet_itself():
    space = _space(CASES["M"][0])
    supernet = Supernet(supernet_layout(space.model, SHAPE))
    largest = ArchSpec.from_dict(sample(space, ExtremeDraw(True), SHAPE).arch)
    assert count_params(supernet.net) == params_and_macs(largest)[0]
    assert supernet.extract(largest).keys() == supernet.net.state_dict().keys()
    assert all(torch.equal(v, supernet.net.state_dict()[k]) for k, v in supernet.extract(largest).items())


def test_kernel_is_the_centre_and_dilation_the_same_weights():
    space = _space(_case(**{"sk/branches/1/kernel": {"choice": [3, 5]},
                            "sk/branches/1/dilation": {"choice": [1, 3]}}))
    supernet = Supernet(supernet_layout(space.model, SHAPE))
    full = supernet.net.state_dict()["stages.1.1.conv2.branches.1.0.weight"]
    assert full.shape[-1] == 5
    small = ArchSpec.from_dict(sample(space, ExtremeDraw(False), SHAPE).arch)
    assert small.sk.branches[1] == (3, 1)
    wide = small.replace(sk=small.sk.__class__(((3, 1), (3, 3)), small.sk.reduction, small.sk.min_dim))
    a = supernet.extract(small)["stages.1.1.conv2.branches.1.0.weight"]
    b = supernet.extract(wide)["stages.1.1.conv2.branches.1.0.weight"]
    assert torch.equal(a, full[:, :, 1:4, 1:4]) and torch.equal(a, b)


def test_grouped_width_takes_the_first_channels_of_every_group():
    space = _space(CASES["width_grouped"][0])  # G = 2, widths 4, 8, 12
    supernet = Supernet(supernet_layout(space.model, SHAPE))
    narrow = ArchSpec.from_dict(sample(space, ExtremeDraw(False), SHAPE).arch)
    assert narrow.stages[1].width == 4
    full = supernet.net.state_dict()["stages.1.0.conv2.branches.0.0.weight"]  # 12 x 6 x 3 x 3
    cut = supernet.extract(narrow)["stages.1.0.conv2.branches.0.0.weight"]    # 4 x 2 x 3 x 3
    assert torch.equal(cut, full[[0, 1, 6, 7]][:, :2])


def test_a_subnets_gradient_reaches_only_its_shared_weights():
    space = _space(CASES["width_G1"][0])
    supernet = Supernet(supernet_layout(space.model, SHAPE)).train()
    narrow = ArchSpec.from_dict(sample(space, ExtremeDraw(False), SHAPE).arch)
    c = narrow.stages[0].width
    supernet(torch.randn(4, 1, 12, 12), narrow).square().sum().backward()
    grad = supernet.net.stages[0][0].conv1[0].weight.grad
    assert grad[:c].abs().sum() > 0 and torch.count_nonzero(grad[c:]) == 0
    # A training forward leaves the supernet's statistics alone (each subnet's are recalibrated).
    assert torch.equal(supernet.net.stages[0][0].conv1[1].running_mean, torch.zeros_like(grad[:, 0, 0, 0]))


def test_a_spec_beyond_the_supernet_is_refused():
    space = _space(CASES["depth"][0])
    supernet = Supernet(supernet_layout(space.model, SHAPE))
    big = ArchSpec.from_dict(sample(space, ExtremeDraw(True), SHAPE).arch)
    deeper = big.replace(stages=(big.stages[0], big.stages[1].__class__(4, 8, 16, 2)))
    with pytest.raises(ValueError, match=r"stages\[1\].depth: 4 exceeds the supernet's 3"):
        supernet.extract(deeper)
