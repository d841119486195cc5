"""DataLoader: samplers and batching with torch's arguments, seeded resumable shuffling, and
``num_workers`` worker processes with in-order results and clean shutdown."""
from __future__ import annotations

import itertools
import math
import multiprocessing
import numbers
import os
import queue
import time
import weakref
from typing import Generic, TypeVar

import numpy as np

from lumen.data.collate import default_collate, default_convert
from lumen.data.dataset import IterableDataset
from lumen.data.sampler import BatchSampler, RandomSampler, SequentialSampler, _InfiniteConstantSampler
from lumen.data.worker import IterableEnd, WorkerFailure, fetch_iterable, fetch_map, sample_rng, worker_loop

__all__ = ["DataLoader", "default_collate", "default_convert", "sample_rng"]

_STATUS_CHECK_S = 5.0  # how often a waiting main process checks that its workers are alive
_END = object()
_generations = itertools.count()  # tells one pass's worker answers from an abandoned pass's
_T_co = TypeVar("_T_co", covariant=True)


def _derived_seed(seed, epoch):
    """The workers' base seed of an epoch: a function of (loader seed, epoch), so a resumed run
    seeds its workers as the uninterrupted one did, without drawing from the global generator."""
    return int(np.random.default_rng([seed, epoch, 1]).integers(0, 2 ** 62))


def _start_context(multiprocessing_context, num_workers):
    if multiprocessing_context is None:
        return None
    if num_workers == 0:
        raise ValueError(f"multiprocessing_context can only be used with multi-process loading (num_workers > 0), "
                         f"but got num_workers={num_workers}")
    if isinstance(multiprocessing_context, str):
        methods = multiprocessing.get_all_start_methods()
        if multiprocessing_context not in methods:
            raise ValueError(f"multiprocessing_context option should specify a valid start method in {methods!r}, "
                             f"but got multiprocessing_context={multiprocessing_context!r}")
        multiprocessing_context = multiprocessing.get_context(multiprocessing_context)
    if not isinstance(multiprocessing_context, multiprocessing.context.BaseContext):
        raise TypeError(f"multiprocessing_context option should be a valid context object or a string specifying "
                        f"the start method, but got multiprocessing_context={multiprocessing_context}")
    return multiprocessing_context


