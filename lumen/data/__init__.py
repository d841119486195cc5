"""Datasets, samplers and the DataLoader (PyTorch's ``torch.utils.data`` names; also importable
as ``lumen.utils.data``, the same module)."""
from lumen.data.collate import default_collate, default_convert
from lumen.data.dataset import (ChainDataset, ConcatDataset, DataError, Dataset, IterableDataset, StackDataset,
                                Subset, TensorDataset, random_split)
from lumen.data.loader import DataLoader
from lumen.data.distributed import DistributedDataLoader, DistributedSampler  # noqa: F401 (exported)
from lumen.data.sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
                                WeightedRandomSampler)
from lumen.data.worker import WorkerInfo, get_worker_info, sample_rng

__all__ = ["DataError", "Dataset", "IterableDataset", "TensorDataset", "Subset", "StackDataset", "ConcatDataset", "ChainDataset",
           "random_split", "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler", "DataLoader", "default_collate", "default_convert",
           "get_worker_info", "WorkerInfo", "sample_rng"]
