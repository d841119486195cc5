"""Indexing: ``x[idx]`` and ``x[idx] = v`` with basic and advanced indices."""
from __future__ import annotations

from ..autograd.function import Function
from .arith import sum_to


def to_index(idx, tensor_cls):
    """Replace Tensors (and lists) inside an index expression by backend arrays."""
    if isinstance(idx, tuple):
        return tuple(to_index(i, tensor_cls) for i in idx)
    if isinstance(idx, tensor_cls):
        return idx._data
    return idx


def is_advanced(idx):
    items = idx if isinstance(idx, tuple) else (idx,)
    return any(not isinstance(i, (int, slice, type(None), type(Ellipsis))) for i in items)


class GetItem(Function):
    view = True

    def forward(self, a):
        self.in_shape = a.shape
        return a[self.index]

    def backward(self, g):
        return IndexAdd.apply(g, shape=self.in_shape, index=self.index)


class IndexAdd(Function):
    """zeros(shape) with g added at index: the adjoint of GetItem."""

    def forward(self, g):
        out = self.xp.zeros(self.shape, dtype=g.dtype)
        if is_advanced(self.index):
            self.backend.scatter_add(out, self.index, g)
        else:
            out[self.index] = g
        return out

    def backward(self, gg):
        return GetItem.apply(gg, index=self.index)


class IndexPut(Function):
    """Out-of-place ``a[index] = v`` (v broadcast): the graph behind ``__setitem__``."""

    def forward(self, a, v):
        out = a.copy()
        out[self.index] = v
        self.v_shape = v.shape
        return out

    def backward(self, g):
        ga = IndexPut.apply(g, g.new_zeros(()), index=self.index)
        gv = sum_to(GetItem.apply(g, index=self.index), self.v_shape)
        return ga, gv
