"""Load emulated kernel libraries (``build.py``) and launch their kernels with checked arguments.

A launch passes every argument the way ``cuLaunchKernel`` does (a pointer to its value) after checking it
against the kernel's parameter types: an array for a pointer parameter must have the pointee's dtype and be
C-contiguous; a value parameter takes a numpy scalar of exactly its type (``numpy.int32`` for ``int``,
``numpy.int64`` for ``long long``). A Python int or float is refused: which width it would get is the kind
of silent mismatch the check exists for.

The thread order of every launch is :func:`thread_order`'s (forward, reverse, or random with a seed; the
default is random with seed 0, overridable with ``LUMEN_CUDA_EMU_ORDER=forward|reverse|random:SEED``). A
random order's per-launch seed is a hash of that seed, the kernel and the launch shape, so a launch repeats
its order whatever ran before it.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import zlib

import numpy

from . import build

ORDERS = ("forward", "reverse", "random")

#: C parameter type -> numpy dtype of a matching argument (a pointer's pointee for array arguments).
DTYPES = {"bool": numpy.bool_, "signed char": numpy.int8, "unsigned char": numpy.uint8, "int": numpy.int32,
          "unsigned int": numpy.uint32, "long long": numpy.int64, "unsigned long long": numpy.uint64,
          "__half": numpy.float16, "float": numpy.float32, "double": numpy.float64}

MAX_BLOCK = (1024, 1024, 64)
MAX_GRID = (2**31 - 1, 65535, 65535)


class EmulatorError(RuntimeError):
    """A launch the emulator refused or that went wrong: bad arguments or shape, barrier divergence."""


def _parse_order(text: str) -> tuple[str, int]:
    mode, _, seed = text.partition(":")
    if mode not in ORDERS or (seed and not seed.isdigit()):
        raise ValueError(f"thread order must be forward, reverse or random[:SEED], got {text!r}")
    return mode, int(seed or 0)


_order = _parse_order(os.environ.get("LUMEN_CUDA_EMU_ORDER", "random"))


def get_thread_order() -> tuple[str, int]:
    return _order


def set_thread_order(mode: str, seed: int = 0) -> None:
    global _order
    _order = _parse_order(f"{mode}:{seed}" if mode == "random" else mode)


@contextlib.contextmanager
def thread_order(mode: str, seed: int = 0):
    """Run the launches inside the block under ``mode`` ("forward", "reverse", "random" with ``seed``)."""
    previous = _order
    set_thread_order(mode, seed)
    try:
        yield
    finally:
        set_thread_order(*previous)


class Kernel:
    """One instantiated kernel of a loaded library; call it as ``kernel(grid, block, args)``."""

    def __init__(self, lib, index):
        self._lib, self._index = lib, index
        self.name = lib.emu_kernel_name(index).decode()
        self.params = lib.emu_kernel_signature(index).decode().split(",")
        self.max_threads = lib.emu_kernel_max_threads(index)

    def _holder(self, i, param, arg):
        """A one-element array holding the value cuLaunchKernel would read for parameter ``i``."""
        where = f"{self.name}: argument {i}"
        if param.endswith("*"):
            if not isinstance(arg, numpy.ndarray):
                raise EmulatorError(f"{where} is {type(arg).__name__}, parameter {i} is {param} (an array)")
            want = numpy.dtype(DTYPES[param[:-1]])
            if arg.dtype != want:
                raise EmulatorError(f"{where} is an array of {arg.dtype}, parameter {i} is {param} "
                                    f"(an array of {want})")
            if not arg.flags.c_contiguous:
                raise EmulatorError(f"{where} is a non-contiguous array of shape {arg.shape} strides "
                                    f"{arg.strides}; the kernel indexes it as C-contiguous")
            return numpy.array([arg.ctypes.data], dtype=numpy.uintp)
        want = numpy.dtype(DTYPES[param])
        # np.float64 is also a Python float, so numpy scalars are told apart first.
        if not isinstance(arg, numpy.generic):
            raise EmulatorError(f"{where} is a Python {type(arg).__name__}, parameter {i} is {param}: pass "
                                f"numpy.{want.name}(...) so that its width is explicit")
        if arg.dtype != want:
            raise EmulatorError(f"{where} is {arg.dtype}, parameter {i} is {param} ({want})")
        return numpy.array([arg], dtype=want)

    def __call__(self, grid, block, args):
        grid, block = _dims("grid", grid, MAX_GRID), _dims("block", block, MAX_BLOCK)
        threads = block[0] * block[1] * block[2]
        if threads > min(1024, self.max_threads):
            raise EmulatorError(f"{self.name}: a block of {block} is {threads} threads, more than the kernel's "
                                f"limit of {min(1024, self.max_threads)} (__launch_bounds__ or the device's)")
        args = tuple(args)
        if len(args) != len(self.params):
            raise EmulatorError(f"{self.name}: {len(args)} arguments for {len(self.params)} parameters "
                                f"({', '.join(self.params)})")
        holders = [self._holder(i, p, a) for i, (p, a) in enumerate(zip(self.params, args))]
        pointers = (ctypes.c_void_p * max(1, len(holders)))(*(h.ctypes.data for h in holders))
        mode, seed = _order
        launch_seed = zlib.crc32(f"{seed}|{self.name}|{grid}|{block}".encode())
        err = ctypes.create_string_buffer(512)
        rc = self._lib.emu_kernel_launch(self._index, (ctypes.c_uint * 3)(*grid), (ctypes.c_uint * 3)(*block),
                                         pointers, ORDERS.index(mode), launch_seed, err, len(err))
        if rc != 0:
            raise EmulatorError(f"{self.name} with grid {grid}, block {block}, {mode} thread order: "
                                f"{err.value.decode()}")


def _dims(what, dims, limits):
    dims = tuple(dims)
    if not 1 <= len(dims) <= 3 or not all(isinstance(d, (int, numpy.integer)) for d in dims):
        raise EmulatorError(f"{what} must be a tuple of 1 to 3 ints, got {dims!r}")
    dims = tuple(int(d) for d in dims) + (1,) * (3 - len(dims))
    if any(not 1 <= d <= m for d, m in zip(dims, limits)):
        raise EmulatorError(f"{what} {dims} is outside the device's limits 1..{limits}")
    return dims


class Library:
    """A compiled module: its kernels by name expression."""

    def __init__(self, path):
        lib = ctypes.CDLL(str(path), mode=os.RTLD_LOCAL)
        lib.emu_kernel_name.restype = ctypes.c_char_p
        lib.emu_kernel_signature.restype = ctypes.c_char_p
        lib.emu_kernel_launch.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                          ctypes.c_int, ctypes.c_ulonglong, ctypes.c_char_p, ctypes.c_int]
        self.path = path
        self.kernels = {k.name: k for k in (Kernel(lib, i) for i in range(lib.emu_kernel_count()))}


_libraries: dict = {}


def load(code: str, options=(), name_expressions=()) -> Library:
    """The library of this module, built (or taken from the cache) and loaded once per process."""
    path = build.build(code, tuple(options), tuple(name_expressions))
    if path not in _libraries:
        _libraries[path] = Library(path)
    return _libraries[path]
