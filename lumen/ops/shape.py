"""Shape ops: views where the backend can make them, copies where it must."""
from __future__ import annotations

import math

from ..autograd.function import Function
from .arith import sum_to
from ..tensor import Tensor  # defined before lumen.tensor imports the ops


def infer_shape(shape, numel, op="reshape"):
    shape = tuple(int(s) for s in shape)
    if shape.count(-1) > 1:
        raise RuntimeError(f"{op}: only one dimension can be -1, got {shape}")
    if -1 in shape:
        rest = math.prod(s for s in shape if s != -1)
        if rest == 0 or numel % rest:
            raise RuntimeError(f"{op}: shape {shape} is invalid for input of size {numel}")
        shape = tuple(numel // rest if s == -1 else s for s in shape)
    if math.prod(shape) != numel:
        raise RuntimeError(f"{op}: shape {shape} is invalid for input of size {numel}")
    return shape


class Reshape(Function):
    view = True

    def __init__(self, shape):
        self.shape = shape

    def forward(self, a):
        self.in_shape = a.shape
        return a.reshape(self.shape)

    def backward(self, g):
        return g.reshape(self.in_shape)


class Permute(Function):
    view = True

    def __init__(self, dims):
        self.dims = dims

    def forward(self, a):
        return a.transpose(self.dims)

    def backward(self, g):
        inverse = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inverse[d] = i
        return g.permute(*inverse)


class Expand(Function):
    view = True

    def __init__(self, shape):
        self.shape = shape

    def forward(self, a):
        self.in_shape = a.shape
        return self.backend.broadcast_to(a, self.shape)

    def backward(self, g):
        return sum_to(g, self.in_shape)


class Contiguous(Function):
    def forward(self, a):
        return self.backend.ascontiguousarray(a)

    def backward(self, g):
        return g


class Clone(Function):
    def forward(self, a):
        return a.copy()

    def backward(self, g):
        return g


class Cat(Function):
    def __init__(self, dim):
        self.dim = dim

    def forward(self, *arrays):
        self.sizes = [a.shape[self.dim] for a in arrays]
        return self.backend.concatenate(arrays, axis=self.dim)

    def backward(self, g):
        out, start = [], 0
        for n in self.sizes:
            out.append(g.narrow(self.dim, start, n))
            start += n
        return tuple(out)


def reshape(x, shape):
    shape = infer_shape(shape, x.numel())
    return x if shape == x.shape else Reshape.apply(x, shape=shape)


def view(x, shape):
    """``reshape`` that refuses to copy: PyTorch's error when the strides cannot express ``shape``."""
    from .. import dtypes
    if len(shape) == 1 and isinstance(shape[0], (dtypes.dtype, str)):
        raise TypeError("view(dtype) is not supported; use to(dtype)")
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    target = infer_shape(shape, x.numel(), "view")
    if not x.is_contiguous() and x.ndim > 1 and target != x.shape:
        probe = x._data.view()
        try:
            probe.shape = target  # the array refuses exactly when a copy would be needed
        except AttributeError:
            raise RuntimeError(f"view: shape {target} is not compatible with the strides of a "
                               f"tensor of shape {tuple(x.shape)}; use reshape()") from None
    return reshape(x, target)


def permute(x, dims):
    dims = tuple(d % x.ndim for d in dims) if x.ndim else tuple(dims)
    if sorted(dims) != list(range(x.ndim)):
        raise RuntimeError(f"permute: {dims} is not a permutation of the {x.ndim} dims of "
                           f"shape {tuple(x.shape)}")
    return Permute.apply(x, dims=dims)


def transpose(x, dim0, dim1):
    if x.ndim < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return x
    dims = list(range(x.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return permute(x, dims)


def t(x):
    if x.ndim > 2:
        raise RuntimeError(f"t(): expects a tensor with <= 2 dimensions, got shape {tuple(x.shape)}")
    return transpose(x, 0, 1) if x.ndim == 2 else x


def flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return reshape(x, (1,))
    s, e = start_dim % x.ndim, end_dim % x.ndim
    return reshape(x, x.shape[:s] + (-1,) + x.shape[e + 1:])


def unflatten(x, dim, sizes):
    d = dim % x.ndim
    return reshape(x, x.shape[:d] + tuple(sizes) + x.shape[d + 1:])


def squeeze(x, dim=None):
    from .reduce import normalize_dims
    if dim is None:
        return reshape(x, tuple(s for s in x.shape if s != 1))
    dims = normalize_dims(dim, x.ndim, "squeeze")
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if not (i in dims and s == 1)))


def unsqueeze(x, dim):
    d = dim % (x.ndim + 1)
    return reshape(x, x.shape[:d] + (1,) + x.shape[d:])


def expand(x, shape):
    lead = len(shape) - x.ndim
    if lead < 0:
        raise RuntimeError(f"expand: target shape {shape} has fewer dims than {tuple(x.shape)}")
    full = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
    for i, s in enumerate(x.shape):
        if s != 1 and s != full[lead + i]:
            raise RuntimeError(f"expand: the size {s} of dimension {i} of shape {tuple(x.shape)} "
                               f"cannot be expanded to {full}")
    return x if full == x.shape else Expand.apply(x, shape=full)


def narrow(x, dim, start, length):
    index = [slice(None)] * x.ndim
    index[dim] = slice(start, start + length)
    return x[tuple(index)]


def repeat(x, sizes):
    x = reshape(x, (1,) * (len(sizes) - x.ndim) + x.shape)
    for d, r in enumerate(sizes):
        if r != 1:
            x = cat([x] * r, d)
    return x


def clone(x):
    return Clone.apply(x)


def contiguous(x):
    return x if x.is_contiguous() else Contiguous.apply(x)


def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat: expected a non-empty list of tensors")
    ref = tensors[0]
    if ref.ndim == 0:
        raise RuntimeError("cat: zero-dimensional tensors cannot be concatenated")
    d = dim % ref.ndim
    for t in tensors[1:]:
        if t.ndim != ref.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, ref.shape)) if i != d):
            raise RuntimeError(f"cat: sizes must match except in dimension {dim}; got "
                               f"{', '.join(str(tuple(x.shape)) for x in tensors)}")
    from .. import dtypes
    dt = dtypes.promote([t.dtype for t in tensors])
    return Cat.apply(*[t.to(dt) for t in tensors], dim=d)


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack: expected a non-empty list of tensors")
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise RuntimeError(f"stack: expected tensors of one shape, got {sorted(shapes)}")
    d = dim % (tensors[0].ndim + 1)
    return cat([t.unsqueeze(d) for t in tensors], d)