class DataLoader(Generic[_T_co]):
    """Batches of a dataset, as ``torch.utils.data.DataLoader``, with torch's arguments, defaults
    and argument errors.

    Map-style datasets go through ``sampler`` (``RandomSampler`` with ``shuffle=True``, else
    ``SequentialSampler``) and ``batch_sampler`` (``BatchSampler(sampler, batch_size, drop_last)``);
    ``batch_size=None`` turns batching off (``collate_fn`` then defaults to ``default_convert``).
    An ``IterableDataset`` is iterated (in every worker: shard it with ``get_worker_info``).

    Shuffling without an explicit sampler walks ``numpy.random.default_rng([seed, epoch])``'s
    permutation, so passes are reproducible and resumable: ``seed`` (keyword, Lumen's addition;
    ``loader.seed``) is drawn once from ``generator`` (a CPU ``lumen.Generator``; the default one
    when None, so ``lumen.manual_seed`` fixes the order). Iterating to the end advances the epoch;
    starting a new iteration while one is unfinished abandons it and also advances the epoch (a
    fresh pass, as torch). ``set_epoch`` and ``state_dict``/``load_state_dict`` select the epoch and
    batch position the next iterator starts from (with a sampler of your own, that the sampler
    replays its order). ``sample_rng()`` gives each sample a generator seeded from
    (seed, epoch, index), whatever process loads it.

    ``num_workers > 0`` loads in that many worker processes (``multiprocessing_context``, else the
    platform's default start method), ``prefetch_factor`` (default 2) batches ahead per worker,
    results in order (``in_order=False``: as they come); each worker seeds Python's, numpy's and
    Lumen's CPU default generators from its ``WorkerInfo.seed`` then calls ``worker_init_fn(id)``.
    Workers stop when the pass ends, breaks or is dropped (or with the loader, for
    ``persistent_workers``). A worker's exception is re-raised here with its type, the worker and
    the dataset index it was loading, and the worker's traceback text. ``timeout`` (seconds) bounds
    each wait for a batch. ``pin_memory`` and ``pin_memory_device`` are accepted and have no effect:
    batches are host tensors and ``.to(device)`` copies them.
    """

    _FIXED = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")
    _initialized = False

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True, seed=None):
        if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers option should be a non-negative int, got {num_workers!r}; "
                             f"use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout option should be non-negative, got {timeout}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("DataLoader: prefetch_factor option could only be specified in multiprocessing. "
                             "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and (not isinstance(prefetch_factor, numbers.Integral) or prefetch_factor < 0):
            raise ValueError(f"DataLoader: prefetch_factor option should be a non-negative int, got {prefetch_factor!r}")
        if persistent_workers and num_workers == 0:
            raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            for name, value in (("shuffle", shuffle), ("sampler", sampler), ("batch_sampler", batch_sampler)):
                if value is not None and value is not False:
                    raise ValueError(f"DataLoader with IterableDataset: expected unspecified {name} option, but got "
                                     f"{name}={value}")
        elif not hasattr(dataset, "__getitem__"):
            raise TypeError(f"DataLoader: dataset of type {type(dataset).__name__} needs __getitem__ and __len__ "
                            f"(or to be an IterableDataset)")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with batch_size, shuffle, "
                                 "sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("DataLoader: batch_size=None option disables auto-batching and is mutually exclusive "
                             "with drop_last")
        own_shuffle = shuffle and sampler is None
        if sampler is None:
            if iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        if seed is None:
            import lumen  # the core sits above this module's import time dependencies

            seed = int(lumen.randint(0, 2 ** 63, (), generator=generator).item())
        elif isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"DataLoader: seed must be a non-negative int or None, got {seed!r}")

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = bool(drop_last)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = int(num_workers)
        self.prefetch_factor = prefetch_factor
        self.collate_fn = collate_fn if collate_fn is not None else (
            default_collate if batch_sampler is not None else default_convert)
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = _start_context(multiprocessing_context, self.num_workers)
        self.generator = generator
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        self.seed = int(seed)
        self._iterable = iterable
        self._own_shuffle = own_shuffle
        self._epoch = 0
        self._position = 0
        self._active = None
        self._pool = None  # the persistent workers
        self._initialized = True

    def __setattr__(self, name, value):
        if self._initialized and name in self._FIXED:
            raise ValueError(f"{name} attribute should not be set after {type(self).__name__} is initialized")
        super().__setattr__(name, value)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
        return len(self._index_sampler)

    @property
    def epoch(self) -> int:
        """The epoch the current (or next) iterator walks."""
        return self._epoch

    def _index_stream(self, epoch):
        """What each fetch of ``epoch`` takes, in order: index lists (batching) or single
        indices; None for an iterable dataset."""
        if self._iterable:
            return None
        if self._own_shuffle:
            order = np.random.default_rng([self.seed, int(epoch)]).permutation(len(self.dataset)).tolist()
            return iter(order if self.batch_size is None else BatchSampler(order, self.batch_size, self.drop_last))
        return iter(self._index_sampler)

    def batch_indices(self, epoch: int) -> list:
        """The dataset indices of every batch of ``epoch``, in order (map-style datasets)."""
        if self._iterable:
            raise TypeError("DataLoader.batch_indices: an IterableDataset has no indices")
        return list(self._index_stream(epoch))

    def set_epoch(self, epoch: int) -> None:
        """Start the next iterator at the first batch of ``epoch``."""
        self._detach()
        self._epoch = int(epoch)
        self._position = 0

    def state_dict(self) -> dict:
        """{"epoch", "position" (batches of that epoch already yielded), "seed"}."""
        return {"epoch": self._epoch, "position": self._position, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        """Make the next iterator continue ``state``'s epoch with its next batch."""
        missing = {"epoch", "position", "seed"} - set(state)
        if missing:
            raise KeyError(f"DataLoader.load_state_dict: missing keys {sorted(missing)}")
        position = int(state["position"])
        if self._iterable and position:
            raise ValueError(f"DataLoader.load_state_dict: cannot resume an IterableDataset at batch {position} "
                             f"of an epoch (it has no indices to skip to)")
        if not self._iterable and not 0 <= position <= len(self):
            raise ValueError(f"DataLoader.load_state_dict: position {position} outside 0..{len(self)} "
                             f"(this loader has {len(self)} batches per epoch)")
        self._detach()
        self.seed = int(state["seed"])
        self._epoch = int(state["epoch"])
        self._position = position

    def _detach(self):
        # The loader holds its iterator weakly, so an iterator dropped mid-epoch is
        # collected at once (stopping its workers) while its position stays recorded.
        active = self._active() if self._active is not None else None
        if active is not None:
            active.close()
        self._active = None

    def __iter__(self):
        if self._active is not None:  # an abandoned pass counts as a finished epoch
            self._detach()
            self._epoch += 1
            self._position = 0
        it = _MultiProcessIter(self) if self.num_workers > 0 else _SingleProcessIter(self)
        self._active = weakref.ref(it)
        return it


class _LoaderIter:
    """One pass: walks the epoch's index stream from the loader's position and keeps the
    loader's (epoch, position) up to date while it is the loader's active pass."""

    def __init__(self, loader: DataLoader):
        self._loader = loader
        self._epoch = loader._epoch
        self._next = loader._position
        self._key = (loader.seed, self._epoch)
        self._closed = False
        self._indices = loader._index_stream(self._epoch)
        if self._indices is not None:
            for _ in itertools.islice(self._indices, self._next):
                pass

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._loader) - self._next

    def _is_active(self):
        return self._loader._active is not None and self._loader._active() is self

    def __next__(self):
        if self._closed:
            raise StopIteration
        try:
            batch = self._next_batch()
        except StopIteration:
            self._finish()
            raise
        except BaseException:
            self.close()
            raise
        self._next += 1
        if self._is_active():
            self._loader._position = self._next
        return batch

    def _finish(self):
        if self._is_active():
            loader = self._loader
            loader._active = None
            loader._epoch = self._epoch + 1
            loader._position = 0
        self.close()

    def close(self):
        """End the pass; batches not yet loaded are dropped."""
        self._closed = True


