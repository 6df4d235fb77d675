"""``train.compile`` on the CPU: a compiled trial learns what the eager one learns, and a
second trial of the same architecture reuses the compiled module instead of compiling again."""

import pytest

from sksearch.data.digits import make_digits
from sksearch.data.load import make_batches
from sksearch.train import compiled as compiled_module
from sksearch.train.compiled import AUTO_MIN_STEPS, wants_compile
from sksearch.train.loop import run_trial
from sksearch.train.spec import TrainSpec
from tests.conftest import tiny_spec


def test_auto_compiles_only_long_cuda_trials():
    import torch

    auto, on, off = TrainSpec(), TrainSpec(compile="on"), TrainSpec(compile="off")
    assert not wants_compile(torch.device("cpu"), auto, 10**6)
    assert wants_compile(torch.device("cuda"), auto, AUTO_MIN_STEPS)
    assert not wants_compile(torch.device("cuda"), auto, AUTO_MIN_STEPS - 1)
    assert wants_compile(torch.device("cpu"), on, 1) and not wants_compile(torch.device("cuda"), off, 10**6)


# Slow (a minute of compiling on 2 cores) and off the default suite's 15 minutes: trials compile
# only on CUDA unless a space asks (`train.compile: on`). `pytest -m slow` runs it.
@pytest.mark.slow
def test_compiled_and_eager_trials_compute_the_same_steps():
    """Five SGD steps from the same seed on the same batches: the compiled trial's losses equal
    the eager one's to float tolerance. (Comparing accuracies after training would compare two
    chaotic trajectories, near chance on this tiny set, and depend on the thread count.)"""
    batches = make_batches(make_digits(160, 100, canvas=16, max_scale=1.5), "cpu", 32)
    arch = tiny_spec(num_classes=10, in_channels=1, input_size=16)
    compiled_module.clear()
    runs = {}
    for mode in ("off", "on", "on"):  # the second compiled trial finds the module compiled
        before = dict(compiled_module.stats)
        runs.setdefault(mode, []).append(run_trial(arch, TrainSpec(max_epochs=1, lr=0.1, seed=3, compile=mode),
                                                   batches, "cpu", lambda m, f: None))
        runs[mode][-1]["delta"] = {k: compiled_module.stats[k] - before[k] for k in before}
    eager, (first, second) = runs["off"][0], runs["on"]
    assert eager["delta"] == {"compiled": 0, "reused": 0}
    assert first["delta"] == {"compiled": 1, "reused": 0} and second["delta"] == {"compiled": 0, "reused": 1}
    for run in (first, second):
        # Measured: 1e-5 apart on the val loss, 3e-4 on the mean train loss, 1 or 2 threads.
        assert run["loss"] == pytest.approx(eager["loss"], rel=1e-3)
        assert run["train_loss"] == pytest.approx(eager["train_loss"], rel=2e-3)
    # The reused module starts from the seeded weights again, not from the first trial's.
    assert second["train_loss"] == pytest.approx(first["train_loss"], rel=1e-5)
    assert second["loss"] == pytest.approx(first["loss"], rel=1e-5)
    compiled_module.clear()
