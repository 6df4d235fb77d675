"""The block-kind contract: every row of ``sksearch.model.kinds.KINDS`` builds, counts its
parameters as the spec's cost says, exports and reloads with the same logits, samples from a
space, and is sliced by the supernet where its row says one-shot supports it.

A new kind adds one row to ``CASES`` below (a test fails until it does): the parameters of the
tiny network, counted by hand, the README line its export gets, and the space lines that
search its settings with the names its samples hold.
"""

from __future__ import annotations

import importlib.util
import random
from dataclasses import dataclass

import optuna
import pytest
import torch

from sksearch.data.spec import DataShape
from sksearch.errors import UserError
from sksearch.exports.read import load_model
from sksearch.exports.write import write_export
from sksearch.model import network
from sksearch.model.cost import count_params, params_and_macs
from sksearch.model.kinds import ALIASES, KINDS, SETTINGS, kind_of
from sksearch.model.network import build
from sksearch.model.spec import ArchSpec, SKSpec, StageSpec
from sksearch.oneshot.shareable import ExtremeDraw, RandomDraw, supernet_layout
from sksearch.oneshot.supernet import Supernet
from sksearch.space import load_space
from sksearch.space.sample import check_sample, sample


@dataclass(frozen=True)
class Case:
    params: int               # the parameters of ``tiny(name)``, counted by hand
    readme: str               # the line its export's README gives the architecture
    sampled: frozenset[str]   # the parameters a sample of ``SPACE`` holds besides the widths and lr


# The tiny network every kind is built as: stem 3x3 3->4 (108 + 8 BN), one unit of width 4 in
# G=2 groups, 8 out, and an fc to 3 classes. Its plain unit: conv1 1x1 4->4 (16 + 8), the grouped
# 3x3 (72 + 8), conv3 1x1 4->8 (32 + 16), shortcut 1x1 4->8 (32 + 16); fc 24 + 3: 343 in all.
PLAIN = 116 + 24 + 80 + 48 + 48 + 27
CASES: dict[str, Case] = {
    "resnext": Case(PLAIN, "- plain units (no SE, no SK)", frozenset()),
    # SE(8, r=4): fc 8->2 (16 + 2) and fc 2->8 (16 + 8).
    "se": Case(PLAIN + 18 + 24, "- SE reduction 4", frozenset({"se_reduction"})),
    # Two 3x3 branches (2 x 80) for the one 3x3 conv (80); fuse d = max(4 // 2, 2) = 2: 8 + 4 BN;
    # select 2 -> 2 x 4: 16.
    "sk": Case(PLAIN + 80 + 12 + 16, "- SK: M=2 (3x3 d=1, 3x3 d=2), r=2, L=2, select softmax",
               frozenset({"sk.M", "sk.branches.1.dilation"})),
}


def tiny(name: str) -> ArchSpec:
    return ArchSpec(stages=(StageSpec(depth=1, width=4, out_channels=8, stride=1),), block=name, stem="cifar",
                    stem_width=4, groups=2, se_reduction=4, sk=SKSpec(((3, 1), (3, 2)), reduction=2, min_dim=2),
                    num_classes=3, in_channels=3, input_size=8)


# Every kind's settings searched (``se_reduction`` too, but where one-shot shares weights): a
# kind samples its own and none of the others'.
SPACE = """
name: kind_{block}
data: {{name: digits, train_size: 100, val_size: 20, canvas: 12, min_scale: 1.0, max_scale: 1.5, seed: 0}}
model:
  block: {block}
  stem: cifar
  stem_width: 4
  groups: 2
  se_reduction: {se_reduction}
  sk:
    M: {{choice: [1, 2]}}
    branches:
      - {{kernel: 3, dilation: 1}}
      - {{kernel: 3, dilation: {{choice: [2, 3]}}}}
    reduction: 2
    min_dim: 2
  stages:
    - {{depth: 1, width_per_group: {{choice: [2, 4]}}, out_channels: 8, stride: 2}}
train: {{batch_size: 8, lr: 0.1, warmup_epochs: 0}}
objectives: [accuracy, params]
sampler: {{name: random, seed: 0}}
scheduler: {{name: asha, max_epochs: 1, grace_period: 1, reduction_factor: 3}}
resources: {{cpu: 1}}
concurrency: 1
trials: 2
{strategy}"""


def test_every_kind_has_a_test_row():
    assert set(CASES) == set(KINDS)


