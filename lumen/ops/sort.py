"""Sorting and selection: sort, argsort, msort, topk, kthvalue, median, nanmedian, mode, quantile,
nanquantile, unique, unique_consecutive, bincount, histc, searchsorted, bucketize.

The order comes from the backend's stable argsort and the values are gathered with it
(:func:`lumen.ops.index.gather_at`), so each value output is differentiable (its gradient lands on
the element it was read from) and each index output is int64 and carries no gradient. Equal elements
come in input order (PyTorch's ``stable=True`` order), except that ``topk(largest=True)`` reports the later
of equal elements first and ``mode`` the last occurrence of its value: what PyTorch's CPU kernels give on
small inputs. Which of equal elements PyTorch's default (unstable) kernels report is unspecified and differs
on larger ones: values always agree, indices of ties may not. NaN sorts as the largest value.
"""
from __future__ import annotations

from collections import namedtuple

from .. import dtypes
from ..device import on_input_device
from ..autograd.function import Function
from ._check import check_tensor
from .index import gather_at, one_dim, repeated_positions


class return_types:
    """Named results, unpackable and named as PyTorch's ``torch.return_types``."""
    sort = namedtuple("sort", ["values", "indices"])
    topk = namedtuple("topk", ["values", "indices"])
    kthvalue = namedtuple("kthvalue", ["values", "indices"])
    median = namedtuple("median", ["values", "indices"])
    mode = namedtuple("mode", ["values", "indices"])
    nanmedian = namedtuple("nanmedian", ["values", "indices"])


def _at(d, start, stop):
    """The index expression of positions ``start:stop`` along dim ``d``."""
    return (slice(None),) * d + (slice(start, stop),)


def _order(x, d, descending=False):
    """The stable sorting permutation of ``x`` along ``d`` (a backend int64 array); descending keeps
    equal elements in input order, as PyTorch's ``stable=True``."""
    b, a = x._backend, x._data
    if not descending:
        return b.argsort(a, axis=d, kind="stable").astype(dtypes.int64.np, copy=False)
    # A stable ascending sort of the reversed array, reversed again: descending with ties in input order.
    reverse = b.argsort(b.flip(a, axis=d), axis=d, kind="stable")
    return (a.shape[d] - 1 - b.flip(reverse, axis=d)).astype(dtypes.int64.np, copy=False)


def _selected(x, pick, d, keepdim, result):
    """``result(values, indices)`` for the positions ``pick`` (size 1 along ``d``)."""
    values, indices = gather_at(x, pick, d), x._like(pick)
    if not keepdim:
        values, indices = values.squeeze(d), indices.squeeze(d)
    return result(values, indices)


def _check_nonempty(x, d, op):
    if x.ndim and x.shape[d] == 0:
        raise IndexError(f"{op}(): cannot select from the empty dimension {d} of shape {tuple(x.shape)}")


@on_input_device
def sort(input, dim=-1, descending=False, *, stable=False):
    """``(values, indices)`` sorted along ``dim``. The sort is always stable: ``stable=False`` lets
    PyTorch pick any order for ties, and input order is one of them."""
    check_tensor(input, "input", "sort")
    x = input.reshape(1) if input.ndim == 0 else input
    d = one_dim(x, dim, "sort")
    order = _order(x, d, descending)
    values, indices = gather_at(x, order, d), x._like(order)
    if input.ndim == 0:
        values, indices = values.reshape(()), indices.reshape(())
    return return_types.sort(values, indices)


@on_input_device
def argsort(input, dim=-1, descending=False, *, stable=False):
    return sort(input, dim, descending, stable=stable).indices


@on_input_device
def topk(input, k, dim=-1, largest=True, sorted=True):
    """The ``k`` largest (or smallest) elements along ``dim`` and their indices, largest first (smallest
    first). The result is sorted whatever ``sorted`` says: PyTorch leaves the order unspecified then."""
    check_tensor(input, "input", "topk")
    x = input.reshape(1) if input.ndim == 0 else input
    d = one_dim(x, dim, "topk")
    if not 0 <= k <= x.shape[d]:
        raise RuntimeError(f"topk(): selected index k={k} out of range for dimension {d} of size "
                           f"{x.shape[d]} (shape {tuple(input.shape)})")
    order = _order(x, d)
    if largest:
        order = x._backend.flip(order, axis=d)
    order = x._backend.ascontiguousarray(order[_at(d, 0, k)])
    values, indices = gather_at(x, order, d), x._like(order)
    if input.ndim == 0:
        values, indices = values.reshape(()), indices.reshape(())
    return return_types.topk(values, indices)


