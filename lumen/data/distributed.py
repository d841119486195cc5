"""``DistributedSampler`` (``torch.utils.data.distributed``'s name): each rank's deterministic shard of a dataset."""
from __future__ import annotations

import math

from lumen.data.dataset import IterableDataset, Subset
from lumen.data.loader import DataLoader
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


def _launch_shape(num_replicas, rank):
    if num_replicas is None or rank is None:
        from lumen import distributed as dist
        initialized = dist.is_initialized()
        num_replicas = (dist.get_world_size() if initialized else 1) if num_replicas is None else num_replicas
        rank = (dist.get_rank() if initialized else 0) if rank is None else rank
    if not 0 <= rank < num_replicas:
        raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
    return num_replicas, rank


class DistributedDataLoader(DataLoader):
    """A DataLoader (Lumen's addition) whose batches are this rank's shares of global batches of
    ``batch_size * num_replicas``: it walks exactly the order of a one-process ``DataLoader`` at that global
    batch size (the same ``seed``, epochs, ``sample_rng`` and ``state_dict``) and rank ``r`` takes items
    ``r, r + num_replicas, ...`` of each global batch. So N ranks at batch b step through the batches of one
    process at batch N*b, and a checkpoint's loader state resumes on any number of ranks that keeps the
    global batch (``load_state_dict`` refuses another). ``num_replicas``/``rank`` default to the process
    group's, or to one process when none is initialized (then it is a plain DataLoader).

    ``batch_size`` is per rank, as with a ``DistributedSampler``; ``loader.batch_size`` holds the global
    one. ``sampler`` and ``batch_sampler`` are not accepted (the order is the loader's own), nor an
    IterableDataset. Without ``drop_last`` a final partial global batch is split as the others, so the ranks'
    last batches may differ in size (then an averaged loss weighs their samples unequally); a dataset whose
    last global batch would leave some rank empty is refused."""

    def __init__(self, dataset, batch_size=1, shuffle=None, *, num_replicas=None, rank=None, **kwargs):
        for name in ("sampler", "batch_sampler"):
            if kwargs.get(name) is not None:
                raise ValueError(f"DistributedDataLoader: {name}= is not supported; the loader shards its own "
                                 f"order (use DataLoader with a DistributedSampler for a custom sampler)")
        if isinstance(dataset, IterableDataset):
            raise ValueError("DistributedDataLoader: an IterableDataset has no indices to shard")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"DistributedDataLoader: batch_size should be a positive int, got {batch_size!r}")
        num_replicas, rank = _launch_shape(num_replicas, rank)
        remainder = len(dataset) % (batch_size * num_replicas)
        if not kwargs.get("drop_last", False) and 0 < remainder < num_replicas:
            raise ValueError(f"DistributedDataLoader: the last global batch of {remainder} samples ({len(dataset)} "
                             f"samples, batches of {batch_size} x {num_replicas} ranks) leaves some rank without "
                             f"a sample; pass drop_last=True")
        self.num_replicas = num_replicas
        self.rank = rank
        super().__init__(dataset, batch_size * num_replicas, shuffle, **kwargs)

    def _index_stream(self, epoch):
        return (batch[self.rank::self.num_replicas] for batch in super()._index_stream(epoch))

    def state_dict(self) -> dict:
        """DataLoader's state plus ``global_batch_size``, which a resumed loader must share."""
        return {**super().state_dict(), "global_batch_size": self.batch_size}

    def load_state_dict(self, state: dict) -> None:
        saved = state.get("global_batch_size", self.batch_size)
        if saved != self.batch_size:
            raise ValueError(f"DistributedDataLoader.load_state_dict: the state was saved at a global batch of "
                             f"{saved}, this loader's is {self.batch_size} ({self.batch_size // self.num_replicas} "
                             f"per rank x {self.num_replicas} ranks); choose batch_size = {saved} / ranks")
        super().load_state_dict(state)


def shard(dataset, num_replicas=None, rank=None):
    """This rank's part of ``dataset`` for evaluation: items ``rank, rank + num_replicas, ...`` (a
    ``Subset``), without the padding a ``DistributedSampler`` adds, so per-rank sums (confusion matrices,
    losses) all-reduced give the whole set's exactly."""
    num_replicas, rank = _launch_shape(num_replicas, rank)
    return Subset(dataset, range(rank, len(dataset), num_replicas))
