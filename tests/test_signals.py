"""``sksearch.signals`` with Tune's habit imitated: ``Tuner.fit()`` installs a SIGINT handler
that only sets an event, and leaves it installed when it returns."""

from __future__ import annotations

import os
import signal
import time

import pytest

from sksearch.search.ray_cluster import fit
from sksearch.signals import sigterm_stops


class TuneLikeTuner:
    """A tuner whose fit() does what Tune's does to the handlers (``ray.tune.tune._setup_signal_catching``)."""

    def __init__(self, signal_during_fit: int | None = None) -> None:
        self.stop_requested = False
        self.signal_during_fit = signal_during_fit

    def fit(self) -> str:
        original = signal.getsignal(signal.SIGINT)

        def tune_handler(signum, frame):
            self.stop_requested = True  # Tune's event: read by its run loop only
            signal.signal(signal.SIGINT, original)  # "to react to future SIGINT signals"

        signal.signal(signal.SIGINT, tune_handler)
        signal.signal(signal.SIGUSR1, tune_handler)
        if self.signal_during_fit is not None:
            os.kill(os.getpid(), self.signal_during_fit)
        return "results"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_after_a_fit_is_not_swallowed_by_its_handler(sig):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGUSR1)}
    with sigterm_stops() as stop:
        tuner = TuneLikeTuner()
        assert fit(tuner) == ("results", False)
        assert {s: signal.getsignal(s) for s in before} == before
        with pytest.raises(KeyboardInterrupt):  # what the phase after the fit must see
            os.kill(os.getpid(), sig)
            time.sleep(5)  # a handler runs between bytecodes; it normally has by now
        assert not tuner.stop_requested and stop.terminated == (sig == signal.SIGTERM)


def test_a_sigterm_during_a_fit_that_ends_anyway_is_told():
    with sigterm_stops():
        tuner = TuneLikeTuner(signal_during_fit=signal.SIGTERM)
        results, stopped = fit(tuner)
    assert tuner.stop_requested and stopped and results == "results"
    assert fit(TuneLikeTuner()) == ("results", False)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGUSR1])
def test_a_ctrl_c_that_tunes_handler_took_during_a_fit_that_ends_anyway_is_told(sig):
    """Tune's handler takes the Ctrl-C, its run ends complete (the last trial was finishing),
    and says nothing else: the fit must still report the stop, or the next phase starts."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGUSR1)}
    tuner = TuneLikeTuner(signal_during_fit=sig)
    results, stopped = fit(tuner)
    assert tuner.stop_requested and stopped and results == "results"
    assert {s: signal.getsignal(s) for s in before} == before
    assert fit(TuneLikeTuner()) == ("results", False)


def test_with_tunes_sigint_handler_turned_off_a_fit_is_not_taken_for_a_stop(monkeypatch):
    class NoSigintTuner(TuneLikeTuner):  # TUNE_DISABLE_SIGINT_HANDLER=1: Tune sets SIGUSR1 only
        def fit(self) -> str:
            signal.signal(signal.SIGUSR1, lambda signum, frame: None)
            return "results"

    monkeypatch.setenv("TUNE_DISABLE_SIGINT_HANDLER", "1")
    assert fit(NoSigintTuner()) == ("results", False)


REAL_TUNE = """
import os, signal, sys
import ray
from ray import tune
from sksearch.search.ray_cluster import fit

def trainable(config):
    for step in range(2):
        if step == 1:  # the last result: the Ctrl-C comes as the run is ending
            os.kill(config["driver"], signal.SIGINT)
        tune.report({"step": step})

ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
tuner = tune.Tuner(trainable, param_space={"driver": os.getpid()},
                   run_config=tune.RunConfig(storage_path=sys.argv[1], verbose=0))
results, stopped = fit(tuner)
print("STOPPED", stopped, "HANDLER-BACK", signal.getsignal(signal.SIGINT) is signal.default_int_handler)
"""


def test_a_ctrl_c_as_a_real_tune_run_ends_is_told(tmp_path):
    """The same with Ray Tune itself, so that a Ray upgrade that changes its handler shows here."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", REAL_TUNE, str(tmp_path)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "STOPPED True HANDLER-BACK True" in proc.stdout
