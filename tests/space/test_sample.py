import optuna
import pytest

from sksearch.model.spec import ArchSpec
from sksearch.space import load_space
from sksearch.space.sample import check_sample, sample, violations
from tests.conftest import write_space


@pytest.fixture
def space(tmp_path):
    return load_space(str(write_space(tmp_path)))


def test_define_by_run_skips_branches_beyond_m(space):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen_m = set()
    for _ in range(30):
        trial = study.ask()
        s = sample(space, trial, space.data.shape())
        m = s.params["sk.M"]
        seen_m.add(m)
        assert len(s.arch["sk"]["branches"]) == m
        assert ("sk.branches.1.dilation" in s.params) == (m == 2)
        assert s.arch["stages"][0]["width"] == 2 * s.params["stages.0.width_per_group"]
        assert s.train.max_epochs == 2 and 0.01 <= s.train.lr <= 0.3
        ArchSpec.from_dict(s.arch)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    assert seen_m == {1, 2}


def test_fuse_settings_are_only_sampled_with_attention(tmp_path):
    space = load_space(str(write_space(tmp_path)))
    space.model["sk"]["reduction"] = space.model["sk"]["M"]  # any distribution
    one = sample(space, optuna.trial.FixedTrial({"sk.M": 1, "stages.0.width_per_group": 2, "lr": 0.1}),
                 space.data.shape())
    assert "sk.reduction" not in one.params and one.arch["sk"]["reduction"] == 16
    two = sample(space, optuna.trial.FixedTrial({"sk.M": 2, "sk.branches.1.dilation": 2, "sk.reduction": 2,
                                                "stages.0.width_per_group": 2, "lr": 0.1}), space.data.shape())
    assert two.params["sk.reduction"] == 2 and two.arch["sk"]["reduction"] == 2


def test_the_data_sets_the_input_shape(space):
    s = sample(space, optuna.trial.FixedTrial({"sk.M": 1, "stages.0.width_per_group": 2, "lr": 0.1}),
               space.data.shape())
    assert (s.arch["in_channels"], s.arch["input_size"], s.arch["num_classes"]) == (1, 12, 10)


def test_non_sk_blocks_do_not_sample_sk_settings(tmp_path):
    space = load_space(str(write_space(tmp_path, name="se.yaml")))
    space.model["block"] = "se"
    space.model["se_reduction"] = 2
    s = sample(space, optuna.trial.FixedTrial({"stages.0.width_per_group": 2, "lr": 0.1}), space.data.shape())
    assert "sk.M" not in s.params and s.arch["block"] == "se" and s.arch["se_reduction"] == 2


def test_budgets_reject_before_training(tmp_path):
    space = load_space(str(write_space(tmp_path)))
    space.constraints = {"params": {"max": 1000}, "macs": {"min": 10}}
    s = sample(space, optuna.trial.FixedTrial({"sk.M": 2, "sk.branches.1.dilation": 2, "stages.0.width_per_group": 4,
                                              "lr": 0.1}), space.data.shape())
    checked = check_sample(space, s)
    assert checked.params > 1000 and checked.reason == f"params {checked.params:,} > max 1,000"
    assert violations(space, 500, 5) == ["macs 5 < min 10"]


def test_the_shufflenet_space_draws_the_presets_it_names():
    """The paper's seed configurations of imagenet_shufflenet_sk.yaml are the _sk presets, costs and all
    (the folder's class count is unknown before it is read: counted here with ImageNet's 1000)."""
    from dataclasses import replace

    from sksearch.model.cost import params_and_macs
    from sksearch.model.presets import preset, stored_costs
    from sksearch.space.overrides import prepare_space
    from sksearch.space.sample import draw_fixed

    space = prepare_space("search_spaces/imagenet_shufflenet_sk.yaml")
    for config, name in zip(space.seed_configs, ("shufflenetv2_0_5x_sk", "shufflenetv2_1_0x_sk")):
        spec = replace(check_sample(space, draw_fixed(space, config, "seed_configs", fill=True)[0]).spec,
                       num_classes=1000)
        assert spec.to_dict() == preset(name).to_dict()
        assert params_and_macs(spec) == tuple(stored_costs()[name].values())


