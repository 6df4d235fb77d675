"""A job scheduler's stop is a Ctrl-C.

Slurm, Kubernetes and ``timeout`` stop a job with SIGTERM. Within ``sigterm_stops()``, SIGTERM
does whatever SIGINT does at that moment: during ``Tuner.fit()`` that is Ray Tune's own
handler (the experiment ends gracefully, trials are stopped and saved), elsewhere Python's
``KeyboardInterrupt``. So a search or ``sksearch train`` stopped either way ends the same:
trials ended, the study consistent, a line saying how to resume; the command then exits with
143 (128 + SIGTERM) instead of 130.

Why a handler of our own: ``ray.init()`` first sets a SIGTERM handler that calls
``sys.exit(15)``, then its core worker installs abseil's failure-signal handler, which on
SIGTERM prints a crash dump (``*** SIGTERM received ... PC: @ ...``) and kills the process
mid-write. ``search.ray_cluster.init_ray`` turns abseil's handler off for the driver (Ray's
``RAY_DISABLE_FAILURE_SIGNAL_HANDLER``, read by the driver only: trial workers keep theirs) and
runs ``ray.init`` inside ``library_handlers()``, which takes SIGTERM back afterwards and turns
Ray's ``sys.exit(15)`` during the call into the same stop.

Why ``handlers_kept()``: ``Tuner.fit()`` installs Tune's SIGINT (and SIGUSR1) handler and leaves
it there when it returns. Tune's handler only sets an event that its finished run no longer
reads, so after a fit a Ctrl-C, and a SIGTERM forwarded to it, did nothing: the one-shot subnet
search went on to the end and trained the confirmations. Every ``fit()`` runs inside
``handlers_kept()`` (``search.ray_cluster.fit``), which puts the handlers of before back, and
tells whether Tune's handler took a Ctrl-C: a run whose last trial was ending then finishes
complete, and the phase after it must not start all the same.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from types import FrameType
from typing import Iterator

EXIT_TERMINATED = 128 + int(signal.SIGTERM)


class StopSignals:
    """What ``sigterm_stops()`` yields: ``terminated`` is set once SIGTERM arrived in the block."""

    def __init__(self) -> None:
        self.terminated = False


_active: list[StopSignals] = []  # every block open now, outermost first
_terminations = [0]  # SIGTERMs taken as stops so far, in this process


def terminations() -> int:
    """How many SIGTERMs this process has taken as stops: a phase that ends on its own while one
    arrives (a Tune run finishing its last epoch) can still tell that it was asked to stop."""
    return _terminations[0]


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _terminations[0] += 1
    for block in _active:
        block.terminated = True
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)  # Ray Tune's graceful stop, or Python's KeyboardInterrupt
    else:  # SIGINT ignored or left to the OS: still stop, as a Ctrl-C would have been asked to
        raise KeyboardInterrupt


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def sigterm_stops() -> Iterator[StopSignals]:
    """SIGTERM acts as SIGINT inside the block (main thread only: Python allows signal
    handlers nowhere else); the handler that was there before comes back after it."""
    block = StopSignals()
    if not _in_main_thread():
        yield block
        return
    previous = signal.getsignal(signal.SIGTERM)
    _active.append(block)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield block
    finally:
        _active.remove(block)
        if not _active:
            # None: a handler not set from Python (abseil's, installed by ray.init in the block).
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def reclaim_sigterm() -> None:
    """Take SIGTERM back from a handler that a library installed inside an open block."""
    if _active and _in_main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


@contextlib.contextmanager
def library_handlers() -> Iterator[None]:
    """Around a library call that sets SIGTERM handlers of its own (``ray.init``): a SIGTERM
    that its handler turns into ``SystemExit(15)`` is a stop like any other, and SIGTERM is
    ours again after the call."""
    try:
        yield
    except SystemExit as exc:
        if exc.code != signal.SIGTERM or not _active:
            raise
        _terminations[0] += 1
        for block in _active:
            block.terminated = True
        raise KeyboardInterrupt from None
    finally:
        reclaim_sigterm()


# The signals whose handlers Tune's fit() replaces (SIGUSR1: its other way to stop a run).
_LIBRARY_SIGNALS = (signal.SIGINT, signal.SIGTERM) + ((signal.SIGUSR1,) if hasattr(signal, "SIGUSR1") else ())


class LibraryStops:
    """What ``handlers_kept()`` yields: ``interrupted`` is set at the block's end when the
    library's own stop handler took a SIGINT (or SIGUSR1) inside it."""

    def __init__(self) -> None:
        self.interrupted = False


def _library_took_a_stop(saved: dict[int, object]) -> bool:
    """Whether Tune's stop handler fired: Tune installs one function for SIGINT and SIGUSR1,
    and when it takes a signal it sets its run's stop event and puts back SIGINT's handler of
    before (only), saying nothing else. A run whose last trial was ending finishes complete all
    the same, so this is the one trace of a Ctrl-C that came then (Ray's tune.py,
    ``_setup_signal_catching``; ``TUNE_DISABLE_SIGINT_HANDLER`` leaves SIGINT alone)."""
    usr1 = getattr(signal, "SIGUSR1", None)
    if usr1 is None or int(os.environ.get("TUNE_DISABLE_SIGINT_HANDLER", "0") or 0):
        return False
    theirs = signal.getsignal(usr1)
    installed = callable(theirs) and theirs is not saved[usr1]
    return installed and signal.getsignal(signal.SIGINT) is not theirs


@contextlib.contextmanager
def handlers_kept() -> Iterator[LibraryStops]:
    """Around a library call that installs signal handlers and leaves them installed when it
    returns (``Tuner.fit()``): SIGINT's, SIGTERM's and SIGUSR1's handlers of before are back
    after the call, however it ends (main thread only, the only one that can set them); the
    yielded ``LibraryStops`` says whether the library's handler took a stop signal."""
    stops = LibraryStops()
    if not _in_main_thread():
        yield stops
        return
    saved = {sig: signal.getsignal(sig) for sig in _LIBRARY_SIGNALS}
    try:
        yield stops
    finally:
        stops.interrupted = _library_took_a_stop(saved)
        for sig, handler in saved.items():
            if handler is not None:  # None: set outside Python (abseil's), nothing to put back
                signal.signal(sig, handler)
