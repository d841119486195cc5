"""Split memory-bound NumPy work over worker threads.

Copies, ufuncs and reductions run on one core while the GEMMs around them use all of OpenBLAS's
threads; NumPy releases the GIL inside them, so a large one is cut into independent ranges (of
channels, planes or elements) that run on this small pool at once.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

# Below this many elements a split costs more in thread hand-offs than it saves.
MIN_ELEMENTS = 1 << 20
WORKERS = min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
_pool = None
_pool_lock = threading.Lock()
_local = threading.local()  # .nested: this thread is running a part already


def over_range(fn, count, elements):
    """Run fn(i0, i1) on ranges covering [0, count), in parallel when ``elements`` (the work's size) is large."""
    global _pool
    parts = min(WORKERS, count) if elements >= MIN_ELEMENTS else 1
    if parts <= 1 or getattr(_local, "nested", False):  # a part never waits on the pool it runs in
        fn(0, count)
        return
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="lumen-cpu")
    bounds = [count * k // parts for k in range(parts + 1)]
    # The caller's thread takes the first range itself instead of idling on the pool.
    futures = [_pool.submit(_nested, fn, a, b) for a, b in zip(bounds[1:-1], bounds[2:])]
    try:
        _nested(fn, bounds[0], bounds[1])
    finally:
        for future in futures:
            future.result()


def _nested(fn, i0, i1):
    _local.nested = True
    try:
        fn(i0, i1)
    finally:
        _local.nested = False