def test_a_width_multiplier_sets_every_stage_width():
    from sksearch.model.presets import shufflenet_widths

    space = load_space("search_spaces/shufflenet_sk_cpu.yaml")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(20):
        trial = study.ask()
        s = sample(space, trial, space.data.shape())
        outs = [st["out_channels"] for st in s.arch["stages"]]
        assert outs == shufflenet_widths(s.params["width_multiplier"], 3) and s.arch["groups"] is None
        assert [st["width"] for st in s.arch["stages"]] == [o // 2 for o in outs]
        assert check_sample(space, s).reason is None
        seen.add((s.params["width_multiplier"], s.arch["block"]))
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    assert {m for m, _ in seen} == {0.25, 0.5} and {b for _, b in seen} == {"resnext", "se", "sk"}


def test_seed_configs_are_all_checked_first_and_each_architecture_costed_once(tmp_path, monkeypatch):
    import pytest

    from sksearch.model import memory
    from sksearch.space import load_space
    from sksearch.space.distributions import SpaceError
    from sksearch.space.sample import check_seed_configs
    from tests.conftest import TINY_SPACE, write_space

    same = "{sk.M: 2, sk.branches.1.dilation: 3, stages.0.width_per_group: 2, lr: %s}"
    seeds = ", ".join(same % (0.01 + i / 10000) for i in range(300))
    space = load_space(str(write_space(tmp_path, text=TINY_SPACE + f"seed_configs: [{seeds}, {{sk.M: 1}}]\n")))
    counted = []
    real = memory.footprint  # a sample's params and MACs are counted with its memory, in one forward
    monkeypatch.setattr(memory, "footprint", lambda spec: counted.append(spec) or real(spec))
    check_seed_configs(space)
    assert len(counted) == 1  # 300 seeds of one architecture; the partial one is not costed
    # A bad value in the last seed is found before any architecture is costed.
    bad = load_space(str(write_space(tmp_path, text=TINY_SPACE + f"seed_configs: [{seeds}, {{sk.M: 7}}]\n")))
    counted.clear()
    with pytest.raises(SpaceError, match=r"seed_configs\[300\]\.sk\.M: must be one of 1, 2"):
        check_seed_configs(bad)
    assert counted == []


TINY_STRIDES = """
name: strides
data: {name: digits, train_size: 400, val_size: 200, canvas: 12, min_scale: 1.0, max_scale: 1.5, seed: 0}
model:
  block: {choice: [resnext, se, sk]}
  stem: cifar
  stem_width: 8
  groups: 2
  se_reduction: 2
  sk: {M: {choice: [1, 2]}, branches: [{kernel: 3, dilation: 1}, {kernel: 3, dilation: 2}], reduction: 2, min_dim: 4}
  stages:
    - {depth: {int: [1, 2]}, width_per_group: 2, out_channels: 8, stride: {choice: [1, 2]}}
train: {batch_size: 16, lr: 0.1, warmup_epochs: 0}
objectives: [accuracy, params]
sampler: {name: random, seed: 0}
scheduler: {name: none, max_epochs: 1}
trials: 2
"""


def test_a_budget_only_the_smallest_network_meets_is_feasible():
    # quickstart_one_shot's smallest network has 26,010 params: 24 random draws never hit it,
    # and the pre-check refused this budget before it tried the smallest.
    from sksearch.errors import UserError
    from sksearch.space.overrides import prepare_space

    space = prepare_space("search_spaces/quickstart_one_shot.yaml", {"constraints.params.max": 27000})
    from sksearch.space.sample import smallest_networks

    ends = smallest_networks(space, space.data.shape())
    assert [(c.params, c.macs, c.reason) for c in ends] == [(26010, 1690880, None)]
    assert ends[0].spec.sk.M == 1 and [s.depth for s in ends[0].spec.stages] == [1, 1, 1]
    with pytest.raises(UserError, match="no network of the space meets the budgets: its smallest has 26,010 params, "
                                        "its cheapest 1,690,880 MACs"):
        prepare_space("search_spaces/quickstart_one_shot.yaml", {"constraints.params.max": 26009})


def test_the_smallest_draw_tries_words_and_strides_both_ways(tmp_path):
    # A searched block and stride: neither has a "low end", so the greedy pass tries each; a
    # stride of 2 costs fewer MACs but a projection shortcut's params, so the two ends differ.
    from sksearch.space.sample import LowDraw, smallest_networks

    space = load_space(write_space(tmp_path, TINY_STRIDES))
    ends = smallest_networks(space, space.data.shape())
    by_params, by_macs = min(ends, key=lambda c: c.params), min(ends, key=lambda c: c.macs)
    draws = []
    for block in ("resnext", "se", "sk"):
        for stride in (1, 2):
            for depth in (1, 2):
                draw = LowDraw({"block": block, "stages.0.stride": stride, "stages.0.depth": depth})
                draws.append(check_sample(space, sample(space, draw, space.data.shape())))
    assert by_params.params == min(c.params for c in draws)
    assert by_macs.macs == min(c.macs for c in draws)
    assert by_macs.spec.stages[0].stride == 2 and by_params.spec.stages[0].stride == 1


def test_a_sample_too_large_for_this_machine_is_rejected_with_its_estimate(tmp_path, monkeypatch):
    from sksearch.model import memory

    space = load_space(str(write_space(tmp_path)))
    s = sample(space, optuna.trial.FixedTrial({"sk.M": 1, "stages.0.width_per_group": 4, "lr": 0.1}),
               space.data.shape())
    fits = check_sample(space, s)
    assert fits.reason is None
    needed = memory.footprint(fits.spec).training_bytes(16)
    monkeypatch.setattr(memory, "memory_of", lambda device="cpu", free=True: (None if free else needed - 1, "x"))
    checked = check_sample(space, s)
    assert (checked.params, checked.macs) == (fits.params, fits.macs)
    assert checked.reason == (f"needs at least {memory.gigabytes(needed)} of memory to train at batch size 16, "
                              f"more than the {memory.gigabytes(needed - 1)} of this machine")


def test_a_space_whose_networks_cannot_fit_in_memory_is_refused_before_it_runs(tmp_path):
    import pytest

    from sksearch.space.distributions import SpaceError
    from sksearch.space.sample import check_feasible
    from tests.conftest import TINY_SPACE

    # No budget at all: only the machine's memory stands in the way of 40-85 billion parameters.
    huge = TINY_SPACE.replace("{depth: 1, width_per_group: {choice: [2, 4]}, out_channels: 8, stride: 2}",
                              "{depth: 1, width: 65536, out_channels: 65536, stride: 1}")
    huge = huge.replace("groups: 2", "groups: 1")
    space = load_space(str(write_space(tmp_path, text=huge)))
    with pytest.raises(SpaceError, match=r"model: none of 24 sampled architectures fits in memory \(the first "
                                         r"refused needs at least [\d,.]+ GB of memory to train at batch size 16"):
        check_feasible(space)
