"""Datasets (``torch.utils.data``'s names): map-style and iterable bases, TensorDataset, Subset,
StackDataset, ConcatDataset, ChainDataset, random_split; and the data error type."""
from __future__ import annotations

import bisect
import itertools
import math
import warnings
from collections.abc import Sequence
from typing import Generic, TypeVar

_T_co = TypeVar("_T_co", covariant=True)  # so ``Dataset[Tensor]`` annotates, as torch's generic classes


class DataError(ValueError):
    """A data file exists but its content is unusable (corrupt, wrong size, bad values)."""


class Dataset(Generic[_T_co]):
    """A map-style dataset: ``len(ds)`` samples, ``ds[i]`` for ``0 <= i < len(ds)``.

    Subclasses implement ``__getitem__`` and ``__len__``, as in PyTorch; ``a + b`` concatenates.
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset[_T_co]):
    """A stream of samples: subclasses implement ``__iter__``. With ``num_workers > 0`` every
    worker iterates its own copy; ``get_worker_info()`` inside ``__iter__`` tells each worker which
    share to yield (otherwise every sample comes once per worker). ``a + b`` chains."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __add__(self, other):
        return ChainDataset([self, other])


class TensorDataset(Dataset):
    """Sample ``i`` is ``tuple(t[i] for t in tensors)``; every tensor has the same first dimension."""

    def __init__(self, *tensors):
        sizes = [t.shape[0] if t.ndim else None for t in tensors]
        if any(s != sizes[0] or s is None for s in sizes):
            raise AssertionError(f"TensorDataset: size mismatch between tensors (first dimensions {sizes}); "
                                 f"every tensor needs the same number of samples")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices: Sequence[int]):
        n = len(dataset)
        indices = [int(i) for i in indices]
        bad = [i for i in indices if not -n <= i < n]
        if bad:
            raise IndexError(f"Subset: indices {bad[:5]} out of range for a dataset of length {n}")
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


class StackDataset(Dataset):
    """Sample ``i`` of several same-length datasets together: a tuple (``StackDataset(a, b)``) or
    a dict (``StackDataset(image=a, label=b)``)."""

    def __init__(self, *args, **kwargs):
        if args and kwargs:
            raise ValueError("StackDataset: supported either tuple- (via args) or dict- (via kwargs) like "
                             "input/output, but both types are given")
        if not args and not kwargs:
            raise ValueError("StackDataset: at least one dataset should be passed")
        self.datasets = args or kwargs
        lengths = [len(d) for d in (args or kwargs.values())]
        if any(n != lengths[0] for n in lengths):
            raise ValueError(f"StackDataset: size mismatch between datasets (lengths {lengths})")
        self._length = lengths[0]

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __len__(self) -> int:
        return self._length


class ConcatDataset(Dataset):
    """The samples of every dataset in turn; ``cumulative_sizes[k]`` is where dataset ``k`` ends."""

    @staticmethod
    def cumsum(sequence):
        return list(itertools.accumulate(len(d) for d in sequence))

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise AssertionError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise AssertionError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = self.cumsum(self.datasets)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError(f"ConcatDataset: absolute value of index {idx} should not exceed dataset "
                                 f"length {len(self)}")
            idx = len(self) + idx
        k = bisect.bisect_right(self.cumulative_sizes, idx)
        return self.datasets[k][idx - (self.cumulative_sizes[k - 1] if k else 0)]


class ChainDataset(IterableDataset):
    """The samples of every iterable dataset in turn."""

    def __init__(self, datasets):
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError(f"ChainDataset only supports IterableDataset, but got {type(d).__name__}")
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)


def random_split(dataset, lengths, generator=None):
    """Non-overlapping random ``Subset``s of the given lengths, or of fractions summing to 1
    (``floor(frac * len)`` each, the remainder dealt round-robin, as torch). The permutation
    comes from ``generator`` (a ``lumen.Generator``; the default one when None)."""
    import lumen  # the core sits above this module's import time dependencies

    n = len(dataset)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        split = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"random_split: fraction {frac} at index {i} is not between 0 and 1")
            split.append(math.floor(n * frac))
        for i in range(n - sum(split)):
            split[i % len(split)] += 1
        lengths = split
        for i, length in enumerate(lengths):
            if length == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.",
                              stacklevel=2)
    if sum(lengths) != n:
        raise ValueError(f"random_split: sum of input lengths {list(lengths)} = {sum(lengths)} does not equal "
                         f"the length of the input dataset ({n})")
    indices = lumen.randperm(n, generator=generator).tolist()
    return [Subset(dataset, indices[end - length:end])
            for end, length in zip(itertools.accumulate(lengths), lengths)]