class _SingleProcessIter(_LoaderIter):
    def __init__(self, loader):
        super().__init__(loader)
        self._dataset_iter = iter(loader.dataset) if loader._iterable else None

    def _next_batch(self):
        loader = self._loader
        if self._indices is None:
            return fetch_iterable(self._dataset_iter, loader.collate_fn, loader._auto_collation, loader.batch_size,
                                  loader.drop_last)
        return fetch_map(loader.dataset, next(self._indices), loader.collate_fn, self._key, loader._auto_collation)


def _stop_workers(workers, index_queues, result_queue, done_event):
    done_event.set()
    for q in index_queues:
        try:
            q.put(None)
        except (OSError, ValueError):  # already closed
            pass
    for w in workers:
        w.join(timeout=_STATUS_CHECK_S)
        if w.is_alive():
            w.terminate()
            w.join()
    for q in (*index_queues, result_queue):
        q.cancel_join_thread()
        q.close()


class _WorkerPool:
    """``num_workers`` processes serving one loader: an index queue each, one result queue."""

    def __init__(self, loader, base_seed):
        ctx = loader.multiprocessing_context or multiprocessing.get_context()
        self.result_queue = ctx.Queue()
        self.done_event = ctx.Event()
        self.index_queues, self.workers = [], []
        for worker_id in range(loader.num_workers):
            index_queue = ctx.Queue()
            worker = ctx.Process(
                target=worker_loop, daemon=True, name=f"lumen-data-{worker_id}",
                args=(loader.dataset, loader._iterable, index_queue, self.result_queue, self.done_event,
                      loader.collate_fn, loader._auto_collation, loader.batch_size, loader.drop_last,
                      base_seed + worker_id, loader.worker_init_fn, worker_id, loader.num_workers, os.getpid()))
            worker.start()
            self.index_queues.append(index_queue)
            self.workers.append(worker)
        self.shutdown = weakref.finalize(self, _stop_workers, self.workers, self.index_queues, self.result_queue,
                                         self.done_event)


