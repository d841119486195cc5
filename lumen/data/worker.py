"""What runs inside a DataLoader: sample fetching (in the main process or a worker process), the
per-sample random generator, ``get_worker_info`` and the worker process's loop."""
from __future__ import annotations

import itertools
import os
import queue
import random
import signal
import sys
import threading
import traceback
from dataclasses import dataclass

import numpy as np

_local = threading.local()
_POLL_S = 1.0  # how often an idle worker checks that the main process is still there


def sample_rng() -> np.random.Generator | None:
    """The random generator of the sample a DataLoader is loading in this thread.

    It is seeded from (loader seed, epoch, dataset index), so random transforms
    that draw from it give the same sample whatever the worker count, the process
    that loads it, or a resume mid-epoch. None outside a DataLoader.
    """
    key = getattr(_local, "key", None)
    if key is None:
        return None
    rng = getattr(_local, "rng", None)
    if rng is None:
        rng = _local.rng = np.random.default_rng(key)
    return rng


@dataclass
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker: its ``id`` (0 .. ``num_workers`` - 1),
    its ``seed`` (the loader's base seed + id; Python's, numpy's and Lumen's CPU default
    generators are seeded from it) and its copy of the ``dataset``."""

    id: int
    num_workers: int
    seed: int
    dataset: object


def get_worker_info() -> WorkerInfo | None:
    """This worker process's ``WorkerInfo``; None in the main process."""
    return getattr(_local, "worker_info", None)


def fetch_map(dataset, indices, collate, key, auto_collation):
    """``collate`` of the samples at ``indices`` (one index without auto-collation); each sample
    loads with its own ``sample_rng`` (``key`` + index). ``_local.where`` names what is loading."""
    samples = []
    for j in indices if auto_collation else [indices]:
        _local.where = f"dataset index {j}"
        _local.key = (*key, int(j))
        _local.rng = None
        try:
            samples.append(dataset[j])
        finally:
            _local.key = None
            _local.rng = None
    _local.where = f"collating dataset indices {list(indices)}" if auto_collation else f"converting dataset index {indices}"
    return collate(samples) if auto_collation else collate(samples[0])


def fetch_iterable(iterator, collate, auto_collation, batch_size, drop_last):
    """The next batch (or converted sample) of an iterable dataset's iterator; StopIteration at its end."""
    _local.where = "the dataset's iterator"
    if not auto_collation:
        return collate(next(iterator))
    samples = list(itertools.islice(iterator, batch_size))
    if not samples or (drop_last and len(samples) < batch_size):
        raise StopIteration
    _local.where = "collating a batch of the dataset's iterator"
    return collate(samples)


class KeyErrorMessage(str):
    """A KeyError's message shown as written (KeyError shows its argument's repr)."""

    def __repr__(self):
        return self


class WorkerFailure:
    """A worker's exception, sent to the main process as its type and traceback text (the
    exception object itself may not pickle) and re-raised there, as torch's ExceptionWrapper."""

    def __init__(self, worker_id, where):
        self.exc_type = sys.exc_info()[0]
        self.message = (f"Caught {self.exc_type.__name__} in DataLoader worker process {worker_id} ({where}).\n"
                        f"Original {traceback.format_exc()}")

    def reraise(self):
        message = KeyErrorMessage(self.message) if self.exc_type is KeyError else self.message
        try:
            error = self.exc_type(message)
        except Exception:
            raise RuntimeError(message) from None
        raise error


class IterableEnd:
    """A worker's iterable dataset is exhausted."""


def worker_loop(dataset, iterable, index_queue, result_queue, done_event, collate, auto_collation, batch_size,
                drop_last, seed, init_fn, worker_id, num_workers, parent_pid):
    """Serve ``(generation, task, payload, key)`` requests until None, the done event or the
    main process's exit; answer ``(generation, task, worker_id, batch | WorkerFailure | IterableEnd)``."""
    # Ctrl-C reaches the whole process group: the main process decides (a training loop may
    # finish its iteration and checkpoint first) and stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _local.worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
        random.seed(seed)
        np.random.seed(seed % 2 ** 32)
        import lumen

        # the CPU generator only: reseeding a CUDA one would touch the GPU in a forked child
        lumen.default_generator.manual_seed(seed)
        if init_fn is not None:
            init_fn(worker_id)
    except Exception:
        result_queue.put((None, None, worker_id, WorkerFailure(worker_id, "worker_init_fn")))
        return
    iterator, generation, ended = None, None, False
    while not done_event.is_set():
        try:
            task = index_queue.get(timeout=_POLL_S)
        except queue.Empty:
            if os.getppid() != parent_pid:
                break
            continue
        if task is None:
            break
        task_generation, task_id, payload, key = task
        if iterable and task_generation != generation:  # a new pass: a fresh iterator
            iterator, generation, ended = None, task_generation, False
        if ended:
            continue
        try:
            if iterable:
                if iterator is None:
                    _local.where = "starting the dataset's iterator"
                    iterator = iter(dataset)
                data = fetch_iterable(iterator, collate, auto_collation, batch_size, drop_last)
            else:
                data = fetch_map(dataset, payload, collate, key, auto_collation)
        except StopIteration:
            if not iterable:
                data = WorkerFailure(worker_id, _local.where)
            else:
                data, ended = IterableEnd(), True
        except Exception:
            data = WorkerFailure(worker_id, getattr(_local, "where", "loading"))
        result_queue.put((task_generation, task_id, worker_id, data))
        del data
    if done_event.is_set():
        result_queue.cancel_join_thread()  # the main process stopped reading: exit without flushing
