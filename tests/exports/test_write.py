"""Export: standalone folders that load with torch alone and give the trial's own logits."""

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

import sksearch
import sksearch.model.network
from sksearch.model.network import build
from sksearch.model.spec import ArchSpec
from tests.conftest import run_cli

STANDALONE = """
import json, sys
import torch
baseline = {m.split(".")[0] for m in sys.modules}
sys.path.insert(0, sys.argv[1])
import model
net = model.load(sys.argv[1])
spec = json.load(open(sys.argv[1] + "/spec.json"))
torch.manual_seed(0)
x = torch.randn(4, spec["in_channels"], spec["input_size"], spec["input_size"])
torch.save(net(x).detach(), sys.argv[2])
added = {m.split(".")[0] for m in sys.modules} - baseline - {"model"}
third_party = sorted(m for m in added if m not in sys.stdlib_module_names and not m.startswith("_"))
print(json.dumps({"params": sum(p.numel() for p in net.parameters()), "imported": third_party,
                  "sksearch": "sksearch" in sys.modules}))
"""


def standalone_logits(folder, tmp_path):
    """Logits from a fresh, isolated interpreter that only has torch."""
    script = tmp_path / "standalone.py"
    script.write_text(STANDALONE)
    out = tmp_path / "logits.pt"
    proc = subprocess.run([sys.executable, "-I", str(script), str(folder), str(out)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return torch.load(out), json.loads(proc.stdout.strip().splitlines()[-1])


def probe_input(folder):
    spec = json.loads((folder / "spec.json").read_text())
    torch.manual_seed(0)
    return torch.randn(4, spec["in_channels"], spec["input_size"], spec["input_size"])


def best_completed(out) -> pd.Series:
    df = pd.read_csv(out / "trials.csv")
    done = df[df.status == "completed"]
    return done.loc[done.accuracy.idxmax()]


def test_export_a_trial_matches_the_trial_in_a_fresh_interpreter(finished_study, tmp_path):
    study, _ = finished_study
    row = best_completed(study)
    dest = tmp_path / "export"
    proc = run_cli("export", str(study), "--trial", str(int(row.trial_id)), "--to", str(dest), "--onnx")
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in dest.iterdir()} == {"model.py", "spec.json", "weights.safetensors", "README.md",
                                                 "preprocess.json", "train.json", "model.onnx"}
    assert (dest / "model.py").read_text() == open(sksearch.model.network.__file__).read()  # shipped, not generated

    standalone, info = standalone_logits(dest, tmp_path)
    assert info["imported"] == [] and not info["sksearch"]  # beyond torch: the standard library only
    assert info["params"] == row.params

    inside = sksearch.load_model(str(dest))
    x = probe_input(dest)
    with torch.no_grad():
        torch.testing.assert_close(inside(x), standalone, rtol=0, atol=0)
        # The trial's own model: its spec from Ray's params.json, its last checkpoint's weights.
        trial_dir = next((study / "ray").glob(f"trial_{int(row.trial_id):04d}_{row.ray_trial_id}"))
        config = json.loads((trial_dir / "params.json").read_text())
        own = build(config["arch"])
        checkpoint = sorted(trial_dir.glob("checkpoint_*"))[-1]
        own.load_state_dict(load_file(checkpoint / "model.safetensors"))
        torch.testing.assert_close(own.eval()(x), standalone, rtol=0, atol=0)
    spec = ArchSpec.from_json((dest / "spec.json").read_text())
    assert spec.in_channels == 1 and spec.input_size == 12
    readme = (dest / "README.md").read_text()
    assert f"| val accuracy | {round(row.accuracy, 4)} |" in readme and "| test accuracy | not measured" in readme
    assert "model.load(" in readme and "opt.step()" in readme
    pre = json.loads((dest / "preprocess.json").read_text())
    assert len(pre["mean"]) == 1 and pre["num_classes"] == 10


def test_export_the_front(finished_study, tmp_path):
    study, _ = finished_study
    proc = run_cli("export", str(study), "--front", "--to", str(tmp_path / "front"))
    assert proc.returncode == 0, proc.stderr
    front = json.loads(run_cli("pareto", str(study), "--json").stdout)["front"]
    assert sorted(p.name for p in (tmp_path / "front").iterdir()) == [f"trial_{r['trial_id']:04d}" for r in
                                                                    sorted(front, key=lambda r: r["trial_id"])]
    for r in front:
        net = sksearch.load_model(str(tmp_path / "front" / f"trial_{r['trial_id']:04d}"))
        assert sum(p.numel() for p in net.parameters()) == r["params"]


def test_build_a_preset_and_a_spec(tmp_path):
    proc = run_cli("build", "resnext29_16x32d", "--to", str(tmp_path / "r29"), "--input-size", "16",
                   "--num-classes", "7")
    assert proc.returncode == 0, proc.stderr
    net = sksearch.load_model(str(tmp_path / "r29"))
    assert sum(p.numel() for p in net.parameters()) == 25_136_970 - (1024 * 10 + 10) + (1024 * 7 + 7)
    logits, info = standalone_logits(tmp_path / "r29", tmp_path)
    assert logits.shape == (4, 7)
    with torch.no_grad():
        # Another process, maybe with another thread count (a test before may have changed this
        # one's): the same weights give the same logits up to float32 rounding of the sums.
        torch.testing.assert_close(net(probe_input(tmp_path / "r29")), logits, rtol=0, atol=1e-6)
    readme = (tmp_path / "r29" / "README.md").read_text()
    assert "untrained" in readme and "as below" not in readme and "no `preprocess.json`, no `train.json`" in readme
    # The same modes as every other file it writes (umask 022 here: 0644), not safetensors' 0600.
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "r29").iterdir() if p.is_file()}
    assert set(modes) == {"model.py", "spec.json", "weights.safetensors", "README.md"}
    assert len(set(modes.values())) == 1, modes