@pytest.mark.parametrize("name", list(KINDS))
def test_the_row_is_what_the_network_builds(name):
    kind = KINDS[name]
    assert kind.name == name and set(kind.settings) <= set(SETTINGS)
    parts = network.BLOCK_PARTS[name]
    assert parts.__name__ == kind.unit
    for alias in kind.aliases:
        assert network.BLOCK_PARTS[alias] is parts and kind_of(alias) is kind
        assert ArchSpec.from_dict({**tiny(name).to_dict(), "block": alias}).kind is kind
    assert set(network.BLOCK_PARTS) == set(KINDS) | set(ALIASES)


@pytest.mark.parametrize("name", list(KINDS))
def test_every_kind_builds_and_counts_its_parameters_as_its_cost_says(name):
    spec = tiny(name)
    model = build(spec.to_dict())
    params, macs = params_and_macs(spec)
    assert count_params(model) == params == CASES[name].params
    assert macs > 0 and model(torch.zeros(2, 3, 8, 8)).shape == (2, 3)
    # The units hold SK convs with a selection to read exactly where the row says so.
    kind = KINDS[name]
    assert bool(list(model.sk_units())) == kind.attention
    with model.record_attention() as records:
        model.eval()(torch.zeros(1, 3, 8, 8))
    assert bool(records) == kind.attention


@pytest.mark.parametrize("name", list(KINDS))
def test_every_kind_exports_and_reloads_with_the_same_logits(name, tmp_path):
    spec = tiny(name)
    torch.manual_seed(0)
    model = build(spec.to_dict()).eval()
    out = tmp_path / name
    write_export(str(out), spec, model.state_dict(), name, "a contract test")
    assert CASES[name].readme in (out / "README.md").read_text().splitlines()
    x = torch.randn(4, 3, 8, 8)
    expected = model(x)
    # The shipped model.py, imported by itself (its own table of block parts), and the loader.
    loaded = importlib.util.spec_from_file_location(f"exported_{name}", out / "model.py")
    shipped = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(shipped)
    assert shipped.BLOCK_PARTS is not network.BLOCK_PARTS
    with torch.no_grad():
        assert torch.allclose(shipped.load(str(out))(x), expected, atol=1e-6)
        assert torch.allclose(load_model(str(out))(x), expected, atol=1e-6)


@pytest.mark.parametrize("name", list(KINDS))
def test_every_kind_samples_from_a_space(name, tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(SPACE.format(block=name, se_reduction="{choice: [2, 4]}", strategy=""))
    space = load_space(str(path))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen: set[str] = set()
    for _ in range(8):
        trial = study.ask()
        s = sample(space, trial, space.data.shape())
        checked = check_sample(space, s)
        assert checked.reason is None and checked.spec.block == name
        assert checked.params == count_params(build(s.arch))
        seen |= set(s.params) - {"stages.0.width_per_group"}
        study.tell(trial, 0.0)
    assert seen == CASES[name].sampled


@pytest.mark.parametrize("name", list(KINDS))
def test_one_shot_slices_a_kind_where_its_row_says_so(name, tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(SPACE.format(block=name, se_reduction=4, strategy="strategy: {name: one_shot}\n"))
    if not KINDS[name].one_shot:
        with pytest.raises(UserError, match="model.block"):
            load_space(str(path))
        return
    space = load_space(str(path))
    shape = DataShape(in_channels=1, input_size=12, num_classes=10)
    supernet = Supernet(supernet_layout(space.model, shape)).eval()
    x = torch.randn(2, 1, 12, 12)
    widths = set()
    for draw in (ExtremeDraw(True), ExtremeDraw(False), RandomDraw(random.Random(0))):
        spec = ArchSpec.from_dict(sample(space, draw, shape).arch)
        assert spec.block == name
        widths.add(spec.stages[0].width)
        standalone = build(spec.to_dict())
        standalone.load_state_dict(supernet.extract(spec), strict=True)
        with torch.no_grad():
            assert torch.allclose(supernet(x, spec), standalone.eval()(x), atol=1e-5)
    assert widths == {4, 8}


def test_a_block_no_kind_names_is_refused_by_name():
    # model.py trusts its spec dict, but a name it has no parts for was built as a plain network.
    with pytest.raises(ValueError, match="block 'sx' is no block kind; known: resnext, plain, se, sk"):
        build({**tiny("sk").to_dict(), "block": "sx"})
    with pytest.raises(KeyError, match="known: resnext, se, sk, plain"):
        kind_of("sx")
