"""Indexing: ``x[idx]`` and ``x[idx] = v`` with basic and advanced indices, and the ops built on the same
three Functions: gather/scatter/scatter_reduce along a dim, index_select/add/copy/fill/put, masked_select/
masked_scatter, take/take_along_dim/put, nonzero/argwhere."""
from __future__ import annotations

from .. import dtypes
from ..device import on_input_device, placed
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
        with placed(tensor._device):
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


@on_input_device
def getitem(tensor, index):
    return GetItem.apply(tensor, index=to_index(tensor, index))


@on_input_device
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


# ---- gather/scatter along a dim, index_*, masked_*, nonzero -------------------------------------
# Each op is an advanced index expression handed to GetItem (reads), IndexPut (writes) or IndexAdd
# (accumulation), so their gradients are those three's, to any order.

def along(backend, index, dim):
    """The advanced index that reads ``index[i]`` along ``dim`` and ``i`` elsewhere: gather's addressing,
    over the positions of ``index``'s shape."""
    nd = index.ndim
    return tuple(index if d == dim else backend.arange(n).reshape((1,) * d + (n,) + (1,) * (nd - d - 1))
                 for d, n in enumerate(index.shape))


def repeated_positions(backend, counts):
    """``arange(len(counts))`` with position i repeated ``counts[i]`` times, for a backend int array
    ``counts`` (CuPy's ``repeat`` takes only host counts: this stays on the device)."""
    ends = backend.cumsum(counts)
    total = int(ends[-1]) if ends.size else 0
    return backend.searchsorted(ends, backend.arange(total), side="right")


def gather_at(x, index, dim):
    """``x`` gathered along ``dim`` at ``index`` (a backend int64 array of x's ndim)."""
    with placed(x._device):
        where = along(x._backend, index, dim)
    return GetItem.apply(x, index=where)


def one_dim(x, dim, op):
    """``dim`` of ``x`` as a non-negative int (0 for a 0-d tensor); IndexError when out of range."""
    from .reduce import normalize_dims  # reduce builds on shape, which builds on this module
    (d,) = normalize_dims(dim, x.ndim, op) or (0,)
    return d


def _check_bounds(op, index, size, d, low=0):
    """``index`` (a Tensor) within [low, size) along dim ``d``."""
    if index.numel():
        with placed(index._device):
            lo, hi = int(index._data.min()), int(index._data.max())
        if lo < low or hi >= size:
            bad = lo if lo < low else hi
            raise RuntimeError(f"{op}(): index {bad} is out of bounds for dimension {d} with size {size}")


def _check_index(op, input, dim, index, src=None):
    """Checks gather/scatter's arguments as PyTorch does; returns the normalized dim."""
    from ._check import check_tensor
    check_tensor(index, "index", op)
    if index.dtype is not dtypes.int64:
        raise RuntimeError(f"{op}(): expected dtype int64 for index, got {index.dtype}")
    if index.device != input.device:
        raise RuntimeError(f"{op}(): index is on {index.device} but input is on {input.device}")
    d = one_dim(input, dim, op)
    if index.ndim != input.ndim and not (index.ndim <= 1 and input.ndim <= 1):
        raise RuntimeError(f"{op}(): index {tuple(index.shape)} must have the same number of dimensions as "
                           f"input {tuple(input.shape)}")
    for k, n in enumerate(index.shape):
        if k != d and n > input.shape[k]:
            raise RuntimeError(f"{op}(): size {n} of index {tuple(index.shape)} must not exceed size "
                               f"{input.shape[k]} of input {tuple(input.shape)} in dimension {k}")
        if src is not None and n > src.shape[k]:
            raise RuntimeError(f"{op}(): size {n} of index {tuple(index.shape)} must not exceed size "
                               f"{src.shape[k]} of src {tuple(src.shape)} in dimension {k}")
    if src is not None and src.dtype is not input.dtype:
        raise RuntimeError(f"{op}(): expected src of input's dtype {input.dtype}, got {src.dtype}")
    _check_bounds(op, index, input.shape[d] if input.ndim else 1, d)
    return d