@on_input_device
def kthvalue(input, k, dim=-1, keepdim=False):
    """The ``k``-th smallest element along ``dim`` (k counts from 1) and its index."""
    check_tensor(input, "input", "kthvalue")
    d = one_dim(input, dim, "kthvalue")
    n = input.shape[d] if input.ndim else 1
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k={k} out of range for dimension {d} of size {n} "
                           f"(shape {tuple(input.shape)})")
    if input.ndim == 0:
        return return_types.kthvalue(input.clone(), input.new_zeros((), dtype=dtypes.int64))
    pick = _order(input, d)[_at(d, k - 1, k)]
    return _selected(input, pick, d, keepdim, return_types.kthvalue)


def _median_pick(x, d):
    """Position of the lower median along ``d`` (size 1 there), or of the first NaN where there is one."""
    b, a = x._backend, x._data
    n = a.shape[d]
    pick = _order(x, d)[_at(d, (n - 1) // 2, (n - 1) // 2 + 1)]
    if x.dtype.is_floating_point:
        nan = b.isnan(a)
        pick = b.where(nan.any(axis=d, keepdims=True), b.argmax(nan, axis=d, keepdims=True), pick)
    return pick


class SharedPick(Function):
    """The element at flat ``position`` as a 0-d tensor, its gradient shared evenly by every element equal
    to it (NaN counting as equal to NaN): PyTorch's rule for ``median()``/``nanmedian()`` of a whole tensor."""

    def __init__(self, position):
        self.position = position

    def forward(self, a):
        self.save_inputs(0)
        self.save_outputs(0)
        return a.reshape(-1)[self.position:self.position + 1].reshape(()).copy()

    def backward(self, g):
        (a,) = self.saved_inputs
        (y,) = self.saved_outputs
        ties = ((a == y) | (a.isnan() & y.isnan())).to(g.dtype)
        return ties * (g / ties.sum())


def _of_all(op, input, pick):
    """The element ``pick`` chooses among all of ``input``'s, as a 0-d tensor (NaN for none, as PyTorch)."""
    if input.numel() == 0:
        if not input.dtype.is_floating_point:
            raise RuntimeError(f"{op}(): cannot compute the median of an empty {input.dtype} tensor")
        return input.new_full((), float("nan"))
    flat = input.reshape(-1)
    return SharedPick.apply(input, position=int(pick(flat, 0)[0]))


def _along(op, input, dim, keepdim, pick, result):
    """``result(values, indices)`` of the element ``pick(x, d)`` chooses along ``dim`` (a 0-d input: itself)."""
    d = one_dim(input, dim, op)
    if input.ndim == 0:
        return result(input.clone(), input.new_zeros((), dtype=dtypes.int64))
    _check_nonempty(input, d, op)
    return _selected(input, pick(input, d), d, keepdim, result)


@on_input_device
def median(input, dim=None, keepdim=False):
    """Without ``dim``: the lower median of all elements (a 0-d tensor), NaN if there is a NaN. With
    ``dim``: ``(values, indices)`` of the lower median along it."""
    check_tensor(input, "input", "median")
    if dim is None:
        return _of_all("median", input, _median_pick)
    return _along("median", input, dim, keepdim, _median_pick, return_types.median)


def _mode_pick(x, d):
    """Position along ``d`` (size 1 there) of the most frequent value, the smallest of equally frequent
    ones, at its last occurrence (PyTorch's choice)."""
    b, a = x._backend, x._data
    n = a.shape[d]
    perm = [i for i in range(a.ndim) if i != d] + [d]
    rows = a.transpose(perm).reshape(-1, n)
    order = b.argsort(rows, axis=1, kind="stable")
    s = b.take_along_axis(rows, order, axis=1)
    starts_run = b.ones(s.shape, dtype=bool)
    starts_run[:, 1:] = s[:, 1:] != s[:, :-1]
    starts = b.nonzero(starts_run.reshape(-1))[0]
    lengths = b.concatenate((starts[1:], b.asarray([s.size]))) - starts
    run_length = lengths[repeated_positions(b, lengths)].reshape(s.shape)
    r = b.arange(s.shape[0])
    best = b.argmax(run_length, axis=1)  # first of the longest runs: the smallest most frequent value
    # the sort is stable, so a run's last element is that value's last occurrence
    pick = order[r, best + run_length[r, best] - 1].astype(dtypes.int64.np, copy=False)
    keep_shape = list(a.shape)
    keep_shape[d] = 1
    return pick.reshape(keep_shape)


@on_input_device
def mode(input, dim=-1, keepdim=False):
    """``(values, indices)``: the most frequent value along ``dim`` and the index of its last occurrence."""
    check_tensor(input, "input", "mode")
    return _along("mode", input, dim, keepdim, _mode_pick, return_types.mode)


@on_input_device
def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct elements (or slices along ``dim``), always sorted (``sorted=False`` leaves the order
    to the implementation in PyTorch too), with the inverse indices and counts when asked for.
    Not differentiable, as in PyTorch."""
    check_tensor(input, "input", "unique")
    b, a = input._backend, input._data
    if dim is None:
        values, inverse, counts = b.unique(a.reshape(-1), return_inverse=True, return_counts=True)
        inverse = inverse.reshape(a.shape)
    else:
        d = one_dim(input, dim, "unique")
        values, inverse, counts = b.unique(a, return_inverse=True, return_counts=True, axis=d)
        inverse = inverse.reshape(-1)
    out = [input._like(values)]
    if return_inverse:
        out.append(input._like(inverse.astype(dtypes.int64.np, copy=False)))
    if return_counts:
        out.append(input._like(counts.astype(dtypes.int64.np, copy=False)))
    return out[0] if len(out) == 1 else tuple(out)


def _bincount(b, values, weights, minlength):
    if not values.size:  # CuPy's bincount takes the max of its input, which an empty one has not
        return b.zeros(minlength, dtype=dtypes.int64.np if weights is None else dtypes.float64.np)
    return b.bincount(values, weights=weights, minlength=minlength)


@on_input_device
def bincount(input, weights=None, minlength=0):
    """Counts of each value of a 1-d tensor of non-negative integers (or the sums of ``weights`` there):
    int64 counts; float32 weights give float32 sums, other weights float64, as PyTorch."""
    check_tensor(input, "input", "bincount")
    if input.dtype.category != 1:
        raise NotImplementedError(f"bincount(): not implemented for {input.dtype}; expected a 1-d tensor of "
                                  f"integers, got shape {tuple(input.shape)}")
    if input.ndim != 1:
        raise RuntimeError(f"bincount(): expected a 1-d tensor of integers, got shape {tuple(input.shape)}")
    if minlength < 0:
        raise RuntimeError(f"bincount(): minlength must be non-negative, got {minlength}")
    if input.numel() and int(input._data.min()) < 0:
        raise RuntimeError(f"bincount(): input must be non-negative, got the value {int(input._data.min())}")
    w = None
    if weights is not None:
        check_tensor(weights, "weights", "bincount")
        if weights.shape != input.shape:
            raise RuntimeError(f"bincount(): weights of shape {tuple(weights.shape)} must have the shape "
                               f"{tuple(input.shape)} of input")
        w = weights._data
    out = _bincount(input._backend, input._data, w, minlength)
    # an empty input gives int64 zeros whatever the weights (PyTorch's quirk, kept for equal results)
    dtype = (dtypes.int64 if w is None or not input.numel() else
             dtypes.float32 if weights.dtype is dtypes.float32 else dtypes.float64)
    return input._like(out.astype(dtype.np, copy=False))


@on_input_device
def histc(input, bins=100, min=0, max=0):
    """Histogram of ``bins`` equal bins over [min, max] (the data's range when min == max); values
    outside are ignored, ``max`` itself falls in the last bin. Same dtype as input; no gradient."""
    check_tensor(input, "input", "histc")
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"histc(): not implemented for {input.dtype} input; convert it with .float()")
    if bins <= 0:
        raise RuntimeError(f"histc(): bins must be > 0, got {bins}")
    b, a = input._backend, input._data
    lo, hi = float(min), float(max)
    if lo == hi and a.size:
        lo, hi = float(a.min()), float(a.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise RuntimeError(f"histc(): max must be larger than min, got min={min} and max={max}")
    if lo != lo or hi != hi or abs(lo) == float("inf") or abs(hi) == float("inf"):
        raise RuntimeError(f"histc(): range of [{lo}, {hi}] is not finite")
    inside = a[(a >= lo) & (a <= hi)]
    position = ((inside - lo) * bins / (hi - lo)).astype(dtypes.int64.np)
    out = _bincount(b, b.minimum(position, bins - 1), None, bins)
    return input._like(out.astype(a.dtype, copy=False))


@on_input_device
def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None, sorter=None):
    """For each value of ``input`` (a tensor or a number), the index in ``sorted_sequence``'s last dim
    where inserting it keeps the order: before equal elements, or after them with ``right=True``
    (``side="right"``). An N-d sequence is searched row by row, with ``input``'s matching rows."""
    check_tensor(sorted_sequence, "sorted_sequence", "searchsorted")
    if side is not None:
        if side not in ("left", "right") or (right and side == "left"):
            raise RuntimeError(f"searchsorted(): side must be 'left' or 'right' and agree with right={right}, "
                               f"got {side!r}")
        right = side == "right"
    seq = sorted_sequence
    if sorter is not None:
        seq = gather_at(seq.detach(), sorter._data, seq.ndim - 1)
    values = input if hasattr(input, "_data") else seq.new_tensor(input)
    b, side = seq._backend, "right" if right else "left"
    if seq.ndim <= 1:
        out = b.searchsorted(seq._data.reshape(-1), values._data, side=side)
    else:
        if values.shape[:-1] != seq.shape[:-1]:
            raise RuntimeError(f"searchsorted(): the leading dims of input {tuple(values.shape)} must be those of "
                               f"sorted_sequence {tuple(seq.shape)}")
        rows = seq._data.reshape(-1, seq.shape[-1])
        wanted = values._data.reshape(rows.shape[0], -1)
        found = [b.searchsorted(rows[i], wanted[i], side=side).reshape(1, -1) for i in range(rows.shape[0])]
        out = (b.concatenate(found) if found else b.zeros(wanted.shape, dtype=dtypes.int64.np)).reshape(values.shape)
    return values._like(b.asarray(out).astype((dtypes.int32 if out_int32 else dtypes.int64).np, copy=False))


@on_input_device
def bucketize(input, boundaries, *, out_int32=False, right=False):
    """The bucket of each value of ``input`` among the 1-d sorted ``boundaries`` (``searchsorted``)."""
    if boundaries.ndim != 1:
        raise RuntimeError(f"bucketize(): boundaries must be 1-d, got shape {tuple(boundaries.shape)}")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def _nanmedian_pick(x, d):
    """Position of the lower median of the non-NaN elements along ``d`` (size 1 there); of the first
    element where all are NaN."""
    b, a = x._backend, x._data
    order = _order(x, d)  # NaN last
    valid = (~b.isnan(a)).sum(axis=d, keepdims=True) if x.dtype.is_floating_point else a.shape[d]
    return b.take_along_axis(order, b.maximum(valid - 1, 0) // 2, axis=d)


@on_input_device
def nanmedian(input, dim=None, keepdim=False):
    """``median`` ignoring NaN (NaN only where every element is NaN)."""
    check_tensor(input, "input", "nanmedian")
    if dim is None:
        return _of_all("nanmedian", input, _nanmedian_pick)
    return _along("nanmedian", input, dim, keepdim, _nanmedian_pick, return_types.nanmedian)


@on_input_device
def msort(input):
    return sort(input, 0).values


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(op, input, q, dim, keepdim, interpolation, ignore_nan):
    check_tensor(input, "input", op)
    if input.dtype not in (dtypes.float32, dtypes.float64):
        raise RuntimeError(f"{op}() input tensor must be either float or double dtype, got {input.dtype}")
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(f"{op}() interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}")
    scalar_q = not hasattr(q, "_data") or q.ndim == 0
    qs = [float(q)] if not hasattr(q, "_data") else [float(v) for v in q.reshape(-1).tolist()]
    if hasattr(q, "_data") and q.ndim > 1:
        raise RuntimeError(f"{op}() q must be a scalar or 1-d tensor, got shape {tuple(q.shape)}")
    if hasattr(q, "_data") and q.dtype is not input.dtype:
        raise RuntimeError(f"{op}() q tensor must be same dtype as the input tensor, got {q.dtype} and {input.dtype}")
    for v in qs:
        if not 0 <= v <= 1:
            raise RuntimeError(f"{op}() q must be in the range [0, 1] but got {v}")
    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else one_dim(x, dim, op)
    if x.ndim == 0:
        x, d = x.reshape(1), 0
    b = x._backend
    n = x.shape[d]
    if n == 0:
        raise IndexError(f"{op}() input tensor must be non-empty along dim {d}, got shape {tuple(input.shape)}")
    rows = sort(x, d).values.movedim(d, -1)  # (..., n), NaN last
    nan = b.isnan(rows._data)
    q_row = b.asarray(qs, dtype="float64").reshape((1,) * (rows.ndim - 1) + (-1,))
    # PyTorch's ranks: a row without a number (nanquantile) reads its first element, a row holding a
    # NaN (quantile) its last: both NaN, and the gradient goes to that NaN
    if ignore_nan:
        rank = q_row * b.maximum((~nan).sum(axis=-1, keepdims=True) - 1, 0)
    else:
        rank = b.where(nan.any(axis=-1, keepdims=True), n - 1, q_row * (n - 1))
    if interpolation == "nearest":
        rank = b.round(rank)
    below = b.floor(rank).astype(dtypes.int64.np)
    above = below if interpolation in ("lower", "nearest") else b.ceil(rank).astype(dtypes.int64.np)
    if interpolation == "higher":
        below = above
    low, high = gather_at(rows, below, rows.ndim - 1), gather_at(rows, above, rows.ndim - 1)
    weight = (rank - below) if interpolation == "linear" else b.full(rank.shape, 0.5)
    out = low if interpolation in ("lower", "higher", "nearest") else \
        low + rows._like(weight.astype(rows._data.dtype)) * (high - low)
    out = out.movedim(-1, 0)  # the q dim first, as PyTorch
    if keepdim:
        out = out.reshape(out.shape[:1] + ((1,) * input.ndim if dim is None else
                                          tuple(1 if k == d else s for k, s in enumerate(input.shape))))
    return out.squeeze(0) if scalar_q else out


@on_input_device
def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """The ``q``-quantiles (a number or a 1-d tensor, in [0, 1]) along ``dim`` (of all elements without),
    NaN where the row holds a NaN; a tensor ``q`` adds a first dim. Differentiable through the sort."""
    return _quantile("quantile", input, q, dim, keepdim, interpolation, ignore_nan=False)


@on_input_device
def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """``quantile`` of the non-NaN elements (NaN where a row has none)."""
    return _quantile("nanquantile", input, q, dim, keepdim, interpolation, ignore_nan=True)


@on_input_device
def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    """The first element of every run of equal consecutive elements (slices along ``dim``), with the
    inverse indices and run lengths when asked for. Not differentiable, as in PyTorch."""
    check_tensor(input, "input", "unique_consecutive")
    b = input._backend
    if dim is None:
        a, d = input._data.reshape(-1), 0
    else:
        d = one_dim(input, dim, "unique_consecutive")
        a = input._data
    n = a.shape[d] if a.ndim else 1
    a = a.reshape(1) if a.ndim == 0 else a
    step = a.take(b.arange(1, n), axis=d) != a.take(b.arange(n - 1), axis=d)
    if a.ndim > 1:
        step = step.any(axis=tuple(k for k in range(a.ndim) if k != d))
    starts = b.concatenate((b.ones(min(n, 1), dtype=bool), step.reshape(-1)))
    first = b.nonzero(starts)[0]
    out = [input._like(a.take(first, axis=d))]
    if return_inverse:
        inverse = b.cumsum(starts) - 1
        out.append(input._like(inverse.reshape(input.shape if dim is None else (n,)).astype(dtypes.int64.np)))
    if return_counts:
        counts = b.concatenate((first[1:], b.asarray([n]))) - first
        out.append(input._like(counts.astype(dtypes.int64.np, copy=False)))
    return out[0] if len(out) == 1 else tuple(out)


class _cumulative_types:
    cummax = namedtuple("cummax", ["values", "indices"])
    cummin = namedtuple("cummin", ["values", "indices"])


return_types.cummax, return_types.cummin = _cumulative_types.cummax, _cumulative_types.cummin


def _running_extreme(op, input, dim):
    """``(values, indices)`` of the running max (min) along ``dim``; a tie moves the index to the later
    element, a NaN stays the value once seen (its index moving to each later NaN), as PyTorch. A doubling
    scan over whole arrays: log2(n) steps."""
    check_tensor(input, "input", op)
    x = input.reshape(1) if input.ndim == 0 else input
    d = one_dim(x, dim, op)
    b, a = x._backend, x._data
    n = a.shape[d]
    best = b.broadcast_to(b.arange(n).reshape((1,) * d + (n,) + (1,) * (a.ndim - d - 1)), a.shape).copy()
    value = a.copy()
    better = b.greater_equal if op == "cummax" else b.less_equal
    step = 1
    while step < n:
        head, tail = _at(d, 0, n - step), _at(d, step, n)
        # the later half's candidate wins where it is at least as good, and wherever it is NaN
        keep = better(value[tail], value[head])
        if a.dtype.kind == "f":
            keep = b.isnan(value[tail]) | (keep & ~b.isnan(value[head]))
        value[tail] = b.where(keep, value[tail], value[head])
        best[tail] = b.where(keep, best[tail], best[head])
        step *= 2
    values = gather_at(x, best, d)
    if input.ndim == 0:
        values, best = values.reshape(()), best.reshape(())
    return getattr(return_types, op)(values, input._like(best.astype(dtypes.int64.np, copy=False)))


@on_input_device
def cummax(input, dim):
    return _running_extreme("cummax", input, dim)


@on_input_device
def cummin(input, dim):
    return _running_extreme("cummin", input, dim)
