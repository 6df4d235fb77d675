"""``confirm``'s runs several at a time, each in a spawned process of its own.

Processes, not threads: a training step holds the GIL for its Python half, and PyTorch's
thread pool is one per process (benchmarks/RESULTS.md, "Trial speed": one process of two
threads trains at 0.67-0.85 of two processes of one thread each). Not a
``ProcessPoolExecutor``: a run's process must be killed when the confirm stops, and an
executor offers no public way to kill the worker that runs a call.

The bookkeeping that makes a confirm resumable stays where it is in the one-process path: the
parent records each run in the confirmation study (RUNNING, with its trial, seed and kind)
before the run's process starts, and the worker writes its curve at each epoch and tells the
run's end. A worker dies with its parent (Linux: ``PR_SET_PDEATHSIG``; elsewhere at its next
epoch's end), so a confirm killed even by SIGKILL leaves no run training behind it, and run
again it resumes each unfinished run from its last checkpoint. Ctrl-C or SIGTERM in the
parent kills the workers (their finished runs and epochs are kept) and goes on to the caller.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
from typing import Any, Callable

from ..errors import UserError
from ..study.folder import StudyFolder
from .confirm_run import load_run_data, run_device, train_run

POLL_S = 0.5  # how often the parent looks at its workers between their messages


def run_parallel(folder: StudyFolder, todo: list[Any], start: Callable[[Any], int], workers: int,
                 log: Callable[[str], Any]) -> None:
    """Train ``todo`` (``confirm_run.Job``s) ``workers`` at a time; ``start(job)`` records a run
    in the study and gives its trial number, in this process, before the run's process starts."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # a fork would copy the parent's torch threads and locks
    messages = ctx.Queue()
    pending = list(enumerate(todo, 1))
    running: dict[int, tuple[Any, Any]] = {}  # slot -> (process, job)
    problem: str | None = None
    try:
        while running or (pending and problem is None):
            while pending and problem is None and len(running) < workers:
                slot = min(set(range(workers)) - set(running))
                i, job = pending.pop(0)
                number = start(job)
                proc = ctx.Process(target=_worker, name=f"sksearch-confirm-{job.dirname}",
                                   args=(folder.root, job, number, run_device(folder.space, slot), f"{i}/{len(todo)}",
                                         os.getpid(), messages))
                _start_without_sigint(proc)
                running[slot] = (proc, job)
            problem = _relay(messages, log, POLL_S) or problem
            for slot, (proc, job) in list(running.items()):
                if proc.exitcode is None:
                    continue
                proc.join()
                del running[slot]
                problem = _relay(messages, log, 0) or problem
                if proc.exitcode != 0 and problem is None:
                    problem = (f"the process training trial {job.trial_id} seed {job.seed} ended with exit code "
                               f"{proc.exitcode} (its output above says why)")
            if problem is not None:
                break
    finally:
        for proc, _ in running.values():  # a stop or an error: what they finished is kept
            proc.kill()
            proc.join()
        _relay(messages, log, 0)
        messages.close()
    if problem is not None:
        raise UserError(f"confirm {folder.root}: {problem}; the runs that finished are kept: run the same command "
                        f"again to resume the others")


def _relay(messages: Any, log: Callable[[str], Any], wait: float) -> str | None:
    """Pass the workers' queued lines on to ``log``; the first error a worker sent, if any."""
    problem = None
    while True:
        try:
            kind, text = messages.get(timeout=wait) if wait else messages.get_nowait()
        except queue.Empty:
            return problem
        wait = 0
        if kind == "error":
            problem = problem or text
        else:
            log(text)


def _start_without_sigint(proc: Any) -> None:
    """Start ``proc`` with SIGINT ignored from its first instruction (the disposition is
    inherited through exec, and Python keeps an ignored SIGINT ignored): Ctrl-C reaches the
    whole process group, and the parent, not each worker, decides what a stop does."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        proc.start()
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        proc.start()
    finally:
        signal.signal(signal.SIGINT, previous)


def _die_with(parent: int) -> None:
    """Have the OS kill this process when its parent dies (Linux), and end now if it has."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # 1: PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass  # the reporter's check at each epoch's end still ends the run
    if os.getppid() != parent:
        os._exit(1)


def _worker(root: str, job: Any, number: int, device: str, tag: str, parent: int, messages: Any) -> None:
    """One run, in its own process: the study folder and data opened here, the run trained
    through ``confirm_run.train_run``; its lines and any input error go back through ``messages``."""
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from ..scoped import optuna_warnings_only
    from ..study.store import confirm_study, open_for_search

    def log(text: str) -> None:
        messages.put(("log", text))

    try:
        folder = StudyFolder.open(root)
        with optuna_warnings_only():
            study = open_for_search(folder.storage_url, confirm_study(folder.name), folder.space)
        data = load_run_data(folder, None)
        train_run(folder, study, data, job, number, device, tag, log, parent)
    except UserError as exc:
        messages.put(("error", str(exc)))
        messages.close()
        messages.join_thread()
        sys.exit(2)
    messages.close()
    messages.join_thread()
