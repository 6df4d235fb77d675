"""Starting or joining Ray, within bounds: a cluster address that does not answer is an error
within seconds (Ray itself retries for minutes and does not hear Ctrl-C meanwhile), and a
trial that no node could ever host is refused before anything is written (Ray would wait for
it forever)."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
import time
from typing import Any, Iterator

from ..errors import UserError
from ..scoped import environment
from ..signals import handlers_kept, library_handlers, terminations
from ..space.parsed import Resources


def connect_timeout_s() -> float:
    """``SKSEARCH_CONNECT_TIMEOUT_S`` (default 60), read when a driver connects, so that a
    setting made after import counts."""
    return float(os.environ.get("SKSEARCH_CONNECT_TIMEOUT_S", "60"))


class _DropTokenNotice(logging.Filter):
    """Ray announces on every local start that token authentication is on (it should be);
    the notice is noise in a search's output."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Token authentication is enabled" not in record.getMessage()


class _DropTuneStopAdvice(logging.Filter):
    """On a stop, Tune says how to resume with its own API (``Tuner.restore(...)``) and how to
    skip its last snapshot; the driver prints the one resume command that is right for a
    study folder (``sksearch resume DIR``), so Tune's advice would only contradict it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in ("Resume experiment with", "Stop signal received",
                                                     "Failed to fetch metrics"))


# Ray's and Tune's settings for a search, where the user set none. With one checkpoint kept per
# trial Tune snapshots the experiment at every checkpoint, which is what a crash-safe search
# wants; its warning about doing so is silenced.
RAY_ENV_DEFAULTS = {"RAY_AIR_NEW_OUTPUT": "0", "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
                    "RAY_DEDUP_LOGS": "0"}
# Always: Ray's default loggers depend on the user's environment; the driver adds the JSON
# results logger itself (result.json and params.json, which export and the report read).
RAY_ENV = {"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1"}


def search_settings() -> contextlib.AbstractContextManager[None]:
    """The environment a search runs in (``RAY_ENV``, ``RAY_ENV_DEFAULTS``), undone when it
    ends: ``run`` and ``resume`` hold it while Ray starts and Tune runs."""
    return environment(RAY_ENV, RAY_ENV_DEFAULTS)


def probe(address: str, timeout: float = 5.0) -> None:
    """A TCP connection to ``host:port`` (also ``ray://host:port``), or a ``UserError``."""
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--address {address}: expected HOST:PORT of `ray start --head` (e.g. 10.0.0.5:6379)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise UserError(f"--address {address}: nothing answers there ({exc.strerror or exc}). Is `ray start --head` "
                        f"running on that machine, and is the port open?") from None


def _join(address: str, kwargs: dict[str, Any]) -> None:
    """``ray.init(address)`` in a helper thread, waited for in short steps: the main thread
    keeps hearing Ctrl-C, and a cluster that accepts the connection but never answers is an
    error after ``connect_timeout_s()``."""
    import ray

    outcome: dict[str, BaseException] = {}

    def connect() -> None:
        try:
            ray.init(address=address, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            outcome["error"] = exc

    thread = threading.Thread(target=connect, name="sksearch-ray-connect", daemon=True)
    thread.start()
    timeout = connect_timeout_s()
    deadline = time.monotonic() + timeout
    while thread.is_alive() and time.monotonic() < deadline:
        thread.join(0.2)
    if thread.is_alive():
        raise UserError(f"--address {address}: the Ray cluster did not answer within {timeout:.0f} s "
                        f"(set SKSEARCH_CONNECT_TIMEOUT_S to wait longer); is it a Ray head with the same Ray "
                        f"version and RAY_AUTH_MODE?")
    if "error" in outcome:
        exc = outcome["error"]
        raise UserError(f"--address {address}: cannot join the Ray cluster ({str(exc).splitlines()[0]}). Is "
                        f"`ray start --head` running there, with the same RAY_AUTH_MODE on both sides?") from None


@contextlib.contextmanager
def _ray_processes_in_their_own_session() -> Iterator[None]:
    """While a local Ray starts, its processes (GCS, raylet, and so every worker) start in a
    session of their own.

    Why: ``timeout`` and Slurm stop a job by signalling its whole process group. Ray's
    processes, in the driver's group, would die of that SIGTERM at once, and the driver could
    neither stop its trials cleanly nor save the experiment (it waits 60 s for a dead GCS, then
    aborts with trials left RUNNING). Out of the group, only the driver hears the stop, and ends
    the search as Ctrl-C does (``sksearch.signals``). They still die with the driver: on Linux
    Ray binds each to its parent's death (PR_SET_PDEATHSIG), which is also why Ray itself
    starts them in a new process group on Windows. Ray offers no option for this, hence the
    substitute for its ``ConsolePopen``, for the length of ``ray.init`` only."""
    from ray._private import services, utils

    original = services.ConsolePopen
    if not utils.detect_fate_sharing_support() or sys.platform == "win32":
        yield  # without fate sharing, Ray's reaper must find its processes in our group
        return

    class OwnSession(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("start_new_session", True)
            super().__init__(*args, **kwargs)

    services.ConsolePopen = OwnSession
    try:
        yield
    finally:
        services.ConsolePopen = original


def init_ray(address: str | None) -> None:
    import ray

    if ray.is_initialized():
        return
    for handler in logging.getLogger("ray").handlers:
        handler.addFilter(_DropTokenNotice())
    kwargs: dict[str, Any] = dict(log_to_driver=False, logging_level=logging.WARNING, include_dashboard=False)
    from ray._private import ray_constants

    # The driver's own abseil handler would print a crash dump on SIGTERM (sksearch.signals).
    ray_constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER = True
    with library_handlers():
        if address and address != "auto":
            probe(address)
            _join(address, kwargs)
        else:
            # "local" always starts a private instance; a plain init() would join any cluster
            # that happens to run on this machine.
            with _ray_processes_in_their_own_session():
                ray.init(address=address or "local", **kwargs)
    # A filter acts on its own logger's records only. The analysis Tune returns warns that a
    # trial stopped before its first result has none: the study's table says so already.
    for name in ("ray.tune.tune", "ray.tune.analysis.experiment_analysis"):
        tune_logger = logging.getLogger(name)
        if not any(isinstance(f, _DropTuneStopAdvice) for f in tune_logger.filters):
            tune_logger.addFilter(_DropTuneStopAdvice())
    logging.getLogger("ray.tune").setLevel(logging.WARNING)
    logging.getLogger("ray.train").setLevel(logging.WARNING)


def fit(tuner: Any) -> tuple[Any, bool]:
    """``tuner.fit()``, with the process's signal handlers back when it returns: Tune leaves its
    SIGINT handler installed, which would swallow the next Ctrl-C or SIGTERM (``sksearch.signals``)
    in whatever phase comes after it. Every Tune run of sksearch goes through here. Returns
    Tune's results and whether a stop (SIGTERM, or a Ctrl-C Tune's handler took) arrived
    meanwhile: Tune's run may have ended complete all the same, and a phase after it must not
    start."""
    before = terminations()
    with handlers_kept() as stops:
        results = tuner.fit()
    return results, terminations() > before or stops.interrupted


def check_resources(resources: Resources, wait: bool = False) -> None:
    """Refuse a trial that no node of the cluster could host (``wait``: a cluster that
    autoscales will add one)."""
    import ray

    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if wait or any(n.get("CPU", 0) >= resources.cpu and n.get("GPU", 0) >= resources.gpu for n in nodes):
        return
    have = "; ".join(f"node {i + 1}: {n.get('CPU', 0):g} CPUs, {n.get('GPU', 0):g} GPUs" for i, n in enumerate(nodes))
    raise UserError(f"resources: a trial asks for {resources.cpu:g} CPUs and {resources.gpu:g} GPUs on one node, and "
                    f"no node of the Ray cluster has them ({have or 'no node'}); lower resources.cpu/resources.gpu "
                    f"(--cpus-per-trial, --gpus-per-trial), or pass --wait-for-resources to a cluster that autoscales")


def cluster_hosts() -> list[str]:
    """The distinct machines (node IP addresses) of the Ray cluster the driver is in."""
    import ray

    return sorted({str(n.get("NodeManagerAddress")) for n in ray.nodes() if n.get("Alive")})


def check_trial_storage(trial_storage: str | None, one_shot: bool = False, resuming: bool = False) -> None:
    """Refuse a cluster of several machines whose trials would write their checkpoints where only
    the driver's machine sees them (Ray 2.7+ writes every checkpoint straight to the storage
    path from the node that made it: a trial elsewhere fails, or its weights are lost to export
    and resume). ``resuming``: a study whose trial storage was chosen when it started."""
    hosts = cluster_hosts()
    if len(hosts) < 2:
        return
    if one_shot:
        raise UserError(f"the Ray cluster spans {len(hosts)} machines ({', '.join(hosts[:4])}), and the one_shot "
                        f"strategy runs on one (its supernet lives in the study folder): run it on a one-machine "
                        f"cluster, or use strategy standalone with --trial-storage")
    if trial_storage is None and resuming:
        raise UserError(f"the Ray cluster spans {len(hosts)} machines ({', '.join(hosts[:4])}), and this study was "
                        f"started without --trial-storage: its trials write their checkpoints into the study "
                        f"folder, which only this machine sees; resume it on a Ray cluster of one machine")
    if trial_storage is None:
        raise UserError(f"the Ray cluster spans {len(hosts)} machines ({', '.join(hosts[:4])}), and the trials' "
                        f"checkpoints would go to the study folder, which only this machine sees: pass "
                        f"--trial-storage DIR (resources.trial_storage), a folder every node mounts at the same path")
