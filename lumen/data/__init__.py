"""Datasets and the DataLoader (PyTorch's ``torch.utils.data`` names)."""
from lumen.data.dataset import DataError, Dataset, Subset
from lumen.data.loader import DataLoader, default_collate, sample_rng

__all__ = ["DataError", "Dataset", "Subset", "DataLoader", "default_collate", "sample_rng"]
