"""In-place updates: ops that write into a tensor's own buffer and bump its version counter.

Outside autograd (optimiser steps, initialisation, ``no_grad`` code) each op runs the backend's
ufuncs with ``out=`` straight into the tensor's memory. An op that needs an intermediate
(``add_`` with ``alpha``, ``addcmul_``, ``addcdiv_``, ``lerp_``) computes it in blocks of at most
``BLOCK`` elements, so nothing of the tensor's size is allocated.

Under autograd an in-place op is recorded as its out-of-place form applied to a copy of the old
values, whose result is written back; the tensor then takes over the new node (PyTorch's rebase
of history). An op whose backward needs only its output (``relu_``) is a Function with
``inplace = True`` and needs no copy at all.
"""
from __future__ import annotations

import warnings

from .. import dtypes
from ..device import mismatch_error, placed
from ..autograd.grad_mode import is_grad_enabled, no_grad
from ..tensor import Tensor  # defined before lumen.tensor imports the ops

BLOCK = 1 << 15  # elements: a block of every operand stays in cache between the passes


def records(*tensors):
    """Whether an op on these would be recorded on the tape."""
    return is_grad_enabled() and any(isinstance(t, Tensor) and t._requires_grad for t in tensors)


def check_writable(tensor, op="in-place operation"):
    if not tensor._data.flags.writeable:
        raise RuntimeError(f"{op}: the tensor of shape {tuple(tensor.shape)} is read-only (expanded); "
                           f"clone() it first")


def check_in_graph(tensor):
    """Refuse the in-place writes autograd cannot account for, as PyTorch does."""
    if tensor.grad_fn is None and tensor._requires_grad:
        raise RuntimeError(f"a leaf tensor of shape {tuple(tensor.shape)} that requires grad is being "
                           f"used in an in-place operation; wrap it in lumen.no_grad() or clone it")
    if tensor.grad_fn is not None and tensor.grad_fn.aliases_input:
        # the write would change the base behind its own grad_fn's back
        of = "a leaf" if tensor.grad_fn.next[0] is None else "a non-leaf"
        raise RuntimeError(f"in-place operation on a view (made by {tensor.grad_fn.name()}, shape "
                           f"{tuple(tensor.shape)}) of {of} tensor that requires grad is not supported; "
                           f"write through the base (base[index] = value) or clone() the view")
    check_writable(tensor)


def _rebase(tensor, result):
    tensor.grad_fn, tensor._output_index, tensor._requires_grad = result.grad_fn, result._output_index, True


def write(tensor, result):
    """Copy ``result``'s values into ``tensor``'s buffer (same-kind casts only)."""
    check_writable(tensor)
    try:
        tensor._backend.copyto(tensor._data, result._data, casting="same_kind")
    except TypeError:
        raise RuntimeError(f"in-place operation: result type {result.dtype} can't be cast to the "
                           f"tensor's dtype {tensor.dtype}") from None
    except ValueError:
        raise RuntimeError(f"in-place operation: result of shape {tuple(result.shape)} does not fit a "
                           f"tensor of shape {tuple(tensor.shape)}") from None
    tensor._version_counter.value += 1
    return tensor


def out_of_place_then_write(tensor, compute, *others):
    """Apply ``compute`` (an out-of-place op on the tensor) in place, keeping the graph right."""
    if records(tensor, *others):
        check_in_graph(tensor)
        # The node must see the old values, which the write below destroys: give it a copy
        # that stands for this tensor in the graph.
        before = Tensor._wrap(tensor._data.copy(), tensor._device, tensor.grad_fn, tensor._output_index,
                              backend=tensor._backend)
        before._requires_grad = tensor._requires_grad
        result = compute(before)
        write(tensor, result)
        _rebase(tensor, result)
        return tensor
    with no_grad():
        result = compute(tensor)
    return write(tensor, result)


def apply_inplace(function, tensor, **params):
    """Run a Function whose forward writes into its input (``inplace = True``) on ``tensor``."""
    if records(tensor):
        check_in_graph(tensor)
    else:
        check_writable(tensor)
    result = function.apply(tensor, **params)
    if result.grad_fn is not None:
        _rebase(tensor, result)
    return tensor


# ---- direct kernels (no autograd) ------------------------------------------------------------
def _operand(tensor, other, op):
    """``other`` as what the backend's ufuncs combine with ``tensor``'s array: a Python number, or
    an array on its device (0-d tensors of the tensor's kind take its dtype, as PyTorch's scalars)."""
    if isinstance(other, (bool, int, float)):
        if dtypes.scalar_category(other) > tensor.dtype.category:
            result = dtypes.promote([], [tensor.dtype], [other])
            raise RuntimeError(f"{op}: result type {result} can't be cast to the desired output type "
                               f"{tensor.dtype} (tensor of shape {tuple(tensor.shape)})")
        return other
    if not isinstance(other, Tensor):
        from .arith import scalar_tensor
        other = scalar_tensor(tensor, other)
    if other._device != tensor._device:
        raise mismatch_error(tensor.device, other.device)
    if other.dtype.category > tensor.dtype.category:
        raise RuntimeError(f"{op}: result type {other.dtype} can't be cast to the desired output type "
                           f"{tensor.dtype} (tensor of shape {tuple(tensor.shape)})")
    from .arith import broadcast_shapes
    try:
        fits = broadcast_shapes(tensor.shape, other.shape) == tensor.shape
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(f"{op}: operand of shape {tuple(other.shape)} does not broadcast to the "
                           f"tensor's shape {tuple(tensor.shape)}")
    array = other._data
    if other.ndim == 0 and other.dtype.category <= tensor.dtype.category:
        array = array.astype(tensor._data.dtype, copy=False)
    return array


