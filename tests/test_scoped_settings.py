"""A notebook that imports sksearch and runs a search keeps its own settings: the environment
variables Ray and Tune read and Optuna's verbosity are changed only while ``run`` runs."""

import json
import subprocess
import sys

from tests.conftest import write_space

SCRIPT = """
import json, os, sys
import optuna

optuna.logging.set_verbosity(optuna.logging.DEBUG)  # the notebook's own choices
os.environ["RAY_DEDUP_LOGS"] = "1"
os.environ.pop("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", None)
os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
import sksearch
from sksearch.search import ray_cluster

touched = sorted({*ray_cluster.RAY_ENV, *ray_cluster.RAY_ENV_DEFAULTS})
before = {k: os.environ.get(k) for k in touched}
seen = {}
fit = __import__("ray.tune", fromlist=["Tuner"]).Tuner.fit

def spy(self):
    seen.update({k: os.environ.get(k) for k in touched}, verbosity=optuna.logging.get_verbosity())
    return fit(self)

__import__("ray.tune", fromlist=["Tuner"]).Tuner.fit = spy
after_import = {k: os.environ.get(k) for k in touched}
study = sksearch.run(sys.argv[1], sys.argv[2], trials=2)
print(json.dumps({"before": before, "after_import": after_import, "during": seen,
                  "after": {k: os.environ.get(k) for k in touched}, "verbosity": optuna.logging.get_verbosity(),
                  "ended": study.status()["counts"]}))
"""


def test_run_changes_the_environment_and_optunas_verbosity_only_while_it_runs(tmp_path):
    import optuna

    space = write_space(tmp_path)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(space), str(tmp_path / "study")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["before"]["RAY_DEDUP_LOGS"] == "1" and got["before"]["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] is None
    assert got["after_import"] == got["before"]  # importing sksearch changes nothing
    # While Tune runs: Ray's quiet settings, the user's own kept where the user set one.
    assert got["during"]["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] == "1" and got["during"]["RAY_AIR_NEW_OUTPUT"] == "0"
    assert got["during"]["RAY_DEDUP_LOGS"] == "1" and got["during"]["verbosity"] == optuna.logging.WARNING
    assert got["after"] == got["before"] and got["verbosity"] == optuna.logging.DEBUG
    assert got["ended"]["completed"] + got["ended"]["stopped_early"] >= 1, got["ended"]
