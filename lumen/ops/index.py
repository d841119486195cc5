"""Indexing: ``x[idx]`` and ``x[idx] = v`` with basic and advanced indices."""
from __future__ import annotations

from ..autograd.function import Function
from .arith import scalar_tensor, sum_to
from .inplace import out_of_place_then_write, records
from ..tensor import Tensor  # defined before lumen.tensor imports the ops


def to_index(tensor, idx):
    """An index expression for ``tensor``'s array: Tensors become their arrays, lists arrays on
    ``tensor``'s device."""
    if isinstance(idx, tuple):
        return tuple(to_index(tensor, i) for i in idx)
    if isinstance(idx, Tensor):
        return idx._data
    if isinstance(idx, list):
        return tensor._backend.asarray(idx)
    return idx


def is_advanced(idx):
    items = idx if isinstance(idx, tuple) else (idx,)
    return any(not isinstance(i, (int, slice, type(None), type(Ellipsis))) for i in items)


class GetItem(Function):
    view = True

    def __init__(self, index):
        self.index = index

    def forward(self, a):
        self.in_shape = a.shape
        return a[self.index]

    def backward(self, g):
        return IndexAdd.apply(g, shape=self.in_shape, index=self.index)


class IndexAdd(Function):
    """zeros(shape) with g added at index: the adjoint of GetItem."""

    def __init__(self, shape, index):
        self.shape, self.index = shape, index

    def forward(self, g):
        out = self.backend.zeros(self.shape, dtype=g.dtype)
        if is_advanced(self.index):
            self.backend.scatter_add(out, self.index, g)
        else:
            out[self.index] = g
        return out

    def backward(self, gg):
        return GetItem.apply(gg, index=self.index)


class IndexPut(Function):
    """Out-of-place ``a[index] = v`` (v broadcast): the graph behind ``__setitem__``."""

    def __init__(self, index):
        self.index = index

    def forward(self, a, v):
        out = a.copy()
        out[self.index] = v
        self.v_shape = v.shape
        return out

    def backward(self, g):
        ga = IndexPut.apply(g, g.new_zeros(()), index=self.index)
        gv = sum_to(GetItem.apply(g, index=self.index), self.v_shape)
        return ga, gv


def getitem(tensor, index):
    return GetItem.apply(tensor, index=to_index(tensor, index))


def setitem(tensor, index, value):
    """``tensor[index] = value`` in place (recorded as ``IndexPut`` under autograd)."""
    index = to_index(tensor, index)
    value = scalar_tensor(tensor, value)
    if value.device != tensor.device:
        raise RuntimeError(f"__setitem__: value is on {value.device}, tensor on {tensor.device}")
    if not records(tensor, value):
        tensor._data[index] = value._data
        tensor._version_counter.value += 1
        return
    out_of_place_then_write(tensor, lambda s: IndexPut.apply(s, value.to(s.dtype), index=index), value)
