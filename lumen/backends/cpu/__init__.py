"""The NumPy backend: im2col + BLAS convolutions and vectorised pooling, all on the host."""
from __future__ import annotations

import numpy as np

from ..base import Backend
from . import activation, blas, conv, loss, lrn, memory, pool, random


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

    conv2d_forward = staticmethod(conv.conv2d_forward)
    conv2d_backward_data = staticmethod(conv.conv2d_backward_data)
    conv2d_backward_filter = staticmethod(conv.conv2d_backward_filter)
    matmul = staticmethod(blas.matmul)
    relu_backward = staticmethod(activation.relu_backward)
    max_pool2d_forward = staticmethod(pool.max_pool2d_forward)
    max_pool2d_backward = staticmethod(pool.max_pool2d_backward)
    avg_pool2d_forward = staticmethod(pool.avg_pool2d_forward)
    avg_pool2d_backward = staticmethod(pool.avg_pool2d_backward)
    lrn_forward = staticmethod(lrn.lrn_forward)
    lrn_backward = staticmethod(lrn.lrn_backward)
    softmax_cross_entropy_forward = staticmethod(loss.softmax_cross_entropy_forward)
    softmax_cross_entropy_backward = staticmethod(loss.softmax_cross_entropy_backward)
