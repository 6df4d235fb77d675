"""Experiment trackers: every trial of a search as a run in TensorBoard, MLflow or W&B, with its
sampled configuration and its per-epoch metrics, logged from the driver as results arrive.

* ``tensorboard``: event files under ``DIR/tensorboard/trial_NNNN/`` (torch's SummaryWriter;
  the ``tensorboard`` package), scalars per epoch and the configuration as hparams at the end.
* ``mlflow``: one run per trial in the experiment named after the study, in
  ``MLFLOW_TRACKING_URI`` when set, else in ``sqlite:///DIR/mlflow/mlflow.db`` (MLflow 3 keeps
  its ``file:`` store in maintenance mode and refuses it by default; its SQLite store is what
  it recommends); parameters, metrics with the epoch as step, a ``status`` tag at the end.
* ``wandb``: one run per trial in the project named after the study, honouring W&B's own
  environment (``WANDB_MODE=offline`` logs to ``DIR/wandb/`` with no network).

Ray's own logger callbacks are not used: they log Ray's whole config per trial (the spec's
nested dicts) rather than the searched values, into Ray's folders, and W&B's spawns a process
per trial. The JSON results logger is added explicitly (``driver.py``) whatever the
environment says.
"""

from __future__ import annotations

import logging
import math
import netrc
import os
from typing import Any

from ray.tune import Callback

from ..errors import UserError
from ..objectives import MEASURED, OBJECTIVES
from ..scoped import environment
from ..space.schema import LOGGERS
from ..study.store import StudyRef

# Per-epoch results every tracker receives (numbers only): the objectives training measures
# (the counted ones are the same at every epoch, in the final record).
EPOCH_METRICS = (*MEASURED, "train_loss", "lr", "epoch_time", "train_time")
PACKAGES = {name: name for name in LOGGERS}  # the module each tracker needs


def check_trackers(names: list[str]) -> None:
    """Each named tracker's package is installed and can log (before anything is written)."""
    for name in names:
        try:
            __import__(PACKAGES[name])
        except ImportError:
            raise UserError(f"loggers: {name} needs the {PACKAGES[name]} package: pip install -e \".[trackers]\" "
                            f"(or pip install {PACKAGES[name] if name != 'mlflow' else 'mlflow-skinny'})") from None
    if "mlflow" in names and os.environ.get("MLFLOW_TRACKING_URI"):
        _reach_mlflow(os.environ["MLFLOW_TRACKING_URI"])
    if "wandb" in names and os.environ.get("WANDB_MODE", "online") not in ("offline", "disabled", "dryrun"):
        if not os.environ.get("WANDB_API_KEY") and not _netrc_has("api.wandb.ai"):
            raise UserError("loggers: wandb has no API key (WANDB_API_KEY, or `wandb login`); set WANDB_MODE=offline "
                            "to log to the study folder and `wandb sync` later")


