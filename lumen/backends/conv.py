"""How convolutions choose their algorithm, on every backend (named as ``torch.backends.cudnn``).

    import lumen
    lumen.backends.conv.benchmark = True         # time the algorithms once per layer shape, keep the fastest
    lumen.backends.conv.deterministic = True     # only algorithms with bitwise reproducible results
    lumen.backends.conv.algorithm = "implicit"   # force one algorithm (None: choose)
    with lumen.backends.conv.flags(algorithm="im2col"):
        ...                                      # the three set for this block only

The attributes are read on every convolution call, so an assignment takes effect at once.

``benchmark``
    False (default): a fixed per-shape heuristic of each backend. True: the first call of each
    (direction, shapes, geometry, dtype) times every algorithm that can run it, on its real
    arguments, and keeps the fastest (as cudnnFind); :func:`clear_cache` forgets the winners.
``deterministic``
    True: only algorithms whose results are bitwise identical run to run. Every algorithm of both
    backends is, so today this excludes none (:data:`CPU`, :data:`CUDA` say why for each one; on
    the CPU it holds for one thread count, on CUDA for one GPU architecture).
    Benchmark mode picks by timing, so two processes may pick different algorithms for one layer
    and differ in the last bits: for results reproducible across processes keep ``benchmark``
    False, as with cuDNN.
``algorithm``
    None (default) or one of the backend's names, run for every convolution call of a direction
    it implements (``CPU.directions``; a direction that one lacks chooses as usual). A shape the
    forced algorithm cannot run raises ValueError naming those that can (a forced ``"direct"`` whose
    C kernels could not be built: RuntimeError saying why).

    - cpu: ``"im2col"`` (runs everything), ``"implicit"`` (stride 1, ungrouped, float32/float64),
      ``"winograd2"``, ``"winograd4"`` (F(2x2,3x3), F(4x4,3x3): also 3x3 and dilation 1; all
      three directions), ``"phase"`` (ungrouped, dilation 1, float32/float64:
      the phase decomposition, the fast path of a transposed convolution; chosen at strides > 1),
      ``"direct"`` (stride 1, dilation 1, any groups, float32/float64: a C kernel compiled on first
      use, offered where a C compiler is found; chosen up to 128 channels per group), described in
      ``lumen/backends/cpu/conv.py``.
    - cuda: ``"gemm"`` (runs everything), ``"implicit"`` (every tensor below 2**31 elements,
      groups <= 65535), described in ``lumen/backends/cuda/conv.py``.
"""
from __future__ import annotations

import contextlib

benchmark = False
deterministic = False
algorithm = None

DIRECTIONS = ("forward", "backward_data", "backward_filter")


class Algorithms:
    """One backend's convolution algorithms, which of them are not deterministic, and its benchmark cache.

    device: ``"cpu"`` or ``"cuda"``, for messages; directions: {direction: names implementing it};
    nondeterministic: names whose results can differ between two runs on the same arguments.
    """

    def __init__(self, device, directions, nondeterministic=()):
        self.device = device
        self.directions = {d: tuple(directions[d]) for d in DIRECTIONS}
        self.names = tuple(dict.fromkeys(name for d in DIRECTIONS for name in self.directions[d]))
        self.nondeterministic = frozenset(nondeterministic)
        self.cache = {}

    def check(self, name, op):
        """Raise ValueError unless name is None or one of this backend's algorithms."""
        if name is not None and name not in self.names:
            raise ValueError(f"{op}: unknown {self.device} convolution algorithm {name!r} "
                             f"(lumen.backends.conv.algorithm); expected None or one of {self.names}")

    def choose(self, direction, key, candidates, heuristic, time, describe, forced=None):
        """The algorithm for one convolution call: forced, cached, timed (benchmark) or heuristic.

        key: the call's shapes, geometry and dtype (hashable); candidates: the names that can run
        this call, a subset of ``directions[direction]``; heuristic(names) -> one of names;
        time(name) -> seconds (or any unit) one run of that algorithm takes; describe() -> the
        call's shapes, for messages; forced: a per-call choice that overrides ``algorithm``.
        """
        op = f"conv2d_{direction} on {self.device}"
        forced = algorithm if forced is None else forced
        self.check(forced, op)
        if forced is not None and forced in self.directions[direction]:
            if deterministic and forced in self.nondeterministic:
                raise RuntimeError(f"{op}: algorithm {forced!r} is not deterministic, but "
                                   f"lumen.backends.conv.deterministic is True")
            if forced not in candidates:
                raise ValueError(f"{op}: the forced algorithm {forced!r} cannot run {describe()}; "
                                 f"the ones that can: {candidates}")
            return forced
        allowed = tuple(n for n in candidates if not (deterministic and n in self.nondeterministic))
        if not allowed:
            raise RuntimeError(f"{op}: none of the algorithms that can run {describe()} {candidates} is "
                               f"deterministic, but lumen.backends.conv.deterministic is True")
        if len(allowed) == 1:
            return allowed[0]
        if not benchmark:
            return heuristic(allowed)
        cache_key = (direction, key, allowed)
        choice = self.cache.get(cache_key)
        if choice is None:
            times = {name: time(name) for name in allowed}
            choice = self.cache[cache_key] = min(times, key=times.get)
        return choice


