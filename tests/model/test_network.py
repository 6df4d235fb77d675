import pytest
import torch
from torch import nn

from sksearch.model.network import SKConv, SKNet, build, conv_bn, read_safetensors
from sksearch.model.presets import PRESETS
from tests.conftest import tiny_spec


def sk(channels=8, branches=((3, 1), (3, 2)), **kw) -> SKConv:
    return SKConv(channels, groups=kw.pop("groups", 4), branches=branches, reduction=kw.pop("reduction", 2),
                  min_dim=kw.pop("min_dim", 4), **kw)


def attention_of(layer: SKConv, x: torch.Tensor) -> torch.Tensor:
    seen = []
    handle = layer.attention.register_forward_hook(lambda m, i, o: seen.append(o))
    layer(x)
    handle.remove()
    assert len(seen) == 1
    return seen[0]


@pytest.mark.parametrize("branches", [((3, 1), (3, 2)), ((3, 1), (5, 1), (3, 3)), ((1, 1), (3, 1), (3, 2), (5, 2))])
def test_attention_shape_nonnegative_and_sums_to_one(branches):
    layer = sk(branches=branches)
    a = attention_of(layer, torch.randn(5, 8, 9, 9))
    assert a.shape == (5, len(branches), 8)
    assert (a >= 0).all()
    torch.testing.assert_close(a.sum(1), torch.ones(5, 8))


def test_output_is_attention_weighted_sum_of_branches():
    layer = sk().eval()
    x = torch.randn(2, 8, 7, 7)
    a = attention_of(layer, x)
    feats = [b(x) for b in layer.branches]
    expected = sum(a[:, i, :, None, None] * f for i, f in enumerate(feats))
    torch.testing.assert_close(layer(x), expected)


def test_fuse_width_is_max_of_c_over_r_and_l():
    assert sk(channels=64, reduction=16, min_dim=32).fuse[0].out_features == 32
    assert sk(channels=1024, reduction=16, min_dim=32, groups=32).fuse[0].out_features == 64
    assert sk(channels=64, reduction=4, min_dim=8).select.out_features == 2 * 64


def test_single_branch_is_a_plain_conv_bn_relu():
    layer = sk(branches=((3, 1),)).eval()
    plain = conv_bn(8, 8, 3, groups=4).eval()
    plain.load_state_dict(layer.branches[0].state_dict())
    assert not hasattr(layer, "fuse") and not hasattr(layer, "select")
    x = torch.randn(2, 8, 6, 6)
    torch.testing.assert_close(layer(x), plain(x))
    assert sum(p.numel() for p in layer.parameters()) == sum(p.numel() for p in plain.parameters())