def split(x, split_size_or_sections, dim=0):
    d = dim % x.ndim
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise RuntimeError(f"split: split_size must be positive, got {step}")
        sizes = [min(step, n - s) for s in range(0, n, step)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(f"split: sections {sizes} do not add up to size {n} of dimension {dim}")
    out, start = [], 0
    for s in sizes:
        out.append(x.narrow(d, start, s))
        start += s
    return tuple(out)


def chunk(x, chunks, dim=0):
    n = x.shape[dim % x.ndim]
    return split(x, max(1, -(-n // chunks)), dim)


class ConstantPad(Function):
    """Pads (positive) or trims (negative) each dim by ``widths`` = ((before, after), ...)."""

    def __init__(self, widths, value):
        self.widths, self.value = widths, value

    def forward(self, x):
        grow = [(max(b, 0), max(a, 0)) for b, a in self.widths]
        if any(b or a for b, a in grow):
            x = self.backend.pad(x, grow, mode="constant", constant_values=self.value)
        trim = tuple(slice(max(-b, 0), n - max(-a, 0)) for (b, a), n in zip(self.widths, x.shape))
        return self.backend.ascontiguousarray(x[trim])

    def backward(self, gy):
        return ConstantPad.apply(gy, widths=tuple((-b, -a) for b, a in self.widths), value=0)


_INDEX_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(input, pad, mode="constant", value=None):
    """Pad the last ``len(pad) // 2`` dims, as ``torch.nn.functional.pad``.

    ``pad`` = (left, right, top, bottom, ...) starting from the last dim; negative values trim
    (constant mode). ``mode``: "constant" (fill ``value``, default 0), "reflect", "replicate",
    "circular" (each padded position reads its source index: a gather, differentiable to any order).
    Any dtype; output has input's dtype.
    """
    from ._check import check_tensor
    from .resample import AxisGather

    op = "pad"
    check_tensor(input, "input", op)
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim or not all(isinstance(p, int) for p in pad):
        raise RuntimeError(f"{op}: pad must be an even-length sequence of at most {2 * input.ndim} ints "
                           f"(two per padded dim of input {tuple(input.shape)}), got {pad}")
    k = len(pad) // 2
    widths = [(0, 0)] * (input.ndim - k) + [(pad[2 * i], pad[2 * i + 1]) for i in reversed(range(k))]
    sizes = [n + b + a for n, (b, a) in zip(input.shape, widths)]
    if min(sizes, default=0) < 0:
        raise RuntimeError(f"{op}: padding {pad} of input {tuple(input.shape)} gives shape {tuple(sizes)}")
    if mode == "constant":
        return ConstantPad.apply(input, widths=tuple(widths), value=0 if value is None else value)
    if mode not in _INDEX_MODES:
        raise ValueError(f"{op}: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    if value not in (None, 0):  # PyTorch accepts value=0 with every mode
        raise ValueError(f"{op}: value is only meaningful in mode 'constant', got value={value!r} with "
                         f"mode {mode!r}")
    out = input
    for axis, (b, a) in enumerate(widths):
        if not (b or a):
            continue
        n = input.shape[axis]
        if min(b, a) < 0:
            raise RuntimeError(f"{op}: mode {mode!r} needs non-negative padding, got {pad}")
        if mode == "reflect" and max(b, a) >= n:
            raise RuntimeError(f"{op}: reflect padding {pad} must be smaller than the padded dims of "
                               f"input {tuple(input.shape)}")
        if mode == "circular" and max(b, a) > n:
            raise RuntimeError(f"{op}: circular padding {pad} must be at most the padded dims of "
                               f"input {tuple(input.shape)}")
        backend = input.backend
        idx = backend.pad(backend.arange(n), (b, a), mode=_INDEX_MODES[mode])
        out = AxisGather.apply(out, axis=axis, terms=((idx, None),))
    return out
