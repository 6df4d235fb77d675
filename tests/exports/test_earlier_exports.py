"""Export folders are a file format users keep: a folder written by an earlier version of
sksearch loads in this one and gives the logits it gave then.

``fixtures/v_today`` was written by ``sksearch train`` (commit e75de25, 2026-12-06) from a
two-stage SK spec on 12 px digits, 4 epochs::

    sksearch train tiny.json --data digits --epochs 4 --set data.canvas=12 --set data.max_scale=1.5 \\
        --set data.train_size=400 --set data.val_size=100 --set data.workers=0 --threads 1 --device cpu \\
        --out v_today

(its lock file left out). Its files are kept byte for byte: never rewrite them to fit new code.
"""

import json
import pathlib
import subprocess
import sys

import pytest
import torch

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
V_TODAY = FIXTURES / "v_today"

# The logits of the fixed input below, recorded with the code that wrote the folder.
V_TODAY_LOGITS = [
    [-0.4239538311958313, 0.3173305094242096, -0.13400575518608093, 0.12802907824516296, 0.19884292781352997,
     -0.1193355992436409, 0.21954673528671265, 0.34546756744384766, -0.17993178963661194, 0.1624719202518463],
    [0.05345631390810013, 0.15731747448444366, -0.14635401964187622, 0.2115190625190735, -0.190122589468956,
     -0.059287331998348236, 0.18680936098098755, 0.25982338190078735, -0.1861717700958252, 0.16631221771240234],
    [0.7244964241981506, 0.00214216485619545, -0.019580475986003876, 0.26711568236351013, 0.137032613158226,
     -0.14423176646232605, -0.028015688061714172, -0.31251734495162964, -0.0619167760014534, 0.2865711748600006],
    [0.18871450424194336, -0.05250358209013939, 0.00970170646905899, 0.38374581933021545, 0.4185185134410858,
     0.14405938982963562, -0.06451398134231567, 0.17031723260879517, 0.1140553206205368, 0.04016033560037613],
]


def fixed_input() -> torch.Tensor:
    """Four 1 x 12 x 12 images that need no random generator (whose streams may change)."""
    return torch.linspace(-2, 2, 4 * 1 * 12 * 12).reshape(4, 1, 12, 12)


def assert_recorded(logits: torch.Tensor) -> None:
    # float32 rounding only: another torch build may sum in another order
    torch.testing.assert_close(logits, torch.tensor(V_TODAY_LOGITS), rtol=1e-5, atol=1e-5)


STANDALONE = """
import sys
import torch
sys.path.insert(0, sys.argv[1])
import model
with torch.no_grad():
    logits = model.load(sys.argv[1])(torch.linspace(-2, 2, 576).reshape(4, 1, 12, 12))
print(repr(logits.tolist()), "sksearch" in sys.modules)
"""


def test_an_export_of_today_loads_in_sksearch_with_its_logits():
    from sksearch.exports.read import load_model

    with torch.no_grad():
        assert_recorded(load_model(str(V_TODAY))(fixed_input()))


def test_an_export_of_today_loads_with_its_own_model_py_alone(tmp_path):
    """The folder's own model.py, in an isolated interpreter that has torch and not sksearch."""
    # -B: nothing is written into the fixture (no __pycache__ beside its model.py)
    proc = subprocess.run([sys.executable, "-I", "-B", "-c", STANDALONE, str(V_TODAY)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    logits, sksearch_loaded = proc.stdout.strip().rsplit(" ", 1)
    assert sksearch_loaded == "False"
    assert_recorded(torch.tensor(eval(logits)))  # noqa: S307 - our own subprocess's repr of a list of floats


def test_an_export_of_today_is_evaluated_on_the_data_it_recorded():
    """``sksearch evaluate`` reads the folder's train.json and preprocess.json as written then: the
    same test split and figures that the training recorded."""
    from sksearch.evaluate import evaluate_target

    recorded = json.loads((V_TODAY / "train.json").read_text())["metrics"]
    result = evaluate_target(str(V_TODAY), "test", threads=1)
    assert (result["data"], result["samples"]) == ("digits", recorded["test_samples"]) == ("digits", 100)
    assert result["accuracy"] == pytest.approx(recorded["test_accuracy"]) == 0.14
    assert result["loss"] == pytest.approx(recorded["test_loss"], abs=1e-5)


def test_an_export_of_today_plans_a_training_with_its_recipe():
    """``sksearch train`` reads the folder's recipe, data and weights as written then."""
    from sksearch.fulltrain import CONTINUE_LR_SCALE, plan

    job = plan(str(V_TODAY), epochs=2)
    assert job.spec.to_dict() == json.loads((V_TODAY / "spec.json").read_text())
    assert job.weights == str((V_TODAY / "weights.safetensors").resolve())
    recorded = {"name": "digits", "canvas": 12, "max_scale": 1.5, "train_size": 400, "val_size": 100, "workers": 0}
    assert {k: job.data[k] for k in recorded} == recorded
    assert job.train["max_epochs"] == 2 and job.train["lr"] == pytest.approx(0.1 * CONTINUE_LR_SCALE)
    assert job.preprocess["class_names"] == [str(d) for d in range(10)]
