import io
import json
import struct
import subprocess
import sys
import zlib

import pytest
from PIL import Image

from sksearch.cli import main
from sksearch.model.presets import PRESETS
from tests.conftest import tiny_spec


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sksearch", *args], capture_output=True, text=True, timeout=300)


def test_models_lists_every_preset_with_params_and_macs(capsys):
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(PRESETS)
    assert rows["sknet50"]["params"] == 27_479_784
    assert main(["models"]) == 0
    table = capsys.readouterr().out
    assert "sknet50" in table and "27.48M" in table and "4.463G" in table


def test_cost_json_for_a_preset_and_a_spec_file(tmp_path, capsys):
    assert main(["cost", "resnext50", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert isinstance(out["params"], int) and isinstance(out["macs"], int)
    assert out["params"] == 25_028_904 and out["input_size"] == 224

    path = tmp_path / "tiny.json"
    path.write_text(tiny_spec().to_json())
    assert main(["cost", str(path), "--json", "--input-size", "32"]) == 0
    small = json.loads(capsys.readouterr().out)
    assert main(["cost", str(path), "--json", "--input-size", "64"]) == 0
    big = json.loads(capsys.readouterr().out)
    assert small["params"] == big["params"] and big["macs"] > 3.5 * small["macs"]


def test_cost_with_latency(capsys):
    assert main(["cost", "resnext29_16x32d", "--input-size", "8", "--latency", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["latency_ms"] > 0 and out["device"] == "cpu"


@pytest.mark.parametrize("args,fragment", [
    (["cost", "sknet51"], "neither a preset nor a spec file; presets: sknet26"),
    (["cost", "missing.json"], "missing.json: cannot read"),
    (["cost", "sknet50", "--input-size", "0"], "--input-size: expected a positive integer"),
    (["cost", "sknet50", "--latency", "--device", "cuda"], None),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_exits_2_with_a_message_and_no_traceback(args, fragment):
    proc = run_cli(*args)
    if args[-1] == "cuda" and proc.returncode == 0:
        pytest.skip("this machine has CUDA")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    if fragment:
        assert fragment in proc.stderr


def test_bad_spec_file_names_the_file_and_the_field(tmp_path):
    data = tiny_spec().to_dict()
    data["stages"][1]["stride"] = 3
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    proc = run_cli("cost", str(path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{path}: stages[1].stride: must be 1 or 2, got 3" in proc.stderr
    path.write_text("{not json")
    proc = run_cli("cost", str(path))
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr


def test_version():
    import sksearch

    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"sksearch {sksearch.__version__}"


def test_run_json_and_a_search_whose_every_trial_fails(tmp_path):
    from tests.conftest import write_space

    # An image folder whose images do not decode: their headers and ends are whole, so the load
    # passes them, but their pixel data is not zlib data: every trial fails on its first batch.
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG")
    png = buf.getvalue()
    at = png.index(b"IDAT")
    size = struct.unpack(">I", png[at - 4:at])[0]
    garbage = b"\xff" * size
    broken = png[:at + 4] + garbage + struct.pack(">I", zlib.crc32(b"IDAT" + garbage)) + png[at + 8 + size:]
    for split in ("train", "val"):
        for cls in ("a", "b"):
            (tmp_path / "images" / split / cls).mkdir(parents=True)
            (tmp_path / "images" / split / cls / "x.png").write_bytes(broken)
    space = write_space(tmp_path, trials="trials: 2")
    proc = run_cli("run", str(space), "--out", str(tmp_path / "s"), "--json", "--max-epochs", "1",
                   "--set", f"data={{name: imagefolder, root: {tmp_path / 'images'}, image_size: 8}}")
    assert proc.returncode == 1, proc.stderr[-3000:]
    info = json.loads(proc.stdout)  # stdout holds the summary alone; progress went to stderr
    assert info["counts"]["failed"] == 2 and info["finished"] and info["front"] == [] and info["best"] is None
    assert "trials done" in proc.stderr
    assert "every trial failed (first reason: OSError: broken data stream" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_export_json_lists_what_was_written(finished_study, tmp_path):
    study, _ = finished_study
    rows = json.loads(run_cli("pareto", str(study), "--json").stdout)["front"]
    proc = run_cli("export", str(study), "--front", "--to", str(tmp_path / "f"), "--json")
    assert proc.returncode == 0, proc.stderr
    written = json.loads(proc.stdout)
    assert [w["folder"] for w in written] == [str(tmp_path / "f" / f"trial_{r['trial_id']:04d}") for r in rows]
    assert all(w["files"] == ["README.md", "model.py", "preprocess.json", "spec.json", "train.json",
                              "weights.safetensors"] for w in written)
