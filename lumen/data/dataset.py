"""Map-style dataset base classes and the data error type."""
from __future__ import annotations

from collections.abc import Sequence


class DataError(ValueError):
    """A data file exists but its content is unusable (corrupt, wrong size, bad values)."""


class Dataset:
    """A map-style dataset: ``len(ds)`` samples, ``ds[i]`` for ``0 <= i < len(ds)``.

    Subclasses implement ``__getitem__`` and ``__len__``, as in PyTorch.
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")


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
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)
