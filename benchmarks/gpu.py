"""Everything sksearch does on a GPU, measured in one run: train-step throughput by precision,
memory format and compilation; a real search with 1, 0.5 and 0.25 GPU per trial; attention
analysis and exported logits on CUDA.

    python benchmarks/gpu.py                      # on a CUDA machine: the full run
    python benchmarks/gpu.py --append-results     # ... and append its tables to benchmarks/RESULTS.md
    python benchmarks/gpu.py --toy                # the same code at toy sizes (what the test suite runs)

Without CUDA it runs the same code on the CPU at toy sizes and says plainly that no GPU
figure was taken (``--append-results`` then appends nothing). Sections:

1. **Train steps.** Images per second of one train step (forward, backward, SGD) of an
   SKNet-29-like and a quickstart-like network: fp32, bf16 autocast, bf16 + channels_last, and
   that + ``torch.compile``; then SK against ResNeXt at the same widths (bf16 +
   channels_last), the time ratio beside the MAC ratio. Interleaved rounds, best round kept.
2. **Search.** A real ``sksearch.run`` on CIFAR-shaped synthetic data (``synthetic_cifar``:
   offline, 50,000 images) with 1, 0.5 and 0.25 GPU per trial: trials per hour, GPU
   utilisation sampled every 0.5 s by ``nvidia-smi`` during the search, peak memory per trial
   (the trials' ``peak_memory``), the workers' peak resident memory (``peak_rss``), and the share of
   trial-slot time spent inside training steps.
3. **Analysis and export.** ``sksearch analyze --device cuda`` on the search's best SK trial
   (its wall time), and that trial's exported model: logits on CUDA (fp32) against the CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from sk_overhead import make_model, step_fn  # noqa: E402 - beside this file

from sksearch.model.cost import params_and_macs  # noqa: E402
from sksearch.model.presets import resnext29  # noqa: E402
from sksearch.model.spec import ArchSpec, SKSpec, StageSpec  # noqa: E402

NO_GPU = "no GPU figure was taken: CUDA is not available here, so this ran on the CPU at toy sizes"


@dataclass(frozen=True)
class Sizes:
    """What one run measures: the GPU run's sizes, or the toy ones."""

    batch: int
    steps: int            # train steps timed together per round
    rounds: int
    compile_nets: tuple[str, ...]
    train_size: int
    val_size: int
    trials: int
    epochs: int
    fractions: tuple[float, ...]
    cpus_per_trial: float


GPU = Sizes(batch=512, steps=20, rounds=3, compile_nets=("sknet29-like", "quickstart-like"), train_size=50000,
            val_size=10000, trials=8, epochs=3, fractions=(1.0, 0.5, 0.25), cpus_per_trial=2)
# At toy sizes only a one-unit SK net is compiled: compiling the quickstart-like net's train step
# took minutes on a cold compile cache at load 4 (a new user's machine), a one-unit net seconds.
# The compile code path is the same; the toy table says which cells it did not run.
TOY = Sizes(batch=16, steps=2, rounds=2, compile_nets=("one-unit",), train_size=400, val_size=200,
            trials=2, epochs=1, fractions=(0.0,), cpus_per_trial=1)


def quickstart_like(block: str = "sk", in_channels: int = 3, input_size: int = 32) -> ArchSpec:
    """The quickstart's reference SK network (README), on CIFAR-shaped input."""
    stages = tuple(StageSpec(depth=d, width=w, out_channels=o, stride=2)
                   for d, w, o in zip((2, 2, 1), (32, 64, 64), (32, 64, 128)))
    return ArchSpec(stages=stages, block=block, stem="cifar", stem_width=16, groups=8,
                    sk=SKSpec(((3, 1), (3, 2)), reduction=4, min_dim=16), num_classes=10,
                    in_channels=in_channels, input_size=input_size)


def one_unit() -> ArchSpec:
    """One narrow SK unit on a 16 px input: the toy run's compiled network."""
    return ArchSpec(stages=(StageSpec(depth=1, width=8, out_channels=16, stride=2),), block="sk", stem="cifar",
                    stem_width=8, groups=4, sk=SKSpec(((3, 1), (3, 2)), reduction=4, min_dim=4), num_classes=10,
                    in_channels=3, input_size=16)


