import math

import pytest

from sksearch.data.digits import make_digits
from sksearch.data.load import make_batches
from sksearch.train.loop import TrialDiverged, lr_at, run_trial
from sksearch.train.spec import TrainSpec
from tests.conftest import tiny_spec


def test_lr_schedule_warms_up_then_decays():
    spec = TrainSpec(max_epochs=4, lr=0.2, warmup_epochs=1, schedule="cosine")
    steps = 10
    assert lr_at(spec, 0, steps) == pytest.approx(0.02)
    assert lr_at(spec, 9, steps) == pytest.approx(0.2)
    assert lr_at(spec, 10, steps) == pytest.approx(0.2)
    assert lr_at(spec, 25, steps) == pytest.approx(0.1)
    assert lr_at(spec, 40, steps) == pytest.approx(0.0, abs=1e-12)
    lin = TrainSpec(max_epochs=2, lr=1.0, schedule="linear")
    assert lr_at(lin, 10, 10) == pytest.approx(0.5)
    assert lr_at(TrainSpec(lr=0.3, schedule="constant"), 99, 10) == 0.3


@pytest.fixture(scope="module")
def batches():
    return make_batches(make_digits(200, 100, canvas=16, max_scale=2.0), "cpu", 32)


def arch():
    return tiny_spec(num_classes=10, in_channels=1, input_size=16)


def test_reports_every_epoch_with_costs_and_checkpoints(batches, tmp_path):
    seen = []
    last = run_trial(arch(), TrainSpec(max_epochs=3, lr=0.1), batches, "cpu",
                     lambda m, f: seen.append((dict(m), f)), checkpoint_dir=str(tmp_path))
    assert [m["epoch"] for m, _ in seen] == [1, 2, 3]
    m = seen[-1][0]
    assert 0 <= m["accuracy"] <= 1 and m["loss"] > 0 and m["params"] > 0 and m["macs"] > 0
    assert m["train_time"] >= seen[0][0]["train_time"] > 0
    assert last == m
    assert (tmp_path / "epoch_0003" / "model.safetensors").exists()


def test_resuming_from_a_checkpoint_equals_an_uninterrupted_run(batches, tmp_path):
    spec = TrainSpec(max_epochs=3, lr=0.1, seed=5)
    full = []
    run_trial(arch(), spec, batches, "cpu", lambda m, f: full.append(m))
    # Train one epoch, then resume from its checkpoint for the remaining two.
    seen = []

    def stop_after_first(m, f):
        seen.append((m, f))
        if m["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_trial(arch(), spec, batches, "cpu", stop_after_first, checkpoint_dir=str(tmp_path))
    resumed = []
    run_trial(arch(), spec, batches, "cpu", lambda m, f: resumed.append(m), resume_from=seen[0][1])
    assert [m["epoch"] for m in resumed] == [2, 3]
    for a, b in zip(full[1:], resumed):
        assert a["accuracy"] == b["accuracy"]
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-6)


def test_a_finished_checkpoint_is_reported_not_retrained(batches, tmp_path):
    spec = TrainSpec(max_epochs=1, lr=0.1)
    seen = []
    run_trial(arch(), spec, batches, "cpu", lambda m, f: seen.append((m, f)), checkpoint_dir=str(tmp_path))
    again = []
    run_trial(arch(), spec, batches, "cpu", lambda m, f: again.append(m), resume_from=seen[0][1])
    assert again == [seen[0][0]]


def test_divergence_raises(batches):
    with pytest.raises(TrialDiverged, match="training loss is nan"):
        run_trial(arch(), TrainSpec(max_epochs=2, lr=1e12, momentum=0.0, weight_decay=0.0), batches, "cpu",
                  lambda m, f: None)


def test_adamw_and_label_smoothing_train(batches, monkeypatch):
    import torch

    from sksearch.train import loop

    optimizers, smoothing = [], []
    make = loop.make_optimizer
    monkeypatch.setattr(loop, "make_optimizer",
                        lambda model, spec: optimizers.append(make(model, spec)) or optimizers[-1])
    entropy = loop.F.cross_entropy

    def spy(*args, **kwargs):
        if kwargs.get("reduction", "mean") == "mean":  # the training loss (evaluation sums)
            smoothing.append(kwargs.get("label_smoothing", 0.0))
        return entropy(*args, **kwargs)

    monkeypatch.setattr(loop.F, "cross_entropy", spy)
    seen = []
    run_trial(arch(), TrainSpec(max_epochs=2, optimizer="adamw", lr=3e-3, weight_decay=0.05, label_smoothing=0.1),
              batches, "cpu", lambda m, f: seen.append(m))
    assert math.isfinite(seen[-1]["loss"])
    # It learned: the training loss fell clearly over the two epochs (an optimizer that never
    # stepped, or stepped the wrong way, leaves it where it was).
    assert seen[-1]["train_loss"] < seen[0]["train_loss"] - 0.02
    # What the recipe names is what trained: AdamW, decay on the weights only, smoothed targets.
    assert len(optimizers) == 1 and isinstance(optimizers[0], torch.optim.AdamW)
    assert [g["weight_decay"] for g in optimizers[0].param_groups] == [0.05, 0.0]
    assert smoothing and set(smoothing) == {0.1}


def test_a_trial_that_cannot_fit_in_its_device_memory_is_refused_before_it_is_built(monkeypatch):
    from sksearch.errors import UserError
    from sksearch.model import memory
    from sksearch.train.loop import check_training_fits

    spec, fp = tiny_spec(), memory.footprint(tiny_spec())
    sgd, adamw = TrainSpec(batch_size=32), TrainSpec(batch_size=32, optimizer="adamw")
    room = fp.training_bytes(32, "sgd")
    monkeypatch.setattr(memory, "memory_of", lambda device="cpu", free=True: (room, "available on this machine"))
    check_training_fits(spec, sgd, "cpu", "trial 3")
    # AdamW's second moment is one copy of the weights more than the memory holds.
    with pytest.raises(UserError, match=r"^trial 3: its [\d,]+ parameters trained at batch size 32 need at least"):
        check_training_fits(spec, adamw, "cpu", "trial 3")
    # bf16 halves the activations a step saves.
    monkeypatch.setattr(memory, "memory_of", lambda device="cpu", free=True: (room - fp.saved * 32 * 2, "x"))
    check_training_fits(spec, TrainSpec(batch_size=32, precision="bf16"), "cpu", "trial 3")
    with pytest.raises(UserError):
        check_training_fits(spec, sgd, "cpu", "trial 3")


def test_every_epoch_reports_the_process_peak_resident_memory(batches):
    """``peak_rss`` is the process's resident peak in bytes (Linux's ru_maxrss is in KiB): at
    least what the process held before the trial, and it covers a buffer the trial allocated."""
    import resource

    import numpy as np

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    big = 64 * 2**20  # held through the trial, more than a tiny trial's own peak

    def report(m, f):
        held.fill(1)  # touched, so it is resident
        seen.append(m["peak_rss"])
        keys.update(m)

    keys = set()
    seen = []
    held = np.zeros(before // 8 + big // 8)  # the resident peak must grow past `before + big`
    run_trial(arch(), TrainSpec(max_epochs=2, lr=0.1), batches, "cpu", report)
    assert len(seen) == 2 and all(isinstance(v, int) for v in seen)
    assert seen[0] <= seen[1]  # a peak never goes down
    assert seen[-1] >= before + big
    assert "peak_memory" not in keys  # the GPU figure stays CUDA's
