"""``sksearch train``: the step after a search. A chosen configuration (an export folder, a spec
file or a preset) trained for a full schedule with the search's own trainer and recipe.

The output folder is an export folder (``model.py``, ``spec.json``, ``weights.safetensors``,
``preprocess.json``, ``train.json``, ``README.md``) once training ends; while it runs it holds
``checkpoints/epoch_NNNN/`` (the last two), ``train_log.csv`` (one row per epoch) and
``train.json`` with the job and how far it got. Running the same command again after a crash
or Ctrl-C resumes from the last checkpoint; a finished job is reported, not redone. One
training at a time per folder: it holds the folder's lock (``study/lock.py``, as a search does)
from before its first write, and a second one is refused with the holder's pid.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from .errors import UserError
from .exports.layout import CHECKPOINTS, EXPORT_FILES, TRAIN_JSON, TRAIN_LOG
from .exports.targets import is_export_folder
from .files import LOG_LIMIT, read_limited
from .model.spec import ArchSpec
from .study.lock import LOCK_FILE, FolderLock
from .study.nofollow import atomic_write, refuse_links_out
from .study.targets import check_folder_target

if TYPE_CHECKING:
    from .data.arrays import ArrayData
    from .data.load import FolderData
    from .data.spec import DataSpec
    from .train.spec import TrainSpec

KEEP_CHECKPOINTS = 2
LOG_COLUMNS = ["epoch", "accuracy", "loss", "train_loss", "lr", "epoch_time", "train_time"]
# Training on from a trained network, the recipe's peak lr is scaled by this (unless --set
# train.lr names one). The trial's schedule ended near lr 0; climbing back to its peak first
# undoes what it learnt: the quickstart's best trial (82.9% after 6 epochs, peak lr 0.25) fell
# to 42.9% after one continued epoch at the full peak, 75.2% at 0.3x, and kept 82.5% at 0.1x
# (83.1% after the second). The search chose the peak for a network starting from scratch.
CONTINUE_LR_SCALE = 0.1
# Only with --log-test: reading the test split every epoch invites choosing an epoch on it.
TEST_COLUMNS = ["test_accuracy", "test_loss"]


@dataclass(frozen=True)
class Job:
    """What to train: the spec, the recipe (TrainSpec values, ``max_epochs`` the schedule's
    length), the data, and the weights to start from (None: the seeded initialisation)."""

    spec: ArchSpec
    train: dict[str, Any]
    data: dict[str, Any]
    weights: str | None
    source: str
    preprocess: dict[str, Any] | None
    threads: int = 1   # torch's CPU threads: a trial's CPUs (its study's resources.cpu), as the trial ran
    refit: bool = False  # train on train + val, no val read (the architecture and recipe are chosen)

    def key(self) -> dict[str, Any]:
        """What makes two runs the same job (a resume must continue the same one)."""
        key = {"spec": self.spec.to_dict(), "train": self.train, "data": self.data, "source": self.source,
               "from_weights": self.weights is not None}
        if self.refit:  # only then: a job written before refit existed resumes as it was
            key["refit"] = True
        return key


def _read_json(path: str) -> Any:
    from .study.jsonfile import read_json

    return read_json(path, mapping=True)


def plan(target: str, epochs: int, data: str | None = None, data_root: str | None = None,
         overrides: Mapping[str, Any] | None = None, from_scratch: bool = False, refit: bool = False) -> Job:
    """The job for ``target``: an export folder brings its spec, weights, recipe and data;
    a spec file or preset brings the architecture (then ``data`` is needed). ``overrides``
    change recipe or data values (``{"lr": 0.05, "data.train_limit": None}``). From an
    export's weights the peak lr is the recipe's times ``CONTINUE_LR_SCALE``, unless
    ``overrides`` set it. ``refit`` trains on train + val (see ``train_job``)."""
    from .data.spec import NAMES as DATA_NAMES, DataSpec
    from .exports.layout import ExportLayout
    from .exports.read import is_export, read_export_spec, read_preprocess, read_recipe, with_weights
    from .model.resolve import resolve
    from .train.spec import TrainSpec

    recipe: dict[str, Any] = {}
    weights = preprocess = None
    files = ExportLayout(target)
    if is_export(target):
        spec = read_export_spec(target)
        recipe = read_recipe(target) or {}
        if os.path.exists(files.weights) and not from_scratch:
            weights = os.path.abspath(files.weights)
            with_weights(spec, weights)  # weights that do not load are refused before --out is made
        preprocess = read_preprocess(target)
    else:
        spec = resolve(target)
    recipe_path = files.train_json
    recorded = recipe.get("train") or {}
    if not isinstance(recorded, dict):
        raise UserError(f"{recipe_path}: train: must be an object of recipe values")
    unknown = sorted(set(map(str, recorded)) - set(TrainSpec.__dataclass_fields__))
    if unknown:
        raise UserError(f"{recipe_path}: train.{unknown[0]}: unknown recipe key; allowed: "
                        f"{', '.join(TrainSpec.__dataclass_fields__)}")
    try:  # what the file holds, checked apart from --set so that its errors name it
        _check_recipe({**TrainSpec().to_dict(), **recorded}, {})
    except UserError as exc:
        raise UserError(f"{recipe_path}: {exc}") from None
    train = {**TrainSpec().to_dict(), **recorded, "max_epochs": epochs}
    # A recorded CIFAR recipe from before the three splits says so (val_split: test).
    data_spec = recorded_data_spec(recipe["data"], recipe_path).to_dict() if recipe.get("data") else {}
    if data is not None:
        data_spec = {"name": data} if data != data_spec.get("name") else data_spec
    if data_root is not None:
        data_spec["root"] = data_root
    for key, value in (overrides or {}).items():
        where, _, name = key.rpartition(".")
        if where not in ("", "train", "data"):
            raise UserError(f"--set {key}: set train.NAME (the recipe) or data.NAME (the data)")
        fields = DataSpec.__dataclass_fields__ if where == "data" else TrainSpec.__dataclass_fields__
        if name not in fields or name == "max_epochs":
            allowed = ", ".join(f for f in fields if f != "max_epochs")
            raise UserError(f"--set {key}: unknown {'data' if where == 'data' else 'recipe'} key; allowed: {allowed}"
                            + (" (the schedule's length is --epochs)" if name == "max_epochs" else ""))
        (data_spec if where == "data" else train)[name] = value
    if weights is not None and not any(k.rpartition(".")[2] == "lr" and k.rpartition(".")[0] in ("", "train")
                                       for k in overrides or {}):
        train["lr"] = train["lr"] * CONTINUE_LR_SCALE
    if "name" not in data_spec:
        raise UserError(f"{target}: no recorded data to train on; pass --data NAME ({', '.join(DATA_NAMES)}; "
                        f"imagefolder with --data-root)")
    _check_recipe(train, data_spec)
    if refit and DataSpec.named(**data_spec).val_split == "test":
        raise UserError(f"--refit: {data_spec['name']}'s val is its test split here (data.val_split: test, a study "
                        f"written before the three splits); refitting would train on the test split. Add --set "
                        f"data.val_split=holdout")
    return Job(spec, train, data_spec, weights, os.path.abspath(target) if os.path.exists(target) else target,
               preprocess, threads=trial_threads(recipe.get("cpus")), refit=refit)


def recorded_data_spec(record: Any, path: str) -> Any:
    """The ``DataSpec`` that ``path`` (an export's train.json or preprocess.json) recorded,
    checked by the space-file rules; ``UserError`` naming the file and key otherwise."""
    from .data.spec import DataSpec

    if not isinstance(record, dict):
        raise UserError(f"{path}: data: must be an object (the data spec), got {type(record).__name__}")
    known = DataSpec.__dataclass_fields__
    values = {k: v for k, v in record.items() if k in known}
    if not isinstance(values.get("name"), str):
        raise UserError(f"{path}: data.name: must be a data set's name, got {values.get('name')!r}")
    try:
        _check_recipe({}, values)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None
    return DataSpec.from_record({**record, **values})


def trial_threads(cpus: Any) -> int:
    """The CPU threads a trial of ``cpus`` CPUs trains with (``search.trainable`` sets the same):
    on a shared machine more threads than the job's CPUs make every thread wait for the others
    (one epoch took 88 s with 2 threads and 13 s with 1 on 2 cores at load 4.5)."""
    try:
        threads = int(cpus)
    except (TypeError, ValueError, OverflowError):
        return 1
    return threads if 1 <= threads <= 4096 else 1  # past that, a damaged record: torch refuses it


def _check_recipe(train: dict[str, Any], data: dict[str, Any]) -> None:
    """The recipe and data checked by the space-file rules, each key and the settings that must
    go together (the messages name the key)."""
    from .data.spec import DataSpec
    from .space.distributions import SpaceError
    from .space.schema import DATA_FIELDS, TRAIN_FIELDS, check_erase_area

    try:
        for key, value in train.items():
            if key in TRAIN_FIELDS:
                train[key] = TRAIN_FIELDS[key](f"train.{key}", value)
        for key, value in data.items():
            if key in DATA_FIELDS:
                data[key] = DATA_FIELDS[key](f"data.{key}", value)
            else:
                raise SpaceError(f"data.{key}", f"unknown key; allowed: {', '.join(DATA_FIELDS)}")
        check_erase_area(data.get("erase_min", DataSpec.erase_min), data.get("erase_max", DataSpec.erase_max))
        problem = DataSpec.named(**data).problem()  # e.g. a canvas the digits do not fit, before any is drawn
        if problem is not None:
            raise SpaceError(*problem)
    except SpaceError as exc:
        raise UserError(str(exc)) from None


def _checkpoints(out: str) -> list[str]:
    """The finished checkpoints, oldest first (a ``.tmp-`` folder is one a kill left unfinished)."""
    folder = os.path.join(out, CHECKPOINTS)
    names = os.listdir(folder) if os.path.isdir(folder) else []
    return sorted(os.path.join(folder, d) for d in names if re.fullmatch(r"epoch_\d{4,}", d))


def _resume_point(out: str, log: Callable[[str], None]) -> str | None:
    """The newest checkpoint that loads; unfinished ones are removed, and one that does not load
    (a disk that filled, a copy cut short) is skipped with a word."""
    from .train.loop import CHECKPOINT_TMP, checkpoint_problem

    folder = os.path.join(out, CHECKPOINTS)
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        if name.startswith(CHECKPOINT_TMP):
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
    for checkpoint in reversed(_checkpoints(out)):
        problem = checkpoint_problem(checkpoint)
        if problem is None:
            return checkpoint
        log(f"{checkpoint}: skipped, it does not load ({problem}); resuming from an earlier epoch")
    return None


def _check_out_apart(out: str, source: str) -> None:
    """Refuse an ``--out`` that is the source export or lies inside it, compared as resolved
    paths: a link to the source would have its weights, recipe and README overwritten."""
    if not os.path.isdir(source):
        return  # a spec file or a preset name: nothing to overwrite
    real_out, real_source = os.path.realpath(out), os.path.realpath(source)
    if real_out == real_source or real_out.startswith(real_source.rstrip(os.sep) + os.sep):
        where = "the folder being trained" if real_out == real_source else "inside the folder being trained"
        shown = f" (it resolves to {real_out})" if real_out != os.path.abspath(out) else ""
        raise UserError(f"--out {out}: is {where}{shown}; write the trained network to another folder")


def _check_out(out: str, job: Job, force: bool) -> dict[str, Any] | None:
    """Refuse an ``--out`` that holds another training or files of the user's; the state of
    an earlier run of this job there (None: none)."""
    state = _state(out) if os.path.isdir(out) else None
    if state is not None and state["job"] != json.loads(json.dumps(job.key(), default=str)):
        raise UserError(f"--out {out}: holds another training (of {state['job'].get('source')}); choose another "
                        f"--out, or remove that folder to start over")
    if state is None:
        check_folder_target(out, "--out", ours=os.path.isdir(out) and is_export_folder(out)
                            and set(os.listdir(out)) <= EXPORT_FILES, force=force, what="an export folder",
                            ignore=frozenset({LOCK_FILE}))
    return state


@contextlib.contextmanager
def _holding_lock(out: str) -> Iterator[None]:
    """``out`` made if needed and its lock held for the block (``UserError`` naming the holder
    where another training holds it). A block that fails before writing anything leaves the
    folder as it found it: no lock file, and no folder where there was none."""
    created = not os.path.exists(out)
    os.makedirs(out, exist_ok=True)
    with FolderLock(out) as lock:
        before = set(os.listdir(out))
        try:
            yield
        except BaseException:
            if os.path.isdir(out) and set(os.listdir(out)) == before:
                if created:
                    shutil.rmtree(out, ignore_errors=True)
                elif lock.created and os.path.exists(lock.path):
                    os.remove(lock.path)
            raise


def _state(out: str) -> dict[str, Any] | None:
    """The job an earlier ``sksearch train`` left in ``out`` (its train.json has a "job"; an
    export's train.json is only a recipe)."""
    path = os.path.join(out, TRAIN_JSON)
    if not os.path.exists(path):
        return None
    state = _read_json(path)
    return state if isinstance(state, dict) and "job" in state else None


def _split_line(metrics: dict[str, Any]) -> str:
    """The val and test figures of a finished training, for its last line."""
    if metrics.get("accuracy") is None:
        line = "val accuracy: none (refit: no val)"
    else:
        line = f"val accuracy {metrics['accuracy']:.2%} (loss {metrics['loss']:.4f})"
    if metrics.get("test_accuracy") is not None:
        return line + (f", test accuracy {metrics['test_accuracy']:.2%} (loss {metrics['test_loss']:.4f}, "
                       f"{metrics['test_samples']:,} images)")
    return line + f", test accuracy: none ({metrics.get('test_note') or 'not measured'})"


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's CPU threads set to ``n`` for the block, the caller's count back after it (a
    notebook or a test that trains in-process keeps its own setting)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_job(job: Job, out: str, device: str | None = None, force: bool = False, log: Callable[[str], None] = print,
              threads: int | None = None, log_test: bool = False) -> dict[str, Any]:
    """Train ``job`` into ``out`` (resuming what an earlier run of the same job left there);
    returns the final metrics: val (``accuracy``, ``loss``) and test (``test_accuracy``,
    ``test_loss``, ``test_samples``; ``test_note`` instead where the data has no test split).
    The test split is read once, after the last epoch; ``log_test`` also reads it every epoch
    into train_log.csv. ``threads``: torch's CPU threads (default: ``job.threads``).

    A ``job.refit`` trains on train + val: val is never read (``accuracy`` and ``loss`` are
    None), and train.json and the README record the refit and its training images."""
    _check_out_apart(out, job.source)
    done = _finished_before(job, out, force, log)  # before the folder or its lock file is made
    if done is not None:
        return done
    with _holding_lock(out), torch_threads(threads or job.threads):
        return _train(job, out, device, force, log, threads or job.threads, log_test)


def _train(job: Job, out: str, device: str | None, force: bool, log: Callable[[str], None], threads: int,
           log_test: bool) -> dict[str, Any]:
    """``train_job`` under ``out``'s lock, one job to a step."""
    done = _finished_before(job, out, force, log)  # again under the lock: another training may have changed it since
    if done is not None:
        return done
    setup = _prepare(job, device, log)
    run = _start(job, out, setup, log)
    metrics = _run_epochs(job, out, setup, run, functools.partial(_record_epoch, job, out, setup, run, log_test, log))
    return _write_trained(job, out, setup, metrics, threads, log)


def _finished_before(job: Job, out: str, force: bool, log: Callable[[str], None]) -> dict[str, Any] | None:
    """``out`` checked for ``job``: links out of it refused (its log, checkpoints and weights would
    be written through them), and another training or the user's files in it. The metrics of an
    earlier run that finished the job, said in a line; None where there is training to do."""
    refuse_links_out(out, "--out")
    state = _check_out(out, job, force)
    if state is None or not state.get("finished"):
        return None
    log(f"{out}: this training already finished ({state['epochs_done']} epochs, "
        f"{_split_line(state['metrics'])}); nothing to do")
    return state["metrics"]


@dataclass(frozen=True)
class _Setup:
    """What every epoch needs, made once before the first: the device, the recipe and the data."""

    device: str
    recipe: TrainSpec
    data_spec: DataSpec
    data: ArrayData | FolderData
    batches: Any
    refit_images: int | None  # a refit's training images (train + val); None otherwise
    test_samples: int


def _prepare(job: Job, device: str | None, log: Callable[[str], None]) -> _Setup:
    """The device, the recipe checked against it, and the data loaded, checked against the
    network and batched (a refit's val folded into its train split)."""
    import torch

    from .data.load import FolderData, fold_val_into_train, load_data, make_batches
    from .data.spec import DataSpec
    from .exports.read import check_data_fits
    from .train.loop import check_training_fits
    from .train.spec import TrainSpec

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    recipe = TrainSpec(**job.train)
    check_training_fits(job.spec, recipe, device, job.source)  # before the data is loaded or anything written
    log(f"loading data: {job.data['name']}")
    data_spec = DataSpec.named(**job.data)
    data = load_data(data_spec, test=True)
    refit_images = fold_val_into_train(data) if job.refit else None
    if data_spec.val_split == "test":
        log(f"note: val is {data_spec.name}'s test split, as in the study this came from (written before the "
            f"three splits); --from-scratch --set data.val_split=holdout trains with a held-out val")
    check_data_fits(job.spec, data, f"--data {job.data['name']}")
    batches = make_batches(data, device, recipe.batch_size, seed=recipe.seed,
                           channels_last=recipe.uses_channels_last,
                           workers=min(job.data.get("workers", 0), max(0, (os.cpu_count() or 1) - 1)))
    test_samples = (len(data.test) if data.test is not None else 0) if isinstance(data, FolderData) \
        else (len(data.y_test) if data.y_test is not None else 0)
    return _Setup(device, recipe, data_spec, data, batches, refit_images, test_samples)


@dataclass(frozen=True)
class _Run:
    """This run of the job in its folder: where it starts, and train.json's record of it."""

    before: set[str]  # the folder's names before this run wrote anything
    made: bool  # the folder held only its lock: a run that diverges before a checkpoint takes back what it wrote
    resume_from: str | None  # the checkpoint it resumes from; None: it starts at epoch 1
    first: int  # its first epoch
    state: dict[str, Any]  # train.json's record, updated every epoch
    started: float


def _start(job: Job, out: str, setup: _Setup, log: Callable[[str], None]) -> _Run:
    """The run begun: the checkpoint to resume from found, train.json's record written, a line said."""
    # The folder holds only its lock (``_holding_lock`` made it, or found it empty): a training that
    # fails before its first epoch takes back what it wrote, and the lock what the lock made.
    before = set(os.listdir(out))
    os.makedirs(os.path.join(out, CHECKPOINTS), exist_ok=True)
    resume_from = _resume_point(out, log)
    first = int(os.path.basename(resume_from).split("_")[1]) + 1 if resume_from else 1
    state = {"job": job.key(), "epochs_done": 0, "finished": False, "metrics": {}}
    _write_state(out, state)
    log(f"training {job.source} for {setup.recipe.max_epochs} epochs on {setup.device}"
        + (f", resuming after epoch {first - 1}" if resume_from else
           (" from its weights" if job.weights else " from a fresh initialisation")))
    return _Run(before, before <= {LOCK_FILE}, resume_from, first, state, time.time())


def _write_state(out: str, state: dict[str, Any]) -> None:
    """train.json: the job and how far it got (the recipe too, once it finished)."""
    atomic_write(os.path.join(out, TRAIN_JSON), json.dumps(state, indent=2, default=str))


def _read_test(job: Job, setup: _Setup, weights: str) -> dict[str, Any]:
    """The test split's figures for the network in ``weights`` (a note where the data has none)."""
    import torch

    from .exports.read import with_weights
    from .train.loop import evaluate

    if not setup.batches.has_test:
        return {"test_accuracy": None, "test_loss": None, "test_samples": 0,
                "test_note": getattr(setup.data, "test_note", None) or "no test split"}
    model = with_weights(job.spec, weights).to(setup.device)
    if setup.recipe.uses_channels_last:
        model = model.to(memory_format=torch.channels_last)
    accuracy, loss = evaluate(model, setup.batches, torch.device(setup.device), setup.recipe, "test")
    return {"test_accuracy": accuracy, "test_loss": loss, "test_samples": setup.test_samples}


def _record_epoch(job: Job, out: str, setup: _Setup, run: _Run, log_test: bool, log: Callable[[str], None],
                  metrics: dict[str, Any], folder: str | None) -> None:
    """An epoch's records (the trainer's report): its train_log.csv row (with the test split's
    figures under ``log_test``), the checkpoints past the last two removed, train.json, a line."""
    from .study.summary import clock
    from .train.spec import WEIGHTS_FILE

    epoch, recipe = metrics["epoch"], setup.recipe
    if log_test and folder is not None:
        metrics = {**metrics, **_read_test(job, setup, os.path.join(folder, WEIGHTS_FILE))}
    _append_log(out, metrics, LOG_COLUMNS + (TEST_COLUMNS if log_test else []))
    for old in _checkpoints(out)[:-KEEP_CHECKPOINTS]:
        shutil.rmtree(old, ignore_errors=True)
    run.state.update(epochs_done=epoch, metrics={k: metrics[k] for k in ("accuracy", "loss") if k in metrics})
    _write_state(out, run.state)
    per_epoch = (time.time() - run.started) / max(1, epoch - run.first + 1)
    val = ("refit: no val" if job.refit else
           f"accuracy {metrics['accuracy']:.2%}, loss {metrics['loss']:.4f}")
    log(f"[{clock(time.time() - run.started):>7}] epoch {epoch}/{recipe.max_epochs}: {val}, "
        f"train loss {metrics['train_loss']:.4f}, lr {metrics['lr']:.4g} | "
        f"~{clock(per_epoch * (recipe.max_epochs - epoch))} left")


def _run_epochs(job: Job, out: str, setup: _Setup, run: _Run,
                report: Callable[[dict[str, Any], str | None], None]) -> dict[str, Any]:
    """The epochs trained from where ``run`` starts, ``report`` after each; the last one's
    metrics. A divergence is one line, and a run that began in an empty folder takes back what
    it wrote there when no checkpoint is left."""
    from .train.loop import TrialDiverged, run_trial

    try:
        return run_trial(job.spec, setup.recipe, setup.batches, setup.device, report,
                         checkpoint_dir=os.path.join(out, CHECKPOINTS), resume_from=run.resume_from,
                         init_weights=job.weights, validate=not job.refit)
    except TrialDiverged as exc:
        if run.made and not _checkpoints(out):
            for name in set(os.listdir(out)) - run.before:
                path = os.path.join(out, name)
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.remove(path)
            kept = "nothing was written"
        else:
            kept = f"{out} keeps the epochs before it"
        raise UserError(f"{job.source}: the training diverged ({exc}); lower the peak lr (--set train.lr=...) "
                        f"or train --from-scratch; {kept}") from None


def _write_trained(job: Job, out: str, setup: _Setup, metrics: dict[str, Any], threads: int,
                   log: Callable[[str], None]) -> dict[str, Any]:
    """The test split read once, for the last epoch's network; the export written from it, the
    checkpoints removed and train.json's final record. The metrics, the test's included."""
    from .data.load import describe
    from .exports.write import write_export
    from .model.cost import params_and_macs
    from .train.spec import WEIGHTS_FILE

    epochs = setup.recipe.max_epochs
    model_weights = os.path.join(_checkpoints(out)[-1], WEIGHTS_FILE)
    metrics = {**metrics, **_read_test(job, setup, model_weights)}
    final_metrics = _final_metrics(job, metrics)
    recipe = _recipe_record(job, setup, threads)
    write_export(out, job.spec, model_weights, f"{os.path.basename(os.path.normpath(out))}: trained",
                 f"`{job.source}`, trained by `sksearch train` for {epochs} epochs"
                 f"{' from its weights' if job.weights else ''}{' on train + val (refit)' if job.refit else ''}.",
                 {**_readme_metrics(job, setup, metrics, final_metrics), "epochs": epochs,
                  "params": f"{params_and_macs(job.spec)[0]:,}"},
                 describe(setup.data, setup.data_spec), recipe=recipe)
    shutil.rmtree(os.path.join(out, CHECKPOINTS), ignore_errors=True)
    _write_state(out, {**recipe, "job": job.key(), "epochs_done": epochs, "finished": True,
                       "metrics": final_metrics})
    log(f"trained {epochs} epochs: {_split_line(final_metrics)}; wrote {out}")
    return metrics


def _final_metrics(job: Job, metrics: dict[str, Any]) -> dict[str, Any]:
    """train.json's metrics of a finished training (a refit's val: None, it was never read)."""
    final = {k: metrics.get(k) for k in ("accuracy", "loss", "test_accuracy", "test_loss", "test_samples",
                                         "test_note") if k in metrics}
    if job.refit:
        final.update(accuracy=None, loss=None)
    return final


def _readme_metrics(job: Job, setup: _Setup, metrics: dict[str, Any], final: dict[str, Any]) -> dict[str, Any]:
    """The export README's figures: val (or the refit's training images) and test."""
    has_test = setup.batches.has_test
    if job.refit:
        shown: dict[str, Any] = {"val accuracy": "none (refit: no val)",
                                 "training images": f"{setup.refit_images:,} (train + val)"}
    else:
        shown = {"val accuracy": round(metrics["accuracy"], 4), "val loss": round(metrics["loss"], 4)}
    shown["test accuracy"] = round(metrics["test_accuracy"], 4) if has_test else f"none ({final['test_note']})"
    if has_test:
        shown.update({"test loss": round(metrics["test_loss"], 4), "test images": setup.test_samples})
    return shown


def _recipe_record(job: Job, setup: _Setup, threads: int) -> dict[str, Any]:
    """The export's train.json recipe: what was trained, on what, from where (and the refit)."""
    recipe = {"train": job.train, "data": job.data, "epochs": setup.recipe.max_epochs, "cpus": threads,
              "source": {"trained_from": job.source, "from_weights": job.weights is not None}}
    if job.refit:
        recipe["refit"] = {"images": setup.refit_images, "splits": ["train", "val"]}
    return recipe


def _append_log(out: str, metrics: dict[str, Any], columns: list[str] = LOG_COLUMNS) -> None:
    """One row per epoch in train_log.csv; an epoch trained again after a crash replaces its row."""
    path = os.path.join(out, TRAIN_LOG)
    rows = []
    if os.path.exists(path):
        text = read_limited(path, LOG_LIMIT).decode("utf-8")
        rows = [r for r in csv.DictReader(io.StringIO(text, newline="")) if int(r["epoch"]) < metrics["epoch"]]
    rows.append({k: metrics.get(k) for k in columns})

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)

