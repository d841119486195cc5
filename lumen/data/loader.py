"""DataLoader: batching, seeded shuffling, background workers and resumable state."""
from __future__ import annotations

import collections
import math
import numbers
import threading
import weakref
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_local = threading.local()


def sample_rng() -> np.random.Generator | None:
    """The random generator of the sample a DataLoader is loading in this thread.

    It is seeded from (loader seed, epoch, dataset index), so random transforms
    that draw from it give the same sample whatever the worker count, the thread
    that loads it, or a resume mid-epoch. None outside a DataLoader.
    """
    key = getattr(_local, "key", None)
    if key is None:
        return None
    rng = getattr(_local, "rng", None)
    if rng is None:
        rng = _local.rng = np.random.default_rng(key)
    return rng


def _shape_error(batch, path):
    shapes = sorted({tuple(np.shape(x)) for x in batch})
    where = f" (field {path})" if path else ""
    return ValueError(
        f"default_collate: cannot stack samples of different shapes {shapes[:4]} into one batch{where}; "
        "use batch_size=1 (VOC images differ in size), crop to a fixed size, or pass a collate_fn")


def default_collate(batch, _path=""):
    """Stack a list of samples into a batch, field by field, as PyTorch's default_collate.

    numpy arrays of shape S -> ``lumen.Tensor`` of shape (N, *S) (same dtype);
    Python ints/bools/floats -> int64/bool/float64 Tensor (N,); numpy scalars keep
    their dtype; str/bytes -> list; tuples, lists, namedtuples and dicts are
    collated per field and keep their type.
    """
    import lumen  # the core sits above this module's import time dependencies

    elem = batch[0]
    if isinstance(elem, lumen.Tensor):
        if any(x.shape != elem.shape for x in batch):
            raise _shape_error(batch, _path)
        return lumen.stack(list(batch), 0)
    if isinstance(elem, np.ndarray):
        if elem.dtype == object or elem.dtype.kind in "USV":
            raise TypeError(f"default_collate: cannot batch numpy arrays of dtype {elem.dtype}"
                            + (f" (field {_path})" if _path else ""))
        if any(not isinstance(x, np.ndarray) or x.shape != elem.shape for x in batch):
            raise _shape_error(batch, _path)
        return lumen.from_numpy(np.stack(batch))
    if isinstance(elem, np.generic):
        return lumen.from_numpy(np.array(batch))
    if isinstance(elem, bool):
        return lumen.from_numpy(np.array(batch, dtype=np.bool_))
    if isinstance(elem, numbers.Integral):
        return lumen.from_numpy(np.array(batch, dtype=np.int64))
    if isinstance(elem, numbers.Real):
        return lumen.from_numpy(np.array(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, Mapping):
        return {k: default_collate([d[k] for d in batch], f"{_path}.{k}" if _path else str(k))
                for k in elem}
    if isinstance(elem, (tuple, list)):
        if any(len(x) != len(elem) for x in batch):
            raise ValueError(f"default_collate: samples have different numbers of fields "
                             f"{sorted({len(x) for x in batch})}" + (f" (field {_path})" if _path else ""))
        fields = [default_collate([x[i] for x in batch], f"{_path}.{i}" if _path else str(i))
                  for i in range(len(elem))]
        if hasattr(elem, "_fields"):  # namedtuple
            return type(elem)(*fields)
        return tuple(fields) if isinstance(elem, tuple) else fields
    raise TypeError(f"default_collate: don't know how to batch samples of type {type(elem).__name__}"
                    + (f" (field {_path})" if _path else "") + "; pass a collate_fn")


class _WorkerFailure(Exception):
    def __init__(self, error, where):
        super().__init__(where)
        self.error = error
        self.where = where


def _load(dataset, indices, collate, key, in_worker):
    samples = []
    for j in indices:
        _local.key = (*key, int(j))
        _local.rng = None
        try:
            samples.append(dataset[int(j)])
        except Exception as e:
            if in_worker:
                raise _WorkerFailure(e, f"DataLoader worker, dataset index {int(j)}") from e
            raise
        finally:
            _local.key = None
            _local.rng = None
    try:
        return collate(samples)
    except Exception as e:
        if in_worker:
            raise _WorkerFailure(e, f"DataLoader worker, collating dataset indices {[int(j) for j in indices]}") from e
        raise


def _reraise(failure: _WorkerFailure):
    error = failure.error
    message = f"{error} [{failure.where}]"
    try:
        new = type(error)(message)
    except Exception:
        new = RuntimeError(f"{type(error).__name__}: {message}")
    raise new from error


class DataLoader:
    """Batches of a map-style dataset, as ``torch.utils.data.DataLoader``.

    The shuffle order of epoch ``e`` is a permutation drawn from
    ``numpy.random.default_rng([seed, e])``; ``seed=None`` draws a seed once at
    construction (``loader.seed``) from ``generator`` (a CPU ``lumen.Generator``; the
    default one when None, so ``lumen.manual_seed`` fixes the order, as in PyTorch). Iterating to the end advances the epoch;
    starting a new iteration while one is unfinished abandons it and also
    advances the epoch (a fresh pass, as PyTorch). ``set_epoch`` and
    ``load_state_dict`` select the epoch and batch position the next iterator
    starts from.

    ``num_workers > 0`` loads batches in a thread pool (Pillow decoding and numpy
    release the GIL), keeping ``num_workers * prefetch`` batches in flight;
    batches come back in order. A worker's exception is re-raised in the main
    thread with the original type and message plus the dataset index.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, num_workers=0, collate_fn=None,
                 drop_last=False, seed=None, prefetch=2, generator=None):
        if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            raise TypeError(f"DataLoader: dataset of type {type(dataset).__name__} needs __getitem__ and __len__")
        for name, value, low in (("batch_size", batch_size, 1), ("num_workers", num_workers, 0),
                                 ("prefetch", prefetch, 1)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise ValueError(f"DataLoader: {name} must be an int >= {low}, got {value!r}")
        if seed is None:
            import lumen  # the core sits above this module's import time dependencies

            seed = int(lumen.randint(0, 2**63, (), generator=generator).item())
        elif isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"DataLoader: seed must be a non-negative int or None, got {seed!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.num_workers = int(num_workers)
        self.collate_fn = collate_fn if collate_fn is not None else default_collate
        self.drop_last = bool(drop_last)
        self.seed = int(seed)
        self.prefetch = int(prefetch)
        self._epoch = 0
        self._position = 0
        self._active = None

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    @property
    def epoch(self) -> int:
        """The epoch the current (or next) iterator walks."""
        return self._epoch

    def batch_indices(self, epoch: int) -> list[np.ndarray]:
        """The dataset indices of every batch of ``epoch``, in order."""
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng([self.seed, int(epoch)]).permutation(n)
        else:
            order = np.arange(n)
        return [order[i:i + self.batch_size] for i in range(0, len(self) * self.batch_size, self.batch_size)]

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
        if not 0 <= position <= len(self):
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
        it = _LoaderIter(self)
        self._active = weakref.ref(it)
        return it


class _LoaderIter:
    def __init__(self, loader: DataLoader):
        self._loader = loader
        self._epoch = loader._epoch
        self._next = loader._position
        self._batches = loader.batch_indices(self._epoch)
        self._key = (loader.seed, self._epoch)
        self._pending = collections.deque()
        self._submitted = self._next
        self._closed = False
        self._pool = None
        if loader.num_workers > 0 and self._next < len(self._batches):
            self._pool = ThreadPoolExecutor(loader.num_workers, thread_name_prefix="lumen-data")
            self._fill(self._next)

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._batches) - self._next

    def _fill(self, start):
        """Keep the batches start .. start + num_workers * prefetch - 1 submitted."""
        loader = self._loader
        end = min(start + loader.num_workers * loader.prefetch, len(self._batches))
        while self._submitted < end:
            self._pending.append(self._pool.submit(
                _load, loader.dataset, self._batches[self._submitted], loader.collate_fn, self._key, True))
            self._submitted += 1

    def _is_active(self):
        return self._loader._active is not None and self._loader._active() is self

    def __next__(self):
        if self._closed:
            raise StopIteration
        if self._next >= len(self._batches):
            self._finish()
            raise StopIteration
        loader = self._loader
        if self._pool is None:
            batch = _load(loader.dataset, self._batches[self._next], loader.collate_fn, self._key, False)
        else:
            future = self._pending.popleft()
            self._fill(self._next + 1)
            try:
                batch = future.result()
            except _WorkerFailure as failure:
                self.close()
                _reraise(failure)
            except BaseException:
                self.close()
                raise
        self._next += 1
        if self._is_active():
            loader._position = self._next
        return batch

    def _finish(self):
        if self._is_active():
            loader = self._loader
            loader._active = None
            loader._epoch = self._epoch + 1
            loader._position = 0
        self.close()

    def close(self):
        """Stop the workers; batches not yet loaded are dropped and iteration ends."""
        self._closed = True
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def __del__(self):
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
