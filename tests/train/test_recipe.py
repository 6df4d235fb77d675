"""The recipe keys of issue 29 in the trainer: weight averaging (train.ema), the one-cycle
schedule and test-time augmentation (train.tta)."""

import pytest
import torch
from safetensors.torch import load_file

from sksearch.data.digits import make_digits
from sksearch.data.load import make_batches
from sksearch.train.ema import WeightAverage, decay_at
from sksearch.train.loop import evaluate, lr_at, run_trial
from sksearch.train.spec import TrainSpec
from tests.conftest import tiny_spec


def arch():
    return tiny_spec(num_classes=10, in_channels=1, input_size=16)


@pytest.fixture(scope="module")
def batches():
    data = make_digits(200, 100, canvas=16, max_scale=2.0)
    data.augment = "crop_flip"  # so TTA has a mirror to average over
    return make_batches(data, "cpu", 32)


def test_onecycle_rises_to_the_peak_at_a_quarter_then_falls_to_zero():
    spec = TrainSpec(max_epochs=4, lr=0.4, schedule="onecycle")
    steps = 10  # 40 steps: the peak at step 10
    assert lr_at(spec, 0, steps) == pytest.approx(0.04)
    assert lr_at(spec, 5, steps) == pytest.approx(0.04 + 0.36 * 5 / 10)
    assert lr_at(spec, 10, steps) == pytest.approx(0.4)
    assert lr_at(spec, 25, steps) == pytest.approx(0.4 * 15 / 30)
    assert lr_at(spec, 40, steps) == pytest.approx(0.0, abs=1e-12)
    warm = TrainSpec(max_epochs=5, lr=0.4, schedule="onecycle", warmup_epochs=1)
    assert lr_at(warm, 9, steps) == pytest.approx(0.4)       # the warm-up's last step
    assert lr_at(warm, 10, steps) == pytest.approx(0.04)     # then the cycle over the other 40 steps
    assert lr_at(warm, 20, steps) == pytest.approx(0.4)


def test_the_average_equals_a_hand_computed_one():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    avg = WeightAverage(net, decay=0.9, every=2)
    hand = {k: v.clone() for k, v in net.state_dict().items()}
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    for step in range(1, 8):
        loss = net(torch.randn(4, 3)).pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        avg.update(step)
        if step % 2 == 0:
            d = min(0.9, (1 + step) / (10 + step)) ** 2
            for k, v in net.state_dict().items():
                hand[k] = d * hand[k] + (1 - d) * v if v.dtype.is_floating_point else v.clone()
    got = avg.model.state_dict()
    for k in hand:
        torch.testing.assert_close(got[k], hand[k])
    assert got["1.num_batches_tracked"] == 6  # copied at the last update (step 6), not averaged
    assert not torch.equal(got["0.weight"], net.state_dict()["0.weight"])
    assert decay_at(0.999, 0) == pytest.approx(0.1) and decay_at(0.5, 10**6) == 0.5


def test_validation_and_checkpoints_hold_the_averaged_weights_and_a_resume_loses_nothing(batches, tmp_path):
    spec = TrainSpec(max_epochs=2, lr=0.1, seed=3, ema=0.95, ema_every=2, schedule="onecycle")
    full, folders = [], []
    run_trial(arch(), spec, batches, "cpu", lambda m, f: (full.append(m), folders.append(f)),
              checkpoint_dir=str(tmp_path / "full"))
    # The weights file is the average, the state file the trained weights: they differ.
    state = torch.load(tmp_path / "full" / "epoch_0002" / "state.pt", weights_only=True)
    weights = load_file(tmp_path / "full" / "epoch_0002" / "model.safetensors")
    assert set(state["model"]) == set(weights)
    assert any(not torch.equal(state["model"][k], weights[k]) for k in weights)
    # Interrupted after epoch 1, resumed from its checkpoint: the same average and metrics.
    seen = []

    def stop_after_first(m, f):
        seen.append(f)
        if m["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_trial(arch(), spec, batches, "cpu", stop_after_first, checkpoint_dir=str(tmp_path / "part"))
    resumed = []
    run_trial(arch(), spec, batches, "cpu", lambda m, f: resumed.append(m), checkpoint_dir=str(tmp_path / "part"),
              resume_from=seen[0])
    assert [m["accuracy"] for m in resumed] == [m["accuracy"] for m in full[1:]]
    assert [m["loss"] for m in resumed] == pytest.approx([m["loss"] for m in full[1:]], rel=1e-6)
    again = load_file(tmp_path / "part" / "epoch_0002" / "model.safetensors")
    for k in weights:
        torch.testing.assert_close(again[k], weights[k])
    # The val accuracy reported is the averaged model's, not the trained one's.
    net = arch()
    from sksearch.model.network import build

    averaged = build(arch().to_dict())
    averaged.load_state_dict(weights)
    acc, _ = evaluate(averaged, batches, torch.device("cpu"), spec)
    assert acc == full[-1]["accuracy"]
    del net


def test_tta_averages_the_logits_of_the_image_and_its_mirror(batches):
    torch.manual_seed(1)
    from sksearch.model.network import build

    model = build(arch().to_dict()).eval()
    x, y = next(iter(batches.val()))
    views = batches.tta_views(x)
    assert len(views) == 2 and torch.equal(views[1], x.flip(3))
    with torch.no_grad():  # before evaluate, which leaves the model in train mode
        logits = (model(x) + model(x.flip(3))) / 2
    want = logits.argmax(1)
    plain_acc, _ = evaluate(model, batches, torch.device("cpu"), TrainSpec(precision="fp32"))
    tta_acc, tta_loss = evaluate(model.eval(), batches, torch.device("cpu"), TrainSpec(precision="fp32", tta="on"))
    n = len(batches.y_val)
    # the first batch is the whole val set here (eval batches of 512)
    assert len(y) == n and tta_acc == pytest.approx((want == y).float().mean().item())
    assert tta_loss == pytest.approx(torch.nn.functional.cross_entropy(logits, y).item(), rel=1e-5)
    plain_loss = evaluate(model.eval(), batches, torch.device("cpu"), TrainSpec(precision="fp32"))[1]
    assert plain_loss != pytest.approx(tta_loss, rel=1e-6)  # the mirror changed the logits
    assert 0 <= plain_acc <= 1


def test_tta_views_follow_the_sets_augmentation():
    from sksearch.data.batches import shifted

    data = make_digits(40, 20, canvas=16, max_scale=2.0)
    data.augment, data.pad_mode = "crop", "constant"
    b = make_batches(data, "cpu", 8)
    x, _ = next(iter(b.val()))
    views = b.tta_views(x)
    assert len(views) == 3  # the image and two 1 px shifts, no mirror for a crop-only set
    torch.testing.assert_close(views[1][:, :, 1:, 1:], x[:, :, :-1, :-1])
    black = (-b.mean / b.std).view(-1)
    assert torch.allclose(views[1][:, :, 0, :], black) and torch.allclose(views[2][:, :, -1, :], black)
    torch.testing.assert_close(shifted(x, -1, -1, None)[:, :, :-1, :-1], x[:, :, 1:, 1:])
    data.augment = "none"
    assert len(make_batches(data, "cpu", 8).tta_views(x)) == 1