def _reach_mlflow(uri: str) -> None:
    """One request to the tracking store, failing at once: MLflow would otherwise retry for a
    minute at the first trial's result and then fail the search with a trial left running."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        with environment({"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}):
            MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except (MlflowException, OSError, ImportError, ValueError) as exc:  # OSError: requests' and sqlite's
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise UserError(f"loggers: mlflow cannot reach MLFLOW_TRACKING_URI={uri} ({detail}); fix or unset it "
                        f"(unset, runs go to the study folder's mlflow/mlflow.db)") from None


def _netrc_has(host: str) -> bool:
    try:
        return netrc.netrc().authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def _numbers(result: dict[str, Any], keys: tuple[str, ...]) -> dict[str, float]:
    return {k: float(result[k]) for k in keys
            if isinstance(result.get(k), (int, float)) and not isinstance(result.get(k), bool)
            and math.isfinite(result[k])}


def _status(result: dict[str, Any] | None, max_epochs: int, error: bool) -> str:
    if error or not result or "error" in result:
        return "failed"
    return "completed" if result.get("epoch", 0) >= max_epochs else "stopped_early"


class _Sink:
    """One tracker: ``open`` a run for a trial, ``log`` an epoch, ``close`` with the outcome."""

    def open(self, number: int, config: dict[str, Any]) -> Any:
        raise NotImplementedError

    def log(self, run: Any, epoch: int, metrics: dict[str, float]) -> None:
        raise NotImplementedError

    def close(self, run: Any, status: str, final: dict[str, float], config: dict[str, Any]) -> None:
        raise NotImplementedError


class _TensorBoard(_Sink):
    def __init__(self, root: str) -> None:
        self.root = os.path.join(root, "tensorboard")

    def open(self, number: int, config: dict[str, Any]) -> Any:
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(log_dir=os.path.join(self.root, f"trial_{number:04d}"))

    def log(self, run: Any, epoch: int, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            run.add_scalar(key, value, epoch)
        run.flush()

    def close(self, run: Any, status: str, final: dict[str, float], config: dict[str, Any]) -> None:
        hparams = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in config.items()}
        run.add_hparams({**hparams, "status": status}, {f"final/{k}": v for k, v in final.items()}, run_name=".")
        run.close()


class _MLflow(_Sink):
    def __init__(self, root: str, study: str) -> None:
        from mlflow.tracking import MlflowClient

        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)
        folder = os.path.abspath(os.path.join(root, "mlflow"))
        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            os.makedirs(folder, exist_ok=True)
            uri = f"sqlite:///{os.path.join(folder, 'mlflow.db')}"
        self.client = MlflowClient(tracking_uri=uri)
        found = self.client.get_experiment_by_name(study)
        self.experiment = found.experiment_id if found else self.client.create_experiment(
            study, artifact_location=None if os.environ.get("MLFLOW_TRACKING_URI") else f"file://{folder}/artifacts")

    def open(self, number: int, config: dict[str, Any]) -> Any:
        name = f"trial_{number:04d}"
        existing = self.client.search_runs([self.experiment], filter_string=f"tags.trial_number = '{number}'")
        if existing:  # a resumed search continues the trial's run
            return existing[0].info.run_id
        run = self.client.create_run(self.experiment, run_name=name, tags={"trial_number": str(number)})
        for key, value in config.items():
            self.client.log_param(run.info.run_id, key, value)
        return run.info.run_id

    def log(self, run: Any, epoch: int, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        stamp = int(1000 * __import__("time").time())
        self.client.log_batch(run, metrics=[Metric(k, v, stamp, epoch) for k, v in metrics.items()])

    def close(self, run: Any, status: str, final: dict[str, float], config: dict[str, Any]) -> None:
        self.client.set_tag(run, "status", status)
        self.client.set_terminated(run, "FAILED" if status == "failed" else "FINISHED")


class _Wandb(_Sink):
    def __init__(self, root: str, study: str) -> None:
        os.environ.setdefault("WANDB_SILENT", "true")
        self.root, self.study = os.path.abspath(root), study

    def open(self, number: int, config: dict[str, Any]) -> Any:
        import wandb

        return wandb.init(project=self.study, group=self.study, name=f"trial_{number:04d}", config=config,
                          dir=self.root, reinit="create_new", id=f"{self.study}-trial-{number:04d}", resume="allow")

    def log(self, run: Any, epoch: int, metrics: dict[str, float]) -> None:
        run.log({**metrics, "epoch": epoch}, step=epoch)

    def close(self, run: Any, status: str, final: dict[str, float], config: dict[str, Any]) -> None:
        run.summary["status"] = status
        run.finish(exit_code=1 if status == "failed" else 0)


class TrackerCallback(Callback):
    """Logs every trial to the named trackers; lives on the driver."""

    def __init__(self, names: list[str], root: str, study: str, max_epochs: int) -> None:
        self.names, self.root, self.study, self.max_epochs = list(names), root, study, max_epochs
        self._sinks: list[_Sink] | None = None
        self._runs: dict[str, list[Any]] = {}             # by ray_trial_id (Ray's id, not Optuna's number)
        self._configs: dict[str, dict[str, Any]] = {}     # by ray_trial_id

    # Tune pickles its callbacks into tuner.pkl: open writers and clients stay behind.
    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_sinks": None, "_runs": {}, "_configs": {}}

    def relocate(self, study: StudyRef) -> None:
        """Log into ``study``'s folder (a callback restored from a copied or moved folder's
        ``tuner.pkl`` names the folder it was pickled in)."""
        self.root = study.where

    def sinks(self) -> list[_Sink]:
        if self._sinks is None:
            makers = {"tensorboard": lambda: _TensorBoard(self.root), "mlflow": lambda: _MLflow(self.root, self.study),
                      "wandb": lambda: _Wandb(self.root, self.study)}
            self._sinks = [makers[name]() for name in self.names]
        return self._sinks

    def _open(self, trial: Any) -> list[Any] | None:
        config = trial.config or {}
        number = config.get("trial_number")
        if not isinstance(number, int):
            return None
        if trial.trial_id not in self._runs:
            values = {**(config.get("params") or {}), **(config.get("cost") or {}), "trial_number": number}
            self._configs[trial.trial_id] = values
            self._runs[trial.trial_id] = [sink.open(number, values) for sink in self.sinks()]
        return self._runs[trial.trial_id]

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        runs = self._open(trial)
        if runs is None or "error" in result or not isinstance(result.get("epoch"), int):
            return
        metrics = _numbers(result, EPOCH_METRICS)
        for sink, run in zip(self.sinks(), runs):
            sink.log(run, result["epoch"], metrics)

    def _close(self, trial: Any, error: bool) -> None:
        if trial.trial_id not in self._runs:
            self._open(trial)  # a trial that ended before its first report
        runs = self._runs.pop(trial.trial_id, None)
        if not runs:
            return
        result = trial.last_result or {}
        final = _numbers(result, (*OBJECTIVES, "epoch"))
        status = _status(result, self.max_epochs, error)
        config = self._configs.pop(trial.trial_id, {})
        for sink, run in zip(self.sinks(), runs):
            sink.close(run, status, final, config)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._close(trial, error=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._close(trial, error=True)