def networks(toy: bool) -> dict[str, ArchSpec]:
    # SKNet-29 (16x32d, G=32) on a GPU only: on the CPU even a 4x narrower ResNeXt-29 layout took
    # 8 s a step at batch 16 (load 4.5), most of a toy run; the toy's table says it was left out.
    if toy:
        return {"quickstart-like": quickstart_like(), "one-unit": one_unit()}
    return {"sknet29-like": resnext29(16, 32, "sk", sk_groups=32), "quickstart-like": quickstart_like()}


VARIANTS = (("fp32", False, False, False), ("bf16", True, False, False), ("bf16+cl", True, True, False),
            ("bf16+cl+compile", True, True, True))


def train_step(spec: ArchSpec, device: torch.device, batch: int, bf16: bool, channels_last: bool, compiled: bool):
    """One train step of ``spec`` on a fixed random batch: sk_overhead.py's model and step."""
    torch.manual_seed(0)
    model = make_model(spec, spec.block, device, channels_last)
    x = torch.randn(batch, spec.in_channels, spec.input_size, spec.input_size, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, spec.num_classes, (batch,), device=device)
    return step_fn(torch.compile(model) if compiled else model, x, y, bf16)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(steps: dict[str, object], device: torch.device, sizes: Sizes) -> dict[str, float]:
    """Seconds per step of each callable: warmed up, then interleaved rounds, best round."""
    warm: dict[str, float] = {}
    for name, fn in steps.items():
        t0 = time.perf_counter()
        for _ in range(3):  # compilation, cuDNN autotuning, oneDNN primitives
            fn()
        sync(device)
        warm[name] = time.perf_counter() - t0
    best = {name: float("inf") for name in steps}
    for _ in range(sizes.rounds):
        for name, fn in steps.items():
            sync(device)
            t0 = time.perf_counter()
            for _ in range(sizes.steps):
                fn()
            sync(device)
            best[name] = min(best[name], (time.perf_counter() - t0) / sizes.steps)
    best.update({f"{name}:warmup": s for name, s in warm.items()})
    return best


def section_steps(device: torch.device, sizes: Sizes, toy: bool) -> list[str]:
    lines = ["### Train steps (images/s; best of interleaved rounds)", "",
             f"batch {sizes.batch}, {sizes.steps} steps per round, {sizes.rounds} rounds", "",
             "| network | " + " | ".join(v[0] for v in VARIANTS) + " | compile warm-up (s) |",
             "| --- |" + " --- |" * (len(VARIANTS) + 1)]
    ratio_lines = ["", "SK against ResNeXt at the same widths (bf16 + channels_last):", "",
                   "| network | SK step (ms) | ResNeXt step (ms) | time ratio | MAC ratio |",
                   "| --- | --- | --- | --- | --- |"]
    for net, spec in networks(toy).items():
        fns = {}
        for name, bf16, cl, comp in VARIANTS:
            if comp and net not in sizes.compile_nets:
                continue
            fns[name] = train_step(spec, device, sizes.batch, bf16, cl, comp)
        t = time_steps(fns, device, sizes)
        cells = [f"{sizes.batch / t[v[0]]:,.0f}" if v[0] in t else "not run (toy)" for v in VARIANTS]
        warm = f"{t['bf16+cl+compile:warmup']:.1f}" if "bf16+cl+compile" in t else "-"
        lines.append(f"| {net} | " + " | ".join(cells) + f" | {warm} |")
        pair = {b: train_step(spec.replace(block=b), device, sizes.batch, True, True, False) for b in ("sk", "resnext")}
        tp = time_steps(pair, device, sizes)
        macs = {b: params_and_macs(spec.replace(block=b))[1] for b in ("sk", "resnext")}
        ratio_lines.append(f"| {net} | {tp['sk'] * 1000:.2f} | {tp['resnext'] * 1000:.2f} | "
                           f"{tp['sk'] / tp['resnext']:.3f} | {macs['sk'] / macs['resnext']:.3f} |")
        print(lines[-1], flush=True)
    if toy:
        lines.append("| sknet29-like | not run (toy) | not run (toy) | not run (toy) | not run (toy) | - |")
    return lines + ratio_lines


