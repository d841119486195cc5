"""Benchmark data-parallel FCN-8s (VGG16) training on the CPU: 1 and 2 ranks under mpirun, and the all-reduce
time that DistributedDataParallel's buckets hide behind backward.

One training step = forward, the summed-pixel softmax loss (the reference's), backward (with DDP's gradient
all-reduce under 2 ranks) and an SGD step, one image per rank, float32. Throughput = images of all ranks per
second. Configurations, each in its own processes, OMP/OpenBLAS threads set before the start and
``lumen.set_num_threads`` in each rank:

- 1 rank x 1 thread and 1 rank x 2 threads (plain model, no process group);
- 2 ranks x 1 thread (``mpirun -np 2``), where each timed round runs, one after the other, a step without
  communication (``ddp.no_sync()``), a step of DDP with its default buckets (25 MiB, the first 1 MiB, started
  as gradients become ready) and a step of DDP with ``bucket_cap_mb`` large enough for one bucket (after
  the 1 MiB first one, as torch's): that all-reduce can only start once backward is over. It also times
  the all-reduce of all the gradients alone (one buffer, and the default buckets back to back).

Extra time of a step = its time minus the step without communication (the all-reduce, and DDP's copies of
the gradients into buckets and back); the all-reduce time hidden by bucketing = the one-bucket step's extra
minus the bucketed step's. Medians over ``--steps`` timed steps
after ``--warmup`` untimed ones; each step starts after a barrier, timed on rank 0.

Run as ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m benchmarks.distributed [--size 128]
[--quick] [--write]`` from the repository root (mpirun and mpi4py: pip install 'lumen[distributed]').
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import RESULTS, write_section  # noqa: E402

SECTION = "## Data-parallel FCN-8s training (CPU, MPI)"
ROOT = Path(__file__).resolve().parents[1]
ONE_BUCKET_MB = 1 << 20  # larger than any model here: every gradient but the first 1 MiB in one bucket
ROUND_MODES = ("local", "bucketed", "one_bucket")


def _mpirun():
    beside_python = Path(sys.executable).parent / "mpirun"  # the launcher of the wheel pip installed here
    return str(beside_python) if beside_python.exists() else shutil.which("mpirun") or shutil.which("mpiexec")


def child(size, width, threads, steps, warmup):
    """This rank's measurements (run inside the launched processes); rank 0 returns {name: [ms, ...], ...}."""
    import lumen
    import lumen.distributed as dist
    from lumen.nn import functional as F
    from lumen.nn.parallel import DistributedDataParallel
    from lumen.vision.models import fcn

    lumen.set_num_threads(threads)
    world = dist.get_world_size() if dist.init_if_launched("mpi") else 1
    rank = dist.get_rank() if world > 1 else 0
    lumen.manual_seed(rank)
    model = fcn.fcn8s(width=width)
    with lumen.no_grad():  # non-zero scorers, so that no layer's work is trivially zero
        for name, p in model.named_parameters():
            if name.startswith("score"):
                p.normal_(0, 0.01)
    x = lumen.randn(1, 3, size, size)
    y = lumen.randint(0, 21, (1, size, size))
    opt = lumen.optim.SGD(model.parameters(), lr=1e-12, momentum=0.99)
    nets = {"alone": model}
    if world > 1:
        nets = {"bucketed": DistributedDataParallel(model),
                "one_bucket": DistributedDataParallel(model, bucket_cap_mb=ONE_BUCKET_MB)}
        nets["local"] = nets["bucketed"]

    def step(mode):
        opt.zero_grad()
        net = nets[mode]
        if mode == "local":
            with net.no_sync():
                F.cross_entropy(net(x), y, ignore_index=255, reduction="sum").backward()
        else:
            F.cross_entropy(net(x), y, ignore_index=255, reduction="sum").backward()
        opt.step()

    def timed(run):
        if world > 1:
            dist.barrier()
        t0 = time.perf_counter()
        run()
        return (time.perf_counter() - t0) * 1e3

    modes = ROUND_MODES if world > 1 else ("alone",)
    times = {mode: [] for mode in modes}
    for i in range(warmup + steps):
        for mode in modes:
            ms = timed(lambda: step(mode))
            if i >= warmup:
                times[mode].append(ms)
    out = {"times": times, "world": world, "threads": threads,
           "grad_mib": sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad) / 2 ** 20}
    if world > 1:
        flat = lumen.zeros(sum(p.numel() for p in model.parameters() if p.requires_grad))
        params = nets["bucketed"]._params  # the default buckets' sizes, as DDP made them
        buckets = [lumen.zeros(sum(params[i].numel() for i in bucket.indices)) for bucket in nets["bucketed"]._buckets]

        def bucketed_alone():
            for work in [dist.all_reduce(b, async_op=True) for b in buckets]:
                work.wait()

        for i in range(warmup + steps):
            for name, run in (("allreduce_flat", lambda: dist.all_reduce(flat)), ("allreduce_buckets", bucketed_alone)):
                ms = timed(run)
                if i >= warmup:
                    times.setdefault(name, []).append(ms)
        out["buckets"] = len(buckets)
        out["mpi"] = " ".join(dist.group.WORLD.mpi.MPI.Get_library_version().splitlines()[0].split())
    return out if rank == 0 else None


