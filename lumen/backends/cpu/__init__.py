"""The NumPy backend: im2col + BLAS convolutions and vectorised pooling, all on the host."""
from __future__ import annotations

import numpy as np

from ..base import Backend
from . import activation, blas, conv, loss, lrn, memory, normalization, parallel, pool, random


def _special(name):
    """scipy.special's ufunc ``name`` (imported on first use: scipy is slow to import); a float16 input is
    computed in float32 and rounded back, as scipy has no float16 loop."""
    def fn(a, out=None):
        from scipy import special
        return getattr(special, name)(a, out=out).astype(a.dtype, copy=False)
    fn.__name__ = name
    return staticmethod(fn)


class NumpyBackend(Backend):
    name = "cpu"
    xp = np
    random = random

    def __init__(self):
        memory.cache_freed_memory(True)

    def asarray(self, data, dtype=None):
        return np.asarray(data, dtype=dtype)

    def to_numpy(self, array):
        return np.asarray(array)

    def scatter_add(self, target, index, values) -> None:
        np.add.at(target, index, values)

    _SCATTER_UFUNCS = {"sum": np.add, "prod": np.multiply, "amax": np.maximum, "amin": np.minimum}

    def scatter_reduce(self, target, index, values, reduce) -> None:
        """``target[index] = reduce(target[index], values)`` with repeated indices all combined;
        ``reduce`` is "sum", "prod", "amax" or "amin"."""
        self._SCATTER_UFUNCS[reduce].at(target, index, values)

    erf, erfc, erfinv = _special("erf"), _special("erfc"), _special("erfinv")
    lgamma, digamma = _special("gammaln"), _special("digamma")

    @staticmethod
    def polygamma(n, a):
        """The ``n``-th derivative of digamma (scipy's polygamma is not a ufunc: no ``out=``)."""
        from scipy import special
        return special.polygamma(n, a).astype(a.dtype, copy=False)

    @staticmethod
    def data_ptr(a):
        """The address of the array's first element."""
        return a.__array_interface__["data"][0]

    @staticmethod
    def storage_offset(a):
        """Elements between the start of the memory the array views and its first element."""
        root = a
        while isinstance(root.base, np.ndarray):
            root = root.base
        return (a.__array_interface__["data"][0] - root.__array_interface__["data"][0]) // a.itemsize

    @staticmethod
    def get_num_threads():
        """The threads Lumen's CPU work is split over (its worker pool, and OpenBLAS's when NumPy's is found)."""
        return parallel.WORKERS

    @staticmethod
    def set_num_threads(n):
        """Split Lumen's CPU work over ``n`` threads and, when Lumen found NumPy's OpenBLAS, set its thread count
        too. Without that OpenBLAS (SciPy's BLAS in use), the BLAS keeps the threads it started with
        (``OPENBLAS_NUM_THREADS`` before the process starts sets them). A pool already started keeps its size
        as a ceiling, so raising ``n`` past the first count takes effect in the BLAS only."""
        parallel.WORKERS = n
        if blas._THREADS is not None:
            blas._THREADS[0](n)

    LinAlgError = np.linalg.LinAlgError  # what ``linalg`` raises for singular or non-definite input

    @staticmethod
    def linalg(name, *arrays, **options):
        """``np.linalg.<name>(*arrays, **options)`` (inv, det, slogdet, solve, cholesky, qr, eigh, svd, ...)."""
        return getattr(np.linalg, name)(*arrays, **options)

    @staticmethod
    def svd(a):
        """The reduced SVD ``(U, S, Vh)`` of the matrices in the last two dims, S descending."""
        return np.linalg.svd(a, full_matrices=False)

    conv2d_forward = staticmethod(conv.conv2d_forward)
    conv2d_backward_data = staticmethod(conv.conv2d_backward_data)
    conv2d_backward_filter = staticmethod(conv.conv2d_backward_filter)
    matmul = staticmethod(blas.matmul)
    relu_backward = staticmethod(activation.relu_backward)
    max_pool2d_forward = staticmethod(pool.max_pool2d_forward)
    max_pool2d_backward = staticmethod(pool.max_pool2d_backward)
    avg_pool2d_forward = staticmethod(pool.avg_pool2d_forward)
    avg_pool2d_backward = staticmethod(pool.avg_pool2d_backward)
    batch_norm_forward = staticmethod(normalization.batch_norm_forward)
    batch_norm_backward = staticmethod(normalization.batch_norm_backward)
    lrn_forward = staticmethod(lrn.lrn_forward)
    lrn_backward = staticmethod(lrn.lrn_backward)
    softmax_cross_entropy_forward = staticmethod(loss.softmax_cross_entropy_forward)
    softmax_cross_entropy_backward = staticmethod(loss.softmax_cross_entropy_backward)
