"""What the recipes share: one-line user errors, the data cache, Ctrl-C handling, random state for exact
resume, checkpoint reading and progress bars."""
from __future__ import annotations

import os
import signal
from pathlib import Path

from tqdm import tqdm

import lumen
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
    """The recipes' tqdm bar (off when stderr is not a terminal, redrawn at most once a second)."""
    return tqdm(total=total, initial=initial, desc=desc, unit="it", dynamic_ncols=True, disable=None,
                mininterval=1.0)