def test_gradients_reach_every_branch_and_the_attention():
    layer = sk(branches=((3, 1), (3, 2), (5, 1)))
    layer(torch.randn(4, 8, 8, 8)).square().mean().backward()
    for branch in layer.branches:
        assert branch[0].weight.grad is not None and branch[0].weight.grad.abs().sum() > 0
    assert layer.select.weight.grad.abs().sum() > 0
    assert layer.fuse[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("kernel,dilation", [(1, 1), (3, 1), (3, 2), (3, 3), (5, 2), (7, 1)])
def test_dilation_and_kernel_keep_spatial_size(kernel, dilation):
    layer = sk(branches=((3, 1), (kernel, dilation)))
    assert layer(torch.randn(2, 8, 11, 13)).shape == (2, 8, 11, 13)


@pytest.mark.parametrize("size,expected", [(16, 8), (15, 8), (9, 5)])
def test_stride_applies_to_every_branch(size, expected):
    layer = sk(stride=2)
    assert all(b[0].stride == (2, 2) for b in layer.branches)
    assert layer(torch.randn(2, 8, size, size)).shape == (2, 8, expected, expected)


def test_eval_mode_is_deterministic():
    layer = sk()
    x = torch.randn(3, 8, 8, 8)
    layer(x)  # one training step's statistics, so that the running ones are not the identity
    layer.eval()
    buffers = {k: v.clone() for k, v in layer.state_dict().items()}
    torch.testing.assert_close(layer(x), layer(x), rtol=0, atol=0)
    # Eval mode normalises with the running statistics: a sample's output does not depend on
    # the rest of its batch (batch statistics would make it), and nothing is updated.
    torch.testing.assert_close(layer(x)[:1], layer(x[:1]), rtol=1e-5, atol=1e-6)
    assert all(torch.equal(v, layer.state_dict()[k]) for k, v in buffers.items())
    assert not torch.allclose(layer.train()(x), layer.eval()(x))  # train mode normalises by the batch


def test_attention_costs_nothing_unless_asked():
    net = build(tiny_spec().to_dict())
    units = dict(net.sk_units())
    assert all(len(u.attention._forward_hooks) == 0 for u in units.values())
    with net.record_attention() as rec:
        net(torch.randn(2, 3, 16, 16))
        assert all(len(u.attention._forward_hooks) == 1 for u in units.values())
    assert all(len(u.attention._forward_hooks) == 0 for u in units.values())
    assert set(rec) == {"SK_2_1", "SK_3_1", "SK_3_2"}
    assert rec["SK_3_2"][0].shape == (2, 2, 16)


@pytest.mark.parametrize("block", ["resnext", "se", "sk"])
def test_block_kinds_have_their_parts(block):
    net = build(tiny_spec(block).to_dict())
    unit = net.stages[0][0]
    assert isinstance(unit.conv2, SKConv) == (block == "sk")
    assert (unit.se is not None) == (block == "se")
    if block != "sk":
        assert unit.conv2[0].groups == 4 and unit.conv2[0].kernel_size == (3, 3)


def test_per_stage_overrides_reach_the_layers():
    from sksearch.model.spec import SKSpec, StageSpec
    spec = tiny_spec().replace(stages=(
        StageSpec(1, 8, 16, 1, groups=2, sk=SKSpec(((3, 1), (5, 1), (3, 3)), 2, 4)),
        StageSpec(1, 16, 32, 2),
    ))
    net = build(spec.to_dict())
    first, second = net.stages[0][0].conv2, net.stages[1][0].conv2
    assert first.kernel_dilations == [(3, 1), (5, 1), (3, 3)] and first.branches[0][0].groups == 2
    assert second.kernel_dilations == [(3, 1), (3, 2)] and second.branches[0][0].groups == 4


# timm's habit: every preset and block kind goes through forward and backward. ImageNet
# presets run at 32 px (1x1 final maps) and CIFAR ones at 16 px to keep this cheap.
@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_runs_forward_and_backward(name):
    spec = PRESETS[name]()
    size = 16 if spec.stem == "cifar" else 32
    net = build(spec.replace(input_size=size, num_classes=7).to_dict())
    out = net(torch.randn(2, 3, size, size))
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    out.sum().backward()
    first_conv = next(m for m in net.stem.modules() if isinstance(m, torch.nn.Conv2d))
    assert first_conv.weight.grad.abs().sum() > 0
    assert isinstance(net, SKNet)


def test_channels_last_matches_contiguous():
    net = build(tiny_spec().to_dict()).eval()
    x = torch.randn(2, 3, 16, 16)
    ref = net(x)
    net_cl = net.to(memory_format=torch.channels_last)
    torch.testing.assert_close(net_cl(x.to(memory_format=torch.channels_last)), ref, rtol=1e-4, atol=1e-5)


def test_safetensors_reader_matches_the_library(tmp_path):
    from safetensors.torch import load_file, save_file
    tensors = {"f32": torch.randn(3, 4), "i64": torch.tensor(7), "bf16": torch.randn(2).bfloat16(),
               "u8": torch.arange(5, dtype=torch.uint8), "empty": torch.zeros(0, 3), "b": torch.tensor([True, False])}
    save_file(tensors, tmp_path / "t.safetensors")
    ours, theirs = read_safetensors(str(tmp_path / "t.safetensors")), load_file(tmp_path / "t.safetensors")
    assert set(ours) == set(theirs)
    for k in theirs:
        assert ours[k].dtype == theirs[k].dtype and ours[k].shape == theirs[k].shape
        assert torch.equal(ours[k], theirs[k])


@pytest.mark.parametrize("kernel,dilation,stride", [(3, 2, 1), (3, 2, 2), (3, 3, 1), (3, 3, 3), (5, 2, 1), (3, 2, 3),
                                                    (3, 1, 2), (1, 1, 2), (1, 1, 3)])
@pytest.mark.parametrize("size", [8, 9, 11])
def test_polyphase_conv_equals_the_stock_conv(kernel, dilation, stride, size):
    from sksearch.model.network import PolyphaseConv2d
    pad = dilation * (kernel - 1) // 2
    conv = PolyphaseConv2d(8, 8, kernel, stride, pad, dilation, groups=4, bias=True)
    assert conv.padding == (pad, pad)
    ref = nn.Conv2d(8, 8, kernel, stride, pad, dilation, groups=4, bias=True)
    ref.load_state_dict(conv.state_dict())
    x = torch.randn(2, 8, size, size + 1)
    xc = x.contiguous(memory_format=torch.channels_last).requires_grad_()
    xr = x.clone().requires_grad_()
    out, expected = conv(xc), ref(xr)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
    out.square().sum().backward()
    expected.square().sum().backward()
    torch.testing.assert_close(xc.grad, xr.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(conv.weight.grad, ref.weight.grad, rtol=1e-4, atol=1e-3)


def test_polyphase_path_counts_the_same_macs():
    from sksearch.model.cost import count_macs
    net = build(tiny_spec().to_dict())
    nchw = count_macs(net, (2, 3, 16, 16))
    net_cl = net.to(memory_format=torch.channels_last)
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net_cl.eval()(torch.zeros(2, 3, 16, 16).contiguous(memory_format=torch.channels_last))
    assert counter.get_total_flops() // 2 == nchw


def test_strided_pointwise_conv_survives_one_thread_in_channels_last():
    """torch 2.13's oneDNN corrupts the heap in this backward with one thread; sksearch's
    PolyphaseConv2d takes a slice first. Run in a subprocess: the bug kills the process."""
    import subprocess
    import sys

    code = """
import torch
torch.set_num_threads(1)
from sksearch.model.network import PolyphaseConv2d
conv = PolyphaseConv2d(4, 8, 1, 2, bias=False)
for _ in range(300):
    x = torch.randn(16, 4, 12, 12).contiguous(memory_format=torch.channels_last).requires_grad_()
    conv(x).square().sum().backward()
print("survived")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "survived" in proc.stdout, proc.stderr[-2000:]