def launch(ranks, threads, opts):
    """One configuration in fresh processes (``mpirun -np ranks`` when ranks > 1); rank 0's measurements."""
    command = [sys.executable, "-m", "benchmarks.distributed", "--child", "--threads", str(threads),
               "--size", str(opts.size), "--width", str(opts.width), "--steps", str(opts.steps),
               "--warmup", str(opts.warmup)]
    if ranks > 1:
        launcher = _mpirun()
        if launcher is None:
            raise RuntimeError("benchmarks.distributed: no mpirun found; pip install 'lumen[distributed]'")
        command = [launcher, "-np", str(ranks), *command]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    load = os.getloadavg()[0]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{ranks} rank(s) x {threads} thread(s) failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["load"] = (load, os.getloadavg()[0])
    return result


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def render(runs, opts):
    median = {key: {name: float(np.median(ms)) for name, ms in r["times"].items()} for key, r in runs.items()}
    one = median[(1, 1)]["alone"]
    two = runs[(2, 1)]
    loads = [v for r in runs.values() for v in r["load"]]
    lines = [SECTION, "",
             f"{datetime.date.today().isoformat()}; {cpu_model()}, nproc={len(os.sched_getaffinity(0))}; "
             f"numpy {np.__version__}; {two['mpi']} (mpi4py); OPENBLAS_CORETYPE="
             f"{os.environ.get('OPENBLAS_CORETYPE', 'unset')}; 1-min load average {min(loads):.1f}-{max(loads):.1f} "
             f"over the runs (2 cores: above ~1 other processes share them and the figures are noise-dominated).", "",
             f"FCN-8s VGG16 (width {opts.width:g}), {opts.size}x{opts.size}, one image per rank, float32, SGD; "
             f"{two['grad_mib']:.0f} MiB of gradients; median of {opts.steps} steps after {opts.warmup} untimed "
             f"steps. Run: `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m benchmarks.distributed "
             f"--size {opts.size} --width {opts.width:g} --steps {opts.steps} --warmup {opts.warmup}`.", "",
             "| configuration | step ms | images/s | vs 1 rank x 1 thread |", "|---|---:|---:|---:|"]
    rows = [("1 rank x 1 thread", median[(1, 1)]["alone"], 1), ("1 rank x 2 threads", median[(1, 2)]["alone"], 1),
            ("2 ranks x 1 thread, DDP (default buckets)", median[(2, 1)]["bucketed"], 2)]
    for name, ms, images in rows:
        lines.append(f"| {name} | {ms:.0f} | {1e3 * images / ms:.2f} | {(1e3 * images / ms) / (1e3 / one):.2f}x |")
    m = median[(2, 1)]
    local = m["local"]
    extra_bucketed, extra_one = m["bucketed"] - local, m["one_bucket"] - local
    lines += ["", f"Overlap at 2 ranks x 1 thread ({two['buckets']} default buckets):", "",
              "| measurement | ms | extra over no communication |", "|---|---:|---:|",
              f"| all-reduce of all gradients alone, one buffer | {m['allreduce_flat']:.0f} | - |",
              f"| all-reduce of all gradients alone, the {two['buckets']} buckets back to back | "
              f"{m['allreduce_buckets']:.0f} | - |",
              f"| step without communication (`no_sync`) | {local:.0f} | - |",
              f"| step, DDP default buckets (started during backward) | {m['bucketed']:.0f} | {extra_bucketed:.0f} |",
              f"| step, DDP one bucket (started after backward) | {m['one_bucket']:.0f} | {extra_one:.0f} |", "",
              f"Hidden by bucketing: {extra_one - extra_bucketed:.0f} ms per step "
              f"({100 * (extra_one - extra_bucketed) / m['allreduce_buckets']:.0f}% of the buckets' all-reduce time "
              f"alone)."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="image side in pixels")
    parser.add_argument("--width", type=float, default=1.0, help="trunk channel multiplier (1 = VGG16)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="a check that it runs: width 1/4, 64 px, 2 steps")
    parser.add_argument("--write", action="store_true", help=f"replace the section in {RESULTS}")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.quick:
        opts.width, opts.size, opts.steps = 0.25, 64, 2
    if opts.child:
        result = child(opts.size, opts.width, opts.threads, opts.steps, opts.warmup)
        if result is not None:
            print(json.dumps(result))
        return
    runs = {}
    for ranks, threads in ((1, 1), (1, 2), (2, 1)):
        runs[(ranks, threads)] = r = launch(ranks, threads, opts)
        summary = ", ".join(f"{name} {np.median(ms):.0f} ms" for name, ms in r["times"].items())
        print(f"{ranks} rank(s) x {threads} thread(s): {summary} (load {r['load'][0]:.1f})", file=sys.stderr)
    text = render(runs, opts)
    print(text)
    if opts.write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