def test_onnx_matches_pytorch(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    from tests.conftest import tiny_spec

    spec_file = tmp_path / "tiny.json"
    spec_file.write_text(tiny_spec().to_json())
    proc = run_cli("build", str(spec_file), "--to", str(tmp_path / "t"), "--onnx")
    assert proc.returncode == 0, proc.stderr
    session = ort.InferenceSession(str(tmp_path / "t" / "model.onnx"))
    x = torch.randn(5, 3, 16, 16)
    with torch.no_grad():
        expected = sksearch.load_model(str(tmp_path / "t"))(x).numpy()
    got = session.run(None, {"input": x.numpy()})[0]
    assert abs(got - expected).max() < 1e-4


@pytest.mark.parametrize("args,fragment", [
    (["--trial", "999"], "--trial 999: no such trial"),
    (["--trial", "0", "--front"], "give exactly one of --trial ID, --front and --subnet ID"),
    ([], "give exactly one of --trial ID, --front and --subnet ID"),
    (["--subnet", "0"], "--subnet 0: "),  # a stand-alone study has no subnets
])
def test_bad_export_requests(finished_study, tmp_path, args, fragment):
    study, _ = finished_study
    proc = run_cli("export", str(study), *args, "--to", str(tmp_path / "x"))
    assert proc.returncode == 2 and fragment in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists()


def test_a_trial_without_weights_or_a_study_without_completed_trials(unfinished_study, tmp_path):
    proc = run_cli("export", str(unfinished_study), "--front", "--to", str(tmp_path / "x"))
    assert proc.returncode == 2 and "no completed trial" in proc.stderr
    for cmd in (["pareto", str(unfinished_study)], ["export", str(unfinished_study), "--front", "--to", "x"]):
        proc = run_cli(*cmd)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_a_folder_that_is_not_a_study(tmp_path):
    for cmd in ("pareto", "report", "status"):
        proc = run_cli(cmd, str(tmp_path))
        assert proc.returncode == 2 and "not a study folder (no run.json)" in proc.stderr
    proc = run_cli("export", str(tmp_path / "nope"), "--front", "--to", str(tmp_path / "x"))
    assert proc.returncode == 2 and "no such folder" in proc.stderr


def test_load_model_refuses_a_non_export(tmp_path):
    with pytest.raises(sksearch.errors.UserError, match="not an export folder"):
        sksearch.load_model(str(tmp_path))


def _files(folder):
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def test_export_onto_another_export_or_a_trained_network_needs_force(tmp_path, capsys):
    """Issue 34.1: another trial's export, another study's, or a ``sksearch train`` result is
    replaced only with --force, and then keeps no file of what was there; the same trial's export
    is replaced as before."""
    from sksearch.cli import main
    from sksearch.errors import UserError
    from tests.study.test_nofollow import make_study

    study, other = make_study(tmp_path), make_study(tmp_path, "other")
    out = tmp_path / "exported"
    assert main(["export", str(study), "--trial", "0", "--to", str(out)]) == 0
    before = _files(out)
    for args, says in ((["export", str(study), "--trial", "1"], "trial 1 of study tiny"),
                       (["export", str(other), "--trial", "0"], f"trial 0 of study tiny (in {other})")):
        assert main([*args, "--to", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--force" in err and f"holds the export of trial 0 of study tiny (in {study})" \
            in err and says in err, err
        assert _files(out) == before
    assert main(["export", str(study), "--trial", "0", "--to", str(out)]) == 0  # the same trial: as easy as before
    with pytest.raises(UserError, match="--force"):
        sksearch.open(str(study)).export(1, str(out))
    assert _files(out) == before

    trained = tmp_path / "trained"
    assert main(["train", str(out), "--epochs", "1", "--out", str(trained), "--device", "cpu"]) == 0
    assert (trained / "train_log.csv").exists()
    before = _files(trained)
    assert main(["export", str(study), "--trial", "1", "--to", str(trained)]) == 2
    err = capsys.readouterr().err
    assert "holds a network trained by `sksearch train`" in err and "--force" in err
    assert _files(trained) == before
    assert main(["build", "sknet29", "--to", str(trained)]) == 2 and "--force" in capsys.readouterr().err
    assert _files(trained) == before

    sksearch.open(str(study)).export(1, str(trained), force=True)
    fresh = tmp_path / "fresh"
    sksearch.open(str(study)).export(1, str(fresh))
    assert sorted(p.name for p in trained.iterdir()) == sorted(p.name for p in fresh.iterdir())  # no train_log.csv
    assert json.loads((trained / "train.json").read_text())["source"]["trial_id"] == 1
    assert load_file(str(trained / "weights.safetensors")).keys() == load_file(
        next(str(p) for p in (study / "ray").glob("trial_0001_*/checkpoint_*/model.safetensors"))).keys()


def test_a_front_replaces_its_own_study_s_front_only(tmp_path, capsys):
    from sksearch.cli import main
    from tests.study.test_nofollow import make_study

    study, other = make_study(tmp_path), make_study(tmp_path, "other")
    out = tmp_path / "front"
    assert main(["export", str(study), "--front", "--to", str(out)]) == 0
    shutil.copytree(next(out.iterdir()), out / "trial_0009")  # a trial since dropped off the study's front
    assert main(["export", str(study), "--front", "--to", str(out)]) == 0
    assert not (out / "trial_0009").exists()
    before = _files(out)
    assert main(["export", str(other), "--front", "--to", str(out)]) == 2
    assert "--force" in capsys.readouterr().err and _files(out) == before
    assert main(["export", str(other), "--front", "--to", str(out), "--force"]) == 0
    for folder in out.iterdir():
        assert json.loads((folder / "train.json").read_text())["source"]["folder"] == str(other)
