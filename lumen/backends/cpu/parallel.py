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
class _Nesting(threading.local):
    nested = False  # this thread is running a part already


_local = _Nesting()


def _forget_pool_after_fork():
    # A forked child (a DataLoader worker) inherits the pool object but not its threads, and maybe a held
    # lock: it starts a pool of its own on first use.
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def over_range(fn, count, elements, ranges_per_thread=4):
    """Run fn(i0, i1) on ranges covering [0, count), in parallel when ``elements`` (the work's size) is large.

    The work is cut into ``ranges_per_thread`` ranges per thread that the threads, the caller's
    included, take in turn: when another process holds one core for a while, the other threads
    take over its share instead of waiting for it at the end. Work that repeats a setup cost per
    range (a GEMM packs its operands) asks for one range per thread.
    """
    global _pool
    threads = min(WORKERS, count) if elements >= MIN_ELEMENTS else 1
    if threads <= 1 or _local.nested:  # a part never waits on the pool it runs in
        fn(0, count)
        return
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="lumen-cpu")
    parts = min(count, ranges_per_thread * threads)
    bounds = [count * k // parts for k in range(parts + 1)]
    ranges = iter(list(zip(bounds[:-1], bounds[1:])))
    lock = threading.Lock()

    def take_ranges():
        _local.nested = True
        try:
            while True:
                with lock:
                    i0, i1 = next(ranges, (None, None))
                if i0 is None:
                    return
                fn(i0, i1)
        finally:
            _local.nested = False

    futures = [_pool.submit(take_ranges) for _ in range(threads - 1)]
    try:
        take_ranges()
    finally:
        for future in futures:
            future.result()
