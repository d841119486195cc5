"""Binary arithmetic, comparisons, ``where``, ``clamp``, casts and matmul, with broadcasting and
PyTorch's type promotion. Each public function validates once and applies one Function."""
from __future__ import annotations

import math

from .. import dtypes
from ..autograd.function import Function
from ..device import mismatch_error, placed
from ..autograd.grad_mode import no_grad
from ..tensor import Tensor  # defined before lumen.tensor imports the ops
from . import inplace


def broadcast_shapes(*shapes):
    """numpy's broadcasting rule on shapes alone; ValueError when they do not broadcast."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(-ndim, 0):
        sizes = {s[i] for s in shapes if len(s) >= -i and s[i] != 1}
        if len(sizes) > 1:
            raise ValueError(f"shapes {shapes} do not broadcast")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def sum_to(g, shape):
    """Reduce a broadcast gradient (a Tensor, differentiably, or a backend array) back to ``shape``."""
    if g.shape == shape:
        return g
    if not isinstance(g, Tensor):
        return _summed_to(g, shape)
    return SumTo.apply(g, shape=shape)


def _summed_to(g, shape):
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape) if axes else g.reshape(shape)


class SumTo(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, g):
        self.in_shape = g.shape
        return _summed_to(g, self.shape)

    def backward(self, gy):
        return gy.expand(self.in_shape)


class Add(Function):
    backward_on_arrays = True
    shapes = None  # the inputs' shapes, kept only where they differ (else the gradient passes as it is)

    def forward(self, a, b):
        if a.shape != b.shape:
            self.shapes = (a.shape, b.shape)
        return self.backend.add(a, b)

    def backward(self, g):
        if self.shapes is None:
            return g, g
        return sum_to(g, self.shapes[0]), sum_to(g, self.shapes[1])


class Sub(Function):
    backward_on_arrays = True
    shapes = None  # as Add's

    def forward(self, a, b):
        if a.shape != b.shape:
            self.shapes = (a.shape, b.shape)
        return self.backend.subtract(a, b)

    def backward(self, g):
        if self.shapes is None:
            return g, -g
        return sum_to(g, self.shapes[0]), sum_to(-g, self.shapes[1])


class Mul(Function):
    backward_on_arrays = True

    def forward(self, a, b):
        self.save_inputs(0, 1)
        return self.backend.multiply(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        return (sum_to(g * b, a.shape) if self.needs_input_grad[0] else None,
                sum_to(g * a, b.shape) if self.needs_input_grad[1] else None)


class Div(Function):
    backward_on_arrays = True

    def forward(self, a, b):
        self.save_inputs(0, 1)
        return self.backend.true_divide(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        ga = sum_to(g / b, a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(-g * a / (b * b), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Pow(Function):
    def forward(self, a, b):
        self.save_inputs(0, 1)
        self.save_outputs(0)
        return self.backend.power(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        (y,) = self.saved_outputs
        ga = sum_to(g * b * a ** (b - 1), a.shape) if self.needs_input_grad[0] else None
        gb = None
        if self.needs_input_grad[1]:
            # d(a^b)/db = a^b log a, taken as 0 where a == 0 (the limit for b > 0)
            safe = where(a > 0, a, a.new_ones(()))
            gb = sum_to(g * y * safe.log(), b.shape)
        return ga, gb


class Maximum(Function):
    def forward(self, a, b):
        self.save_inputs(0, 1)
        return self.backend.maximum(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        # ties split the gradient evenly, as PyTorch does
        wa = (a > b).to(g.dtype) + (a == b).to(g.dtype) * 0.5
        return sum_to(g * wa, a.shape), sum_to(g * (1 - wa), b.shape)


class Minimum(Function):
    def forward(self, a, b):
        self.save_inputs(0, 1)
        return self.backend.minimum(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        wa = (a < b).to(g.dtype) + (a == b).to(g.dtype) * 0.5
        return sum_to(g * wa, a.shape), sum_to(g * (1 - wa), b.shape)


class Where(Function):
    def forward(self, cond, a, b):
        self.save_inputs(0)
        self.shapes = (a.shape, b.shape)
        return self.backend.where(cond, a, b)

    def backward(self, g):
        (c,) = self.saved_inputs
        zero = g.new_zeros(())
        return None, sum_to(where(c, g, zero), self.shapes[0]), sum_to(where(c, zero, g), self.shapes[1])


class Clamp(Function):
    def __init__(self, min, max):
        self.min, self.max = min, max

    def forward(self, a):
        self.save_inputs(0)
        return self.backend.clip(a, self.min, self.max).astype(a.dtype, copy=False)

    def backward(self, g):
        (a,) = self.saved_inputs
        inside = a.new_ones(a.shape, dtype=dtypes.bool_)
        if self.min is not None:
            inside = inside & (a >= self.min)
        if self.max is not None:
            inside = inside & (a <= self.max)
        return g * inside.to(g.dtype)


class ClampTensor(Function):
    """clamp with tensor bounds (either may be None). As PyTorch, the input's gradient flows where
    ``min <= input <= max``, ``min``'s where the input is below it and ``min < max``, ``max``'s where the
    input is above it or ``max < min`` (the result is ``max`` there)."""

    def forward(self, a, low, high):
        self.save_inputs(0, 1, 2)
        b = self.backend
        out = a if low is None else b.maximum(a, low)
        return out if high is None else b.minimum(out, high)

    def backward(self, g):
        a, low, high = self.saved_inputs
        zero = g.new_zeros(())
        if low is not None and high is not None:
            masks = ((a >= low) & (a <= high), (a < low) & (low < high), (a > high) | (high < low))
        elif low is not None:
            masks = (a >= low, a < low, None)
        else:
            masks = (a <= high, None, a > high)
        return tuple(None if t is None or not need else sum_to(where(m, g, zero), t.shape)
                     for t, m, need in zip((a, low, high), masks, self.needs_input_grad))


class Atan2(Function):
    def forward(self, a, b):
        self.save_inputs(0, 1)
        return self.backend.arctan2(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        scale = g / (a * a + b * b)
        return (sum_to(scale * b, a.shape) if self.needs_input_grad[0] else None,
                sum_to(-scale * a, b.shape) if self.needs_input_grad[1] else None)


class Remainder(Function):
    """``a - floor(a / b) * b`` (the sign of ``b``, as Python's ``%``): gradient 1 for ``a`` and
    ``-floor(a / b)`` for ``b``."""

    ufunc, rounding = "remainder", "floor"

    def forward(self, a, b):
        self.save_inputs(0, 1)
        return getattr(self.backend, self.ufunc)(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        gb = None
        if self.needs_input_grad[1]:
            gb = sum_to(-g * getattr(a / b, self.rounding)(), b.shape)
        return sum_to(g, a.shape) if self.needs_input_grad[0] else None, gb


class Fmod(Remainder):
    """``a - trunc(a / b) * b`` (the sign of ``a``, as C's ``fmod``)."""

    ufunc, rounding = "fmod", "trunc"


class Hypot(Function):
    def forward(self, a, b):
        self.save_inputs(0, 1)
        self.save_outputs(0)
        return self.backend.hypot(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        (y,) = self.saved_outputs
        scale = g / y
        return (sum_to(scale * a, a.shape) if self.needs_input_grad[0] else None,
                sum_to(scale * b, b.shape) if self.needs_input_grad[1] else None)


class Cast(Function):
    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, a):
        self.src = a.dtype
        return a.astype(self.dtype.np)

    def backward(self, g):
        return g.to(dtypes.from_numpy_dtype(self.src))


class MatMul(Function):
    """Batched matmul of operands with at least 2 dims (1-D cases are reshaped by the caller).

    Its backward runs on Tensors even without a graph to record: on bare arrays ``@`` is NumPy's own
    matmul, whose OpenBLAS threads then spin against Lumen's, and which falls back to a loop without BLAS
    on a transposed (n, 1) operand (linear's weight gradient at batch 1: AlexNet's step 1.6x slower).
    """

    def forward(self, a, b):
        self.save_inputs(0, 1)
        return self.backend.matmul(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        ga = sum_to(g @ b.swapaxes(-1, -2), a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(a.swapaxes(-1, -2) @ g, b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Compare(Function):
    """A comparison or bitwise ufunc of the backend (``ufunc`` names it); the result carries no
    gradient."""

    def __init__(self, ufunc):
        self.ufunc = ufunc

    def forward(self, *arrays):
        self.mark_non_differentiable(0)
        return getattr(self.backend, self.ufunc)(*arrays)

    def backward(self, g):
        return (None,) * len(self.needs_input_grad)


# ---- promotion -------------------------------------------------------------------------------

def scalar_tensor(ref, value, dtype=None):
    """``value`` as a Tensor on ``ref``'s device: a Tensor as it is, a Python number in the dtype
    PyTorch's promotion gives it next to ``ref``, a list or array with its own dtype."""
    if isinstance(value, Tensor):
        return value
    if dtype is None and (isinstance(value, (bool, int, float)) or getattr(value, "ndim", None) == 0):
        dtype = dtypes.promote([], [ref.dtype], [value])
    with placed(ref._device):
        return ref._like(_as_backend_array(ref._backend, value, dtype))


def _as_backend_array(backend, value, dtype):
    from ..tensor import as_array
    return as_array(backend, value, dtype)


def binary(fn, a, b, reverse=False, true_div=False):
    """Apply the two-input Function ``fn`` to ``a`` (a Tensor) and ``b`` (Tensor, number or array)
    after PyTorch's promotion; ``reverse`` computes ``fn(b, a)``."""
    if isinstance(b, Tensor):
        if a._data.dtype != b._data.dtype:
            groups = ([a.dtype] if a.ndim else [], [a.dtype] if not a.ndim else [])
            d = dtypes.promote(groups[0] + ([b.dtype] if b.ndim else []),
                               groups[1] + ([] if b.ndim else [b.dtype]))
            a, b = a.to(d), b.to(d)
        if a._device is not b._device and a._device != b._device:
            raise mismatch_error(a.device, b.device)
    elif isinstance(b, (bool, int, float)) or getattr(b, "ndim", None) == 0:
        d = a.dtype
        if d.category < dtypes.scalar_category(b):  # else the tensor's dtype wins (promote's rule)
            d = dtypes.promote([a.dtype] if a.ndim else [], [] if a.ndim else [a.dtype], [b])
            a = a.to(d)
        with placed(a._device):
            try:
                arr = a._backend.asarray(b, dtype=d.np)
            except OverflowError:  # uint8_tensor + -1 wraps around, as in PyTorch
                arr = a._backend.asarray(b).astype(d.np)
        b = a._like(arr)
    else:
        return binary(fn, a, scalar_tensor(a, b), reverse, true_div)
    if true_div and a._data.dtype.kind != "f":
        a, b = a.to(dtypes.get_default_dtype()), b.to(dtypes.get_default_dtype())
    try:
        return fn.apply(b, a) if reverse else fn.apply(a, b)
    except ValueError:  # checked only on failure: equal shapes are the common case, and cost a check each
        try:
            broadcast_shapes(a._data.shape, b._data.shape)
        except ValueError:
            raise RuntimeError(f"{fn.__name__.lower()}: shapes {tuple(a.shape)} and {tuple(b.shape)} "
                               f"cannot be broadcast together") from None
        raise


# ---- public functions --------------------------------------------------------------------------
def add(input, other, *, alpha=1):
    return binary(Add, input, other * alpha if alpha != 1 else other)


def sub(input, other, *, alpha=1):
    return binary(Sub, input, other * alpha if alpha != 1 else other)


def rsub(input, other, *, alpha=1):
    """``other - alpha * input``, as ``torch.rsub``."""
    return binary(Sub, input * alpha if alpha != 1 else input, other, reverse=True)


def mul(input, other):
    return binary(Mul, input, other)


def div(input, other, *, rounding_mode=None):
    if rounding_mode is None:
        return binary(Div, input, other, true_div=True)
    if rounding_mode == "trunc":
        q = binary(Div, input, other, true_div=True)
        q = where(q < 0, q.ceil(), q.floor())
    elif rounding_mode == "floor":
        q = binary(Div, input, other, true_div=True).floor()
    else:
        raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
    # a rounded quotient of integers is an integer of their promoted dtype, as PyTorch's
    other_dtype = other.dtype if isinstance(other, Tensor) else scalar_tensor(input, other).dtype
    integer = not input.dtype.is_floating_point and not other_dtype.is_floating_point
    return q.to(dtypes.promote([input.dtype, other_dtype])) if integer else q


def floor_divide(input, other):
    """``input // other``: the quotient rounded down (PyTorch's floor_divide, since 1.13)."""
    if not isinstance(input, Tensor):
        input = scalar_tensor(other, input)
    return div(input, other, rounding_mode="floor")


def rdiv(input, other):
    """``other / input``."""
    return binary(Div, input, other, reverse=True, true_div=True)


def pow(input, exponent):
    return binary(Pow, input, exponent)


def rpow(input, base):
    """``base ** input``."""
    return binary(Pow, input, base, reverse=True)


def maximum(input, other):
    return binary(Maximum, input, other)


def minimum(input, other):
    return binary(Minimum, input, other)


def clamp(input, min=None, max=None):
    if min is None and max is None:
        raise RuntimeError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        bounds = [None if v is None else scalar_tensor(input, v) for v in (min, max)]
        present = [input] + [t for t in bounds if t is not None]
        d = dtypes.promote([t.dtype for t in present if t.ndim], [t.dtype for t in present if not t.ndim])
        for t in present[1:]:
            if t._device != input._device:
                raise mismatch_error(input.device, t.device)
        try:
            broadcast_shapes(*(t.shape for t in present))
        except ValueError:
            raise RuntimeError(f"clamp: input {tuple(input.shape)} and bounds "
                               f"{[None if t is None else tuple(t.shape) for t in bounds]} cannot be broadcast "
                               f"together") from None
        return ClampTensor.apply(input.to(d), *(None if t is None else t.to(d) for t in bounds))
    return Clamp.apply(input, min=min, max=max)


def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)


def atan2(input, other):
    """The angle of the point ``(other, input)``; integers promote to the default float dtype."""
    return binary(Atan2, input, other, true_div=True)


def remainder(input, other):
    """Python's modulus (the result has ``other``'s sign); ``input`` may be a number."""
    if not isinstance(input, Tensor):
        return binary(Remainder, other, input, reverse=True)
    return binary(Remainder, input, other)


def fmod(input, other):
    """C's ``fmod`` (the result has ``input``'s sign)."""
    return binary(Fmod, input, other)


def hypot(input, other):
    """``sqrt(input**2 + other**2)`` without overflow; floating tensors only, as PyTorch."""
    for t in (input, other):
        if isinstance(t, Tensor) and not t.dtype.is_floating_point:
            raise NotImplementedError(f"hypot: not implemented for {t.dtype} (shape {tuple(t.shape)}); "
                                      f"expected floating-point tensors")
    return binary(Hypot, input, other)


def lerp(input, end, weight):
    """``input + weight * (end - input)``; ``weight`` a number or a tensor, all of one floating dtype."""
    for name, t in (("end", end), ("weight", weight)):
        if isinstance(t, Tensor) and t.dtype is not input.dtype:
            raise RuntimeError(f"lerp: expected dtype {input.dtype} for `{name}` but got dtype {t.dtype}")
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"lerp: not implemented for {input.dtype} (shape {tuple(input.shape)}); "
                                  f"expected floating-point tensors")
    return input + weight * (end - input)


def compare(input, other, ufunc):
    """A comparison or bitwise op (backend ufunc ``ufunc``) of ``input`` and ``other``, broadcast."""
    other = scalar_tensor(input, other)
    if input._device != other._device:
        raise mismatch_error(input.device, other.device)
    try:
        broadcast_shapes(input.shape, other.shape)
    except ValueError:
        raise RuntimeError(f"{ufunc}: shapes {tuple(input.shape)} and {tuple(other.shape)} cannot be "
                           f"broadcast together") from None
    return Compare.apply(input, other, ufunc=ufunc)


def logical(input, ufunc):
    """A one-input logic op (``invert``, ``logical_not``, ``isfinite``, ``isnan``): no gradient."""
    return Compare.apply(input, ufunc=ufunc)


def allclose(input, other, rtol=1e-5, atol=1e-8, equal_nan=False):
    other = scalar_tensor(input, other)
    return bool(input._backend.allclose(input._data, other._data, rtol, atol, equal_nan))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Elementwise ``|input - other| <= atol + rtol * |other|`` (a bool tensor, broadcast)."""
    if not isinstance(other, Tensor):
        raise TypeError(f"isclose: argument 'other' must be a Tensor, got {type(other).__name__}")
    if input.dtype is not other.dtype:
        raise RuntimeError(f"isclose: {input.dtype} did not match {other.dtype} (shapes {tuple(input.shape)} "
                           f"and {tuple(other.shape)}); convert one of them")
    if input._device != other._device:
        raise mismatch_error(input.device, other.device)
    try:
        broadcast_shapes(input.shape, other.shape)
    except ValueError:
        raise RuntimeError(f"isclose: shapes {tuple(input.shape)} and {tuple(other.shape)} cannot be "
                           f"broadcast together") from None
    return input._like(input._backend.isclose(input._data, other._data, rtol, atol, equal_nan))


def equal(input, other):
    """True when both have one shape and equal elements (values compared across dtypes), as
    ``torch.equal``."""
    if input._device != other._device:
        raise mismatch_error(input.device, other.device)
    return tuple(input.shape) == tuple(other.shape) and bool(input._backend.array_equal(input._data,
                                                                                         other._data))


def where(condition, input=None, other=None):
    """Elements of ``input`` where ``condition`` holds, else of ``other`` (either may be a number).
    ``where(condition)`` alone is ``nonzero(condition, as_tuple=True)``, as PyTorch."""
    if input is None and other is None:
        from .index import nonzero  # index builds on this module
        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise TypeError("where(): give both input and other, or neither (where(condition) is "
                        "nonzero(condition, as_tuple=True))")
    ref = input if isinstance(input, Tensor) else other if isinstance(other, Tensor) else condition
    ta = [t.dtype for t in (input, other) if isinstance(t, Tensor) and t.ndim]
    tz = [t.dtype for t in (input, other) if isinstance(t, Tensor) and not t.ndim]
    sc = [t for t in (input, other) if not isinstance(t, Tensor)]
    d = dtypes.promote(ta, tz, sc)
    a, b = (t.to(d) if isinstance(t, Tensor) else ref.new_full((), t, dtype=d) for t in (input, other))
    if condition.dtype is not dtypes.bool_:
        condition = condition != 0
    try:
        broadcast_shapes(condition.shape, a.shape, b.shape)
    except ValueError:
        raise RuntimeError(f"where: condition {tuple(condition.shape)}, input {tuple(a.shape)} and other "
                           f"{tuple(b.shape)} cannot be broadcast together") from None
    return Where.apply(condition, a, b)


def masked_fill(input, mask, value):
    return where(mask, value, input)


def matmul(input, other, *, out=None):
    if out is not None:
        return inplace.write_out(out, matmul(input.detach(), other.detach()), "matmul", input, other)
    a, b = input, other
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"matmul: both arguments need at least 1 dimension, got shapes "
                           f"{tuple(a.shape)} and {tuple(b.shape)}")
    ka, kb = a.shape[-1], b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        raise RuntimeError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied "
                           f"({ka} != {kb})")
    if a.dtype is not b.dtype:
        d = dtypes.promote([a.dtype, b.dtype])
        a, b = a.to(d), b.to(d)
    if a.ndim == 1 and b.ndim == 1:
        return MatMul.apply(a.reshape(1, -1), b.reshape(-1, 1)).reshape(())
    if a.ndim == 1:
        return MatMul.apply(a.reshape(1, -1), b).squeeze(-2)
    if b.ndim == 1:
        return MatMul.apply(a, b.reshape(-1, 1)).squeeze(-1)
    return MatMul.apply(a, b)


def cast(input, dtype):
    dtype = dtypes.as_dtype(dtype)
    return input if dtype is input.dtype else Cast.apply(input, dtype=dtype)


# ---- comparisons, logic and bits as functions (torch.eq, torch.logical_and, ...) ------------------
def _comparison(name, ufunc):
    def op(input, other, *, out=None):
        result = compare(input, other, ufunc)
        return result if out is None else inplace.write_out(out, result, name)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise ``{ufunc}`` of ``input`` and ``other`` (a tensor or number), broadcast: a bool tensor."
    return op


eq, ne, lt, le, gt, ge = (_comparison(n, u) for n, u in (
    ("eq", "equal"), ("ne", "not_equal"), ("lt", "less"), ("le", "less_equal"), ("gt", "greater"),
    ("ge", "greater_equal")))
not_equal, less, less_equal, greater, greater_equal = ne, lt, le, gt, ge


def _logical(name):
    def op(input, other, *, out=None):
        if not isinstance(other, Tensor):
            raise TypeError(f"{name}(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}")
        result = compare(input, other, name)
        return result if out is None else inplace.write_out(out, result, name)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise ``{name}`` of the truth values (nonzero) of two tensors: a bool tensor."
    return op


logical_and, logical_or, logical_xor = _logical("logical_and"), _logical("logical_or"), _logical("logical_xor")


def logical_not(input, *, out=None):
    result = logical(input, "logical_not")
    return result if out is None else inplace.write_out(out, result, "logical_not")


def _integral(op, *tensors):
    for t in tensors:
        if isinstance(t, Tensor) and t.dtype.is_floating_point:
            raise NotImplementedError(f"{op}: not implemented for {t.dtype} (shape {tuple(t.shape)}); expected "
                                      f"integer or bool tensors")
        if isinstance(t, float):
            raise RuntimeError(f"{op}: got the float {t!r}; expected an integer or bool operand")


def _bitwise(name, ufunc):
    def op(input, other):
        if not isinstance(input, Tensor):  # torch.bitwise_and(3, tensor): the number on the left
            input = scalar_tensor(other, input)
        _integral(name, input, other)
        return compare(input, other, ufunc)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise ``{ufunc}`` of integer or bool tensors (or numbers), broadcast."
    return op


bitwise_and, bitwise_or, bitwise_xor = (_bitwise("bitwise_and", "bitwise_and"), _bitwise("bitwise_or", "bitwise_or"),
                                        _bitwise("bitwise_xor", "bitwise_xor"))
bitwise_left_shift = _bitwise("bitwise_left_shift", "left_shift")
bitwise_right_shift = _bitwise("bitwise_right_shift", "right_shift")


def bitwise_not(input):
    _integral("bitwise_not", input)
    return logical(input, "invert")


def _dtype_of(value, ref):
    return value.dtype if isinstance(value, Tensor) else scalar_tensor(ref, value).dtype


def isinf(input):
    return logical(input, "isinf")


def isposinf(input):
    return isinf(input) & (input > 0)


def isneginf(input):
    return isinf(input) & (input < 0)


def signbit(input):
    """Whether the sign bit is set (so ``-0.0`` gives True); unsigned and bool tensors give False."""
    return logical(input, "signbit")


def isreal(input):
    """True everywhere: Lumen's tensors are real."""
    return input.new_ones(input.shape, dtype=dtypes.bool_)


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """Whether each element of ``elements`` occurs in ``test_elements`` (either may be a number)."""
    if not isinstance(elements, Tensor):
        elements = scalar_tensor(test_elements, elements)
    test = scalar_tensor(elements, test_elements)
    if test._device != elements._device:
        raise mismatch_error(elements.device, test.device)
    array = elements._backend.isin(elements._data, test._data, assume_unique=assume_unique, invert=invert)
    return elements._like(array)


def is_floating_point(input):
    return input.dtype.is_floating_point


def is_complex(input):
    """False: Lumen has no complex dtypes."""
    return False


def is_signed(input):
    return input.dtype not in (dtypes.uint8, dtypes.bool_)


def is_nonzero(input):
    """The truth value of a one-element tensor (RuntimeError for none or several, as torch)."""
    n = input.numel()
    if n != 1:
        what = "no values" if not n else "more than one value"
        raise RuntimeError(f"is_nonzero: Boolean value of Tensor with {what} is ambiguous (shape "
                           f"{tuple(input.shape)})")
    return bool(input.item())


def is_same_size(input, other):
    return tuple(input.shape) == tuple(other.shape)


# ---- arithmetic aliases and extras -----------------------------------------------------------------------
def subtract(input, other, *, alpha=1):
    return sub(input, other, alpha=alpha)


def multiply(input, other):
    return mul(input, other)


def divide(input, other, *, rounding_mode=None):
    return div(input, other, rounding_mode=rounding_mode)


def true_divide(input, other):
    return div(input, other)


def positive(input):
    if input.dtype is dtypes.bool_:
        raise RuntimeError(f"positive: the `+` operator, on a bool tensor (shape {tuple(input.shape)}) is not "
                           f"supported")
    return input


def float_power(input, exponent):
    """``input ** exponent`` computed in float64 (the result is float64 whatever the inputs)."""
    if not isinstance(input, Tensor):
        return pow(scalar_tensor(exponent, input, dtypes.float64), exponent.to(dtypes.float64))
    exponent = exponent.to(dtypes.float64) if isinstance(exponent, Tensor) else float(exponent)
    return pow(input.to(dtypes.float64), exponent)


def _addc(op, combine, input, tensor1, tensor2, value):
    if op == "addcdiv" and not _dtype_of(tensor1, input).is_floating_point \
            and not _dtype_of(tensor2, input).is_floating_point:
        raise RuntimeError(f"addcdiv: integer division of tensor1 ({tensor1.dtype}) by tensor2 ({tensor2.dtype}) is "
                           f"no longer supported; use addcdiv with float tensors or torch.floor_divide")
    product = combine(tensor1, tensor2)
    return add(input, product if value == 1 else product * value)


def addcmul(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 * tensor2``, broadcast."""
    return _addc("addcmul", mul, input, tensor1, tensor2, value)


def addcdiv(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 / tensor2``, broadcast; integer tensor1 and tensor2 are refused, as torch."""
    return _addc("addcdiv", div, input, tensor1, tensor2, value)


class Xlogy(Function):
    """``x * log(y)``, 0 where ``x == 0`` unless ``y`` is NaN. PyTorch's gradients: ``xlogy(g, y)`` for ``x``
    (0 where ``x == 0`` and ``y <= 0``) and ``g * x / y`` for ``y``."""

    def forward(self, x, y):
        self.save_inputs(0, 1)
        b = self.backend
        # where x is 0 the log is of 1 instead (0 * log(1) is the 0 wanted), so log(0) is never taken there
        zero_x = (x == 0) & ~b.isnan(y)
        return b.multiply(x, b.log(b.where(zero_x, b.ones((), y.dtype), y)))

    def backward(self, g):
        x, y = self.saved_inputs
        gx = None
        if self.needs_input_grad[0]:
            gx = sum_to(xlogy(g, y).masked_fill((x == 0) & (y <= 0), 0), x.shape)
        gy = sum_to(g * x / y, y.shape) if self.needs_input_grad[1] else None
        return gx, gy


def xlogy(input, other):
    """``input * log(other)``, taken as 0 where ``input`` is 0 (unless ``other`` is NaN); either may be a number."""
    if not isinstance(input, Tensor):
        return binary(Xlogy, other, input, reverse=True, true_div=True)
    return binary(Xlogy, input, other, true_div=True)


class LogAddExp(Function):
    """``log(exp(a) + exp(b))`` without overflow; the gradient to ``a`` is ``sigmoid((a - b) * scale)``."""

    ufunc, scale = "logaddexp", 1.0

    def forward(self, a, b):
        self.save_inputs(0, 1)
        return getattr(self.backend, self.ufunc)(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        wa = ((a - b) * self.scale).sigmoid()
        return (sum_to(g * wa, a.shape) if self.needs_input_grad[0] else None,
                sum_to(g * (1 - wa), b.shape) if self.needs_input_grad[1] else None)


class LogAddExp2(LogAddExp):
    """``log2(2^a + 2^b)``."""

    ufunc, scale = "logaddexp2", math.log(2)


def _logaddexp(op, fn, input, other):
    if not isinstance(other, Tensor):
        raise TypeError(f"{op}(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}")
    if not input.dtype.is_floating_point and not other.dtype.is_floating_point:
        raise NotImplementedError(f"{op}: not implemented for {input.dtype} and {other.dtype} (shapes "
                                  f"{tuple(input.shape)}, {tuple(other.shape)}); expected a floating-point tensor")
    return binary(fn, input, other)


def logaddexp(input, other):
    return _logaddexp("logaddexp", LogAddExp, input, other)


def logaddexp2(input, other):
    return _logaddexp("logaddexp2", LogAddExp2, input, other)


class Copysign(Function):
    """``|a|`` with ``b``'s sign; the gradient to ``a`` is ``sign(a) * sign(result)`` (0 where ``a == 0``),
    ``b`` a zero gradient (as PyTorch)."""

    def forward(self, a, b):
        self.save_inputs(0)
        self.save_outputs(0)
        self.other_shape = b.shape
        return self.backend.copysign(a, b)

    def backward(self, g):
        (a,), (y,) = self.saved_inputs, self.saved_outputs
        ga = sum_to(g * a.sign() * y.sign(), a.shape) if self.needs_input_grad[0] else None
        return ga, g.new_zeros(self.other_shape) if self.needs_input_grad[1] else None


def copysign(input, other):
    """``input``'s magnitude with ``other``'s sign (a number or tensor); integers become the default float."""
    return binary(Copysign, input, other, true_div=True)


def heaviside(input, values):
    """0 where ``input < 0``, ``values`` where it is 0, 1 where it is positive; both of one dtype, as torch.
    Not differentiable."""
    if not isinstance(values, Tensor):
        raise TypeError(f"heaviside(): argument 'values' (position 2) must be Tensor, not {type(values).__name__}")
    if input.dtype is not values.dtype:
        raise RuntimeError(f"heaviside: not implemented for tensors of different dtypes ({input.dtype} and "
                           f"{values.dtype}, shapes {tuple(input.shape)} and {tuple(values.shape)})")
    x = input.detach()
    # NaN is neither 0 nor positive: 0, as torch (numpy's heaviside gives NaN)
    return where(x == 0, values.detach(), (x > 0).to(x.dtype))


class FMaxMin(Function):
    """``fmax``/``fmin``: the larger/smaller of two elements, the other one where one is NaN. As PyTorch, the
    gradient goes whole to ``a`` where ``a`` wins or ties or ``b`` is NaN, else to ``b``."""

    def __init__(self, ufunc):
        self.ufunc = ufunc

    def forward(self, a, b):
        self.save_inputs(0, 1)
        return getattr(self.backend, self.ufunc)(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        to_a = ((a >= b) if self.ufunc == "fmax" else (a <= b)) | b.isnan()
        zero = g.new_zeros(())
        return (sum_to(where(to_a, g, zero), a.shape) if self.needs_input_grad[0] else None,
                sum_to(where(to_a, zero, g), b.shape) if self.needs_input_grad[1] else None)


class FMax(FMaxMin):
    def __init__(self):
        super().__init__("fmax")


class FMin(FMaxMin):
    def __init__(self):
        super().__init__("fmin")


def fmax(input, other):
    """The elementwise maximum ignoring NaN (NaN only where both are)."""
    return binary(FMax, input, other)


def fmin(input, other):
    """The elementwise minimum ignoring NaN (NaN only where both are)."""
    return binary(FMin, input, other)


def gcd(input, other):
    _integral("gcd", input, other)
    return compare(input, other, "gcd")


def lcm(input, other):
    _integral("lcm", input, other)
    return compare(input, other, "lcm")


def ldexp(input, other):
    """``input * 2 ** other``; integers become the default float."""
    return mul(input, pow(scalar_tensor(input, 2.0), other))


class NanToNum(Function):
    """NaN, +inf and -inf replaced by numbers; the gradient flows only where the input was finite (PyTorch's)."""

    def __init__(self, nan, posinf, neginf):
        self.nan, self.posinf, self.neginf = nan, posinf, neginf

    def forward(self, a):
        self.save_inputs(0)
        return self.backend.nan_to_num(a, nan=self.nan, posinf=self.posinf, neginf=self.neginf)

    def backward(self, g):
        (a,) = self.saved_inputs
        return where(a.isfinite(), g, g.new_zeros(()))


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """NaN as ``nan``, +inf/-inf as ``posinf``/``neginf`` (default: the dtype's largest/lowest finite value);
    integer and bool tensors are returned as copies."""
    if not input.dtype.is_floating_point:
        return input.clone()
    return NanToNum.apply(input, nan=nan, posinf=posinf, neginf=neginf)


def without_gradient_(tensor, compute):
    """``compute(tensor)`` (a comparison, logic or bit op: no gradient) written into ``tensor`` in its dtype.
    A tensor that was part of a graph leaves it (its result is a constant), where PyTorch keeps it in with a
    zero gradient."""
    if inplace.records(tensor):
        inplace.check_in_graph(tensor)
    with no_grad():
        result = compute(tensor)
    inplace.write(tensor, result if result.dtype is tensor.dtype else result.to(tensor.dtype))
    return tensor.detach_() if tensor.grad_fn is not None else tensor


def result_type(tensor, other):
    """``torch.result_type``: the dtype an arithmetic op of ``tensor`` and ``other`` (tensors or numbers) gives."""
    operands = (tensor, other)
    return dtypes.promote([t.dtype for t in operands if isinstance(t, Tensor) and t.ndim],
                          [t.dtype for t in operands if isinstance(t, Tensor) and not t.ndim],
                          [t for t in operands if not isinstance(t, Tensor)])


def fill_diagonal_(tensor, fill_value, wrap=False):
    """``Tensor.fill_diagonal_``: the main diagonal (of a matrix, or of a tensor whose dims are all equal) set to
    ``fill_value``; a tall matrix with ``wrap`` restarts the diagonal every ``cols + 1`` rows, as torch."""
    from ..creation import arange  # creation builds on the ops
    if tensor.ndim < 2:
        raise RuntimeError(f"fill_diagonal_: dimensions must larger than 1, got shape {tuple(tensor.shape)}")
    if tensor.ndim > 2 and len(set(tensor.shape)) != 1:
        raise RuntimeError(f"fill_diagonal_: all dimensions of input must be of equal length, got shape "
                           f"{tuple(tensor.shape)}")
    rows, cols = tensor.shape[0], tensor.shape[1]
    if tensor.ndim > 2 or not wrap or rows <= cols:
        i = arange(min(tensor.shape), device=tensor.device)
        tensor[(i,) * tensor.ndim] = fill_value
        return tensor
    flat = arange(0, rows * cols, cols + 1, device=tensor.device)
    tensor[flat // cols, flat % cols] = fill_value
    return tensor


def sum_to_size(tensor, *size):
    """``Tensor.sum_to_size``: the tensor summed down to ``size``, which it must be expandable from."""
    size = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)
    lead = tensor.ndim - len(size)
    if lead < 0 or any(s != 1 and s != n for s, n in zip(size, tensor.shape[lead:])):
        raise RuntimeError(f"sum_to_size: size {list(size)} is not expandable to size {list(tensor.shape)}")
    return sum_to(tensor, size)


def view_in_place_(tensor, view):
    """``tensor`` made ``view(tensor)`` in place (``squeeze_``, ``t_``, ``transpose_``, ...): it takes the view's
    array and, under autograd, its node; its version bumps, as torch's. A leaf that requires grad is refused, as
    torch refuses it."""
    if inplace.records(tensor):
        inplace.check_in_graph(tensor)
    result = view(tensor)
    tensor._data = result._data
    if result.grad_fn is not None:
        tensor.grad_fn, tensor._output_index = result.grad_fn, result._output_index
    tensor._version_counter.value += 1
    return tensor
