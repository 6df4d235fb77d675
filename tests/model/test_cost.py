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