def _src_part(src, index):
    """The part of ``src`` scatter reads: the positions of ``index``'s shape."""
    if src.shape == index.shape:
        return src
    return GetItem.apply(src, index=tuple(slice(0, n) for n in index.shape))


@on_input_device
def gather(input, dim, index, *, sparse_grad=False):
    """``out[i][j] = input[index[i][j]][j]`` (dim 0), shaped as ``index``. ``sparse_grad`` is accepted
    and means nothing here: the gradient is always a dense tensor."""
    d = _check_index("gather", input, dim, index)
    return gather_at(input, index._data, d)


@on_input_device
def take_along_dim(input, indices, dim=None):
    """``gather`` with ``input`` and ``indices`` broadcast against each other outside ``dim`` and negative
    indices counted from the end; without ``dim``, over the flattened input."""
    if dim is None:
        return take_along_dim(input.reshape(-1), indices.reshape(-1), 0)
    d = one_dim(input, dim, "take_along_dim")
    if indices.ndim != input.ndim:
        raise RuntimeError(f"take_along_dim(): input {tuple(input.shape)} and indices {tuple(indices.shape)} "
                           f"must have the same number of dimensions")
    n = input.shape[d]
    _check_bounds("take_along_dim", indices, n, d, low=-n)
    from .arith import broadcast_shapes
    try:
        shape = list(broadcast_shapes(tuple(1 if k == d else s for k, s in enumerate(input.shape)),
                                      tuple(1 if k == d else s for k, s in enumerate(indices.shape))))
    except ValueError:
        raise RuntimeError(f"take_along_dim(): input {tuple(input.shape)} and indices "
                           f"{tuple(indices.shape)} cannot be broadcast outside dim {d}") from None
    x = input.expand(tuple(n if k == d else s for k, s in enumerate(shape)))
    idx = indices._backend.broadcast_to(indices._data % n if n else indices._data,
                                        tuple(indices.shape[d] if k == d else s for k, s in enumerate(shape)))
    return gather_at(x, idx.astype(dtypes.int64.np, copy=False), d)


@on_input_device
def take(input, index):
    """``input`` read as 1-d at ``index`` (negative counts from the end), shaped as ``index``."""
    n = input.numel()
    if index.dtype is not dtypes.int64:
        raise RuntimeError(f"take(): expected dtype int64 for index, got {index.dtype}")
    if index.numel() and not -n <= int(index._data.min()) <= int(index._data.max()) < n:
        bad = int(index._data.min()) if int(index._data.min()) < -n else int(index._data.max())
        raise IndexError(f"take(): out of range: tried to access index {bad} on a tensor of {n} elements")
    return GetItem.apply(input.reshape(-1), index=index._data % n if n else index._data)


@on_input_device
def scatter(input, dim, index, src=None, value=None, *, reduce=None):
    """``input`` with ``src[i][j]`` (or ``value``) written at ``[index[i][j]][j]`` (dim 0). With
    ``reduce="add"``/``"multiply"`` the values are combined instead, as ``scatter_reduce`` with
    ``"sum"``/``"prod"`` (deprecated for a Tensor src in PyTorch, and warned about here too)."""
    if src is not None and not isinstance(src, Tensor):
        src, value = None, src
    if (src is None) == (value is None):
        raise TypeError("scatter(): give exactly one of src (a Tensor) and value (a number)")
    d = _check_index("scatter", input, dim, index, src)
    if src is None:
        part = scalar_tensor(input, value, dtype=input.dtype)
        if part.ndim:
            raise RuntimeError(f"scatter(): value must be a number or a 0-d tensor, got shape {tuple(part.shape)}")
        part = part.to(input.dtype)
    else:
        part = _src_part(src, index)
    if reduce is None:
        with placed(input._device):
            where = along(input._backend, index._data, d)
        return IndexPut.apply(input, part, index=where)
    if reduce not in ("add", "multiply"):
        raise RuntimeError(f"scatter(): reduce must be 'add' or 'multiply', got {reduce!r}")
    if src is not None:
        import warnings
        warnings.warn("The reduce argument of scatter with Tensor src is deprecated and will be removed in a "
                      "future PyTorch release. Use scatter_reduce instead for more reduction options.",
                      UserWarning, stacklevel=2)
    return scatter_reduce(input, d, index, part.expand(index.shape), "sum" if reduce == "add" else "prod")