class _MultiProcessIter(_LoaderIter):
    def __init__(self, loader):
        super().__init__(loader)
        self._generation = next(_generations)
        self._pool = loader._pool
        if self._pool is None:
            self._pool = _WorkerPool(loader, _derived_seed(loader.seed, self._epoch))
            if loader.persistent_workers:
                loader._pool = self._pool
        n = loader.num_workers
        self._active_workers = [True] * n
        self._worker_cycle = itertools.cycle(range(n))
        self._sent = self._received = 0
        self._tasks = {}  # task -> (worker id,), then (worker id, data) once its answer is here
        self._exhausted = False
        for _ in range(loader.prefetch_factor * n):
            self._dispatch()

    def _dispatch(self):
        """Send the next fetch to the next worker still serving (round robin)."""
        if self._exhausted or not any(self._active_workers):
            return
        payload = None
        if self._indices is not None:
            payload = next(self._indices, _END)
            if payload is _END:
                self._exhausted = True
                return
        worker_id = next(w for w in self._worker_cycle if self._active_workers[w])
        self._pool.index_queues[worker_id].put((self._generation, self._sent, payload, self._key))
        self._tasks[self._sent] = (worker_id,)
        self._sent += 1

    def _skip_settled(self):
        """Move past tasks already returned or sent to a worker whose iterable has ended."""
        while self._received < self._sent:
            info = self._tasks.get(self._received)
            if info is not None and (len(info) == 2 or self._active_workers[info[0]]):
                return
            self._tasks.pop(self._received, None)
            self._received += 1

    def _next_batch(self):
        while True:
            self._skip_settled()
            if self._received >= self._sent:
                raise StopIteration
            info = self._tasks[self._received]
            if len(info) == 2:
                del self._tasks[self._received]
                self._dispatch()
                return self._unpack(info[1])
            task, worker_id, data = self._receive()
            if isinstance(data, IterableEnd):
                self._active_workers[worker_id] = False
                del self._tasks[task]
            elif not self._loader.in_order:
                del self._tasks[task]
                self._dispatch()
                return self._unpack(data)
            else:
                self._tasks[task] = (worker_id, data)

    @staticmethod
    def _unpack(data):
        if isinstance(data, WorkerFailure):
            data.reraise()
        return data

    def _receive(self):
        timeout = self._loader.timeout
        deadline = time.monotonic() + timeout if timeout > 0 else None
        while True:
            wait = _STATUS_CHECK_S if deadline is None else max(0.0, min(_STATUS_CHECK_S, deadline - time.monotonic()))
            try:
                generation, task, worker_id, data = self._pool.result_queue.get(timeout=wait)
            except queue.Empty:
                dead = [str(w.pid) for w in self._pool.workers if not w.is_alive()]
                if dead:
                    raise RuntimeError(f"DataLoader worker (pid(s) {', '.join(dead)}) exited unexpectedly") from None
                if deadline is not None and time.monotonic() >= deadline:
                    raise RuntimeError(f"DataLoader timed out after {timeout} seconds") from None
                continue
            if generation is None:  # worker_init_fn failed
                data.reraise()
            if generation == self._generation:
                return task, worker_id, data

    def close(self):
        super().close()
        pool, self._pool = getattr(self, "_pool", None), None
        if pool is not None and pool is not self._loader._pool:
            pool.shutdown()

    def __del__(self):
        self.close()
