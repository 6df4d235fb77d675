"""The ``sksearch`` command: a thin layer over the Python API (``sksearch.api``) that parses
arguments and prints; what it prints comes from the API and from the wings' printing helpers
(the presets' table, ``study.pareto``'s front rows, ``study.summary``'s clock).

Bad input raises ``UserError`` anywhere below; ``main`` prints its message and exits with 2.
Each command imports only what it needs, so the read commands answer without Ray or torch.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from typing import Any, Callable, Iterator, Sequence

from . import api
from .data.spec import NAMES as DATA_NAMES
from .errors import UserError
from .signals import EXIT_TERMINATED, sigterm_stops
from .space.schema import MAX_BATCH_SIZE, MAX_EPOCHS, MAX_TRIALS, STRATEGIES
from .study.layout import Layout
from .version import __version__

EXIT_ALL_FAILED = 1
EXIT_INTERRUPTED = 130


MAX_THREADS = 1024  # as a space's resources.cpu
MAX_IMAGES = 10**9  # as a space's data.val_limit
MAX_BINS = 100


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _up_to(limit: int) -> Callable[[str], int]:
    """A positive integer of at most ``limit`` (documented in docs/cli.md's reference)."""
    def parse(text: str) -> int:
        value = _positive_int(text)
        if value > limit:
            raise argparse.ArgumentTypeError(f"expected a positive integer of at most {limit:,}, got {value:,}")
        return value

    parse.__name__ = f"integer up to {limit:,}"  # what argparse names in "invalid ... value"
    return parse


def _millions(n: int) -> str:
    return f"{n / 1e6:.2f}M"


def _giga(n: int) -> str:
    return f"{n / 1e9:.3f}G"


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def cmd_models(args: argparse.Namespace) -> int:
    from .model.presets import DESCRIPTIONS, PRESETS, preset, stored_costs

    costs = stored_costs()
    rows = [{"name": name, **costs[name], "input_size": preset(name).input_size, "description": DESCRIPTIONS[name]}
            for name in PRESETS]
    if args.json:
        _print_json(rows)
        return 0
    width = max(len(r["name"]) for r in rows)
    print(f"{'name':<{width}}  {'params':>8}  {'MACs':>8}  input  description")
    for r in rows:
        print(f"{r['name']:<{width}}  {_millions(r['params']):>8}  {_giga(r['macs']):>8}  "
              f"{r['input_size']:>5}  {r['description']}")
    print("MACs are multiply-adds at the preset's input size (the SKNet paper's 'FLOPs').")
    return 0


def cmd_cost(args: argparse.Namespace) -> int:
    spec = api.spec(args.model, input_size=args.input_size)
    counted = api.cost(args.model, input_size=args.input_size)
    latency = None
    if args.latency:
        latency = api.latency(args.model, args.device, args.batch_size, input_size=args.input_size)
    if args.json:
        out = {"model": args.model, "input_size": spec.input_size, **counted}
        if latency is not None:
            out.update(latency_ms=latency, device=args.device, batch_size=args.batch_size)
        print(json.dumps(out))
        return 0
    print(f"model       {args.model}")
    print(f"input       {spec.in_channels}x{spec.input_size}x{spec.input_size}")
    print(f"params      {counted['params']:,} ({_millions(counted['params'])})")
    print(f"MACs        {counted['macs']:,} ({_giga(counted['macs'])})")
    if latency is not None:
        print(f"latency     {latency:.2f} ms (median, batch {args.batch_size}, {args.device})")
    return 0


def _finite_number(text: str) -> float:
    """A number for an option that overrides a space key; the space's rules check its range."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
    return value


def _run_outcome(study: api.Study, as_json: bool) -> int:
    """Print the final summary as JSON if asked; the exit code: 130 interrupted, 1 when every
    trial failed, 0 otherwise."""
    info = study.status()
    c = info["counts"]
    if as_json:
        from .study.pareto import front_rows

        info["front"] = front_rows(study.front()) if c["completed"] else []
        report = study.layout.report_html
        info["report"] = report if os.path.exists(report) else None
        _print_json(info)
    if not info["finished"]:
        return EXIT_INTERRUPTED
    if c["failed"] and c["failed"] == info["done"]:
        reasons = study.table.loc[study.table["status"] == "failed", "reason"].dropna()
        first = reasons.iloc[0].splitlines()[0] if len(reasons) else "no reason recorded"
        print(f"sksearch: every trial failed (first reason: {first}); see the reason column of "
              f"{study.layout.trials_csv}", file=sys.stderr)
        return EXIT_ALL_FAILED
    return 0


def set_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """``--set KEY.PATH=VALUE`` (repeatable) as the overrides ``api.run`` and ``api.train`` take."""
    from .space.overrides import parse_assignment

    return dict(parse_assignment(text) for text in args.set or [])


def cmd_run(args: argparse.Namespace) -> int:
    overrides = set_overrides(args)
    if args.cpus_per_trial is not None:
        overrides["resources.cpu"] = args.cpus_per_trial
    if args.gpus_per_trial is not None:
        overrides["resources.gpu"] = args.gpus_per_trial
    # With --json, stdout carries the summary alone: progress goes to stderr.
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext(), \
            _advise_resume(args.out):
        study = api.run(args.space, args.out, trials=args.trials, max_epochs=args.max_epochs, storage=args.storage,
                        address=args.address, overrides=overrides, force=args.force, trial_storage=args.trial_storage,
                        wait_for_resources=args.wait_for_resources, loggers=args.logger or (),
                        warm_start=args.warm_start or (), strategy=args.strategy)
    return _run_outcome(study, args.json)


@contextlib.contextmanager
def _advise_resume(folder: str | None) -> Iterator[None]:
    """A stop before the search's own end (Ctrl-C or SIGTERM while starting or restoring) still
    says how to go on, where a study is there to go on with."""
    try:
        yield
    except KeyboardInterrupt:
        if folder and os.path.exists(Layout(folder).run_json):
            print(f"search stopped before its trials began; continue it with: sksearch resume {folder}",
                  file=sys.stderr)
        raise


def cmd_resume(args: argparse.Namespace) -> int:
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext(), \
            _advise_resume(args.folder):
        study = api.resume(args.folder, address=args.address, wait_for_resources=args.wait_for_resources)
    return _run_outcome(study, args.json)


def cmd_status(args: argparse.Namespace) -> int:
    from .study.summary import clock

    info = api.open(args.folder, args.storage).status()
    if args.json:
        _print_json(info)
        return 0
    c = info["counts"]
    print(f"study     {info['study']} ({info['folder']})")
    waiting = f", {c['interrupted']} interrupted (`sksearch resume {info['folder']}` continues them)" \
        if c["interrupted"] else ""
    print(f"trials    {info['done']} of {info['planned']} done by this folder's run, {c['running']} running"
          f"{waiting}, {c['rejected']} samples rejected")
    if len(info["runs"]) > 1:
        print("runs      " + ", ".join(f"{r or '(no id)'}: {n} trials" for r, n in info["runs"].items()))
    if info["imported"]:
        print(f"imported  {info['imported']} completed trials from earlier studies (warm start)")
    for b in info["baselines"]:
        acc = f", accuracy {b['accuracy']:.2%}" if b["accuracy"] is not None else ""
        print(f"baseline  {b['name']} (trial {b['trial_id']}): {b['status'].replace('_', ' ')}{acc}")
    for s in info["statuses"]:
        print(f"  {s:<14}{c[s]:>5}")
    if info["one_shot"]:
        _print_one_shot(info["one_shot"], info["folder"])
    if info.get("confirm"):
        from .study.confirmations import info_lines

        for line in info_lines(info["confirm"]):
            print(line)
    best = info["best"]
    if best:
        print(f"best      trial {best['trial_id']}: accuracy {best['accuracy']:.2%}, {best['params']:,} params, "
              f"{best['macs']:,} MACs")
    else:
        print("best      none yet (no trial has run its full budget)")
    print(f"time      {clock(info['wall_s'])} wall (first start to last end), {clock(info['trial_s'])} in trials, "
          f"{clock(info['train_s'])} training")
    return 0


def _print_one_shot(o: dict, folder: str) -> None:
    """``status``'s lines on a one-shot search: each phase, its subnets (each network once), and
    the supernet's ranking."""
    going = {"running": ", under way", "interrupted": f", interrupted (`sksearch resume {folder}` continues it)"}
    if "supernet" in o:
        s = o["supernet"]
        print(f"supernet  {s['epochs']} of {s['planned']} epochs trained{going.get(s['state'], '')}")
    draws = f"{o['draws']} of {o['planned_draws']} draws" if "planned_draws" in o else f"{o['draws']} draws"
    chosen = f"{len(o['chosen'])} chosen, " if o.get("chosen") is not None else ""
    print(f"one-shot  {draws}{going.get(o.get('search', ''), '')} ({o['study']}): {o['distinct']} distinct subnets, "
          f"{o['evaluated']} evaluated with inherited weights ({o['repeats']} repeat draws answered from the first, "
          f"{o['rejected']} draws rejected), {len(o['front'])} on their front, {chosen}{o['confirmed']} confirmed "
          f"stand-alone")
    print(f"          {o['verdict']}")


def cmd_pareto(args: argparse.Namespace) -> int:
    from .study.confirmations import front_noise, noise_sentence, read_runs
    from .study.pareto import front_rows, print_front, verdict_sentence
    from .study.subnets import one_shot_info

    study = api.open(args.folder, args.storage)
    table = study.front(args.objectives, include_imported=args.include_imported)
    rows = front_rows(table)
    verdicts = study.baselines(args.objectives)
    subnets = study.subnet_table
    one_shot = None if subnets is None else one_shot_info(study.table, subnets, table.attrs["objectives"], study.name)
    runs = read_runs(study)  # after `sksearch confirm`: which front points stand beyond noise
    noise = None if runs is None else front_noise(study.table, table["trial_id"].astype(int).tolist(), runs)
    if args.json:
        _print_json({"front": rows, "baselines": verdicts, "one_shot": one_shot, "noise": noise})
        return 0
    print(f"Pareto front of {len(rows)} completed trials over {', '.join(table.attrs['objectives'])}:")
    print_front(rows)
    for v in verdicts:
        print(verdict_sentence(v))
    if noise:
        print("\nWithin noise (accuracy intervals of mean +- 2 standard errors over each trial's runs overlap):")
        for p in noise:
            print(f"  {noise_sentence(p)}")
    if one_shot:
        print(f"\nSupernet front of {len(one_shot['front'])} of {one_shot['evaluated']} distinct subnets "
              f"({one_shot['draws']} draws; {one_shot['study']}; "
              f"accuracy from weights inherited from the supernet, not trained stand-alone):")
        print_front(one_shot["front"])
        if one_shot["confirmations"]:
            print("\nConfirmed stand-alone (supernet accuracy -> stand-alone accuracy):")
            for c in one_shot["confirmations"]:
                alone = f"{c['accuracy']:.2%}" if c["accuracy"] is not None else "no accuracy"
                print(f"  subnet {c['subnet_id']} -> trial {c['trial_id']} ({c['status'].replace('_', ' ')}): "
                      f"{c['supernet_accuracy']:.2%} -> {alone}")
        print(one_shot["verdict"])
    return 0


def cmd_confirm(args: argparse.Namespace) -> int:
    try:
        study = api.confirm(args.folder, seeds=args.seeds, top=args.top, audit=args.audit,
                            log=lambda m: print(m, flush=True), workers=args.workers)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM (see sksearch.signals)
        print(f"sksearch: confirm stopped; run the same command again to continue it (finished runs are kept, an "
              f"interrupted one resumes from its last epoch): sksearch confirm {args.folder}", file=sys.stderr)
        return EXIT_INTERRUPTED
    from .study.confirmations import info_lines

    info = study.confirmations()
    if info is not None:
        for line in info_lines(info):
            print(line)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    print(f"report: {api.open(args.folder, args.storage).report(args.out)}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    if sum((args.trial is not None, args.front, args.subnet is not None)) != 1:
        raise UserError("give exactly one of --trial ID, --front and --subnet ID")
    study = api.open(args.folder, args.storage)
    if args.front:
        written = study.export_front(args.to, args.objectives, args.onnx, args.force)
    elif args.subnet is not None:
        written = [study.export_subnet(args.subnet, args.to, args.onnx, args.force)]
    else:
        written = [study.export(args.trial, args.to, args.onnx, args.force)]
    if args.json:
        _print_json([{"folder": path, "files": sorted(os.listdir(path))} for path in written])
        return 0
    for path in written:
        print(f"exported {path}")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    folder = api.export_untrained(args.model, args.to, onnx=args.onnx, force=args.force, input_size=args.input_size,
                                  num_classes=args.num_classes)
    print(f"exported {folder}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .devices import pick_device

    overrides = set_overrides(args)
    try:
        api.train(args.target, args.epochs, args.out, data=args.data, data_root=args.data_root, overrides=overrides,
                  from_scratch=args.from_scratch, device=pick_device(args.device), force=args.force,
                  threads=args.threads, log_test=args.log_test, refit=args.refit)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM (see sksearch.signals)
        print(f"sksearch: stopped; run the same command again to resume from the last epoch in {args.out}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .devices import pick_device
    from .evaluate import evaluate_target

    result = evaluate_target(args.target, args.split, data_root=args.data_root, device=pick_device(args.device),
                             batch_size=args.batch_size, threads=args.threads, storage=args.storage)
    if args.json:
        print(json.dumps({k: result[k] for k in ("split", "accuracy", "loss", "samples")}))
        return 0
    note = " (val is the test split: a study written before the three splits)" if result["val_is_test"] else ""
    print(f"{result['model']}: {result['split']} accuracy {result['accuracy']:.2%}, loss {result['loss']:.4f} "
          f"on {result['samples']:,} images of {result['data']}{note}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    result = api.analyze(args.target, args.scales, data=args.data, data_root=args.data_root, out=args.out,
                     per_class=args.per_class, unit=args.unit, bins=args.bins, limit=args.limit,
                     batch_size=args.batch_size, device=args.device, log=lambda m: print(m, flush=True),
                     storage=args.storage)
    for (kind, scale), acc in result.accuracy.items():
        print(f"  {'x' + format(scale, 'g') if kind == 'enlarged' else 'as recorded'}: accuracy {acc:.2%}")
    print("\nmean attention difference (widest receptive field minus narrowest):")
    print(result.differences.to_string(float_format=lambda v: f"{v:+.3f}"))
    print(f"\nwrote {result.csv}\nwrote {result.html}")
    return 0


def _read_storage(p: argparse.ArgumentParser) -> None:
    """A read command's ``--storage``: the one way to have it read a database other than the
    folder's own (a shared study's server), since a folder's run.json is never followed."""
    p.add_argument("--storage", metavar="URL",
                   help="read the study's trials from this database URL (a shared study's server) instead of the "
                        "folder's own optuna.db; a run.json naming another database is shown, never followed")


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad argument reported as every other user error is: one line, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sksearch",
        description="Multi-objective architecture and hyper-parameter search for Selective Kernel networks.",
    )
    parser.add_argument("--version", action="version", version=f"sksearch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("models", help="list the preset networks with their params and MACs")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(handler=cmd_models)

    p = sub.add_parser("cost", help="params and MACs (and optionally latency) of a preset or spec file")
    p.add_argument("model", metavar="NAME_OR_SPEC.json",
                   help="a preset name (see `sksearch models`) or an ArchSpec JSON file")
    p.add_argument("--input-size", type=_positive_int, help="input height and width (default: the spec's)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--latency", action="store_true",
                   help="also measure forward latency (median of 10 after 3 warm-ups)")
    p.add_argument("--device", default="cpu", help="device for --latency (default: cpu)")
    p.add_argument("--batch-size", type=_up_to(MAX_BATCH_SIZE), default=1,
                   help=f"batch size for --latency, at most {MAX_BATCH_SIZE:,} (default: 1)")
    p.set_defaults(handler=cmd_cost)

    p = sub.add_parser("run", help="run a search described by a search-space file")
    p.add_argument("space", metavar="SPACE.yaml", help="a search-space file (see search_spaces/)")
    p.add_argument("--out", metavar="DIR", help="study folder (default: results/<space name>)")
    p.add_argument("--set", action="append", metavar="KEY.PATH=VALUE",
                   help="override any key of the space file, the value read as YAML; repeatable "
                        "(e.g. --set train.lr=0.05 --set model.stages[0].depth=2)")
    p.add_argument("--trials", type=_up_to(MAX_TRIALS),
                   help=f"trials to train, at most {MAX_TRIALS:,} (default: the space's `trials`)")
    p.add_argument("--max-epochs", type=_up_to(MAX_EPOCHS),
                   help=f"epochs of a full-budget trial, at most {MAX_EPOCHS:,} (default: the space's; the grace "
                        f"period is clipped to it)")
    p.add_argument("--address", metavar="ADDR", help="join an existing Ray cluster (host:port of `ray start --head`)")
    p.add_argument("--storage", metavar="URL", help="Optuna storage URL (default: sqlite:///DIR/optuna.db)")
    p.add_argument("--trial-storage", metavar="DIR",
                   help="where the trials write their checkpoints: a folder every node of a multi-machine cluster "
                        "mounts at the same path (resources.trial_storage; default: DIR/ray in the study folder). "
                        "Not --storage, which is the Optuna database")
    p.add_argument("--gpus-per-trial", type=_finite_number, metavar="F",
                   help="GPUs per trial (resources.gpu): 1, 0.5, 0.25, ...")
    p.add_argument("--cpus-per-trial", type=_finite_number, metavar="N", help="CPUs per trial (resources.cpu)")
    p.add_argument("--json", action="store_true",
                   help="print the final summary (status, front, report path) as JSON; progress goes to stderr")
    p.add_argument("--logger", action="append", metavar="NAME",
                   help="also log every trial to a tracker: tensorboard, mlflow or wandb (repeatable; adds to the "
                        "space's `loggers`)")
    p.add_argument("--warm-start", action="append", metavar="STUDY",
                   help="start from the completed trials of an earlier study that fit this space: its folder or "
                        "URL#STUDY_NAME (repeatable; adds to the space's `warm_start`)")
    p.add_argument("--strategy", choices=STRATEGIES,
                   help="standalone: every trial trains its own network; one_shot: one weight-sharing supernet ranks "
                        "the space's subnets, stand-alone trials confirm the best (strategy.name; default: the "
                        "space's, else standalone)")
    p.add_argument("--force", action="store_true", help="write into a non-empty --out folder that is not a study")
    p.add_argument("--wait-for-resources", action="store_true",
                   help="start even if no node can host a trial yet (a cluster that autoscales)")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("resume", help="continue an interrupted search to its planned trial count")
    p.add_argument("folder", metavar="DIR", help="the study folder of `sksearch run`")
    p.add_argument("--address", metavar="ADDR", help="join this Ray cluster instead of the one the run used")
    p.add_argument("--json", action="store_true", help="print the final summary as JSON; progress goes to stderr")
    p.add_argument("--wait-for-resources", action="store_true",
                   help="start even if no node can host a trial yet (a cluster that autoscales)")
    p.set_defaults(handler=cmd_resume)

    p = sub.add_parser("status", help="trials by status, the best so far and the time spent")
    p.add_argument("folder", metavar="DIR", help="a study folder")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _read_storage(p)
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("pareto", help="print the Pareto front of a study's completed trials")
    p.add_argument("folder", metavar="DIR", help="a study folder")
    p.add_argument("--objectives", metavar="LIST", help="comma-separated, e.g. accuracy,params (default: the study's)")
    p.add_argument("--json", action="store_true",
                   help="print a JSON object: `front` (its trials; after `confirm`, `runs`, `accuracy_mean` and "
                        "`accuracy_se`), `baselines` (each with `dominated_by`), `one_shot` (a one-shot search's "
                        "subnet front, confirmations and Kendall's tau; null without) and `noise` (after `confirm`: "
                        "the front points and baselines each is within noise of; null without)")
    p.add_argument("--include-imported", action="store_true",
                   help="let trials imported by a warm start stand on the front (marked `imported`)")
    _read_storage(p)
    p.set_defaults(handler=cmd_pareto)

    p = sub.add_parser("confirm", help="train the front again with new seeds, audit early stopping, rank the rungs")
    p.add_argument("folder", metavar="DIR", help="a study folder")
    p.add_argument("--seeds", type=int, default=2, metavar="K",
                   help="runs with new seeds for each front trial, near-front trial and completed baseline "
                        "(default: 2; 0: none)")
    p.add_argument("--top", type=_positive_int, metavar="N",
                   help="trials to repeat, chosen by non-dominated rank (the whole front always; default: the front)")
    p.add_argument("--audit", type=int, default=0, metavar="K",
                   help="trials the scheduler stopped early, drawn at random (seeded), to train to the full budget "
                        "(default: 0)")
    p.add_argument("--workers", type=_positive_int, metavar="N",
                   help="runs trained at once, each in a process of its own with the space's resources.cpu threads "
                        "(default: the space's concurrency, as many as this machine's cores and GPUs hold)")
    p.set_defaults(handler=cmd_confirm)

    p = sub.add_parser("report", help="write DIR/report.html: fronts, hypervolume, parameters (offline)")
    p.add_argument("folder", metavar="DIR", help="a study folder")
    p.add_argument("--out", metavar="PATH", help="where to write it (default: DIR/report.html)")
    _read_storage(p)
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser("export", help="export trials as standalone model definitions with their weights")
    p.add_argument("folder", metavar="DIR", help="a study folder")
    p.add_argument("--trial", type=int, metavar="ID", help="the trial to export (trial_id in trials.csv)")
    p.add_argument("--front", action="store_true", help="export every trial of the Pareto front, one folder each")
    p.add_argument("--subnet", type=int, metavar="ID",
                   help="a one-shot search's subnet that no trial trained stand-alone (ID: its trial_id in the "
                        "supernet front), with the weights it inherits from the supernet; its README says so")
    p.add_argument("--objectives", metavar="LIST", help="objectives of the front for --front (default: the study's)")
    p.add_argument("--to", required=True, metavar="OUT", help="the folder to write")
    p.add_argument("--onnx", action="store_true", help="also write model.onnx (needs onnx and onnxscript)")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.add_argument("--force", action="store_true",
                   help="replace an export of another trial or study or a trained network (its files removed "
                        "first), or write into a non-empty folder that is not an export")
    _read_storage(p)
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("build", help="export an untrained preset or spec as a standalone model folder")
    p.add_argument("model", metavar="PRESET_OR_SPEC", help="a preset name or an ArchSpec JSON file")
    p.add_argument("--to", required=True, metavar="OUT", help="the folder to write")
    p.add_argument("--input-size", type=_positive_int, help="input height and width (default: the spec's)")
    p.add_argument("--num-classes", type=_positive_int, help="classes (default: the spec's)")
    p.add_argument("--onnx", action="store_true", help="also write model.onnx (needs onnx and onnxscript)")
    p.add_argument("--force", action="store_true",
                   help="replace an export of a trial or a trained network (its files removed first), or write "
                        "into a non-empty folder that is not an export")
    p.set_defaults(handler=cmd_build)

    p = sub.add_parser("train", help="train an export, spec or preset for a full schedule (resumable)")
    p.add_argument("target", metavar="EXPORT_OR_SPEC_OR_PRESET",
                   help="an export folder (its weights, recipe and data), an ArchSpec JSON file or a preset name")
    p.add_argument("--epochs", type=_up_to(MAX_EPOCHS), required=True,
                   help=f"the schedule's length in epochs, at most {MAX_EPOCHS:,}")
    p.add_argument("--out", required=True, metavar="DIR", help="where the trained export folder goes (running the "
                                                               "same command again resumes there)")
    p.add_argument("--data", choices=DATA_NAMES,
                   help="the data to train on (default: the export's recorded data)")
    p.add_argument("--data-root", metavar="DIR", help="where cifar10/cifar100/imagefolder data lie")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="change the recipe or the data, e.g. --set train.lr=0.05 --set data.train_limit=null "
                        "(repeatable)")
    p.add_argument("--from-scratch", action="store_true",
                   help="start from a fresh initialisation at the recipe's peak lr, not from the export's weights "
                        "(from which the peak lr is a tenth of the recipe's unless --set train.lr=...)")
    p.add_argument("--threads", type=_up_to(MAX_THREADS), metavar="N",
                   help=f"torch CPU threads, at most {MAX_THREADS:,} (default: the CPUs each trial of the export's "
                        f"study had, 1 otherwise)")
    p.add_argument("--device", metavar="D", help="cpu, cuda, cuda:1... (default: cuda when available)")
    p.add_argument("--force", action="store_true", help="write into a non-empty folder that is not an export")
    p.add_argument("--log-test", action="store_true",
                   help="also measure the test split every epoch into train_log.csv (by default it is read once, "
                        "at the end: choosing an epoch by it would be selection on the test set)")
    p.add_argument("--refit", action="store_true",
                   help="train on train + val (the final training of a chosen network: nothing is selected on val "
                        "any more); no val accuracy, the test split still read once at the end")
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("evaluate", help="accuracy and loss of a trained model on its data's val or test split")
    p.add_argument("target", metavar="EXPORT_OR_STUDY:TRIAL",
                   help="an export folder, or STUDY_DIR:TRIAL_ID (e.g. results/quickstart:3)")
    p.add_argument("--split", choices=("val", "test"), default="test", help="the split to measure (default: test)")
    p.add_argument("--data-root", metavar="DIR", help="where the data lie now, if not where it was trained")
    p.add_argument("--json", action="store_true", help="print one JSON object: split, accuracy, loss, samples")
    p.add_argument("--batch-size", type=_up_to(MAX_BATCH_SIZE), default=512,
                   help=f"images per forward pass, at most {MAX_BATCH_SIZE:,} (default: 512)")
    p.add_argument("--device", metavar="D", help="cpu, cuda, cuda:1... (default: cuda when available)")
    p.add_argument("--threads", type=_up_to(MAX_THREADS), metavar="N",
                   help=f"torch CPU threads, at most {MAX_THREADS:,} (default: the CPUs each trial of the export's "
                        f"study had, 1 otherwise)")
    _read_storage(p)
    p.set_defaults(handler=cmd_evaluate)

    p = sub.add_parser("analyze", help="how each SK unit's kernel attention changes with object scale")
    p.add_argument("target", metavar="EXPORT_OR_STUDY_TRIAL",
                   help="an export folder, or STUDY_DIR:TRIAL_ID (e.g. results/quickstart:3)")
    p.add_argument("--data", choices=DATA_NAMES,
                   help="validation data to feed (default: the data the model was trained on)")
    p.add_argument("--data-root", metavar="DIR", help="where cifar10/cifar100/imagefolder data lie")
    p.add_argument("--scales", default="1.0,1.5,2.0", metavar="LIST",
                   help="object enlargements, >= 1 (default: 1.0,1.5,2.0)")
    p.add_argument("--out", metavar="DIR", help="where to write attention.csv and attention.html "
                                                "(default: EXPORT/attention or STUDY/attention/trial_ID)")
    p.add_argument("--per-class", action="store_true", help="also write per-class rows to attention.csv")
    p.add_argument("--unit", metavar="NAME", help="the unit of the per-class figure, e.g. SK_3_1 (default: the first)")
    p.add_argument("--bins", type=_up_to(MAX_BINS), default=3,
                   help=f"recorded-scale groups for the digits, at most {MAX_BINS} (default: 3)")
    p.add_argument("--limit", type=_up_to(MAX_IMAGES),
                   help="analyse at most this many validation images (class-balanced)")
    p.add_argument("--batch-size", type=_up_to(MAX_BATCH_SIZE), default=256,
                   help=f"images per forward pass, at most {MAX_BATCH_SIZE:,} (default: 256)")
    p.add_argument("--device", metavar="D", help="cpu, cuda, cuda:1... (default: cuda when available)")
    _read_storage(p)
    p.set_defaults(handler=cmd_analyze)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from . import faults

    args = None
    with sigterm_stops() as stop:
        try:
            args = build_parser().parse_args(argv)
            code = args.handler(args)
            return EXIT_TERMINATED if stop.terminated and code == EXIT_INTERRUPTED else code
        except UserError as exc:
            print(f"sksearch: error: {exc}", file=sys.stderr)
            return 2
        except BrokenPipeError:
            # The reader went away (`sksearch models | head -1`): stop quietly, as cat does.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except Exception as exc:  # only a fault of the machine (full disk, read-only) is told here; the rest propagates
            fault = faults.describe(exc)
            if fault is None:
                raise
            print(f"sksearch: {fault}; {faults.how_to_go_on(args)}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("sksearch: stopped (SIGTERM)" if stop.terminated else "sksearch: interrupted", file=sys.stderr)
            return EXIT_TERMINATED if stop.terminated else EXIT_INTERRUPTED


def entry() -> None:
    """The ``sksearch`` program: ``main``, then exit with its code.

    A Ray cluster that never answered leaves ``ray.init`` running in its helper thread
    (``search.ray_cluster._join``): an ordinary exit then finalises the interpreter under that
    thread's C++ code, which aborts (``std::bad_alloc``, exit -6) after the error was printed.
    With such a thread alive, the process ends at once with the code ``main`` chose."""
    import threading

    code = main()
    if any(t.name == "sksearch-ray-connect" and t.is_alive() for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
