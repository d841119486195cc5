"""Reductions over dimensions (``dim=None`` reduces everything)."""
from __future__ import annotations

from collections import namedtuple

from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from .. import dtypes
from ..device import on_input_device, placed
from .arith import where
from .shape import cat, stack
from ..tensor import Tensor  # defined before lumen.tensor imports the ops


def normalize_dims(dim, ndim, op):
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    for d in dims:
        if not -(ndim or 1) <= d < (ndim or 1):
            raise IndexError(f"{op}: dim {d} is out of range for a tensor of {ndim} dimensions")
        out.append(d % ndim if ndim else 0)
    return tuple(sorted(set(out))) if ndim else ()


def _expand_back(g, in_shape, axes, keepdim):
    if not keepdim:
        shape = list(in_shape)
        for a in axes:
            shape[a] = 1
        g = g.reshape(tuple(shape))
    return g.expand(in_shape)


class Sum(Function):
    def __init__(self, axes, keepdim, dtype):
        self.axes, self.keepdim, self.dtype = axes, keepdim, dtype

    def forward(self, a):
        self.in_shape = a.shape
        out = a.sum(axis=self.axes, keepdims=self.keepdim, dtype=self.dtype.np)
        return self.backend.asarray(out)

    def backward(self, g):
        return _expand_back(g, self.in_shape, self.axes, self.keepdim)


def sum(x, dim=None, keepdim=False, dtype=None):
    axes = normalize_dims(dim, x.ndim, "sum")
    return Sum.apply(x, axes=axes, keepdim=keepdim, dtype=_accumulation_dtype(x, dtype))


def mean(x, dim=None, keepdim=False):
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"mean: expected a floating tensor, got {x.dtype}; convert it with .float() first")
    axes = normalize_dims(dim, x.ndim, "mean")
    n = 1
    for a in axes:
        n *= x.shape[a]
    return sum(x, axes, keepdim) / n


class Extreme(Function):
    """max/min over all elements; ties share the gradient evenly (PyTorch's rule)."""

    def __init__(self, op):
        self.op = op

    def forward(self, a):
        if a.size == 0:
            raise RuntimeError(f"{self.op}: cannot reduce an empty tensor of shape {a.shape}")
        self.save_inputs(0)
        self.save_outputs(0)
        return self.backend.asarray(a.max() if self.op == "max" else a.min())

    def backward(self, g):
        (a,) = self.saved_inputs
        (y,) = self.saved_outputs
        mask = (a == y).to(g.dtype)
        return mask * (g / mask.sum())


class Amax(Function):
    """max over several dims at once; ties share the gradient evenly, as PyTorch's amax."""

    def __init__(self, axes, keepdim):
        self.axes, self.keepdim = axes, keepdim

    def forward(self, a):
        if a.size == 0:
            raise RuntimeError(f"amax: cannot reduce an empty tensor of shape {a.shape}")
        self.save_inputs(0)
        y = a.max(axis=self.axes, keepdims=True)
        self.peak_shape = y.shape
        self.save_outputs(0)
        return y if self.keepdim else y.squeeze(self.axes)

    def backward(self, g):
        (a,) = self.saved_inputs
        (peak,) = self.saved_outputs
        peak = peak.reshape(self.peak_shape)
        mask = (a == peak).to(g.dtype)
        if not self.keepdim:
            g = g.reshape(self.peak_shape)
        return g * mask / mask.sum(self.axes, keepdim=True)


def amax(x, dim=None, keepdim=False):
    axes = normalize_dims(dim, x.ndim, "amax")
    return Amax.apply(x, axes=axes, keepdim=keepdim)


def amin(x, dim=None, keepdim=False):
    """min over several dims at once; ties share the gradient evenly, as PyTorch's amin."""
    return -amax(-x, dim, keepdim)


