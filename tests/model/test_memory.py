"""A network's memory, estimated from its spec before it is built (issue 33, item 8): a spec of a
few lines can describe hundreds of GB, and building it is what allocates. Every refusal must be
quick (nothing allocated) and one line, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import torch

from sksearch.errors import UserError
from sksearch.model import memory
from sksearch.model.cost import params_and_macs
from sksearch.model.memory import check_fits, footprint
from sksearch.model.presets import preset
from sksearch.model.spec import StageSpec
from tests.conftest import tiny_spec

# One SK stage 65,536 channels wide with one group: 84.8 billion parameters, 339 GB of weights.
HUGE = tiny_spec(stages=(StageSpec(depth=1, width=65536, out_channels=65536, stride=1, groups=1),), groups=1,
                 in_channels=1, input_size=12, num_classes=10)


def sksearch(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "sksearch", *args], capture_output=True, text=True, timeout=timeout,
                          check=False)
    proc.elapsed = time.monotonic() - start  # type: ignore[attr-defined]
    return proc


def refused(proc: subprocess.CompletedProcess, *words: str) -> None:
    err = proc.stderr
    assert proc.returncode == 2, (proc.returncode, err[-3000:])
    assert err.startswith("sksearch: error: ") and err.count("\n") == 1 and "Traceback" not in err, err[-3000:]
    for word in words:
        assert word in err, err
    # Nothing was allocated: a build of the network would take minutes and hundreds of GB.
    assert proc.elapsed < 90, proc.elapsed  # type: ignore[attr-defined]


@pytest.mark.parametrize("spec", [tiny_spec(), tiny_spec(block="se"), preset("shufflenetv2_0_5x_sk"),
                                  preset("resnext29_8x64d")], ids=["sk", "se", "shufflenet", "resnext29"])
def test_footprint_counts_params_and_macs_as_cost_does(spec):
    fp = footprint(spec)
    assert (fp.params, fp.macs) == params_and_macs(spec)


def test_footprint_of_a_network_matches_what_autograd_saves_for_it():
    spec = tiny_spec()
    fp = footprint(spec)
    model = __import__("sksearch.model.network", fromlist=["build"]).build(spec.to_dict()).train()
    weights = {id(p) for p in model.parameters()}
    saved = {}

    def pack(t):
        if id(t) not in weights:
            base = t._base if t._base is not None else t
            saved[base.untyped_storage().data_ptr()] = base.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(torch.zeros(8, spec.in_channels, spec.input_size, spec.input_size))
    real = sum(saved.values()) + out.nbytes
    # The meta forward counts what a real one saves (storages shared by views counted once).
    assert fp.saved * 8 * 4 == pytest.approx(real, rel=0.02)
    assert fp.buffers == sum(b.numel() for b in model.buffers())


def test_training_needs_weights_gradients_state_and_activations():
    fp = footprint(tiny_spec())
    sgd1, sgd9 = fp.training_bytes(1), fp.training_bytes(9)
    assert sgd9 - sgd1 == 8 * fp.saved * 4
    assert fp.training_bytes(1, "adamw") - sgd1 == 4 * fp.params  # AdamW keeps two moments, SGD one
    assert fp.training_bytes(1, activation_bytes=2) == sgd1 - fp.saved * 2
    assert fp.inference_bytes(4) == 4 * (fp.params + fp.buffers) + 4 * fp.peak * 4
    assert 0 < fp.peak < fp.saved


def test_check_fits_refuses_by_the_memory_it_is_given(monkeypatch):
    fp = footprint(tiny_spec())
    needed = fp.training_bytes(64)
    monkeypatch.setattr(memory, "memory_of", lambda device="cpu", free=True: (needed - 1, "available on this machine"))
    with pytest.raises(UserError, match=r"^tiny: its [\d,]+ parameters trained at batch size 64 need at least "
                                        r".* of memory, more than the .* available on this machine; refused"):
        check_fits(tiny_spec(), "tiny", batch_size=64, training=True)
    monkeypatch.setattr(memory, "memory_of", lambda device="cpu", free=True: (needed, "available on this machine"))
    assert check_fits(tiny_spec(), "tiny", batch_size=64, training=True) == fp


def test_a_huge_network_is_refused_without_being_built():
    start = time.monotonic()
    with pytest.raises(UserError, match="84,827,996,258 parameters need at least 343.6 GB of memory"):
        check_fits(HUGE, "huge")
    assert time.monotonic() - start < 30


@pytest.fixture
def huge_file(tmp_path):
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(HUGE.to_dict()))
    return path


def test_train_build_and_cost_latency_refuse_a_huge_network_before_building_it(huge_file, tmp_path):
    refused(sksearch("train", str(huge_file), "--epochs", "1", "--out", str(tmp_path / "o"), "--data", "digits"),
            "huge.json: its 84,827,996,258", "trained at batch size 128 need at least", "refused before it is built")
    assert not (tmp_path / "o").exists()
    refused(sksearch("build", str(huge_file), "--to", str(tmp_path / "b")), "parameters need at least")
    assert not (tmp_path / "b").exists()
    refused(sksearch("cost", str(huge_file), "--latency"), "huge.json: its 84,827,996,258")
    # Counting alone builds on the meta device: it answers.
    proc = sksearch("cost", str(huge_file), "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["params"] == footprint(HUGE).params


def test_evaluate_of_an_export_whose_spec_was_edited_to_a_huge_network(tmp_path):
    from sksearch.cli import main

    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(HUGE.replace(stages=tiny_spec().stages, groups=4).to_dict()))
    export = tmp_path / "exp"
    assert main(["build", str(spec), "--to", str(export)]) == 0
    (export / "spec.json").write_text(json.dumps(HUGE.to_dict()))
    refused(sksearch("evaluate", str(export)), "weights.safetensors: its 84,827,996,258", "refused before it is built")


def test_cost_latency_at_a_batch_size_that_cannot_fit(tmp_path):
    # A bound of the option first, then the memory a batch of 65,536 images of 1,024 px needs.
    refused(sksearch("cost", "sknet50", "--latency", "--batch-size", "100000"),
            "--batch-size: expected a positive integer of at most 65,536, got 100,000")
    refused(sksearch("cost", "sknet50", "--latency", "--input-size", "1024", "--batch-size", "65536"),
            "sknet50: its 27,479,784 parameters in a forward pass at batch size 65,536 need at least")


@pytest.mark.parametrize("args, words", [
    (["train", "sknet50", "--epochs", "10001", "--out", "o", "--data", "digits"],
     "--epochs: expected a positive integer of at most 10,000, got 10,001"),
    (["evaluate", "x", "--batch-size", "65537"], "--batch-size: expected a positive integer of at most 65,536"),
    (["analyze", "x", "--batch-size", "1000000"], "--batch-size: expected a positive integer of at most 65,536"),
    (["run", "s.yaml", "--max-epochs", "20000"], "--max-epochs: expected a positive integer of at most 10,000"),
    (["run", "s.yaml", "--trials", "10000000"], "--trials: expected a positive integer of at most 1,000,000"),
    (["train", "x", "--epochs", "1", "--out", "o", "--threads", "5000"], "--threads: expected a positive integer"),
])
def test_numeric_options_have_upper_bounds(args, words, capsys, tmp_path, monkeypatch):
    from sksearch.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []
