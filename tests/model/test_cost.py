import torch

from sksearch.model.cost import count_macs, count_params, params_and_macs, spec_latency
from sksearch.model.network import build
from sksearch.model.spec import ArchSpec, SKSpec, StageSpec

# One SK unit on an 8x8 input, counted by hand:
#   stem 3x3 3->4: 108 w + 8 bn        conv1 1x1 4->4: 16 + 8
#   two branches, 3x3 4->4 in 2 groups: 2 x (72 + 8)
#   fuse d = max(4 // 2, 2) = 2: 8 + 4     select 2 -> 2*4: 16
#   conv3 1x1 4->8: 32 + 16     shortcut 1x1 4->8: 32 + 16     fc 8->3: 24 + 3
HAND = ArchSpec(
    stages=(StageSpec(depth=1, width=4, out_channels=8, stride=1),), block="sk", stem="cifar",
    stem_width=4, groups=2, sk=SKSpec(((3, 1), (3, 2)), reduction=2, min_dim=2), num_classes=3,
    in_channels=3, input_size=8,
)
HAND_PARAMS = 116 + 24 + 160 + 12 + 16 + 48 + 48 + 27
# Per-pixel MACs x 64 pixels for the convs at 8x8, plus the 1x1 fuse/select and the fc (no bias).
HAND_MACS = (108 + 16 + 2 * 72 + 32 + 32) * 64 + 8 + 16 + 24


def test_hand_counted_spec():
    assert params_and_macs(HAND) == (HAND_PARAMS, HAND_MACS)


def test_meta_count_equals_a_real_model_count():
    model = build(HAND.to_dict())
    assert count_params(model) == HAND_PARAMS
    assert count_macs(model, (1, 3, 8, 8)) == HAND_MACS
    assert model.training  # counting leaves the mode as it was


def test_a_small_net_counted_on_the_cpu_gives_the_meta_count_and_leaves_the_generator_alone(monkeypatch):
    from sksearch.model import cost
    from sksearch.model.cost import input_shape, meta_model

    spec = HAND.replace(input_size=16, stages=(StageSpec(depth=2, width=8, out_channels=16, stride=2),))
    meta = count_macs(meta_model(spec), input_shape(spec))
    torch.manual_seed(5)
    before = torch.get_rng_state()
    assert params_and_macs(spec)[1] == meta and params_and_macs(spec)[0] < cost.CPU_COUNT_MAX_PARAMS
    assert torch.equal(torch.get_rng_state(), before)
    # Above the bound the net is built once (on the meta device), and the count is the same.
    built = []
    monkeypatch.setattr(cost, "build", lambda *a: built.append(a) or build(*a))
    params_and_macs(spec)
    assert len(built) == 2
    built.clear()
    monkeypatch.setattr(cost, "CPU_COUNT_MAX_PARAMS", 10)
    assert params_and_macs(spec)[1] == meta and len(built) == 1
    # A caller that knows the net fits in memory (a subnet) skips the meta build that sizes it.
    built.clear()
    assert params_and_macs(spec, fits_memory=True) == params_and_macs(spec) and len(built) == 2


def test_macs_scale_with_input_area_and_batch():
    _, small = params_and_macs(HAND)
    _, big = params_and_macs(HAND.replace(input_size=16))
    per_pixel = 108 + 16 + 2 * 72 + 32 + 32
    assert big - small == per_pixel * (256 - 64)
    assert count_macs(build(HAND.to_dict()), (2, 3, 8, 8)) == 2 * HAND_MACS


def test_dilation_does_not_change_macs_but_kernel_size_does():
    base = params_and_macs(HAND)[1]
    dilated = params_and_macs(HAND.replace(sk=SKSpec(((3, 1), (3, 3)), 2, 2)))[1]
    wider = params_and_macs(HAND.replace(sk=SKSpec(((3, 1), (5, 1)), 2, 2)))[1]
    assert dilated == base
    assert wider - base == (4 * 2 * 25 - 72) * 64


def test_latency_is_a_positive_median():
    ms = spec_latency(HAND, batch_size=2, warmup=1, repeats=3)
    assert 0 < ms < 1000