class ExtremeDim(Function):
    def __init__(self, op, dim, keepdim):
        self.op, self.dim, self.keepdim = op, dim, keepdim

    def forward(self, a):
        b = self.backend
        if a.shape[self.dim] == 0:
            raise RuntimeError(f"{self.op}: cannot reduce an empty dimension {self.dim} of shape {a.shape}")
        idx = (b.argmax if self.op == "max" else b.argmin)(a, axis=self.dim, keepdims=True)
        vals = b.take_along_axis(a, idx, axis=self.dim)
        if not self.keepdim:
            vals, idx = vals.squeeze(self.dim), idx.squeeze(self.dim)
        self.in_shape = a.shape
        self.mark_non_differentiable(1)
        self.save_outputs(1)
        return vals, idx.astype(dtypes.int64.np, copy=False)

    def backward(self, g, _):
        (idx,) = self.saved_outputs
        if not self.keepdim:
            g, idx = g.unsqueeze(self.dim), idx.unsqueeze(self.dim)
        n = self.in_shape[self.dim]
        shape = [1] * len(self.in_shape)
        shape[self.dim] = n
        positions = g.new_tensor(range(n), dtype=dtypes.int64).reshape(tuple(shape))
        return g * (positions == idx).to(g.dtype)


class return_types:
    """``max(dim)``/``min(dim)`` results, unpackable and named as PyTorch's ``torch.return_types``."""
    max = namedtuple("max", ["values", "indices"])
    min = namedtuple("min", ["values", "indices"])


def extreme(x, op, dim=None, keepdim=False):
    if dim is None:
        return Extreme.apply(x, op=op)
    (d,) = normalize_dims(dim, x.ndim, op) or (0,)
    result = getattr(return_types, op)
    if x.ndim == 0:
        return result(x.clone(), x.new_zeros((), dtype=dtypes.int64))
    return result(*ExtremeDim.apply(x, op=op, dim=d, keepdim=keepdim))


def max(x, dim=None, keepdim=False):
    """The maximum, or with ``dim`` the ``(values, indices)`` along it; ``max(x, other)`` is maximum."""
    from .arith import maximum
    if isinstance(dim, Tensor):
        return maximum(x, dim)
    return extreme(x, "max", dim, keepdim)


def min(x, dim=None, keepdim=False):
    from .arith import minimum
    if isinstance(dim, Tensor):
        return minimum(x, dim)
    return extreme(x, "min", dim, keepdim)


@on_input_device
def argextreme(x, op, dim=None, keepdim=False):
    b = x._backend
    fn = b.argmax if op == "argmax" else b.argmin
    if dim is None:
        out = fn(x._data.reshape(-1))
        if keepdim:
            out = out.reshape((1,) * x.ndim)
    else:
        (d,) = normalize_dims(dim, x.ndim, op)
        out = fn(x._data, axis=d, keepdims=keepdim)
    return x._like(b.asarray(out, dtype=dtypes.int64.np))


def argmax(x, dim=None, keepdim=False):
    return argextreme(x, "argmax", dim, keepdim)


def argmin(x, dim=None, keepdim=False):
    return argextreme(x, "argmin", dim, keepdim)


@on_input_device
def _logical_reduce(x, op, dim, keepdim):
    axes = None if dim is None else normalize_dims(dim, x.ndim, op)
    with placed(x._device):
        out = getattr(x._data, op)(axis=axes, keepdims=keepdim)
        return x._like(x._backend.asarray(out))


def all(x, dim=None, keepdim=False):
    return _logical_reduce(x, "all", dim, keepdim)


def any(x, dim=None, keepdim=False):
    return _logical_reduce(x, "any", dim, keepdim)


def var(x, dim=None, unbiased=None, keepdim=False, correction=None):
    if unbiased is not None and correction is not None:
        raise TypeError("var: give either unbiased or correction, not both")
    corr = correction if correction is not None else (1 if unbiased in (None, True) else 0)
    axes = normalize_dims(dim, x.ndim, "var")
    n = 1
    for a in axes:
        n *= x.shape[a]
    centred = x - mean(x, axes, keepdim=True)
    return sum(centred * centred, axes, keepdim) / (n - corr if n > corr else 0)


def std(x, dim=None, unbiased=None, keepdim=False, correction=None):
    return var(x, dim, unbiased, keepdim, correction).sqrt()


def logsumexp(x, dim, keepdim=False):
    axes = normalize_dims(dim, x.ndim, "logsumexp")
    m = x.detach().amax(axes, keepdim=True)
    m = m.masked_fill(~m.isfinite(), 0)  # rows of -inf stay -inf instead of nan
    out = (x - m).exp().sum(axes, keepdim=True).log() + m
    return out if keepdim else out.squeeze(axes)


# ---- cumulative sums and products --------------------------------------------------------------
def _accumulation_dtype(x, dtype):
    """PyTorch's result dtype of sum-like ops: ``dtype`` if given, int64 for bool and integers."""
    if dtype is not None:
        return dtypes.as_dtype(dtype)
    return dtypes.int64 if x.dtype.category < 2 else x.dtype


def _flip(t, dim):
    return t[(slice(None),) * dim + (slice(None, None, -1),)]


def _reverse_cumsum(t, dim):
    """``out[i] = sum of t[j] for j >= i`` along ``dim`` (summed from the end: no cancellation)."""
    return _flip(cumsum(_flip(t, dim), dim), dim)


class Cumsum(Function):
    def __init__(self, dim, dtype):
        self.dim, self.dtype = dim, dtype

    def forward(self, a):
        return self.backend.cumsum(a, axis=self.dim, dtype=self.dtype.np)

    def backward(self, g):
        return _reverse_cumsum(g, self.dim)


class Cumprod(Function):
    def __init__(self, dim, dtype):
        self.dim, self.dtype = dim, dtype

    def forward(self, a):
        self.save_inputs(0)
        self.save_outputs(0)
        return self.backend.cumprod(a, axis=self.dim, dtype=self.dtype.np)

    def backward(self, g):
        (x,), (y,) = self.saved_inputs, self.saved_outputs
        d = self.dim
        is_zero = x == 0
        if not is_zero.any():
            return _reverse_cumsum(g * y, d) / x
        if is_grad_enabled():
            return self._differentiable_backward(g, x, d)
        # PyTorch's rule with zeros: before a slice's first zero, dy_j/dx_i = y_j / x_i; at the first
        # zero k it is the product of the other factors of y_j (y with x_k taken out); after it, 0.
        zeros_so_far = cumsum(is_zero, d)
        before, first = zeros_so_far == 0, is_zero & (zeros_so_far == 1)
        one, zero = x.new_ones(()), g.new_zeros(())
        g_before = where(before, _reverse_cumsum(g * y, d) / where(before, x, one), zero)
        without_first = cumprod(where(first, one, x), d)
        return g_before + where(first, _reverse_cumsum(g * without_first, d), zero)

    @staticmethod
    def _differentiable_backward(g, x, d):
        """The gradient as a polynomial in ``x`` (what double backward differentiates; the rule with
        masks above is not differentiable at the zeros): for each k, the sum over j >= k of g_j times
        the product of x_i for i <= j, i != k. O(n^2) along ``d``, as PyTorch does it."""
        n = x.shape[d]
        ones = x.new_ones(x.shape[:d] + (1,) + x.shape[d + 1:])
        slices = []
        for k in range(n):
            until_k = prod(x.narrow(d, 0, k), d, keepdim=True)
            omitted = until_k * cat([ones, cumprod(x.narrow(d, k + 1, n - k - 1), d)], d)
            slices.append((g.narrow(d, k, n - k) * omitted).sum(d))
        return stack(slices, d)


def _along(x, dim, op):
    """``dim`` as one non-negative axis of ``x`` (a 0-d tensor is treated as one element long)."""
    (d,) = normalize_dims(dim, x.ndim, op) or (0,)
    return d


def _cumulative(fn, x, dim, dtype, op):
    d = _along(x, dim, op)
    if x.ndim == 0:
        return _cumulative(fn, x.reshape(1), 0, dtype, op).reshape(())
    return fn.apply(x, dim=d, dtype=_accumulation_dtype(x, dtype))


def cumsum(input, dim, *, dtype=None):
    """Running sums along ``dim``; bool and integer inputs sum in int64 unless ``dtype`` says otherwise."""
    return _cumulative(Cumsum, input, dim, dtype, "cumsum")


def cumprod(input, dim, *, dtype=None):
    """Running products along ``dim``; the gradient is right where the input has zeros."""
    return _cumulative(Cumprod, input, dim, dtype, "cumprod")


def _exclusive_cumprod(t, dim):
    """``out[i] = prod of t[j] for j < i`` along ``dim``."""
    head = t.new_ones(t.shape[:dim] + (1,) + t.shape[dim + 1:])
    return cumprod(cat([head, t.narrow(dim, 0, t.shape[dim] - 1)], dim), dim)


class Prod(Function):
    def __init__(self, axes, keepdim, dtype):
        self.axes, self.keepdim, self.dtype = axes, keepdim, dtype

    def forward(self, a):
        self.save_inputs(0)
        self.save_outputs(0)
        return self.backend.asarray(a.prod(axis=self.axes, keepdims=self.keepdim, dtype=self.dtype.np))

    def backward(self, g):
        (x,), (y,) = self.saved_inputs, self.saved_outputs
        if not self.axes:
            return g
        if not self.keepdim:
            kept = tuple(1 if i in self.axes else n for i, n in enumerate(x.shape))
            g, y = g.reshape(kept), y.reshape(kept)
        if not (x == 0).any():
            return g * y / x
        # With zeros, the product of the other factors of each element, without division: the
        # products of the elements before it times those after it.
        # (several axes are all of them: dim=None)
        flat, d = (x.reshape(-1), 0) if len(self.axes) > 1 else (x, self.axes[0])
        others = _exclusive_cumprod(flat, d) * _flip(_exclusive_cumprod(_flip(flat, d), d), d)
        return g * others.reshape(x.shape)


def prod(input, dim=None, keepdim=False, *, dtype=None):
    """The product of all elements, or along the one ``dim``; bool and integers multiply in int64."""
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"prod: dim must be an int or None, got {dim!r} (reduce one dim at a time)")
    axes = normalize_dims(dim, input.ndim, "prod")
    return Prod.apply(input, axes=axes, keepdim=keepdim, dtype=_accumulation_dtype(input, dtype))


# ---- NaN-ignoring reductions, paired results ---------------------------------------------------------
def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """The sum treating NaN as zero (so NaN positions get no gradient)."""
    if input.dtype.is_floating_point:
        input = where(input.isnan(), 0, input)
    return sum(input, dim, keepdim, dtype)


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    """The mean of the elements that are not NaN (NaN where all are); floating inputs only, as torch."""
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"nanmean(): expected input to have floating point dtype but got {input.dtype} (shape "
                           f"{tuple(input.shape)})")
    x = input if dtype is None else input.to(dtype)
    present = (~x.isnan()).sum(dim, keepdim)
    # all-NaN slices give NaN (as torch), without 0/0
    return where(present == 0, float("nan"), nansum(x, dim, keepdim) / present.clamp_min(1))


def aminmax(input, *, dim=None, keepdim=False):
    """``(min, max)`` over ``dim`` (or everything), as torch.return_types.aminmax."""
    if input.numel() == 0 or (dim is not None and input.ndim and input.shape[dim] == 0):
        raise RuntimeError(f"aminmax(): cannot compute aminmax over an empty dimension as the operation has no "
                           f"identity (shape {tuple(input.shape)}, dim {dim})")
    if dim is None and keepdim:
        dims = tuple(range(input.ndim))
        return return_types.aminmax(amin(input, dims, True), amax(input, dims, True))
    return return_types.aminmax(amin(input, dim, keepdim), amax(input, dim, keepdim))


return_types.aminmax = namedtuple("aminmax", ["min", "max"])


def _unbiased_in_dim(op, dim, unbiased):
    """torch's older overload ``var_mean(input, unbiased)``: a bool in ``dim``'s place is ``unbiased``."""
    if isinstance(dim, bool):
        if unbiased is not None:
            raise TypeError(f"{op}(): got unbiased twice ({dim!r} in dim's place and unbiased={unbiased!r})")
        return None, dim
    return dim, unbiased


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """``(var, mean)`` over ``dim``: the variance with ``correction`` (default 1, Bessel's) and the mean."""
    dim, unbiased = _unbiased_in_dim("var_mean", dim, unbiased)
    return var(input, dim, unbiased, keepdim, correction), mean(input, dim, keepdim)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """``(std, mean)`` over ``dim``, as :func:`var_mean`."""
    dim, unbiased = _unbiased_in_dim("std_mean", dim, unbiased)
    return std(input, dim, unbiased, keepdim, correction), mean(input, dim, keepdim)


