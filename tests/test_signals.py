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
        def tune_handler(signum, frame):
            self.stop_requested = True  # Tune's event: read by its run loop only

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