@on_input_device
def scatter_add(input, dim, index, src):
    """``input`` with ``src[i][j]`` added at ``[index[i][j]][j]`` (dim 0), repeated indices summed."""
    d = _check_index("scatter_add", input, dim, index, src)
    with placed(input._device):
        where = along(input._backend, index._data, d)
    return input + IndexAdd.apply(_src_part(src, index), shape=input.shape, index=where)


class ScatterReduce(Function):
    """``input`` with ``src`` combined in at ``index`` (a full advanced index) by ``reduce``."""

    def __init__(self, index, reduce, include_self):
        self.index, self.reduce, self.include_self = index, reduce, include_self

    def forward(self, a, src):
        b, index = self.backend, self.index
        out = a.copy()
        if not self.include_self:
            # amax/amin start from one of the scattered values, which cannot change their result
            out[index] = src if self.reduce in ("amax", "amin") else 1 if self.reduce == "prod" else 0
        b.scatter_reduce(out, index, src, "sum" if self.reduce == "mean" else self.reduce)
        if self.reduce == "mean":
            count = b.zeros(a.shape, dtype=a.dtype) + (1 if self.include_self else 0)
            b.scatter_add(count, index, b.ones(src.shape, dtype=a.dtype))
            count = b.maximum(count, 1)
            out = out // count if out.dtype.kind in "iub" else out / count
        self.save_inputs(0, 1)
        self.save_outputs(0)
        return out

    def backward(self, g):
        a, src = self.saved_inputs
        (out,) = self.saved_outputs
        index, shape = self.index, a.shape

        def read(t):
            return GetItem.apply(t, index=index)

        def add_at(base, values):
            return base + IndexAdd.apply(values, shape=shape, index=index)

        scattered = IndexPut.apply(g.new_zeros(shape, dtype=dtypes.bool_), g.new_ones((), dtype=dtypes.bool_),
                                   index=index)
        kept = ~scattered if not self.include_self else None  # where input's own value still counts
        if self.reduce == "sum":
            ga, gs = g, read(g)
        elif self.reduce == "mean":
            count = add_at(g.new_ones(shape) if self.include_self else g.new_zeros(shape), src.new_ones(src.shape))
            scaled = g / count.clamp(min=1)
            ga, gs = scaled, read(scaled)
        elif self.reduce == "prod":
            # the product of the others, exact where elements are zero (PyTorch's rule)
            masked_a = a.masked_fill(a == 0, 1)
            ga = g * ScatterReduce.apply(masked_a, src, index=index, reduce="prod",
                                         include_self=self.include_self) / masked_a
            src_zero = src == 0
            zeros = read(add_at(g.new_zeros(shape), src_zero.to(g.dtype)))
            single_zero = src_zero & (zeros == 1)
            others = ScatterReduce.apply(a, src.masked_fill(single_zero, 1), index=index, reduce="prod",
                                         include_self=self.include_self)
            gs = single_zero.to(g.dtype) * read(g * others) + \
                (~single_zero).to(g.dtype) * read(g * out) / src.masked_fill(src_zero, 1)
        else:  # amax/amin: ties share the gradient evenly, as PyTorch's
            # (input's own value counts as a tie even when include_self=False, as in PyTorch, though
            # its share is then dropped)
            a_wins = a == out
            src_wins = (src == read(out)).to(g.dtype)
            share = g / add_at(a_wins.to(g.dtype), src_wins)
            ga, gs = a_wins.to(g.dtype) * share, src_wins * read(share)
        if kept is not None:
            ga = ga * kept.to(g.dtype)
        return (ga if self.needs_input_grad[0] else None), (gs if self.needs_input_grad[1] else None)