def test_a_branch_with_its_own_groups_costs_what_its_groups_say():
    # The second branch depthwise (4 groups): 3x3 weights 4 x 1 x 9 = 36 instead of 72.
    spec = HAND.replace(sk=SKSpec(((3, 1), (3, 2, 4)), reduction=2, min_dim=2))
    assert params_and_macs(spec) == (HAND_PARAMS - 36, HAND_MACS - 36 * 64)
    # A branch with groups 1 (a dense 3x3, 144 weights) beside the G=2 one.
    spec = HAND.replace(sk=SKSpec(((3, 1, 1), (3, 2)), reduction=2, min_dim=2))
    assert params_and_macs(spec) == (HAND_PARAMS + 72, HAND_MACS + 72 * 64)


def test_select_sum_drops_the_fuse_and_select_fcs_and_nothing_else():
    # No fuse fc (8 weights + 4 BN) and no select fc (16): 28 params, 8 + 16 MACs fewer.
    spec = HAND.replace(sk=SKSpec(((3, 1), (3, 2)), reduction=2, min_dim=2, select="sum"))
    assert params_and_macs(spec) == (HAND_PARAMS - 28, HAND_MACS - 24)
    net = build(spec.to_dict()).eval()
    conv = net.stages[0][0].conv2
    assert not conv.attends and not hasattr(conv, "fuse")
    x = torch.randn(2, 4, 8, 8)
    torch.testing.assert_close(conv(x), conv.branches[0](x) + conv.branches[1](x))


def test_any_m_and_kernels_per_stage_are_counted():
    # Stage 2 with M = 3 (3x3, 5x5, 3x3 d3) where the network has M = 2: the 5x5 branch adds
    # 4 x 2 x 25 = 200 weights + 8 BN, the select fc grows from 2 -> 8 to 2 -> 12 (+8).
    two = HAND.replace(stages=HAND.stages * 2)
    three = two.replace(stages=(two.stages[0], StageSpec(1, 4, 8, 1, sk=SKSpec(((3, 1), (5, 1), (3, 3)), 2, 2))))
    (p2, m2), (p3, m3) = params_and_macs(two), params_and_macs(three)
    assert (p3 - p2, m3 - m2) == (200 + 8 + 8, 200 * 64 + 8)


def test_shufflenet_unit_counted_by_hand():
    # 8x8 input. Stem 3x3/2 3->4 (108 + 8 BN) at 4x4, max pool to 2x2. One two-branch unit,
    # 4 -> 8 channels, stride 2 (outputs at 1x1):
    #   projection: depthwise 3x3/2 on 4 (36 + 8), 1x1 4->4 (16 + 8)
    #   main: 1x1 4->2 at 2x2 (8 + 4), depthwise 3x3/2 on 2 (18 + 4), 1x1 2->4 (8 + 8)
    # head 1x1 8->16 (128 + 32), fc 16->3 (48 + 3).
    spec = ArchSpec(stages=(StageSpec(1, 2, 8, 2),), family="shufflenetv2", groups=None, block="resnext",
                    stem="shufflenet", stem_width=4, head_width=16, num_classes=3, input_size=8)
    params = 116 + (44 + 24) + (12 + 22 + 16) + 160 + 51
    macs = 108 * 16 + (36 + 16) + (8 * 4 + 18 + 8) + 128 + 48
    assert params_and_macs(spec) == (params, macs)
    # As SK with select sum: each depthwise conv gets a second (dilated) branch with its BN+ReLU.
    sk = spec.replace(block="sk", sk=SKSpec(((3, 1), (3, 2)), select="sum"))
    assert params_and_macs(sk) == (params + (36 + 8) + (18 + 4), macs + 36 + 18)


def test_sksearch_cost_of_a_spec_file_gives_the_hand_counts(tmp_path, capsys):
    """The command users run: per-branch groups and select: sum in one spec file."""
    import json

    from sksearch.cli import main

    spec = HAND.replace(sk=SKSpec(((3, 1), (3, 2, 4)), reduction=2, min_dim=2, select="sum"))
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec.to_dict()))
    assert main(["cost", str(path), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert (got["params"], got["macs"]) == (HAND_PARAMS - 36 - 28, HAND_MACS - 36 * 64 - 24)
