"""The epoch engine with a toy step function: a report and a checkpoint per epoch, the
schedule's learning rate at every step, a resume at an epoch boundary that ends bit-identical
to an uninterrupted run, and a diverging loss stopped with its epoch named."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from sksearch.train.engine import Training, TrialDiverged, lr_at, make_optimizer, train_epochs
from sksearch.train.spec import TrainSpec

STEPS = 5
DEVICE = torch.device("cpu")


class ToyBatches:
    """``STEPS`` batches an epoch, drawn from the epoch alone (as the package's batches are)."""

    def steps_per_epoch(self) -> int:
        return STEPS

    def train(self, epoch: int):
        gen = torch.Generator().manual_seed(epoch)
        for _ in range(STEPS):
            x = torch.randn(8, 4, generator=gen)
            yield x, (x.sum(1) > 0).long()


def _training(spec: TrainSpec, lrs: list[float] | None = None, poison_at: int | None = None) -> Training:
    from sksearch.train.ema import WeightAverage

    torch.manual_seed(spec.seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6), torch.nn.ReLU(), torch.nn.Linear(6, 2))
    optimizer = make_optimizer(model, spec)
    averaged = WeightAverage(model, spec.ema, spec.ema_every) if spec.ema > 0 else None

    def epoch_step(epoch: int):
        def step(x, y):
            if lrs is not None:
                lrs.append(optimizer.param_groups[0]["lr"])
            loss = F.cross_entropy(model(x), y)
            if epoch == poison_at:
                loss = loss * float("nan")
            loss.backward()
            return loss

        return step

    def evaluate():
        return {"weight_sum": float(sum(p.detach().sum() for p in model.parameters()))}

    return Training(model, optimizer, spec, epoch_step, evaluate, averaged)


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_a_resume_at_an_epoch_boundary_ends_bit_identical_to_an_uninterrupted_run(tmp_path, ema):
    spec = TrainSpec(max_epochs=4, lr=0.2, warmup_epochs=1, schedule="onecycle", ema=ema, ema_every=2)
    full = []
    straight = _training(spec)
    train_epochs(straight, ToyBatches(), DEVICE, lambda m, f: full.append(m), {"base": 1}, str(tmp_path / "full"))

    folders, part = [], []

    def stop_after_second(m, f):
        folders.append(f)
        part.append(m)
        if m["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_epochs(_training(spec), ToyBatches(), DEVICE, stop_after_second, {"base": 1}, str(tmp_path / "part"))
    resumed, run = [], _training(spec)
    last = train_epochs(run, ToyBatches(), DEVICE, lambda m, f: resumed.append(m), {"base": 1},
                        str(tmp_path / "part"), resume_from=folders[1])
    assert [m["epoch"] for m in resumed] == [3, 4] and last == resumed[-1]
    for a, b in zip(straight.model.state_dict().values(), run.model.state_dict().values()):
        assert torch.equal(a, b)
    want = load_file(tmp_path / "full" / "epoch_0004" / "model.safetensors")
    got = load_file(tmp_path / "part" / "epoch_0004" / "model.safetensors")
    assert all(torch.equal(want[k], got[k]) for k in want)
    if ema:  # the weights file is the average, which the resume carried on as well
        assert any(not torch.equal(want[k], straight.model.state_dict()[k]) for k in want)
    for key in ("weight_sum", "train_loss", "lr"):
        assert [m[key] for m in resumed] == [m[key] for m in full[2:]], key
    assert resumed[0]["train_time"] > part[1]["train_time"]  # summed over the epochs before the resume too


def test_a_report_and_a_checkpoint_per_epoch_with_the_schedules_lr_at_every_step(tmp_path):
    spec = TrainSpec(max_epochs=3, lr=0.3, warmup_epochs=0.4, schedule="cosine")
    seen, lrs = [], []
    train_epochs(_training(spec, lrs), ToyBatches(), DEVICE, lambda m, f: seen.append((m, f)), {"params": 7},
                 str(tmp_path))
    assert [m["epoch"] for m, _ in seen] == [1, 2, 3]
    assert [f for _, f in seen] == [str(tmp_path / f"epoch_{e:04d}") for e in (1, 2, 3)]
    assert all((tmp_path / f"epoch_{e:04d}" / "state.pt").exists() for e in (1, 2, 3))
    assert lrs == [lr_at(spec, i, STEPS) for i in range(3 * STEPS)]
    m = seen[-1][0]
    assert list(m)[:3] == ["params", "epoch", "weight_sum"]  # base, the epoch, the evaluation, then the engine's
    assert m["params"] == 7 and m["lr"] == lr_at(spec, 3 * STEPS - 1, STEPS)
    assert m["epoch_time"] >= m["train_time"] - seen[-2][0]["train_time"] > 0
    assert isinstance(m["peak_rss"], int) and "peak_memory" not in m  # the GPU figure stays CUDA's
    # Without a checkpoint folder the report carries None; a finished checkpoint is reported again, untrained.
    none = []
    train_epochs(_training(TrainSpec(max_epochs=1)), ToyBatches(), DEVICE, lambda m, f: none.append(f))
    assert none == [None]
    again, lrs = [], []
    assert train_epochs(_training(spec, lrs), ToyBatches(), DEVICE, lambda m, f: again.append((m, f)),
                        resume_from=seen[-1][1]) == m
    assert again == [(m, seen[-1][1])] and lrs == []


def test_the_epoch_loss_is_the_mean_of_the_steps_losses(tmp_path):
    spec = TrainSpec(max_epochs=1, lr=0.0, momentum=0.0)  # lr 0: every step sees the initial weights
    seen = []
    training = _training(spec)
    train_epochs(training, ToyBatches(), DEVICE, lambda m, f: seen.append(m))
    with torch.no_grad():
        training.model.train()
        want = sum(F.cross_entropy(training.model(x), y).item() for x, y in ToyBatches().train(1)) / STEPS
    assert seen[0]["train_loss"] == pytest.approx(want, rel=1e-5)


def test_a_diverging_loss_stops_at_its_epoch_before_its_report_and_checkpoint(tmp_path):
    seen = []
    with pytest.raises(TrialDiverged, match=r"^the toy's loss is nan at epoch 2$"):
        training = replace(_training(TrainSpec(max_epochs=3), poison_at=2), loss_name="the toy's loss")
        train_epochs(training, ToyBatches(), DEVICE, lambda m, f: seen.append(m), checkpoint_dir=str(tmp_path))
    assert [m["epoch"] for m in seen] == [1] and math.isfinite(seen[0]["train_loss"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_0001"]