def write_out(out, result, op, *inputs):
    """The ``out=`` argument of ``op``: ``result`` written into ``out`` (resized as PyTorch resizes it, with
    its warning when ``out`` held elements), and ``out`` returned. Refused when autograd would need to
    record the op, as PyTorch refuses it."""
    if records(*inputs):
        raise RuntimeError(f"{op}(): functions with out=... arguments don't support automatic differentiation, "
                           f"but one of the arguments requires grad")
    if not isinstance(out, Tensor):
        raise TypeError(f"{op}(): out must be a Tensor, got {type(out).__name__}")
    if out.dtype is not result.dtype or out.device != result.device:
        raise RuntimeError(f"{op}(): expected out tensor to have dtype {result.dtype} on {result.device}, but got "
                           f"{out.dtype} on {out.device}")
    if out.shape != result.shape:
        if out.numel():
            warnings.warn(f"{op}(): an output with one or more elements was resized since it had shape "
                          f"{list(out.shape)}, which does not match the required output shape {list(result.shape)}",
                          UserWarning, stacklevel=3)
        out._data = result._data.copy()
        out._version_counter.value += 1
        return out
    return copy_(out, result)


def _ufunc_into(tensor, op, run):
    """Run ``run()`` (ufuncs with out= the tensor's array), turning numpy's errors into op errors."""
    check_writable(tensor, op)
    try:
        with placed(tensor._device):  # scratch arrays and the ufuncs' launches on the tensor's device
            run()
    except TypeError as e:
        raise RuntimeError(f"{op}: result can't be cast to the desired output type {tensor.dtype} "
                           f"(tensor of shape {tuple(tensor.shape)}): {e}") from None
    except ValueError as e:
        raise RuntimeError(f"{op}: operand does not broadcast to the tensor's shape "
                           f"{tuple(tensor.shape)}: {e}") from None
    tensor._version_counter.value += 1
    return tensor


def _blocked(tensor, operands, kernel):
    """``kernel(y, *xs, scratch)`` over the tensor's elements in blocks: y and xs are matching
    flat slices (Python numbers and 0-d arrays pass whole), scratch a block of the tensor's dtype."""
    b, y = tensor._backend, tensor._data
    sliceable = y.flags.c_contiguous and all(
        not hasattr(o, "shape") or o.ndim == 0 or (o.shape == y.shape and o.flags.c_contiguous)
        for o in operands)
    if not sliceable:  # broadcast or strided operands: one pass over whole arrays
        kernel(y, *operands, b.empty(y.shape, y.dtype))
        return
    n = y.size
    flat = y.reshape(-1)
    flats = [o.reshape(-1) if hasattr(o, "shape") and o.ndim else o for o in operands]
    scratch = b.empty(min(BLOCK, n), y.dtype)
    for i in range(0, n, BLOCK):
        j = min(n, i + BLOCK)
        kernel(flat[i:j], *[f[i:j] if hasattr(f, "shape") and f.ndim else f for f in flats], scratch[:j - i])


def add_(tensor, other, alpha=1):
    if records(tensor, other):
        return out_of_place_then_write(tensor, lambda s: s.add(other, alpha=alpha), other)
    b, o = tensor._backend, _operand(tensor, other, "add_")
    if alpha == 1:
        return _ufunc_into(tensor, "add_", lambda: b.add(tensor._data, o, out=tensor._data))
    if not hasattr(o, "shape"):
        return _ufunc_into(tensor, "add_", lambda: b.add(tensor._data, o * alpha, out=tensor._data))

    def kernel(y, x, tmp):
        b.add(y, b.multiply(x, alpha, out=tmp), out=y)
    return _ufunc_into(tensor, "add_", lambda: _blocked(tensor, (o,), kernel))


def sub_(tensor, other, alpha=1):
    return add_(tensor, other, -alpha) if not records(tensor, other) else out_of_place_then_write(
        tensor, lambda s: s.sub(other, alpha=alpha), other)


def _binary_(name, ufunc, tensor, other):
    if records(tensor, other):
        return out_of_place_then_write(tensor, lambda s: getattr(s, name)(other), other)
    b, o = tensor._backend, _operand(tensor, other, name + "_")
    return _ufunc_into(tensor, name + "_", lambda: getattr(b, ufunc)(tensor._data, o, out=tensor._data))


