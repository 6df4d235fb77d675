"""sksearch's Python API; the ``sksearch`` command is a thin layer over it.

    import sksearch

    study = sksearch.run("search_spaces/quickstart.yaml", trials=8, overrides={"train.lr": 0.1})
    study.front()                    # the Pareto front's rows (a DataFrame)
    study.plot_front()               # the report's front figure (plotly), inline in a notebook
    net = study.load_model(3)        # trial 3's network, in eval mode
    study.export(3, "exported/")     # a standalone folder: model.py, spec.json, weights

    study = sksearch.open("results/quickstart")    # a study folder written earlier
    sksearch.cost("sknet50")                        # {"params": 27479784, "macs": 4462710784}

Bad input raises ``sksearch.UserError`` with the message the command-line tool prints.
Nothing heavy is imported here: Ray only when a search runs, torch only when a network is
built or counted.
"""

from __future__ import annotations

import numbers
import os
import warnings
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from .errors import UserError, show
from .signals import sigterm_stops
from .study.folder import StudyFolder

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from .analysis.analyze import Analysis
    from .model.network import SKNet
    from .model.spec import ArchSpec
    from .search.strategy import Strategy
    from .space.parsed import SearchSpace


def _whole(value: Any, name: str, least: int | None = 1, optional: bool = False) -> Any:
    """``value`` if it is an integer (bool is not one) of at least ``least``; ``UserError``
    naming the argument otherwise, before anything is written."""
    if value is None and optional:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or (least is not None and value < least):
        allowed = ("an integer" + (f" of at least {least}" if least is not None else "")
                   + (" or None" if optional else ""))
        raise UserError(f"{name}: must be {allowed}, got {show(value)}")
    return int(value)


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise UserError(f"{name}: must be True or False, got {show(value)}")
    return value


def _text(value: Any, name: str, optional: bool = False) -> Any:
    """A string or path (``os.PathLike``) as a string."""
    if value is None and optional:
        return value
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value:
        raise UserError(f"{name}: must be a non-empty string or path{' or None' if optional else ''}, "
                        f"got {show(value)}")
    return value


def _texts(value: Any, name: str) -> list[str]:
    """A list of strings (one string alone would be read letter by letter)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or \
            not all(isinstance(v, str) for v in value):
        raise UserError(f"{name}: must be a list of strings, got {show(value)}")
    return list(value)


def _mapping(value: Any, name: str) -> dict[str, Any]:
    """Key paths to values, or None (no change)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise UserError(f"{name}: must be a mapping of key paths to values, like {{\"train.lr\": 0.05}}, "
                        f"got {show(value)}")
    return dict(value)


def _objectives(value: Any) -> Any:
    """None, "accuracy,macs" or a list of objective names."""
    if value is None or isinstance(value, str):
        return value
    return _texts(value, "objectives")


