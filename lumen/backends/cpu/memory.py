"""Keep freed large blocks in the heap for reuse: the CPU counterpart of a caching allocator.

glibc serves every block above its mmap threshold (at most 32 MiB) with a fresh mmap and
unmaps it on free, so each training step faults in every large activation, gradient and
workspace again; NumPy also asks for transparent huge pages on them, and faulting those in
may compact memory first. In a measured FCN-8s training step that was 0.9 s for one 411 MiB
weight gradient alone, about 30% of the step (``benchmarks/NOTES.md``). Raising the mmap and
trim thresholds makes glibc carve large blocks from the heap and keep them when freed, so the
next step reuses already-mapped memory, as PyTorch's CUDA caching allocator does on the GPU.
The setting is process-wide: freed memory then stays with the process, Lumen's or not, and
blocks of other sizes may fragment the heap (the FCN-8s training peak measured 2167 MiB with it,
2249 MiB without). ``cache_freed_memory(False)`` hands memory back to the system as before.
"""
from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_GLIBC_MMAP_THRESHOLD, _GLIBC_TRIM_THRESHOLD = 128 * 1024, 128 * 1024  # glibc's defaults
_KEEP = 2 ** 31 - 1  # mallopt takes an int: blocks up to 2 GiB come from the heap


def _mallopt():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        fn = libc.mallopt if libc is not None else None
        if fn is None or not hasattr(libc, "gnu_get_libc_version"):  # mallopt's parameters are glibc's
            return None
    except (OSError, AttributeError):
        return None
    fn.restype, fn.argtypes = ctypes.c_int, [ctypes.c_int, ctypes.c_int]
    return fn


_fn = _mallopt()


def cache_freed_memory(enabled: bool = True) -> bool:
    """Keep (True) or return to the system (False, glibc's defaults) freed blocks of up to 2 GiB.

    Lumen's CPU backend turns this on when it starts. Returns whether the C library took the
    setting (glibc only; elsewhere the system allocator is left as it is and this returns False).
    """
    if _fn is None:
        return False
    value = (_KEEP, _KEEP) if enabled else (_GLIBC_MMAP_THRESHOLD, _GLIBC_TRIM_THRESHOLD)
    return bool(_fn(_M_MMAP_THRESHOLD, value[0])) and bool(_fn(_M_TRIM_THRESHOLD, value[1]))
