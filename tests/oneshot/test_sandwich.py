"""The supernet's training on the epoch engine, in process: a resume from an epoch's checkpoint
ends with the weights, optimizer and metrics of an uninterrupted run, and the training loss it
reports is the largest subnet's alone (with or without distillation)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from sksearch.data.load import load_data, make_batches
from sksearch.oneshot import sandwich
from sksearch.oneshot.sandwich import SandwichSettings, recipe, train_supernet
from sksearch.space import load_space
from tests.conftest import TINY_SPACE, write_space

DATA = "data: {name: digits, train_size: 64, val_size: 32, canvas: 12, min_scale: 1.0, max_scale: 1.5, seed: 0}"
ONE_SHOT = "strategy: {name: one_shot, supernet_epochs: 2, subnets: 4, calibration_batches: 2}\n"


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sandwich")
    space = load_space(str(write_space(tmp, TINY_SPACE + ONE_SHOT, data=DATA)))
    data = load_data(space.data, test=False)
    return space, data


def _train(setting, report, distill=True, **kwargs):
    space, data = setting
    train = recipe(space, space.strategy.supernet_epochs)
    batches = make_batches(data, "cpu", train.batch_size, seed=train.seed, channels_last=train.uses_channels_last)
    return train_supernet(space, space.data.shape(data.num_classes), batches, "cpu", report,
                          SandwichSettings(distill, space.strategy.calibration_batches),
                          space.strategy.supernet_epochs, **kwargs)


def test_a_resumed_supernet_training_ends_where_an_uninterrupted_one_does(setting, tmp_path):
    full = []
    _train(setting, lambda m, f: full.append(m), checkpoint_dir=str(tmp_path / "full"))
    assert [m["epoch"] for m in full] == [1, 2]
    assert {"accuracy", "loss", "accuracy_smallest", "loss_smallest", "train_loss", "lr", "peak_rss"} <= set(full[1])

    folders = []

    def stop_after_first(m, f):
        folders.append(f)
        if m["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(setting, stop_after_first, checkpoint_dir=str(tmp_path / "part"))
    resumed = []
    _train(setting, lambda m, f: resumed.append(m), checkpoint_dir=str(tmp_path / "part"), resume_from=folders[0])
    assert [m["epoch"] for m in resumed] == [2]
    # The same random subnets drawn, the same schedule: bit-identical weights and optimizer state.
    want = load_file(tmp_path / "full" / "epoch_0002" / "model.safetensors")
    got = load_file(tmp_path / "part" / "epoch_0002" / "model.safetensors")
    assert set(want) == set(got) and all(torch.equal(want[k], got[k]) for k in want)
    for key in ("accuracy", "loss", "accuracy_smallest", "loss_smallest", "train_loss", "lr"):
        assert resumed[0][key] == full[1][key], key
    # A finished checkpoint is reported again, not trained again.
    again = []
    _train(setting, lambda m, f: again.append((m, f)), resume_from=str(tmp_path / "full" / "epoch_0002"))
    assert len(again) == 1 and again[0][0]["epoch"] == 2 and again[0][0]["train_loss"] == full[1]["train_loss"]


@pytest.mark.parametrize("distill", [True, False])
def test_the_training_loss_is_the_largest_subnets_alone(setting, monkeypatch, distill):
    """Each step trains the largest subnet first; the epoch's ``train_loss`` is the mean of its
    losses. Without distillation every subnet's loss is on the labels, and they were all summed
    into the figure (four subnets' losses reported as the largest one's)."""
    entropy = sandwich.F.cross_entropy
    losses = []

    def spy(*args, **kwargs):
        out = entropy(*args, **kwargs)
        if kwargs.get("reduction", "mean") == "mean":  # training (evaluation sums)
            losses.append(out.item())
        return out

    monkeypatch.setattr(sandwich.F, "cross_entropy", spy)
    seen = []
    _train(setting, lambda m, f: seen.append(m), distill=distill)
    per_step = 2 + sandwich.RANDOM_PER_STEP
    steps = len(losses) // (per_step * len(seen))
    first_epoch = losses[: steps * per_step]
    largest = first_epoch[::per_step]
    assert len(largest) == steps > 1
    assert seen[0]["train_loss"] == pytest.approx(sum(largest) / steps, rel=1e-5)
