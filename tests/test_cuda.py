"""The CUDA paths on a real GPU (marked ``cuda``: skipped with a reason where there is none; run
them all with `python -m pytest -m cuda`): bf16 trains as well as fp32, channels_last gives
NCHW's logits, fractional-GPU trials share one device, and a CUDA trial's checkpoint resumes
on the CPU and back."""

import os

import pandas as pd
import pytest
import torch

from sksearch.data.digits import make_digits
from sksearch.data.load import make_batches
from sksearch.model.network import build
from sksearch.train.loop import load_checkpoint, make_optimizer, run_trial
from sksearch.train.spec import TrainSpec
from tests.conftest import run_cli, tiny_spec, write_space

# SKSEARCH_CUDA_TESTS_ON=cpu runs these tests' logic on the CPU, to check the tests themselves
# where no GPU is lent: what they assert of CUDA they assert of the CPU, and where a CUDA fact
# has no CPU meaning (peak GPU memory, sharing one GPU) they assert the CPU's counterpart.
DEVICE = os.environ.get("SKSEARCH_CUDA_TESTS_ON", "cuda")
pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(),
                                 reason="needs a CUDA GPU (torch.cuda.is_available() is False)")]


@pytest.fixture(scope="module")
def digits():
    return make_digits(1000, 500, canvas=16, max_scale=2.0)


def arch():
    return tiny_spec(num_classes=10, in_channels=1, input_size=16)


def test_bf16_reaches_the_accuracy_of_fp32(digits):
    got = {}
    for precision in ("fp32", "bf16"):
        batches = make_batches(digits, DEVICE, 64, channels_last=True)
        got[precision] = run_trial(arch(), TrainSpec(max_epochs=8, lr=0.1, seed=0, precision=precision), batches,
                                   DEVICE, lambda m, f: None)
    assert got["fp32"]["accuracy"] > 0.6  # 77% on the CPU
    assert got["bf16"]["accuracy"] == pytest.approx(got["fp32"]["accuracy"], abs=0.05)
    if DEVICE == "cuda":
        assert got["bf16"]["peak_memory"] > 0  # CUDA trials report their peak memory
    else:
        assert "peak_memory" not in got["bf16"]  # a CPU trial has no GPU memory to report


def test_channels_last_and_nchw_give_the_same_logits():
    torch.manual_seed(0)
    model = build(arch().to_dict()).to(DEVICE).eval()
    x = torch.randn(32, 1, 16, 16, device=DEVICE)
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # TF32 rounds differently per memory format
    try:
        with torch.no_grad():
            nchw = model(x)
            cl = model.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    torch.testing.assert_close(cl, nchw, rtol=1e-4, atol=1e-4)


class StopAfterOne(Exception):
    pass


def test_a_cuda_checkpoint_resumes_on_the_cpu_and_back(digits, tmp_path):
    spec = TrainSpec(max_epochs=3, lr=0.1, seed=2)
    cuda_run = []
    run_trial(arch(), spec, make_batches(digits, DEVICE, 64, channels_last=True), DEVICE,
              lambda m, f: cuda_run.append((m, f)), checkpoint_dir=str(tmp_path / DEVICE))
    first = cuda_run[0][1]
    # The CUDA checkpoint, loaded on the CPU: the same weights, and training continues there.
    model = build(arch().to_dict())
    epoch, _ = load_checkpoint(first, model, make_optimizer(model, spec), torch.device("cpu"))
    on_gpu = build(arch().to_dict()).to(DEVICE)
    load_checkpoint(first, on_gpu, make_optimizer(on_gpu, spec), torch.device(DEVICE))
    assert epoch == 1
    for a, b in zip(model.state_dict().values(), on_gpu.state_dict().values()):
        torch.testing.assert_close(a, b.cpu())
    cpu_run = []

    def one_epoch(metrics, folder):  # the CPU trains epoch 2 of the same 3-epoch schedule, then stops
        cpu_run.append((metrics, folder))
        raise StopAfterOne

    with pytest.raises(StopAfterOne):
        run_trial(arch(), spec, make_batches(digits, "cpu", 64, channels_last=True), "cpu", one_epoch,
                  checkpoint_dir=str(tmp_path / "cpu"), resume_from=first)
    assert [m["epoch"] for m, _ in cpu_run] == [2]
    back = []
    run_trial(arch(), spec, make_batches(digits, DEVICE, 64, channels_last=True), DEVICE,
              lambda m, f: back.append(m), resume_from=cpu_run[-1][1])
    assert [m["epoch"] for m in back] == [3]
    assert back[-1]["accuracy"] == pytest.approx(cuda_run[-1][0]["accuracy"], abs=0.1)


def test_fractional_gpu_trials_share_one_device(tmp_path):
    space = write_space(tmp_path, resources=f"resources: {{cpu: 1, gpu: {0.5 if DEVICE == 'cuda' else 0}}}",
                        concurrency="concurrency: 2", trials="trials: 4")
    out = tmp_path / "study"
    proc = run_cli("run", str(space), "--out", str(out), "--max-epochs", "3", timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    df = pd.read_csv(out / "trials.csv", parse_dates=["started", "finished"])
    ran = df[df.status.isin(["completed", "stopped_early"])].sort_values("started")
    assert len(ran) >= 2, df[["trial_id", "status"]]
    if DEVICE == "cuda":
        assert ran.peak_memory.notna().all()  # they trained on CUDA
    else:
        assert ran.peak_memory.isna().all()  # on the CPU: no GPU figure is made up
    overlaps = sum(a.finished > b.started for (_, a), (_, b) in zip(ran.iterrows(), ran.iloc[1:].iterrows()))
    if DEVICE == "cuda" and torch.cuda.device_count() == 1:
        assert overlaps >= 1, ran[["trial_id", "started", "finished"]]  # two at once on the one GPU
    elif DEVICE != "cuda" and (os.cpu_count() or 1) >= 2:
        assert overlaps >= 1, ran[["trial_id", "started", "finished"]]  # two at once, one CPU each