def logcumsumexp(input, dim):
    """``log(cumsum(exp(input), dim))`` without overflow or underflow: a doubling scan of logaddexp (each
    of its log2(n) steps combines every element with the one ``2^k`` before it), differentiable through it."""
    from .arith import logaddexp
    x = input if input.dtype.is_floating_point else input.to(dtypes.get_default_dtype())
    if x.ndim == 0:
        return x.clone()
    (d,) = normalize_dims(dim, x.ndim, "logcumsumexp")
    n, step = x.shape[d], 1
    while step < n:
        head = x.narrow(d, 0, step)
        shifted = cat([head.new_full(head.shape, float("-inf")), x.narrow(d, 0, n - step)], d)
        # logaddexp(x, -inf) is x and its gradient to the -inf side is 0
        x = logaddexp(x, shifted)
        step *= 2
    return x


# ---- integration and covariance -------------------------------------------------------------------------
def _trapezoid_parts(y, x, dx, dim, op):
    if x is not None and dx is not None:
        raise TypeError(f"{op}: give x or dx, not both")
    if x is not None and not isinstance(x, Tensor):
        raise TypeError(f"{op}(): x must be a Tensor (a spacing goes by keyword: dx=), got {type(x).__name__}")
    d = normalize_dims(dim, y.ndim, op)[0]
    n = y.shape[d]
    pair_sum = y.narrow(d, 1, n - 1) + y.narrow(d, 0, n - 1) if n else y
    if x is None:
        return pair_sum * ((1.0 if dx is None else dx) / 2), d
    if x.ndim == 1:
        if x.shape[0] != n:
            raise RuntimeError(f"{op}: there must be one `x` value for each sample point (x has {x.shape[0]}, y "
                               f"{n} along dim {dim})")
        shape = [1] * y.ndim
        shape[d] = n - 1 if n else 0  # (reduce.max shadows the builtin here)
        spacing = x.diff().reshape(shape)
    else:
        spacing = x.diff(dim=dim)
    return pair_sum * spacing / 2, d


def trapezoid(y, x=None, *, dx=None, dim=-1):
    """``torch.trapezoid``: the trapezoid rule along ``dim``, at points ``x`` (1-d or y's shape) or spacing
    ``dx`` (default 1)."""
    parts, d = _trapezoid_parts(y, x, dx, dim, "trapezoid")
    return parts.sum(d)


def trapz(y, x=None, *, dx=None, dim=-1):
    """``torch.trapz``: :func:`trapezoid`'s older name."""
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    """``torch.cumulative_trapezoid``: the running trapezoid rule (one element fewer along ``dim``)."""
    parts, d = _trapezoid_parts(y, x, dx, dim, "cumulative_trapezoid")
    return cumsum(parts, d)


def cov(input, *, correction=1, fweights=None, aweights=None):
    """``torch.cov``: the covariance of the rows (variables) over the columns (observations), with integer
    frequency weights and observation weights as numpy.cov; a 1-d input is one variable."""
    if input.ndim > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an input with "
                           f"{input.ndim} dimensions")
    x = input.reshape(1, -1) if input.ndim < 2 else input
    if not x.dtype.is_floating_point:
        x = x.to(dtypes.get_default_dtype())
    w = None
    if fweights is not None:
        w = fweights.to(x.dtype)
    if aweights is not None:
        w = aweights.to(x.dtype) if w is None else w * aweights.to(x.dtype)
    n_obs = x.shape[1]
    if w is None:
        avg = x.mean(1, keepdim=True)
        w_sum = x.new_full((), float(n_obs))
        norm = w_sum - correction
    else:
        w_sum = w.sum()
        avg = (x * w).sum(1, keepdim=True) / w_sum
        if aweights is None or correction == 0:
            norm = w_sum - correction
        else:
            norm = w_sum - correction * (w * aweights.to(x.dtype)).sum() / w_sum
    centred = x - avg
    weighted = centred if w is None else centred * w
    c = (weighted @ centred.mT) / norm.clamp_min(0)
    return c.squeeze() if input.ndim < 2 else c


def corrcoef(input):
    """``torch.corrcoef``: Pearson's correlation coefficients of the rows, clipped to [-1, 1]."""
    c = cov(input)
    if c.ndim == 0:
        return c / c
    d = c.diagonal().sqrt()
    return (c / d.unsqueeze(1) / d.unsqueeze(0)).clamp(-1, 1)
