"""Samplers (``torch.utils.data``'s names): orders of dataset indices, and batches of them.

Random samplers draw from a ``lumen.Generator`` (``generator=``, else the default one, so
``lumen.manual_seed`` fixes them); Lumen's random streams are not torch's, so the orders differ
from torch's while following the same rules (a permutation, draws with replacement, ...).
"""
from __future__ import annotations

import numbers
from typing import Generic, TypeVar

import numpy as np

_T_co = TypeVar("_T_co", covariant=True)  # so ``Sampler[int]`` annotates, as torch's generic classes


def _check_positive_int(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{owner}: {name} should be a positive integer value, but got {name}={value}")


def _check_bool(owner, name, value, error=TypeError):
    if not isinstance(value, bool):
        raise error(f"{owner}: {name} should be a boolean value, but got {name}={value}")


def _lumen():
    import lumen  # the core sits above this module's import time dependencies

    return lumen


class Sampler(Generic[_T_co]):
    """Base class: an iterable of dataset indices (or, for batch samplers, of index lists)."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")


class SequentialSampler(Sampler):
    """``0, 1, ..., len(data_source) - 1``."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A fresh permutation each pass; ``num_samples`` beyond the dataset's length chains whole
    permutations (then a partial one). With ``replacement`` each index is drawn uniformly."""

    def __init__(self, data_source, replacement: bool = False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        _check_bool("RandomSampler", "replacement", replacement)
        _check_positive_int("RandomSampler", "num_samples", self.num_samples)

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        lumen = _lumen()
        n = len(self.data_source)
        if self.replacement:
            yield from lumen.randint(0, n, (self.num_samples,), generator=self.generator).tolist()
            return
        for _ in range(self.num_samples // n):
            yield from lumen.randperm(n, generator=self.generator).tolist()
        yield from lumen.randperm(n, generator=self.generator).tolist()[:self.num_samples % n]

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a fresh random order each pass."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = generator

    def __iter__(self):
        for i in _lumen().randperm(len(self.indices), generator=self.generator).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probabilities proportional to ``weights`` (as
    ``multinomial``): with replacement by inverse CDF, without by weighted sequential draws
    (exponential keys ``-log(u) / w``, smallest first)."""

    def __init__(self, weights, num_samples: int, replacement: bool = True, generator=None):
        _check_positive_int("WeightedRandomSampler", "num_samples", num_samples)
        _check_bool("WeightedRandomSampler", "replacement", replacement, ValueError)  # torch's types differ
        lumen = _lumen()
        weights = weights.detach().cpu().numpy() if isinstance(weights, lumen.Tensor) else weights
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 1:
            raise ValueError(f"WeightedRandomSampler: weights should be a 1d sequence but given weights have "
                             f"shape {tuple(weights.shape)}")
        if (weights < 0).any() or not np.isfinite(weights).all() or weights.sum() <= 0:
            raise RuntimeError("WeightedRandomSampler: weights must be finite, non-negative and not all zero")
        if not replacement and num_samples > len(weights):
            raise RuntimeError(f"WeightedRandomSampler: cannot sample {num_samples} indices without replacement "
                               f"from {len(weights)} weights")
        self.weights = lumen.from_numpy(weights)
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def __iter__(self):
        lumen = _lumen()
        weights = self.weights.numpy()
        u = lumen.rand(self.num_samples if self.replacement else len(weights), dtype=lumen.float64,
                       generator=self.generator).numpy()
        if self.replacement:
            cdf = np.cumsum(weights)
            picks = np.searchsorted(cdf, u * cdf[-1], side="right")
            yield from np.minimum(picks, len(weights) - 1).tolist()
            return
        with np.errstate(divide="ignore"):
            keys = -np.log1p(-u) / weights  # exponential with rate w: zero weights never come first
        yield from np.argsort(keys, kind="stable")[:self.num_samples].tolist()

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` consecutive indices of ``sampler`` (the last one shorter unless
    ``drop_last``)."""

    def __init__(self, sampler, batch_size: int, drop_last: bool):
        _check_positive_int("BatchSampler", "batch_size", batch_size)
        _check_bool("BatchSampler", "drop_last", drop_last, ValueError)
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self):
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else (n + self.batch_size - 1) // self.batch_size


class _InfiniteConstantSampler(Sampler):
    """The placeholder sampler of an IterableDataset: the dataset decides what comes."""

    def __iter__(self):
        while True:
            yield None
