"""Loads the CUDA sources in ``kernels/`` through ``cupy.RawModule``.

Every ``__global__`` kernel in those files is a template on its element type
``T``. A module is compiled (NVRTC, cached on disk by CuPy) once per
(file, element type) the first time one of its kernels is asked for, with one
name expression per kernel. This file imports CuPy lazily so that
``tests/backends/test_cuda_compile.py`` can use :func:`kernel_names` and
:data:`CTYPES` on machines without CuPy.
"""
from __future__ import annotations

import functools
import math
import re
from pathlib import Path

KERNEL_DIR = Path(__file__).resolve().parent / "kernels"

# numpy dtype name -> C++ element type of the template instantiations.
CTYPES = {"float16": "__half", "float32": "float", "float64": "double"}

COMPILE_OPTIONS = ("-std=c++17",)

_KERNEL_RE = re.compile(
    r"template\s*<\s*typename\s+T\s*>\s*__global__\s+void\s+"
    r"(?:__launch_bounds__\s*\([^)]*\)\s*)?(\w+)\s*\(")

THREADS = 256
# Grid-stride kernels need no more blocks than this to fill any current GPU.
_MAX_BLOCKS = 65535 * 4


def sources() -> list[str]:
    """The kernel files, e.g. ``["elementwise.cu", ...]``."""
    return sorted(p.name for p in KERNEL_DIR.glob("*.cu"))


def kernel_names(filename: str) -> list[str]:
    """Names of the templated kernels defined in ``kernels/<filename>``."""
    return _KERNEL_RE.findall((KERNEL_DIR / filename).read_text())


def ctype(dtype, op: str) -> str:
    """C++ element type for a numpy/cupy dtype, or a TypeError naming ``op``."""
    import numpy

    name = numpy.dtype(dtype).name
    if name not in CTYPES:
        raise TypeError(f"{op} on cuda supports float16, float32 and float64 arrays, got {name}")
    return CTYPES[name]


@functools.lru_cache(maxsize=None)
def _module(filename: str, ct: str):
    import cupy

    code = (KERNEL_DIR / filename).read_text()
    return cupy.RawModule(code=code, options=COMPILE_OPTIONS + (f"-I{KERNEL_DIR}",),
                          name_expressions=[f"{k}<{ct}>" for k in kernel_names(filename)])


@functools.lru_cache(maxsize=None)
def _function(filename: str, name: str, ct: str):
    return _module(filename, ct).get_function(f"{name}<{ct}>")


def kernel(filename: str, name: str, dtype, op: str):
    """The compiled ``name<T>`` from ``kernels/<filename>`` for element dtype ``dtype``."""
    return _function(filename, name, ctype(dtype, op))


def launch(fn, total: int, args: tuple) -> None:
    """Launch a grid-stride kernel over ``total`` elements (nothing to do for 0)."""
    if total <= 0:
        return
    blocks = min(math.ceil(total / THREADS), _MAX_BLOCKS)
    fn((blocks,), (THREADS,), args)
