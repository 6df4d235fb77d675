"""The ``sksearch`` command. Thin: parses arguments and calls the modules that do the work.

Bad input raises ``UserError`` anywhere below; ``main`` prints its message and exits with 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable, Sequence

from .errors import UserError

Handler = Callable[[argparse.Namespace], int]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _millions(n: int) -> str:
    return f"{n / 1e6:.2f}M"


def _giga(n: int) -> str:
    return f"{n / 1e9:.3f}G"


def cmd_models(args: argparse.Namespace) -> int:
    from .cost import params_and_macs
    from .presets import DESCRIPTIONS, PRESETS

    rows = []
    for name, factory in PRESETS.items():
        spec = factory()
        params, macs = params_and_macs(spec)
        rows.append({"name": name, "params": params, "macs": macs, "input_size": spec.input_size,
                     "description": DESCRIPTIONS[name]})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    print(f"{'name':<{width}}  {'params':>8}  {'MACs':>8}  input  description")
    for r in rows:
        print(f"{r['name']:<{width}}  {_millions(r['params']):>8}  {_giga(r['macs']):>8}  "
              f"{r['input_size']:>5}  {r['description']}")
    print("MACs are multiply-adds at the preset's input size (the SKNet paper's 'FLOPs').")
    return 0


def cmd_cost(args: argparse.Namespace) -> int:
    from .arch import resolve
    from .cost import cost

    spec = resolve(args.model, input_size=args.input_size)
    if args.latency and args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UserError(f"--device {args.device}: CUDA is not available on this machine; use --device cpu")
    result = cost(spec, latency=args.latency, device=args.device, batch_size=args.batch_size)
    if args.json:
        out = {"model": args.model, "input_size": spec.input_size, "params": result.params, "macs": result.macs}
        if result.latency_ms is not None:
            out.update(latency_ms=result.latency_ms, device=args.device, batch_size=args.batch_size)
        print(json.dumps(out))
        return 0
    print(f"model       {args.model}")
    print(f"input       {spec.in_channels}x{spec.input_size}x{spec.input_size}")
    print(f"params      {result.params:,} ({_millions(result.params)})")
    print(f"MACs        {result.macs:,} ({_giga(result.macs)})")
    if result.latency_ms is not None:
        print(f"latency     {result.latency_ms:.2f} ms (median, batch {args.batch_size}, {args.device})")
    return 0


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _fraction_or_count(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of GPUs such as 1, 0.5 or 0.25, got {text!r}") from None
    if value < 0 or (value > 1 and value != int(value)):
        raise argparse.ArgumentTypeError(f"expected 0, a fraction below 1 or a whole number of GPUs, got {text}")
    return value


def cmd_run(args: argparse.Namespace) -> int:
    from .search import RunOptions, apply_overrides, run
    from .space import load_space

    space = load_space(args.space)
    space = apply_overrides(space, args.trials, args.max_epochs, args.cpus_per_trial, args.gpus_per_trial)
    out = args.out or os.path.join("results", space.name)
    return run(space, RunOptions(out=out, storage=args.storage, address=args.address))


def cmd_resume(args: argparse.Namespace) -> int:
    from .search import resume

    return resume(args.folder, args.address)


def cmd_status(args: argparse.Namespace) -> int:
    from .progress import clock
    from .search import status

    info = status(args.folder)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    c = info["counts"]
    finished = c["completed"] + c["stopped_early"] + c["failed"]
    print(f"study     {info['study']} ({info['folder']})")
    print(f"trials    {finished} of {info['planned']} done, {c['running']} running, {c['rejected']} samples rejected")
    for s in info["statuses"]:
        print(f"  {s:<14}{c[s]:>5}")
    best = info["best"]
    if best:
        print(f"best      trial {best['trial_id']}: accuracy {best['accuracy']:.2%}, {best['params']:,} params, "
              f"{best['macs']:,} MACs")
    else:
        print("best      none yet (no trial has run its full budget)")
    print(f"time      {clock(info['wall_s'])} wall (first start to last end), {clock(info['trial_s'])} in trials, "
          f"{clock(info['train_s'])} training")
    return 0


def _objectives(text: str | None, study) -> list[str]:  # noqa: ANN001 - a StudyFolder
    from .pareto import GOALS

    if not text:
        return study.objectives
    names = [t.strip() for t in text.split(",") if t.strip()]
    for name in names:
        if name not in GOALS:
            raise UserError(f"--objectives: {name!r} is not an objective; allowed: {', '.join(GOALS)}")
        if name not in study.table.columns or study.table[name].isna().all():
            raise UserError(f"--objectives: {name!r} was not measured in {study.folder}")
    if len(set(names)) != len(names) or not names:
        raise UserError(f"--objectives: give distinct names, got {text!r}")
    return names


def cmd_pareto(args: argparse.Namespace) -> int:
    from .pareto import front_rows, print_front
    from .study import open_folder

    study = open_folder(args.folder)
    objectives = _objectives(args.objectives, study)
    study.require_completed()
    rows = front_rows(study.table, objectives)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        print(f"Pareto front of {len(rows)} completed trials over {', '.join(objectives)}:")
        print_front(rows)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report
    from .study import open_folder

    study = open_folder(args.folder)
    print(f"report: {write_report(study, args.out)}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_front, export_trial
    from .study import open_folder

    if (args.trial is None) == (not args.front):
        raise UserError("give exactly one of --trial ID and --front")
    study = open_folder(args.folder)
    if args.front:
        objectives = _objectives(args.objectives, study)
        written = export_front(study.folder, study.table, objectives, args.to, args.onnx)
    else:
        written = [export_trial(study.folder, study.table, args.trial, args.to, args.onnx)]
    for path in written:
        print(f"exported {path}")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from .arch import resolve
    from .export import export_untrained

    spec = resolve(args.model, input_size=args.input_size, num_classes=args.num_classes)
    print(f"exported {export_untrained(spec, os.path.basename(args.model), args.to, args.onnx)}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from .attention import analysis_images, attention_units, collect, differences, parse_scales, table
    from .attention_report import write_attention_report
    from .export import load_trained

    import torch

    scales = parse_scales(args.scales)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device}: CUDA is not available on this machine; use --device cpu")
    trained = load_trained(args.target)
    units = attention_units(trained.model, args.target)
    names = [u.name for u in units]
    if args.unit is not None and args.unit not in names:
        raise UserError(f"--unit {args.unit}: no such SK unit with attention; allowed: {', '.join(names)}")
    images, mean, std, data_name = analysis_images(trained.spec.input_size, trained.spec.in_channels,
                                                   trained.preprocess, args.data, args.data_root, args.limit)
    out = args.out or trained.default_out
    print(f"analysing {trained.title}: {len(units)} SK units, {len(images.y)} {data_name} validation images, "
          f"scales {', '.join(f'x{s:g}' for s in scales)}{' and as recorded' if images.scales is not None else ''}",
          flush=True)
    att = collect(trained.model, images, scales, mean, std, batch_size=args.batch_size, device=device)
    for (kind, scale), acc in att.accuracy.items():
        print(f"  {'x' + format(scale, 'g') if kind == 'enlarged' else 'as recorded'}: accuracy {acc:.2%}")
    df = table(att, per_class=args.per_class, bins=args.bins)
    os.makedirs(out, exist_ok=True)
    csv_path = os.path.join(out, "attention.csv")
    df.to_csv(csv_path, index=False)
    class_unit = next(u for u in units if u.name == (args.unit or units[0].name))
    html_path = write_attention_report(att, df, os.path.join(out, "attention.html"), trained.title, data_name,
                                       class_unit)
    diff = differences(df, units)
    grid = diff[(diff["class"] == "") & (diff["kind"] == "enlarged")].pivot_table(
        index="unit", columns="scale", values="difference", sort=False)
    grid.columns = [f"x{c:g}" for c in grid.columns]
    print("\nmean attention difference (widest receptive field minus narrowest):")
    print(grid.to_string(float_format=lambda v: f"{v:+.3f}"))
    print(f"\nwrote {csv_path}\nwrote {html_path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sksearch",
        description="Multi-objective architecture and hyper-parameter search for Selective Kernel networks.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("models", help="list the preset networks with their params and MACs")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(handler=cmd_models)

    p = sub.add_parser("cost", help="params and MACs (and optionally latency) of a preset or spec file")
    p.add_argument("model", metavar="NAME_OR_SPEC.json", help="a preset name (see `sksearch models`) or an ArchSpec JSON file")
    p.add_argument("--input-size", type=_positive_int, help="input height and width (default: the spec's)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--latency", action="store_true", help="also measure forward latency (median of 10 after 3 warm-ups)")
    p.add_argument("--device", default="cpu", help="device for --latency (default: cpu)")
    p.add_argument("--batch-size", type=_positive_int, default=1, help="batch size for --latency (default: 1)")
    p.set_defaults(handler=cmd_cost)

    p = sub.add_parser("run", help="run a search described by a search-space file")
    p.add_argument("space", metavar="SPACE.yaml", help="a search-space file (see search_spaces/)")
    p.add_argument("--out", metavar="DIR", help="study folder (default: results/<space name>)")
    p.add_argument("--trials", type=_positive_int, help="trials to train (default: the space's `trials`)")
    p.add_argument("--max-epochs", type=_positive_int, help="epochs of a full-budget trial (default: the space's)")
    p.add_argument("--address", metavar="ADDR", help="join an existing Ray cluster (host:port of `ray start --head`)")
    p.add_argument("--storage", metavar="URL", help="Optuna storage URL (default: sqlite:///DIR/optuna.db)")
    p.add_argument("--gpus-per-trial", type=_fraction_or_count, metavar="F", help="GPUs per trial: 1, 0.5, 0.25, ...")
    p.add_argument("--cpus-per-trial", type=_positive_float, metavar="N", help="CPUs per trial")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("resume", help="continue an interrupted search to its planned trial count")
    p.add_argument("folder", metavar="DIR", help="the study folder of `sksearch run`")
    p.add_argument("--address", metavar="ADDR", help="join this Ray cluster instead of the one the run used")
    p.set_defaults(handler=cmd_resume)

    p = sub.add_parser("status", help="trials by status, the best so far and the time spent")
    p.add_argument("folder", metavar="DIR", help="a study folder")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("pareto", help="print the Pareto front of a study's completed trials")
    p.add_argument("folder", metavar="DIR", help="a study folder")
    p.add_argument("--objectives", metavar="LIST", help="comma-separated, e.g. accuracy,params (default: the study's)")
    p.add_argument("--json", action="store_true", help="print a JSON list of objects")
    p.set_defaults(handler=cmd_pareto)

    p = sub.add_parser("report", help="write DIR/report.html: fronts, hypervolume, parameters (offline)")
    p.add_argument("folder", metavar="DIR", help="a study folder")
    p.add_argument("--out", metavar="PATH", help="where to write it (default: DIR/report.html)")
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser("export", help="export trials as standalone model definitions with their weights")
    p.add_argument("folder", metavar="DIR", help="a study folder")
    p.add_argument("--trial", type=int, metavar="ID", help="the trial to export (trial_id in trials.csv)")
    p.add_argument("--front", action="store_true", help="export every trial of the Pareto front, one folder each")
    p.add_argument("--objectives", metavar="LIST", help="objectives of the front for --front (default: the study's)")
    p.add_argument("--to", required=True, metavar="OUT", help="the folder to write")
    p.add_argument("--onnx", action="store_true", help="also write model.onnx (needs onnx and onnxscript)")
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("build", help="export an untrained preset or spec as a standalone model folder")
    p.add_argument("model", metavar="PRESET_OR_SPEC", help="a preset name or an ArchSpec JSON file")
    p.add_argument("--to", required=True, metavar="OUT", help="the folder to write")
    p.add_argument("--input-size", type=_positive_int, help="input height and width (default: the spec's)")
    p.add_argument("--num-classes", type=_positive_int, help="classes (default: the spec's)")
    p.add_argument("--onnx", action="store_true", help="also write model.onnx (needs onnx and onnxscript)")
    p.set_defaults(handler=cmd_build)

    p = sub.add_parser("analyze", help="how each SK unit's kernel attention changes with object scale")
    p.add_argument("target", metavar="EXPORT_OR_STUDY_TRIAL",
                   help="an export folder, or STUDY_DIR:TRIAL_ID (e.g. results/quickstart:3)")
    p.add_argument("--data", choices=["digits", "cifar10", "cifar100", "imagefolder"],
                   help="validation data to feed (default: the data the model was trained on)")
    p.add_argument("--data-root", metavar="DIR", help="where cifar10/cifar100/imagefolder data lie")
    p.add_argument("--scales", default="1.0,1.5,2.0", metavar="LIST",
                   help="object enlargements, >= 1 (default: 1.0,1.5,2.0)")
    p.add_argument("--out", metavar="DIR", help="where to write attention.csv and attention.html "
                                                "(default: EXPORT/attention or STUDY/attention/trial_ID)")
    p.add_argument("--per-class", action="store_true", help="also write per-class rows to attention.csv")
    p.add_argument("--unit", metavar="NAME", help="the unit of the per-class figure, e.g. SK_3_1 (default: the first)")
    p.add_argument("--bins", type=_positive_int, default=3, help="recorded-scale groups for the digits (default: 3)")
    p.add_argument("--limit", type=_positive_int, help="analyse at most this many validation images (class-balanced)")
    p.add_argument("--batch-size", type=_positive_int, default=256, help="images per forward pass (default: 256)")
    p.add_argument("--device", metavar="D", help="cpu, cuda, cuda:1... (default: cuda when available)")
    p.set_defaults(handler=cmd_analyze)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except UserError as exc:
        print(f"sksearch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sksearch: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