def mul_(tensor, other):
    return _binary_("mul", "multiply", tensor, other)


def div_(tensor, other):
    return _binary_("div", "true_divide", tensor, other)


def _addc_(op, combine, tensor, tensor1, tensor2, value):
    """``tensor += combine(tensor1, tensor2) * value``, ``combine`` the name of a backend ufunc."""
    if records(tensor, tensor1, tensor2):
        ufunc = Tensor.__mul__ if combine == "multiply" else Tensor.__truediv__
        return out_of_place_then_write(tensor, lambda s: s + ufunc(tensor1, tensor2) * value, tensor1, tensor2)
    b = tensor._backend
    t1, t2 = _operand(tensor, tensor1, op), _operand(tensor, tensor2, op)

    def kernel(y, x1, x2, tmp):
        getattr(b, combine)(x1, x2, out=tmp)
        if value != 1:
            b.multiply(tmp, value, out=tmp)
        b.add(y, tmp, out=y)
    return _ufunc_into(tensor, op, lambda: _blocked(tensor, (t1, t2), kernel))


def addcmul_(tensor, tensor1, tensor2, value=1):
    """``tensor += tensor1 * tensor2 * value``."""
    return _addc_("addcmul_", "multiply", tensor, tensor1, tensor2, value)


def addcdiv_(tensor, tensor1, tensor2, value=1):
    """``tensor += tensor1 / tensor2 * value``."""
    return _addc_("addcdiv_", "true_divide", tensor, tensor1, tensor2, value)


def lerp_(tensor, end, weight):
    """``tensor += (end - tensor) * weight``."""
    if records(tensor, end, weight):
        return out_of_place_then_write(tensor, lambda s: s + (end - s) * weight, end, weight)
    b = tensor._backend
    e, w = _operand(tensor, end, "lerp_"), _operand(tensor, weight, "lerp_")

    def kernel(y, x, wt, tmp):
        b.subtract(x, y, out=tmp)
        b.multiply(tmp, wt, out=tmp)
        b.add(y, tmp, out=y)
    return _ufunc_into(tensor, "lerp_", lambda: _blocked(tensor, (e, w), kernel))


def clamp_(tensor, min=None, max=None):
    if records(tensor) or isinstance(min, Tensor) or isinstance(max, Tensor):
        return out_of_place_then_write(tensor, lambda s: s.clamp(min, max),
                                       *[t for t in (min, max) if isinstance(t, Tensor)])
    if min is None and max is None:
        raise RuntimeError("clamp_: at least one of min and max must be given")
    b = tensor._backend
    return _ufunc_into(tensor, "clamp_", lambda: b.clip(tensor._data, min, max, out=tensor._data))


def _unary_(name, ufunc, tensor):
    if records(tensor):
        return out_of_place_then_write(tensor, lambda s: getattr(s, name)())
    if name != "neg" and not tensor.dtype.is_floating_point:
        raise RuntimeError(f"{name}_: result type Float can't be cast to the desired output type "
                           f"{tensor.dtype} (tensor of shape {tuple(tensor.shape)})")
    b = tensor._backend
    return _ufunc_into(tensor, name + "_", lambda: getattr(b, ufunc)(tensor._data, out=tensor._data))


def sqrt_(tensor):
    return _unary_("sqrt", "sqrt", tensor)


def exp_(tensor):
    return _unary_("exp", "exp", tensor)


def neg_(tensor):
    return _unary_("neg", "negative", tensor)


def fill_(tensor, value):
    """Every element set to ``value`` (a number or a 0-d tensor)."""
    from .arith import scalar_tensor
    value = scalar_tensor(tensor, value)
    if value.ndim:
        raise RuntimeError(f"fill_: only supports a 0-dimensional value tensor, got shape {tuple(value.shape)}")
    return copy_(tensor, value)


def zero_(tensor):
    return fill_(tensor, 0)


def copy_(tensor, src):
    """``src``'s values (broadcast, any dtype and device) written into ``tensor``."""
    from .arith import scalar_tensor
    from .index import IndexPut
    src = scalar_tensor(tensor, src)
    if src.device != tensor.device:
        src = src.to(tensor.device)
    if records(tensor, src):
        return out_of_place_then_write(tensor, lambda s: IndexPut.apply(s, src.to(s.dtype), index=Ellipsis), src)
    b = tensor._backend
    return _ufunc_into(tensor, "copy_", lambda: b.copyto(tensor._data, src._data, casting="unsafe"))


def accumulate_grad(grad, g):
    """``grad += g`` into an existing ``.grad`` buffer where it can take it, else a new sum."""
    if grad._data.flags.writeable and grad._data.shape == g.shape and grad._data.dtype == g._data.dtype:
        grad._backend.add(grad._data, g._data, out=grad._data)
        grad._version_counter.value += 1
        return grad
    return grad._like(grad._backend.add(grad._data, g._data))
