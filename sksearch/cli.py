"""The ``sksearch`` command. Thin: parses arguments and calls the modules that do the work.

Bad input raises ``UserError`` anywhere below; ``main`` prints its message and exits with 2.
"""

from __future__ import annotations

import argparse
import json
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
