"""What the recipes share: one-line user errors, the data cache, Ctrl-C handling, random state for exact
resume, checkpoint reading, progress bars, and data parallelism under ``mpirun``."""
from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path

from tqdm import tqdm

import lumen
import lumen.distributed as dist
from lumen.serialization import CheckpointError


class UserError(Exception):
    """A mistake in the command line or the data: reported in one line, without a traceback."""


def add_run_arguments(parser, out: str) -> None:
    """The options every recipe has: --device, --out, --resume, --seed, --cache."""
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--out", type=Path, default=Path(out), help="output folder")
    parser.add_argument("--resume", nargs="?", const="auto", help="resume from CHECKPOINT (default: "
                        "OUT/checkpoint.npz)")
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--cache", type=Path, help="where embedded data sets and classifiers are cached "
                        "(default: $LUMEN_CACHE or ~/.cache/lumen)")


def cache_dir(args) -> Path:
    """Where embedded data sets and cached classifiers go: ``--cache``, else $LUMEN_CACHE or ~/.cache/lumen."""
    return args.cache or Path(os.environ.get("LUMEN_CACHE", Path.home() / ".cache" / "lumen"))


class Interrupt:
    """Ctrl-C asks the loop to stop after the current iteration (a second Ctrl-C stops at once)."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self.previous = signal.getsignal(signal.SIGINT)

        def handler(signum, frame):
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True
            tqdm.write("interrupt: finishing this iteration, then writing a checkpoint (Ctrl-C again to abort)")

        signal.signal(signal.SIGINT, handler)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self.previous)
        return False


def rng_state():
    """{device: state} of every device's default generator in use (CPU init, GPU dropout), so that a GPU run
    resumes bit for bit as a CPU run does."""
    return {name: generator.get_state() for name, generator in lumen.random.default_generators().items()}


def set_rng_state(states, recipe):
    if not isinstance(states, dict):
        raise UserError(f"the checkpoint's random state is of an older recipes.{recipe}; it cannot be resumed "
                        f"exactly: start the run again")
    for name, state in states.items():
        lumen.random.default_generator_for(name).set_state(state)


def read_checkpoint(path, recipe):
    """The checkpoint dict at ``path`` written by ``recipes.<recipe>`` (its meta's "format"), or UserError."""
    try:
        ckpt = lumen.load(path)
    except FileNotFoundError:
        raise UserError(f"checkpoint {path} does not exist") from None
    except (OSError, CheckpointError, ValueError) as e:
        raise UserError(f"cannot read checkpoint {path}: {e}") from None
    meta = ckpt.get("meta", {}) if isinstance(ckpt, dict) else {}
    if meta.get("format") != recipe:
        raise UserError(f"{path} is not a checkpoint of recipes.{recipe}")
    return ckpt


def progress(total, initial, desc):
    """The recipes' tqdm bar (off when stderr is not a terminal, and on every rank but 0; redrawn at most once
    a second)."""
    return tqdm(total=total, initial=initial, desc=desc, unit="it", dynamic_ncols=True,
                disable=None if dist.is_main_process() else True, mininterval=1.0)




# ---- data parallelism: ``mpirun -np N python -m recipes.<recipe> ...`` ------------------------------------
def join_ranks(args, alone=False):
    """(world size, this rank's device). Under ``mpirun -np N`` (N > 1) it starts the process group (MPI on
    the CPU, NCCL between GPUs: rank r takes the machine's GPU r) for data-parallel training: ``--batch-size``
    is the global batch, each rank loads batch / N of its images and DistributedDataParallel averages the
    gradients, so N ranks step as one process at that batch when the loss is a mean over images (a mean over
    pixels is taken per rank, then averaged); UserError unless N divides the batch. Ranks other than 0 print
    nothing on stdout (their errors still reach stderr). ``alone``: this process trains by itself even under
    mpirun (world size 1)."""
    if alone or not dist.init_if_launched("mpi" if args.device == "cpu" else "nccl"):
        return 1, args.device
    world = dist.get_world_size()
    if args.batch_size % world:
        if not dist.is_main_process():
            raise SystemExit(2)  # rank 0 says why, once
        raise UserError(f"--batch-size {args.batch_size} (images per step, all ranks together) must be a multiple "
                        f"of the {world} ranks")
    if not dist.is_main_process():
        sys.stdout = open(os.devnull, "w")  # progress and messages are rank 0's
    return world, f"cuda:{dist.get_node_local_rank()}" if args.device == "cuda" else args.device


@contextlib.contextmanager
def rank0_first(world):
    """Rank 0 runs the block before the other ranks do (it makes or finds the cached data and checks the
    checkpoint; they find them). An error of rank 0's there is the run's one message: the other ranks then
    exit with status 2 without one of their own, rather than wait for rank 0 for ever."""
    if world == 1:
        yield
        return
    failed = lumen.tensor([1])
    if dist.is_main_process():
        try:
            yield
            failed.zero_()
        finally:
            dist.broadcast(failed, src=0)
    else:
        dist.broadcast(failed, src=0)
        if failed.item():
            raise SystemExit(2)
        yield


def global_loss_and_stop(value, stop_asked, world):
    """(the loss averaged over the ranks' equal shares of the batch, whether any rank asked to stop): every
    rank logs the whole batch's loss, and they all stop together."""
    if world == 1:
        return value, stop_asked
    shared = lumen.tensor([value / world, float(stop_asked)], dtype=lumen.float64)
    dist.all_reduce(shared)
    return shared[0].item(), shared[1].item() > 0


class NoLog:
    """The log of a rank other than 0: rank 0 alone writes log.csv."""

    def write(self, **row):
        pass
