"""Test support: Lumen's CUDA kernels and CuPy host code run on the CPU (``pytest --cuda-emulator``).

``build`` compiles kernel sources as host C++ against ``include/cuda_emu.h``, ``runtime`` loads and launches
them, ``double/`` holds the strict ``cupy``/``cupyx`` test double. See README.md for what this does not prove.
"""
from pathlib import Path

DOUBLE = Path(__file__).resolve().parent / "double"


def emulated(cupy_module) -> bool:
    """Whether ``cupy_module`` is this folder's test double rather than CuPy."""
    return Path(cupy_module.__file__).resolve().is_relative_to(DOUBLE)
