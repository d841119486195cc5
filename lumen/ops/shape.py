"""Shape ops: views where the backend can make them, copies where it must."""
from __future__ import annotations

import math

from ..autograd.function import Function
from .arith import sum_to


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

    def forward(self, a):
        self.in_shape = a.shape
        return a.reshape(self.shape)

    def backward(self, g):
        return g.reshape(self.in_shape)


class Permute(Function):
    view = True

    def forward(self, a):
        return a.transpose(self.dims)

    def backward(self, g):
        inverse = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inverse[d] = i
        return g.permute(*inverse)


class Expand(Function):
    view = True

    def forward(self, a):
        self.in_shape = a.shape
        return self.xp.broadcast_to(a, self.shape)

    def backward(self, g):
        return sum_to(g, self.in_shape)


class Contiguous(Function):
    def forward(self, a):
        return self.xp.ascontiguousarray(a)

    def backward(self, g):
        return g


class Clone(Function):
    def forward(self, a):
        return a.copy()

    def backward(self, g):
        return g


class Cat(Function):
    def forward(self, *arrays):
        self.sizes = [a.shape[self.dim] for a in arrays]
        return self.xp.concatenate(arrays, axis=self.dim)

    def backward(self, g):
        out, start = [], 0
        for n in self.sizes:
            out.append(g.narrow(self.dim, start, n))
            start += n
        return tuple(out)


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


class Pad(Function):
    def forward(self, a):
        self.in_shape = a.shape
        return self.xp.pad(a, self.widths, mode="constant", constant_values=self.value)

    def backward(self, g):
        index = tuple(slice(lo, lo + n) for (lo, _), n in zip(self.widths, self.in_shape))
        return g[index]


def pad(x, pad, mode="constant", value=0.0):
    """Constant padding, PyTorch's convention: ``pad`` lists (left, right) pairs from the last dim back."""
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is supported, got {mode!r}")
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise RuntimeError(f"pad: expected an even number of at most {2 * x.ndim} values, got {len(pad)}")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        lo, hi = pad[2 * i], pad[2 * i + 1]
        widths[x.ndim - 1 - i] = (lo, hi)
    if any(lo < 0 or hi < 0 for lo, hi in widths):
        # negative padding crops, as in PyTorch
        index = tuple(slice(-lo if lo < 0 else None, hi if hi < 0 else None) for lo, hi in widths)
        x = x[index]
        widths = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
    return Pad.apply(x, widths=tuple(widths), value=value)