_SCATTER_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


@on_input_device
def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    """``input`` with ``src[i][j]`` combined into ``[index[i][j]][j]`` (dim 0) by ``reduce`` ("sum",
    "prod", "mean", "amax", "amin"), ``input``'s own value included unless ``include_self=False``.
    Integer "mean" rounds down, as PyTorch's."""
    if reduce not in _SCATTER_REDUCTIONS:
        raise RuntimeError(f"scatter_reduce(): reduce must be one of {_SCATTER_REDUCTIONS}, got {reduce!r}")
    d = _check_index("scatter_reduce", input, dim, index, src)
    with placed(input._device):
        where = along(input._backend, index._data, d)
    return ScatterReduce.apply(input, _src_part(src, index), index=where,
                               reduce=reduce, include_self=include_self)


def _along_dim(op, input, dim, index, int32=True):
    """The index expression selecting ``index`` (1-d or 0-d, int64 or int32) along ``dim``."""
    if index.ndim > 1 or index.dtype not in ((dtypes.int64, dtypes.int32) if int32 else (dtypes.int64,)):
        raise RuntimeError(f"{op}(): expected a 1-d int64 index, got {index.dtype} of shape {tuple(index.shape)}")
    d = one_dim(input, dim, op)
    n = input.shape[d] if input.ndim else 1
    with placed(index._device):
        if index.numel() and (int(index._data.min()) < 0 or int(index._data.max()) >= n):
            raise IndexError(f"{op}(): index out of range: values in [{int(index._data.min())}, "
                             f"{int(index._data.max())}] for dimension {d} of size {n}")
        return d, (slice(None),) * d + (index._data.reshape(-1).astype(dtypes.int64.np, copy=False),)


@on_input_device
def index_select(input, dim, index):
    _, idx = _along_dim("index_select", input, dim, index)
    return GetItem.apply(input, index=idx)


def _check_source(op, input, d, index, source):
    expect = input.shape[:d] + (index.numel(),) + input.shape[d + 1:]
    if source.shape != expect and not (source.ndim == 0 and expect == (1,)):
        raise RuntimeError(f"{op}(): source of shape {tuple(source.shape)} should have shape {expect} "
                           f"(input {tuple(input.shape)} with {index.numel()} indices along dim {d})")
    if source.dtype is not input.dtype:
        raise RuntimeError(f"{op}(): expected source of input's dtype {input.dtype}, got {source.dtype}")


@on_input_device
def index_add(input, dim, index, source, *, alpha=1):
    """``input`` with ``alpha * source`` added at ``index`` along ``dim``, repeated indices summed."""
    d, idx = _along_dim("index_add", input, dim, index)
    _check_source("index_add", input, d, index, source)
    return input + IndexAdd.apply(source if alpha == 1 else source * alpha, shape=input.shape, index=idx)


@on_input_device
def index_copy(input, dim, index, source):
    d, idx = _along_dim("index_copy", input, dim, index, int32=False)
    _check_source("index_copy", input, d, index, source)
    return IndexPut.apply(input, source.reshape(source.shape if source.ndim else (1,)), index=idx)


@on_input_device
def index_fill(input, dim, index, value):
    """``input`` with ``value`` (a number or a 0-d tensor, differentiable) at ``index`` along ``dim``."""
    from .arith import where
    _, idx = _along_dim("index_fill", input, dim, index, int32=False)
    value = scalar_tensor(input, value)
    if value.ndim:
        raise RuntimeError(f"index_fill(): value must be a number or a 0-d tensor, got shape {tuple(value.shape)}")
    # a mask, not IndexPut: a repeated index fills its position once, so value's gradient counts it once
    filled = input._backend.zeros(input.shape, dtype=bool)
    filled[idx] = True
    return where(input._like(filled), value.to(input.dtype), input)