# Determinism, algorithm by algorithm. CPU: every GEMM (blas.gemm) cuts its output, never its
# reduction, into one block per thread, each a single-threaded OpenBLAS call, and the threaded
# copies and transforms write disjoint ranges; so each output element is summed in one fixed order
# whatever the scheduling: im2col (columns, one GEMM per group, col2im as one strided add per kernel
# tap in tap order), implicit (taps accumulated in tap order, band by band in band order),
# winograd2/4 (fixed transforms around GEMMs), phase (fixed copies around one GEMM or implicit's),
# direct (each output element summed by one thread in one fixed order, for any thread count)
# all give bit-identical results on repeated calls and runs with the same thread count
# (parallel.WORKERS, fixed at import from the CPU affinity). Another thread count cuts other
# blocks, for which OpenBLAS may pick kernels that round differently
# (measured: im2col forward, 2x16x20x18 input, last bits differ with 1 or 3 threads instead of 2).
CPU = Algorithms("cpu", {d: ("im2col", "implicit", "winograd2", "winograd4", "phase", "direct") for d in DIRECTIONS})
# CUDA: gemm is im2col, a cuBLAS GEMM (bitwise reproducible on one GPU architecture and stream,
# cuBLAS's "Results reproducibility") and a gather col2im, batch chunks summed in order; implicit
# has no atomics, its backward-filter sums the per-block partial products in a fixed order.
CUDA = Algorithms("cuda", {d: ("gemm", "implicit") for d in DIRECTIONS})


def describe(dtype, *named, **geometry):
    """One call's shapes for a message: describe(dtype, ("input", shape), ..., stride=(1, 1), ...)."""
    return ", ".join([f"{name} {tuple(shape)}" for name, shape in named] + [str(dtype)] +
                     [f"{key}={tuple(value) if isinstance(value, (tuple, list)) else value}"
                      for key, value in geometry.items()])


def clear_cache():
    """Forget the algorithms benchmark mode chose, on every backend."""
    for table in (CPU, CUDA):
        table.cache.clear()


@contextlib.contextmanager
def flags(benchmark=False, deterministic=False, algorithm=None):
    """Set ``benchmark``, ``deterministic`` and ``algorithm`` inside a ``with`` block, restoring the
    previous values after it. As in ``torch.backends.cudnn.flags``, an argument left out takes its
    default (not the current value) for the block."""
    if algorithm is not None and algorithm not in CPU.names + CUDA.names:
        raise ValueError(f"flags: unknown convolution algorithm {algorithm!r}; expected None or one of "
                         f"{CPU.names} (cpu) or {CUDA.names} (cuda)")
    module = globals()
    saved = {name: module[name] for name in ("benchmark", "deterministic", "algorithm")}
    module.update(benchmark=bool(benchmark), deterministic=bool(deterministic), algorithm=algorithm)
    try:
        yield
    finally:
        module.update(saved)