class UtilisationSampler:
    """GPU utilisation (%) every ``period`` seconds from nvidia-smi, while a search runs."""

    def __init__(self, period: float = 0.5) -> None:
        self.period, self.samples = period, []
        self.smi = shutil.which("nvidia-smi")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                out = subprocess.run([self.smi, "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                                      "-i", "0"],
                                     capture_output=True, text=True, timeout=5).stdout
                self.samples.append(float(out.strip().splitlines()[0]))
            except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
                pass
            self._stop.wait(self.period)

    def __enter__(self) -> UtilisationSampler:
        if self.smi:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.smi:
            self._thread.join()

    def summary(self) -> str:
        if not self.samples:
            return "n/a (no nvidia-smi)" if not self.smi else "n/a (no sample)"
        s = sorted(self.samples)
        return f"mean {sum(s) / len(s):.0f}%, median {s[len(s) // 2]:.0f}%"


def search_space(sizes: Sizes, fraction: float, cuda: bool) -> dict:
    return {
        "name": f"gpu_bench_{str(fraction).replace('.', '_')}",
        "data": {"name": "synthetic_cifar", "train_size": sizes.train_size, "val_size": sizes.val_size},
        "model": {"block": "sk", "stem": "cifar", "stem_width": 16, "groups": 8,
                  "sk": {"M": 2, "branches": [{"kernel": 3, "dilation": 1},
                                              {"kernel": 3, "dilation": {"choice": [2, 3]}}],
                         "reduction": 4, "min_dim": 16},
                  "stages": [{"depth": {"int": [1, 2]}, "width": 32, "out_channels": 32, "stride": 2},
                             {"depth": {"int": [1, 2]}, "width": 64, "out_channels": 64, "stride": 2},
                             {"depth": 1, "width": 64, "out_channels": 128, "stride": 2}]},
        "train": {"batch_size": sizes.batch, "lr": {"float": [0.05, 0.4], "log": True}, "warmup_epochs": 0.5,
                  "label_smoothing": 0.1},
        "objectives": ["accuracy", "params"],
        "sampler": {"name": "random", "seed": 0},
        "scheduler": {"name": "none", "max_epochs": sizes.epochs},
        "resources": {"cpu": sizes.cpus_per_trial, "gpu": fraction if cuda else 0},
        "trials": sizes.trials,
    }


def section_search(sizes: Sizes, cuda: bool, work: str) -> tuple[list[str], str | None]:
    import sksearch

    lines = ["### A search on synthetic CIFAR-shaped data", "",
             f"{sizes.trials} trials of {sizes.epochs} epochs on {sizes.train_size:,} images, batch {sizes.batch}, "
             f"no early stopping, {sizes.cpus_per_trial:g} CPUs per trial", "",
             "| GPU per trial | trials at once | wall (s) | trials/hour | GPU utilisation "
             "| peak memory per trial (MiB) | "
             "peak RSS per worker (MiB) | inside training steps |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    best_trial = None
    for fraction in sizes.fractions:
        out = os.path.join(work, f"search_{fraction}")
        slots = int(round(1 / fraction)) if cuda else max(1, int((os.cpu_count() or 1) // sizes.cpus_per_trial))
        with UtilisationSampler() as util:
            t0 = time.time()
            study = sksearch.run(search_space(sizes, fraction, cuda), out)
            wall = time.time() - t0
        df = study.table
        done = df[df.status == "completed"]
        memory = "n/a (CPU)"
        if cuda and "peak_memory" in done and done.peak_memory.notna().any():
            mib = done.peak_memory.dropna() / 2**20
            memory = f"{mib.median():,.0f} (max {mib.max():,.0f})"
        # The trials' peak_rss: each worker process's resident peak, earlier trials included.
        rss = (f"{done.peak_rss.max() / 2**20:,.0f}" if "peak_rss" in done and done.peak_rss.notna().any()
               else "n/a")
        share = float(done.train_time.sum()) / (wall * slots)
        label = f"{fraction:g}" if cuda else "0 (CPU)"
        lines.append(f"| {label} | {slots} | {wall:.0f} | {len(done) / wall * 3600:,.0f} | "
                     f"{util.summary() if cuda else 'n/a (CPU)'} | {memory} | {rss} | {share:.0%} |")
        print(lines[-1], flush=True)
        if len(done):
            best_trial = f"{out}:{int(done.sort_values('accuracy').trial_id.iloc[-1])}"
    return lines, best_trial


def section_analysis(target: str | None, device: torch.device, work: str) -> list[str]:
    import sksearch

    lines = ["### Attention analysis and exported logits", ""]
    if target is None:
        return lines + ["no completed trial to analyse"]
    folder, trial = target.rsplit(":", 1)
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", "sksearch", "analyze", target, "--device", device.type,
                           "--out", os.path.join(work, "attention"), "--scales", "1,1.5,2"],
                          capture_output=True, text=True)
    took = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit(f"analyze --device {device.type} failed:\n{proc.stderr[-3000:]}")
    lines.append(f"- `sksearch analyze {os.path.basename(folder)}:{trial} --device {device.type}`: {took:.1f} s "
                 f"(a fresh process, imports included)")
    export = sksearch.open(folder).export(int(trial), os.path.join(work, "export"))
    model = sksearch.load_model(export)
    spec = model.spec  # the network's spec as a dict (network.py imports only torch)
    shape = (64, spec["in_channels"], spec["input_size"], spec["input_size"])
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        cpu = model(x)
        if device.type == "cuda":
            other = model.to(device)(x.to(device)).cpu()
            where = "CUDA fp32 vs CPU fp32"
        else:
            other = model.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
            where = "CPU channels_last vs CPU NCHW (no CUDA)"
    diff = (other - cpu).abs().max().item()
    agree = (other.argmax(1) == cpu.argmax(1)).float().mean().item()
    lines.append(f"- exported trial {trial}, {where}: max |logit difference| {diff:.2e}, same top-1 for {agree:.0%}"
                 f" of {shape[0]} inputs")
    return lines


def header(device: torch.device, toy: bool) -> list[str]:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        driver = "unknown"
        if shutil.which("nvidia-smi"):
            out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader", "-i", "0"],
                                 capture_output=True, text=True).stdout.strip()
            driver = out or driver
        where = f"{name}, driver {driver}, CUDA {torch.version.cuda}"
    else:
        where = f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    return [f"## GPU benchmark: {where}, torch {torch.__version__}, {when}" + (" (toy sizes)" if toy else ""), ""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--toy", action="store_true", help="toy sizes even on a GPU (what the test suite runs)")
    parser.add_argument("--append-results", action="store_true", help="append the tables to benchmarks/RESULTS.md "
                                                                        "(GPU figures only)")
    parser.add_argument("--skip", action="append", default=[], choices=["steps", "search", "analysis"],
                        help="leave a section out (repeatable)")
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "RESULTS.md"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    toy = args.toy or not cuda
    device = torch.device("cuda" if cuda else "cpu")
    sizes = TOY if toy else GPU
    if not cuda:
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    lines = header(device, toy)
    if not cuda:
        lines += [f"**{NO_GPU}.**", ""]
    print("\n".join(lines), flush=True)
    work = tempfile.mkdtemp(prefix="sksearch-gpu-bench-")
    try:
        if "steps" not in args.skip:
            lines += section_steps(device, sizes, toy) + [""]
        target = None
        if "search" not in args.skip:
            found, target = section_search(sizes, cuda, work)
            lines += found + [""]
        if "analysis" not in args.skip and "search" not in args.skip:
            lines += section_analysis(target, device, work) + [""]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = "\n".join(lines)
    print("\n" + text, flush=True)
    if args.append_results:
        if not cuda:
            print(f"--append-results: nothing appended ({NO_GPU})", flush=True)
        else:
            with open(args.results, "a") as fh:
                fh.write("\n" + text + "\n")
            print(f"appended to {args.results}", flush=True)
    if not cuda:
        print(NO_GPU, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
