"""Data parallelism across processes (``torch.nn.parallel``'s name)."""
from lumen.nn.parallel.distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