def _mask_positions(op, mask, shape):
    if mask.dtype is not dtypes.bool_:
        raise RuntimeError(f"{op}(): expected a bool mask, got {mask.dtype}")
    b = mask._backend
    return b.nonzero(b.broadcast_to(mask._data, shape))


@on_input_device
def masked_select(input, mask):
    """The elements of ``input`` where ``mask`` (broadcast together) is True, as a 1-d tensor."""
    from .arith import broadcast_shapes
    if input.ndim == 0 and mask.ndim == 0:
        return masked_select(input.reshape(1), mask.reshape(1))
    try:
        shape = broadcast_shapes(input.shape, mask.shape)
    except ValueError:
        raise RuntimeError(f"masked_select(): input {tuple(input.shape)} and mask {tuple(mask.shape)} "
                           f"cannot be broadcast together") from None
    positions = _mask_positions("masked_select", mask, shape)
    return GetItem.apply(input.expand(shape), index=positions)


@on_input_device
def masked_scatter(input, mask, source):
    """``input`` with the True positions of ``mask`` (broadcast to input) filled, in order, from the
    first elements of ``source``."""
    if input.ndim == 0:
        return masked_scatter(input.reshape(1), mask.reshape(-1), source).reshape(())
    positions = _mask_positions("masked_scatter", mask, input.shape)
    count = int(positions[0].size)
    if source.numel() < count:
        raise RuntimeError(f"masked_scatter(): mask has {count} True positions but source of shape "
                           f"{tuple(source.shape)} has {source.numel()} elements")
    if source.dtype is not input.dtype:
        raise RuntimeError(f"masked_scatter(): expected source of input's dtype {input.dtype}, got {source.dtype}")
    return IndexPut.apply(input, source.reshape(-1)[:count], index=positions)


@on_input_device
def nonzero(input, *, as_tuple=False):
    """The indices of the non-zero elements: an (n, ndim) int64 tensor, or with ``as_tuple`` one 1-d
    tensor per dim (a 0-d input counting as 1-d)."""
    b, a = input._backend, input._data
    if as_tuple:
        return tuple(input._like(i.astype(dtypes.int64.np, copy=False)) for i in b.nonzero(a.reshape(-1) if a.ndim == 0
                                                                                          else a))
    return input._like(b.argwhere(a).astype(dtypes.int64.np, copy=False))


@on_input_device
def argwhere(input):
    return nonzero(input)


@on_input_device
def index_put(input, indices, values, accumulate=False):
    """``input`` with ``values`` (broadcast) written at ``input[indices]``, or added there (repeated
    positions summed) with ``accumulate=True``."""
    index = to_index(input, tuple(indices))
    values = scalar_tensor(input, values).to(input.dtype)
    if not accumulate:
        return IndexPut.apply(input, values, index=index)
    selected = input._data[index].shape
    return input + IndexAdd.apply(values.expand(selected), shape=input.shape, index=index)


@on_input_device
def count_nonzero(input, dim=None):
    return (input != 0).sum(dim)


@on_input_device
def put(input, index, source, accumulate=False):
    """``input`` read as 1-d with ``source``'s elements written (or added, ``accumulate=True``) at
    ``index`` (negative counts from the end); shape kept."""
    n = input.numel()
    if index.numel() != source.numel():
        raise RuntimeError(f"put(): index has {index.numel()} elements but source of shape "
                           f"{tuple(source.shape)} has {source.numel()}")
    if index.numel() and not -n <= int(index._data.min()) <= int(index._data.max()) < n:
        raise IndexError(f"put(): index out of range for a tensor of {n} elements (shape {tuple(input.shape)})")
    flat = index_put(input.reshape(-1), (index.reshape(-1) % n,), source.reshape(-1), accumulate)
    return flat.reshape(input.shape)
