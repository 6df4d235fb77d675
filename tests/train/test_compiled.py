"""``train.compile`` on the CPU: a compiled trial learns what the eager one learns, and a
second trial of the same architecture reuses the compiled module instead of compiling again."""

import pytest

from sksearch.data.digits import make_digits
from sksearch.data.load import make_batches
from sksearch.train import compiled as compiled_module
from sksearch.train.compiled import (
    AUTO_MIN_STEPS,
    AUTO_MIN_STEPS_CPU,
    CPU_COMPILE_S,
    CPU_SAVED_PER_STEP_S,
    wants_compile,
)
from sksearch.train.loop import run_trial
from sksearch.train.spec import TrainSpec
from tests.conftest import tiny_spec


def test_auto_compiles_trials_long_enough_to_pay_and_architectures_compiled_already():
    import torch

    auto, on, off = TrainSpec(), TrainSpec(compile="on"), TrainSpec(compile="off")
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert wants_compile(cuda, auto, AUTO_MIN_STEPS) and not wants_compile(cuda, auto, AUTO_MIN_STEPS - 1)
    # The CPU compiles for minutes: its threshold is higher, and weighs compile cost against steps.
    assert AUTO_MIN_STEPS_CPU == 2 * round(CPU_COMPILE_S / CPU_SAVED_PER_STEP_S) > AUTO_MIN_STEPS
    assert wants_compile(cpu, auto, AUTO_MIN_STEPS_CPU) and not wants_compile(cpu, auto, AUTO_MIN_STEPS_CPU - 1)
    # Fashion-MNIST: a search trial (12 epochs of 12,000 images at batch 64) stays eager, and
    # `sksearch train` of a winner (15 epochs of 54,000) compiles.
    assert not wants_compile(cpu, auto, 12 * (12000 // 64)) and wants_compile(cpu, auto, 15 * (54000 // 64))
    assert wants_compile(cpu, on, 1) and not wants_compile(cuda, off, 10**6)
    assert not wants_compile(torch.device("meta"), auto, 10**6)
    # An architecture this process holds compiled costs nothing to reuse: auto takes it at any length.
    arch = tiny_spec(num_classes=10, in_channels=1, input_size=16)
    compiled_module.clear()
    try:
        assert not wants_compile(cpu, auto, 10, arch, True)
        compiled_module.compiled(torch.nn.Linear(1, 1), arch, cpu, True)  # torch.compile is lazy: no compiling
        assert wants_compile(cpu, auto, 10, arch, True)
        assert not wants_compile(cpu, auto, 10, arch, False)  # another memory format: another module
        assert not wants_compile(cpu, off, 10**6, arch, True)
    finally:
        compiled_module.clear()


# Slow and off the default suite: inductor's first compile of even a 5K-param net's train step
# took 198 s on 2 cores at load 13 (benchmarks/trial_speed.py), far over a default test's
# minute; on a quiet machine about one. `pytest -m slow` runs it. Tolerances as measured below.
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


def test_auto_on_the_cpu_compiles_only_networks_with_multi_branch_units():
    """benchmarks/trial_speed.py: compiling paid 1.21-1.47x for M=2 nets on 2 cores and at most
    1.02-1.21x (0.74x beside other work) for M=1 nets, so a long CPU trial of an M=1 net stays eager."""
    import torch

    from sksearch.train.compiled import multi_branch

    cpu, cuda, auto = torch.device("cpu"), torch.device("cuda"), TrainSpec()
    two = tiny_spec(num_classes=10, in_channels=1, input_size=16)
    one = tiny_spec(branches=((3, 1),), num_classes=10, in_channels=1, input_size=16)
    plain = tiny_spec(block="resnext", num_classes=10, in_channels=1, input_size=16)
    assert multi_branch(two) and not multi_branch(one) and not multi_branch(plain)
    compiled_module.clear()
    long = 10 * AUTO_MIN_STEPS_CPU
    assert wants_compile(cpu, auto, long, two, True)
    assert not wants_compile(cpu, auto, long, one, True) and not wants_compile(cpu, auto, long, plain, True)
    assert wants_compile(cuda, auto, long, one, True)  # a GPU compiles every long trial
    assert wants_compile(cpu, TrainSpec(compile="on"), 1, one, True)  # "on" is obeyed as said
