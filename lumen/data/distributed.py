"""``DistributedSampler`` (``torch.utils.data.distributed``'s name): each rank's deterministic shard of a dataset."""
from __future__ import annotations

import math

from lumen.data.sampler import Sampler, _lumen


class DistributedSampler(Sampler):
    """Restricts loading to the shard of rank ``rank`` among ``num_replicas`` (by default the process
    group's rank and world size): the (shuffled, seeded by ``seed + epoch``) index list is padded by
    repeating its head to a multiple of ``num_replicas`` (or, with ``drop_last``, cut to one), and rank
    ``r`` takes every ``num_replicas``-th index from ``r``. All ranks must use the same ``seed`` and call
    :meth:`set_epoch` with the same epoch before each pass, as in PyTorch; the shuffle draws from a
    ``lumen.Generator``, so the order is not torch's (the rules are)."""

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from lumen import distributed as dist
            if not dist.is_available():
                raise RuntimeError("DistributedSampler: requires the distributed package (pip install "
                                   "'lumen[distributed]') when num_replicas or rank is not given")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        if self.drop_last and len(self.dataset) % self.num_replicas != 0:
            self.num_samples = math.ceil((len(self.dataset) - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(len(self.dataset) / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            lumen = _lumen()
            g = lumen.Generator()
            g.manual_seed(self.seed + self.epoch)
            indices = lumen.randperm(n, generator=g).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            padding_size = self.total_size - len(indices)
            if padding_size <= len(indices):
                indices += indices[:padding_size]
            else:
                indices += (indices * math.ceil(padding_size / len(indices)))[:padding_size]
        else:
            indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Makes the next pass shuffle with ``seed + epoch``: the same order on every rank, a new one
        each epoch."""
        self.epoch = epoch