class Study(StudyFolder):
    """A study folder: its trials, fronts, report, exports and trained models.

    Beside what every study folder has (``root``, ``name``, ``space``, ``objectives``,
    ``layout``: the paths of its files, ``run``: its run record), ``table`` is the trials
    table and ``learning_curves`` every epoch every trial reported (``trial_id, epoch,
    accuracy, loss, train_loss, lr, epoch_time, status, rung_decision``, what
    ``curves.parquet`` holds), read from the study's database when first used; ``refresh()``
    reads them again (a search may still be running). ``optuna`` is the Optuna study,
    opened read-only where the storage allows."""

    def __repr__(self) -> str:
        return f"<sksearch.Study {self.name!r} at {self.root!r}>"

    @property
    def path(self) -> str:
        """Deprecated: ``root``, the name every study folder uses."""
        warnings.warn("Study.path is deprecated; use Study.root", DeprecationWarning, stacklevel=2)
        return self.root

    def refresh(self) -> Study:
        super().refresh()
        return self

    def status(self) -> dict[str, Any]:
        """What ``sksearch status --json`` prints: counts by status, the best trial, times."""
        from .study.summary import status_info

        return status_info(self)

    def objectives_for(self, objectives: str | Sequence[str] | None) -> list[str]:
        """Named objectives checked against the study ("accuracy,macs" or a list); the study's
        own when none are named."""
        from .study.pareto import choose_objectives

        return choose_objectives(_objectives(objectives), self.completed_table, self.objectives, self.root)

    def front(self, objectives: str | Sequence[str] | None = None, include_imported: bool = False) -> pd.DataFrame:
        """The Pareto front of the completed trials over ``objectives`` (default: the study's):
        the trials ``sksearch pareto --json`` lists, with their metrics and searched values
        (``attrs["objectives"]`` names the objectives); after ``confirm``, ``runs``,
        ``accuracy_mean`` and ``accuracy_se`` over each repeated trial's runs. Baselines are
        never on it, trials imported by a warm start only with ``include_imported``."""
        from .study.confirmations import read_runs, trial_stats, with_stats
        from .study.pareto import front_table

        objectives = self.objectives_for(objectives)
        include_imported = _flag(include_imported, "include_imported")
        self.require_completed()
        table = front_table(self.completed_table, objectives, include_imported)
        runs = read_runs(self)  # after ``confirm``: each repeated trial's mean and standard error
        return table if runs is None else with_stats(table, trial_stats(self.completed_table, runs))

    def baselines(self, objectives: str | Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Each baseline against the front: the front trials that dominate it and what the most
        accurate of them gains (``pareto --json`` appends these)."""
        from .study.pareto import baseline_verdicts

        return baseline_verdicts(self.completed_table, self.objectives_for(objectives))

    def supernet_front(self, objectives: str | Sequence[str] | None = None) -> pd.DataFrame:
        """The front of a one-shot search's subnets over ``objectives``: accuracy estimated with
        weights inherited from the supernet, never trained stand-alone (``trial_id`` numbers
        the subnet in the study ``NAME:one_shot``). Empty when the study ran no one-shot search."""
        from .study.pareto import choose_objectives, front_table
        from .study.subnets import subnet_front

        subnets = self.subnet_table
        if subnets is None:
            return front_table(self.completed_table.iloc[:0], self.objectives_for(objectives))
        return subnet_front(subnets, choose_objectives(_objectives(objectives), subnets, self.objectives, self.root))

    def confirmation(self) -> pd.DataFrame:
        """Each subnet of a one-shot search that a stand-alone trial trained: ``trial_id``,
        ``subnet_id``, ``status``, ``supernet_accuracy``, ``accuracy`` (stand-alone), ``params``,
        ``macs``; ``attrs`` holds ``kendall_tau`` and ``spearman_rho`` between the two accuracies
        over the completed ones (None when fewer than three). Empty without a one-shot search."""
        from .study.subnets import CONFIRMATION_COLUMNS, confirmation, rank_agreement

        subnets = self.subnet_table
        if subnets is None:
            import pandas as pd

            return pd.DataFrame(columns=list(CONFIRMATION_COLUMNS))
        table = confirmation(self.table, subnets)
        table.attrs.update(rank_agreement(table))
        return table

    def confirm(self, seeds: int = 2, top: int | None = None, audit: int = 0, workers: int | None = None) -> Study:
        """``sksearch confirm``: train the front's trials (and the near-front ones, ``top`` in
        all, by non-dominated rank) and the completed baselines ``seeds`` times more with new
        seeds, and ``audit`` trials the scheduler stopped to the full budget, ``workers`` runs
        at once (default: the space's concurrency, as this machine's cores and GPUs allow);
        resumable (a stopped confirm continues where it was). The study, read again."""
        return confirm(self.root, seeds=seeds, top=top, audit=audit, workers=workers)

    def confirmations(self) -> dict[str, Any] | None:
        """What the confirmations found (``status --json``'s ``confirm``): runs by kind and
        status, each repeated trial's mean and standard error, which front points are within
        noise, the audit's finding and each rung's Kendall tau with its bootstrap interval;
        None before ``confirm`` ran."""
        from .study.confirmations import confirm_info, read_runs

        return confirm_info(self, read_runs(self))

    def curves(self) -> pd.DataFrame:
        """Deprecated: ``learning_curves``, the same table, under the name every study folder uses."""
        warnings.warn("Study.curves() is deprecated; use Study.learning_curves", DeprecationWarning, stacklevel=2)
        return self.learning_curves

    def hypervolume_history(self, objectives: str | Sequence[str] | None = None) -> pd.DataFrame:
        """The normalised hypervolume of the completed front after each trial ended:
        ``trial_id, status, trials_ended, epochs_spent, hypervolume``."""
        from .study.pareto import hypervolume_trace

        return hypervolume_trace(self.table, self.objectives_for(objectives))

    def plot_front(self, objectives: str | Sequence[str] | None = None) -> go.Figure:
        """The report's front figure: accuracy against the first cost among ``objectives``
        (default: the study's), every trial in its status's marker, the baselines as stars and
        the front over ``objectives``, whose trace's ``ids`` are its trials' ids. A plotly
        figure: in Jupyter it renders inline, and its output also holds the figure as HTML
        (plotly.js from its CDN), which nbconvert's pages and other viewers draw."""
        from .study.notebook_figure import for_notebook
        from .study.report import study_front_figure, with_hover

        objectives = self.objectives_for(objectives)
        costs = [o for o in objectives if o != "accuracy"]
        if "accuracy" not in objectives or not costs:
            raise UserError(f"plot_front: the figure draws accuracy against a cost; give accuracy and one of "
                            f"params, macs, latency, loss, got {', '.join(objectives)}")
        self.require_completed()
        fig = with_hover(study_front_figure(self, costs[0], objectives), self.table.reset_index(drop=True))
        return for_notebook(fig)

    def plot_hypervolume(self, objectives: str | Sequence[str] | None = None) -> go.Figure:
        """The report's convergence figure: the front's normalised hypervolume after each trial."""
        from .study.notebook_figure import for_notebook
        from .study.report import study_hypervolume_figure

        return for_notebook(study_hypervolume_figure(self, self.objectives_for(objectives)))

    def plot_curves(self) -> go.Figure:
        """The report's learning curves: accuracy per epoch, front trials in red, rungs dotted."""
        from .study.notebook_figure import for_notebook
        from .study.report import study_curves_figure, with_hover

        fig = study_curves_figure(self)
        if fig is None:
            raise UserError(f"{self.root}: no trial has reported an epoch yet, so there are no curves")
        return for_notebook(with_hover(fig, self.table.reset_index(drop=True)))

    def plot_params(self) -> go.Figure:
        """The report's parameter panels: accuracy against each searched parameter."""
        from .study.notebook_figure import for_notebook
        from .study.report import study_params_figure, with_hover

        fig = study_params_figure(self)
        if fig is None:
            raise UserError(f"{self.root}: no searched parameter has a value yet (every trial so far is fixed)")
        return for_notebook(with_hover(fig, self.table.reset_index(drop=True)))

    def plot_confirmation(self) -> go.Figure:
        """A one-shot search's confirmed subnets: the supernet's accuracy estimate against
        stand-alone accuracy, Kendall's tau in the title (the report's figure)."""
        from .study.notebook_figure import for_notebook
        from .study.report import study_confirmation_figure

        fig = study_confirmation_figure(self)
        if fig is None:
            raise UserError(f"{self.root}: no confirmed subnet has an accuracy yet"
                            + ("" if self.subnet_table is not None else " (the study ran no one-shot search)"))
        return for_notebook(fig)

    def report(self, path: str | None = None) -> str:
        """Write the offline HTML report (default: ``report.html`` in the folder); its path."""
        from .study.report import write_report

        return write_report(self, path)

    def export(self, trial: int, to: str, onnx: bool = False, force: bool = False) -> str:
        """Export a trial (completed, or stopped early with its last weights) as a standalone
        folder; returns the folder. ``to`` must be new, empty or an earlier export of the same
        trial; ``force`` replaces anything else (an earlier export's files removed first)."""
        from .exports.write import export_trial

        return export_trial(self, _whole(trial, "trial", None), _text(to, "to"), _flag(onnx, "onnx"),
                            _flag(force, "force"))

    def export_subnet(self, subnet: int, to: str, onnx: bool = False, force: bool = False) -> str:
        """Export a one-shot search's subnet (``trial_id`` of ``supernet_front()``) with the
        weights it inherits from the supernet, BatchNorm recalibrated: never trained stand-alone,
        as its README says; returns the folder."""
        from .oneshot.export import export_subnet

        return export_subnet(self, _whole(subnet, "subnet", 0), _text(to, "to"), _flag(onnx, "onnx"),
                             _flag(force, "force"))

    def export_front(self, to: str, objectives: str | Sequence[str] | None = None, onnx: bool = False,
                     force: bool = False) -> list[str]:
        """Export every trial of the front, one ``trial_NNNN`` folder each; the folders."""
        from .exports.write import export_front

        return export_front(self, self.objectives_for(objectives), _text(to, "to"), _flag(onnx, "onnx"),
                            _flag(force, "force"))

    def load_model(self, trial: int, map_location: str = "cpu") -> SKNet:
        """A trial's network with its last weights, in eval mode."""
        from .exports.read import with_weights
        from .study.artifacts import trial_artifacts

        art = trial_artifacts(self, _whole(trial, "trial", None))
        return with_weights(art.spec, art.weights).to(map_location)


def open(study_dir: str, storage: str | None = None) -> Study:  # noqa: A001 - sksearch.open, as the API promises
    """A study folder written by ``sksearch run``, its trials read from its own ``optuna.db``.
    A study in another database (a shared study's server, named by the folder's ``run.json``)
    is read only from a ``storage`` URL given here: a folder's word is not enough to connect
    anywhere (``UserError`` shows the URL it names, password masked)."""
    return Study.open(_text(study_dir, "study_dir"), _text(storage, "storage", True))


def confirm(study_dir: str, *, seeds: int = 2, top: int | None = None, audit: int = 0,
            log: Callable[[str], Any] = print, workers: int | None = None) -> Study:
    """``sksearch confirm``: see ``Study.confirm``; ``log`` gets a progress line per run."""
    from .search.confirm import confirm as run_confirm

    with sigterm_stops():
        return _study(run_confirm(study_dir, seeds=seeds, top=top, audit=audit, log=log, workers=workers))


def _study(folder: StudyFolder) -> Study:
    return Study(folder.root, folder.run, folder.space, folder.table, storage=folder.storage_url)


def run(space: str | Mapping[str, Any] | SearchSpace, out: str | None = None, *, trials: int | None = None,
        max_epochs: int | None = None, storage: str | None = None, address: str | None = None,
        overrides: Mapping[str, Any] | None = None, force: bool = False, wait_for_resources: bool = False,
        loggers: Sequence[str] = (), warm_start: Sequence[str] = (), strategy: str | None = None,
        trial_storage: str | None = None, progress: bool = True) -> Study:
    """Run a search and return its study once it ends (finished or interrupted:
    ``study.status()["finished"]`` says which).

    ``space`` is a space file's path, a dict in the space-file schema or a parsed space;
    ``overrides`` maps key paths to values (``{"train.lr": 0.05, "model.stages[0].depth": 2}``),
    as ``run --set`` does; ``trials`` and ``max_epochs`` are shorthands for ``trials`` and
    ``scheduler.max_epochs``. ``out`` defaults to ``results/<space name>``; ``storage`` is a
    database URL (default: ``optuna.db`` in the folder); ``address`` joins a Ray cluster.
    ``trial_storage`` (``resources.trial_storage``) is a folder every node of a multi-machine
    cluster mounts, where the trials write their checkpoints (default: ``ray/`` in the folder).
    ``out`` must be new, empty or hold no files but sksearch's, unless ``force``; a trial that
    no node of the cluster can host is refused unless ``wait_for_resources`` (an autoscaling
    cluster). ``loggers`` adds experiment trackers to the space's ``loggers`` (``tensorboard``,
    ``mlflow``, ``wandb``); ``warm_start`` adds study folders (or ``URL#STUDY_NAME``) whose
    completed trials that fit the space seed the sampler. ``strategy`` (``standalone`` |
    ``one_shot``) is a shorthand for ``strategy.name``. Blocks until the search ends,
    showing its progress (in a Jupyter notebook one display updated in place; ``progress=False``
    silences it). SIGTERM (a job scheduler's stop) ends it as Ctrl-C does; in a notebook,
    interrupting the kernel stops the search cleanly and returns its resumable study."""
    from .space.overrides import prepare_space

    changes = _mapping(overrides, "overrides")
    _whole(trials, "trials", optional=True)
    _whole(max_epochs, "max_epochs", optional=True)
    out, storage, address = _text(out, "out", True), _text(storage, "storage", True), _text(address, "address", True)
    strategy = _text(strategy, "strategy", True)
    loggers, warm_start = _texts(loggers, "loggers"), _texts(warm_start, "warm_start")
    for flag in ("force", "wait_for_resources", "progress"):
        _flag(locals()[flag], flag)
    if trials is not None:
        changes["trials"] = trials
    if max_epochs is not None:
        changes["scheduler.max_epochs"] = max_epochs
    if strategy is not None:
        changes["strategy.name"] = strategy
    if trial_storage is not None:
        changes["resources.trial_storage"] = trial_storage
    # Validated with the file, as --set is: a bad tracker name is the space's error.
    resolved = prepare_space(space, changes, {"loggers": list(loggers), "warm_start": list(warm_start)})
    from .search.driver import run as run_search

    root = out or os.path.join("results", resolved.name)
    return _searching(root, progress, lambda: run_search(resolved, root, strategy_for(resolved), storage, address,
                                                         force, wait_for_resources))


def resume(study_dir: str, *, address: str | None = None, wait_for_resources: bool = False,
           progress: bool = True) -> Study:
    """Continue an interrupted search to its planned trial count; its study when it ends.
    Progress as ``run`` shows it (``progress=False``: none). A copied or moved folder resumes
    in place and never touches the folder it came from (a study with ``--storage`` elsewhere
    shares that database). Resuming runs code from the folder (Ray's pickled snapshot): resume
    only folders you trust."""
    from .search.driver import resume as resume_search

    study_dir, address = _text(study_dir, "study_dir"), _text(address, "address", True)
    _flag(wait_for_resources, "wait_for_resources")
    _flag(progress, "progress")
    return _searching(study_dir, progress, lambda: resume_search(study_dir, strategy_for, address, wait_for_resources))


def strategy_for(space: SearchSpace) -> Strategy:
    """The search strategy a space's ``strategy.name`` asks for, which ``run`` and ``resume``
    hand to the search driver: the driver knows no strategy by name, and the one-shot strategy,
    built on the search wing, is imported from here, above both."""
    if space.strategy.name == "one_shot":
        from .oneshot.strategy import OneShot

        return OneShot()
    from .search.strategy import Strategy

    return Strategy()


def _searching(root: str, progress: bool, search: Callable[[], StudyFolder]) -> Study:
    """``search()``'s study, its progress shown or not. In a notebook a KeyboardInterrupt (the
    kernel's interrupt) that escapes the search returns its study instead, as one during the
    trials already does (Ray Tune's own SIGINT handler stops them and the driver returns the
    folder): the caller gets the resumable ``Study`` either way. A script or the command line
    gets the exception, and its exit code, as before."""
    import sys

    from .search.progress import in_notebook, showing
    from .study.layout import Layout

    with sigterm_stops(), showing(progress):
        try:
            return _study(search())
        except KeyboardInterrupt:
            if not in_notebook() or not os.path.exists(Layout(root).run_json):
                raise  # outside a notebook, or before the study existed: nothing to return
    print(f"search interrupted; continue it with sksearch.resume({root!r})", file=sys.stderr, flush=True)
    from .study.folder import read_run

    # The study this search wrote, wherever its run.json (written or followed by it) says.
    return Study.open(root, storage=read_run(root).storage_url(Layout(root)))


def train(target: str, epochs: int, out: str, *, data: str | None = None, data_root: str | None = None,
          overrides: Mapping[str, Any] | None = None, from_scratch: bool = False, device: str | None = None,
          force: bool = False, threads: int | None = None, log_test: bool = False, refit: bool = False) -> str:
    """Train an export folder, spec file or preset for a full schedule of ``epochs`` with the
    search's trainer and the export's recipe (``train.json``), from its weights unless
    ``from_scratch``; writes an export folder to ``out`` and returns it. Calling it again after
    a crash resumes from the last epoch's checkpoint. ``overrides`` change the recipe or data
    (``{"train.lr": 0.05, "data.train_limit": None}``). From an export's weights the peak lr
    is a tenth of the recipe's (``fulltrain.CONTINUE_LR_SCALE``: the full peak undoes the trained
    network) unless ``overrides`` set ``train.lr``. ``threads``: torch's CPU threads (default:
    the CPUs each trial of the export's study had, as the trial trained). It reports val and
    test accuracy at the end; ``log_test`` also logs test accuracy every epoch. ``refit`` trains
    on train + val once nothing is chosen on val any more: no val accuracy, the test split still
    read once at the end, and the export records the refit and its training images."""
    from .fulltrain import plan, train_job

    # Checked before plan() and train() look at anything: a bad epochs made out/ and then failed.
    target, out = _text(target, "target"), _text(out, "out")
    epochs = _whole(epochs, "epochs")
    data, data_root = _text(data, "data", True), _text(data_root, "data_root", True)
    device = _text(device, "device", True)
    overrides = _mapping(overrides, "overrides")
    threads = _whole(threads, "threads", optional=True)
    for flag in ("from_scratch", "force", "log_test"):
        _flag(locals()[flag], flag)

    with sigterm_stops():
        train_job(plan(target, epochs, data, data_root, overrides, from_scratch, refit), out, device, force,
                  threads=threads, log_test=log_test)
    return out


def spec(name_or_spec: str | ArchSpec | Mapping[str, Any], **changes: Any) -> ArchSpec:
    """The ``ArchSpec`` of a preset name, a spec file, a spec dict or an ``ArchSpec``, with
    ``changes`` (``input_size=64``, ``num_classes=100``...) applied."""
    from .model.resolve import resolve

    return resolve(name_or_spec, **changes)


def build_model(name_or_spec: str | ArchSpec | Mapping[str, Any], **changes: Any) -> SKNet:
    """A freshly initialised network of a preset, spec file, spec dict or ``ArchSpec``."""
    from .model.network import build

    return build(spec(name_or_spec, **changes).to_dict())


def cost(name_or_spec: str | ArchSpec | Mapping[str, Any], input_size: int | None = None) -> dict[str, int]:
    """Params and MACs (multiply-adds, batch 1) of a preset or spec; presets at their own
    input size come from the stored table, without torch."""
    from .model.presets import PRESETS, stored_costs

    input_size = _whole(input_size, "input_size", optional=True)

    if isinstance(name_or_spec, str) and name_or_spec in PRESETS and input_size is None:
        return dict(stored_costs()[name_or_spec])
    from .model.cost import params_and_macs

    params, macs = params_and_macs(spec(name_or_spec, input_size=input_size))
    return {"params": params, "macs": macs}


def latency(name_or_spec: str | ArchSpec | Mapping[str, Any], device: str | None = None, batch_size: int = 1,
            input_size: int | None = None) -> float:
    """Median forward time in milliseconds (eval mode, a batch of ``batch_size``) of a freshly
    built network of a preset or spec on ``device`` (default: CUDA where there is one)."""
    from .devices import pick_device
    from .model.cost import spec_latency
    from .model.memory import check_fits

    batch_size, input_size = _whole(batch_size, "batch_size"), _whole(input_size, "input_size", optional=True)
    arch, device = spec(name_or_spec, input_size=input_size), pick_device(device)
    check_fits(arch, name_or_spec if isinstance(name_or_spec, str) else "spec", device, batch_size)
    return spec_latency(arch, device, batch_size)


def export_untrained(name_or_spec: str | ArchSpec | Mapping[str, Any], to: str, *, onnx: bool = False,
                     force: bool = False, **changes: Any) -> str:
    """An export folder (``model.py``, ``spec.json``, weights) of a freshly initialised network
    of a preset or spec, with ``changes`` applied, as ``sksearch build`` writes it; the folder."""

    from .exports.write import export_untrained as write

    to = _text(to, "to")
    _flag(onnx, "onnx")
    _flag(force, "force")

    name = os.path.basename(name_or_spec) if isinstance(name_or_spec, str) else "spec"
    return write(spec(name_or_spec, **changes), name, to, onnx, force=force)


def analyze(target: str, scales: str | Sequence[float], *, data: str | None = None, data_root: str | None = None,
            out: str | None = None, per_class: bool = False, unit: str | None = None, bins: int = 3,
            limit: int | None = None, batch_size: int = 256, device: str | None = None,
            log: Callable[[str], Any] = print, storage: str | None = None) -> Analysis:
    """``sksearch analyze``: the SK attention of an export folder or ``STUDY_DIR:TRIAL_ID``
    against object scale (``scales``: enlargements >= 1, or "1,1.5,2"); writes
    ``attention.csv`` and ``attention.html`` and returns what it found: the same table
    (``.table``) and figures (``.figures``, plotly, inline in a notebook) as well.
    ``storage``: the database of the study's trials where it is not the folder's own (as
    ``open`` takes it)."""
    from .analysis.analyze import analyze as run_analysis
    from .analysis.attention import parse_scales

    target, out = _text(target, "target"), _text(out, "out", True)
    data, data_root, unit = _text(data, "data", True), _text(data_root, "data_root", True), _text(unit, "unit", True)
    bins, batch_size = _whole(bins, "bins"), _whole(batch_size, "batch_size")
    limit = _whole(limit, "limit", optional=True)
    _flag(per_class, "per_class")
    if not isinstance(scales, str):
        if not isinstance(scales, (list, tuple)) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in scales):
            raise UserError(f"scales: must be \"1,1.5,2\" or a list of numbers, got {show(scales)}")

    return run_analysis(target, parse_scales(scales) if isinstance(scales, str) else list(scales), data=data,
                        data_root=data_root, out=out, per_class=per_class, unit=unit, bins=bins, limit=limit,
                        batch_size=batch_size, device=device, log=log, storage=storage)


def load_model(folder: str, map_location: str = "cpu") -> SKNet:
    """The network of an export folder (``sksearch export`` / ``sksearch build``), in eval mode."""
    from .exports.read import load_model as load

    return load(_text(folder, "folder"), map_location)


__all__ = ["Study", "UserError", "analyze", "build_model", "confirm", "cost", "export_untrained", "latency",
           "load_model", "open", "resume", "run", "spec", "train"]
