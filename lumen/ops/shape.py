"""Shape ops: views where the backend can make them, copies where it must."""
from __future__ import annotations

import math

from ..autograd.function import Function
from ..device import on_input_device, placed
from .arith import sum_to
from .index import GetItem, IndexAdd, one_dim, repeated_positions
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
    """``x`` tiled ``sizes[d]`` times along each dim (leading new dims for extra sizes): one expand of
    an interleaved shape, so the gradient sums the copies."""
    if len(sizes) < x.ndim:
        raise RuntimeError(f"repeat: number of repeat dims {len(sizes)} can not be smaller than the number of "
                           f"dims {x.ndim} of the tensor of shape {tuple(x.shape)}")
    if min(sizes, default=0) < 0:
        raise RuntimeError(f"repeat: repeats {tuple(sizes)} must be non-negative")
    shape = (1,) * (len(sizes) - x.ndim) + x.shape
    tiled = reshape(x, tuple(v for n in shape for v in (1, n)))
    tiled = expand(tiled, tuple(v for r, n in zip(sizes, shape) for v in (r, n)))
    return reshape(tiled, tuple(r * n for r, n in zip(sizes, shape)))


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


@on_input_device
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


# ---- diagonals, triangles, flips, rolls, repeats, windows, grids ------------------------------
# Selections are advanced indices through GetItem/IndexAdd (lumen.ops.index), whose gradients are
# each other's; they return copies where PyTorch's diagonal/unfold return views.

def _diagonal_positions(backend, rows, cols, offset):
    """(row, col) index arrays of the ``offset`` diagonal of a rows x cols matrix."""
    n = max(0, min(rows, cols - offset) if offset >= 0 else min(rows + offset, cols))
    i = backend.arange(n)
    return (i, i + offset) if offset >= 0 else (i - offset, i)


def diagonal(input, offset=0, dim1=0, dim2=1):
    """The ``offset`` diagonal of the (dim1, dim2) planes, as a last dim (a copy; PyTorch's is a view)."""
    d1, d2 = one_dim(input, dim1, "diagonal"), one_dim(input, dim2, "diagonal")
    if d1 == d2:
        raise RuntimeError(f"diagonal(): dim1 and dim2 must differ, got {dim1} and {dim2} for shape "
                           f"{tuple(input.shape)}")
    return _plane_diagonal(input, offset, d1, d2)


def _plane_diagonal(input, offset, d1, d2):
    rest = [k for k in range(input.ndim) if k not in (d1, d2)]
    planes = permute(input, rest + [d1, d2])
    with placed(input._device):
        rows, cols = _diagonal_positions(input._backend, input.shape[d1], input.shape[d2], offset)
    return GetItem.apply(planes, index=(slice(None),) * len(rest) + (rows, cols))


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """Matrices in (dim1, dim2) of the output whose ``offset`` diagonal is ``input``'s last dim."""
    nd = input.ndim + 1
    d1, d2 = dim1 % nd, dim2 % nd
    if d1 == d2:
        raise RuntimeError(f"diag_embed(): dim1 and dim2 must differ, got {dim1} and {dim2}")
    m = input.shape[-1] + abs(offset)
    with placed(input._device):
        rows, cols = _diagonal_positions(input._backend, m, m, offset)
    out = IndexAdd.apply(input, shape=input.shape[:-1] + (m, m), index=(slice(None),) * (nd - 2) + (rows, cols))
    # the two new dims are last: move them to d1 and d2
    source = iter(range(nd - 2))
    order = [nd - 2 if k == d1 else nd - 1 if k == d2 else next(source) for k in range(nd)]
    return out if order == list(range(nd)) else permute(out, order)


def diag(input, diagonal=0):
    """1-d -> the square matrix with ``input`` on its ``diagonal``; 2-d -> that diagonal, 1-d."""
    if input.ndim == 1:
        m = input.shape[0] + abs(diagonal)
        with placed(input._device):
            rows, cols = _diagonal_positions(input._backend, m, m, diagonal)
        return IndexAdd.apply(input, shape=(m, m), index=(rows, cols))
    if input.ndim == 2:
        return _plane_diagonal(input, diagonal, 0, 1)
    raise RuntimeError(f"diag(): supports 1-d or 2-d tensors, got shape {tuple(input.shape)}")


@on_input_device
def _triangle(input, diagonal, op, lower):
    if input.ndim < 2:
        raise RuntimeError(f"{op}(): input tensor must have at least 2 dimensions, got shape {tuple(input.shape)}")
    from .arith import where
    b = input._backend
    rows, cols = input.shape[-2:]
    offset = b.arange(cols).reshape(1, cols) - b.arange(rows).reshape(rows, 1)
    keep = offset <= diagonal if lower else offset >= diagonal
    return where(input._like(keep), input, input.new_zeros(()))


def tril(input, diagonal=0):
    """The lower triangle (``j <= i + diagonal``) of the last two dims; zeros elsewhere."""
    return _triangle(input, diagonal, "tril", lower=True)


def triu(input, diagonal=0):
    """The upper triangle (``j >= i + diagonal``) of the last two dims; zeros elsewhere."""
    return _triangle(input, diagonal, "triu", lower=False)


class Roll(Function):
    def __init__(self, shifts, dims):
        self.shifts, self.dims = shifts, dims

    def forward(self, a):
        return self.backend.roll(a, self.shifts, axis=self.dims)

    def backward(self, g):
        return Roll.apply(g, shifts=tuple(-s for s in self.shifts) if self.dims is not None else -self.shifts,
                          dims=self.dims)


def roll(input, shifts, dims=None):
    """Elements shifted by ``shifts`` along ``dims``, wrapping around; without ``dims`` over the
    flattened tensor, shape kept."""
    if dims is None:
        if not isinstance(shifts, int):
            if len(shifts) != 1:
                raise RuntimeError(f"roll(): without dims, shifts must be one int, got {shifts}")
            (shifts,) = shifts
        return Roll.apply(input, shifts=int(shifts), dims=None)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll(): shifts {shifts} and dims {dims} must have the same length")
    return Roll.apply(input, shifts=tuple(int(s) for s in shifts),
                      dims=tuple(one_dim(input, d, "roll") for d in dims))


class Flip(Function):
    def __init__(self, dims):
        self.dims = dims

    def forward(self, a):
        return self.backend.flip(a, axis=self.dims).copy()  # a copy, as PyTorch's flip

    def backward(self, g):
        return Flip.apply(g, dims=self.dims)


def flip(input, dims):
    from .reduce import normalize_dims
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    axes = normalize_dims(dims, input.ndim, "flip")
    if len(axes) != len(dims):
        raise RuntimeError(f"flip(): dims {dims} has a dim more than once")
    return Flip.apply(input, dims=axes) if axes else input.clone()


def fliplr(input):
    if input.ndim < 2:
        raise RuntimeError(f"fliplr(): input must be at least 2-d, got shape {tuple(input.shape)}")
    return flip(input, (1,))


def flipud(input):
    if input.ndim < 1:
        raise RuntimeError("flipud(): input must be at least 1-d, got a 0-d tensor")
    return flip(input, (0,))


@on_input_device
def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Each element (each slice along ``dim``) repeated ``repeats`` times (an int, or a tensor of one
    count per element); without ``dim`` over the flattened input. ``repeat_interleave(counts)`` alone
    repeats ``arange(len(counts))``. ``output_size`` is accepted as a hint and checked."""
    from .. import dtypes
    if repeats is None:
        counts = input
        if counts.ndim != 1 or counts.dtype.category != 1:
            raise RuntimeError(f"repeat_interleave(): repeats must be a 1-d integer tensor, got {counts.dtype} of "
                               f"shape {tuple(counts.shape)}")
        input, repeats, dim = counts._like(counts._backend.arange(counts.shape[0], dtype=counts._data.dtype)), \
            counts, 0
    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else one_dim(x, dim, "repeat_interleave")
    n = x.shape[d] if x.ndim else 1
    b = x._backend
    if isinstance(repeats, Tensor):
        if repeats.ndim > 1 or repeats.numel() not in (1, n) or repeats.dtype.category != 1:
            raise RuntimeError(f"repeat_interleave(): repeats must be a 0-d or 1-d integer tensor of size 1 or {n}, "
                               f"got {repeats.dtype} of shape {tuple(repeats.shape)}")
        counts = repeats._data.reshape(-1)
    else:
        counts = b.asarray([int(repeats)])
    if counts.size and int(counts.min()) < 0:
        raise RuntimeError(f"repeat_interleave(): repeats must be non-negative, got {int(counts.min())}")
    positions = repeated_positions(b, counts) if counts.size == n else b.repeat(b.arange(n), int(counts[0]))
    if output_size is not None and output_size != positions.size:
        raise RuntimeError(f"repeat_interleave(): output_size={output_size} but the repeats give {positions.size}")
    if x.ndim == 0:
        x = x.reshape(1)
    return GetItem.apply(x, index=(slice(None),) * d + (positions.astype(dtypes.int64.np, copy=False),))


@on_input_device
def unfold(input, dimension, size, step):
    """Windows of ``size`` every ``step`` along ``dimension``: that dim becomes the window count and a
    last dim of ``size`` is added (a copy; PyTorch's is a view)."""
    if input.ndim == 0:
        return unfold(input.reshape(1), 0, size, step)
    d = one_dim(input, dimension, "unfold")
    n = input.shape[d]
    if size > n or size < 0:
        raise RuntimeError(f"unfold(): size {size} exceeds the size {n} of dimension {d} (shape "
                           f"{tuple(input.shape)})")
    if step <= 0:
        raise RuntimeError(f"unfold(): step must be > 0, got {step}")
    b = input._backend
    windows = (n - size) // step + 1
    positions = b.arange(windows).reshape(windows, 1) * step + b.arange(size).reshape(1, size)
    out = GetItem.apply(input, index=(slice(None),) * d + (positions,))
    return permute(out, [k for k in range(out.ndim) if k != d + 1] + [d + 1])


def meshgrid(*tensors, indexing=None):
    """Coordinate grids of 0-d/1-d tensors, as expanded views. ``indexing="ij"`` (matrix) or ``"xy"``
    (Cartesian: the first two dims swapped); omitting it means "ij" with PyTorch's warning."""
    import warnings
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn("meshgrid: in an upcoming release, it will be required to pass the indexing "
                      "argument.", UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f"meshgrid(): indexing must be 'ij' or 'xy', got {indexing!r}")
    for t in tensors:
        if not isinstance(t, Tensor) or t.ndim > 1:
            raise RuntimeError(f"meshgrid(): expected 0-d or 1-d tensors, got "
                               f"{getattr(t, 'shape', type(t).__name__)}")
    if not tensors:
        raise RuntimeError("meshgrid(): expects a non-empty list of tensors")
    swap = indexing == "xy" and len(tensors) >= 2
    order = [tensors[1], tensors[0], *tensors[2:]] if swap else list(tensors)
    shape = tuple(t.numel() for t in order)
    grids = [expand(reshape(t, (1,) * k + (-1,) + (1,) * (len(order) - k - 1)), shape) for k, t in enumerate(order)]
    return tuple([grids[1], grids[0], *grids[2:]] if swap else grids)


# ---- select/unbind, moving and swapping dims, stacking and splitting helpers, rot90 -------------

def select(input, dim, index):
    """The slice at ``index`` of ``dim`` (that dim removed), a view."""
    d = one_dim(input, dim, "select")
    n = input.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select(): index {index} out of range for tensor of size {list(input.shape)} at "
                         f"dimension {d}")
    return input[(slice(None),) * d + (index,)]


def unbind(input, dim=0):
    d = one_dim(input, dim, "unbind")
    return tuple(select(input, d, i) for i in range(input.shape[d]))


def movedim(input, source, destination):
    """``input`` with the dims ``source`` moved to positions ``destination``, the others kept in order."""
    source = (source,) if isinstance(source, int) else tuple(source)
    destination = (destination,) if isinstance(destination, int) else tuple(destination)
    if len(source) != len(destination):
        raise RuntimeError(f"movedim(): source {source} and destination {destination} must have the same "
                           f"number of dims")
    src = [one_dim(input, d, "movedim") for d in source]
    dst = [one_dim(input, d, "movedim") for d in destination]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise RuntimeError(f"movedim(): repeated dim in source {source} or destination {destination}")
    rest = iter(d for d in range(input.ndim) if d not in src)
    moved = dict(zip(dst, src))
    return permute(input, [moved[k] if k in moved else next(rest) for k in range(input.ndim)])


moveaxis = movedim


def swapaxes(input, axis0, axis1):
    return transpose(input, axis0, axis1)


swapdims = swapaxes


def tile(input, dims):
    """``repeat`` with leading 1s added when ``dims`` is shorter than ``input``'s dims."""
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    return repeat(input, (1,) * (input.ndim - len(dims)) + dims)


def _at_least(ndim, tensors, shape_of):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    out = tuple(t if t.ndim >= ndim else reshape(t, shape_of(t)) for t in tensors)
    return out[0] if len(out) == 1 else out


def atleast_1d(*tensors):
    return _at_least(1, tensors, lambda t: (1,))


def atleast_2d(*tensors):
    return _at_least(2, tensors, lambda t: (1, t.numel()))


def atleast_3d(*tensors):
    """0-d -> (1, 1, 1), (n,) -> (1, n, 1), (m, n) -> (m, n, 1), as PyTorch (and NumPy)."""
    return _at_least(3, tensors, lambda t: (1, 1, 1) if t.ndim == 0 else (1, t.numel(), 1) if t.ndim == 1
                     else t.shape + (1,))


def _as_tuple(tensors):
    return tuple(atleast_1d(t) for t in tensors)


def hstack(tensors):
    tensors = _as_tuple(tensors)
    return cat(tensors, 0 if all(t.ndim == 1 for t in tensors) else 1)


def vstack(tensors):
    return cat([atleast_2d(t) for t in tensors], 0)


def dstack(tensors):
    return cat([atleast_3d(t) for t in tensors], 2)


def column_stack(tensors):
    return cat([reshape(t, (t.numel(), 1)) if t.ndim <= 1 else t for t in tensors], 1)


def tensor_split(input, indices_or_sections, dim=0):
    """Split into ``n`` nearly equal parts (the first ``size % n`` one longer), or at the given indices
    (a list or a 1-d tensor) along ``dim``; always returns views."""
    d = one_dim(input, dim, "tensor_split")
    size = input.shape[d]
    if isinstance(indices_or_sections, Tensor):
        if indices_or_sections.ndim > 1 or indices_or_sections.dtype.category != 1:
            raise RuntimeError(f"tensor_split(): expected a 0-d or 1-d integer tensor, got "
                               f"{indices_or_sections.dtype} of shape {tuple(indices_or_sections.shape)}")
        indices_or_sections = (indices_or_sections.tolist() if indices_or_sections.ndim
                               else int(indices_or_sections.item()))
    if isinstance(indices_or_sections, int):
        n = indices_or_sections
        if n <= 0:
            raise RuntimeError(f"tensor_split(): number of sections must be larger than 0, got {n}")
        cuts = [k * (size // n) + min(k, size % n) for k in range(1, n)]
    else:
        cuts = [int(c) for c in indices_or_sections]
    bounds = [0] + [min(max(c if c >= 0 else c + size, 0), size) for c in cuts] + [size]
    return tuple(narrow(input, d, start, max(stop - start, 0)) for start, stop in zip(bounds, bounds[1:]))


def _split_along(op, input, sections, dim):
    if isinstance(sections, int) and input.shape[dim] % sections:
        raise RuntimeError(f"{op} attempted to split along dimension {dim}, but the size of the dimension "
                           f"{input.shape[dim]} is not divisible by the split_size {sections}!")
    return tensor_split(input, sections, dim)


def hsplit(input, sections):
    if input.ndim < 1:
        raise RuntimeError("hsplit(): requires a tensor with at least 1 dimension, but got a 0-d tensor")
    return _split_along("hsplit", input, sections, 1 if input.ndim > 1 else 0)


def vsplit(input, sections):
    if input.ndim < 2:
        raise RuntimeError(f"vsplit(): requires a tensor with at least 2 dimensions, got shape {tuple(input.shape)}")
    return _split_along("vsplit", input, sections, 0)


def dsplit(input, sections):
    if input.ndim < 3:
        raise RuntimeError(f"dsplit(): requires a tensor with at least 3 dimensions, got shape {tuple(input.shape)}")
    return _split_along("dsplit", input, sections, 2)


def ravel(input):
    return reshape(input, (-1,))


concat = concatenate = cat


def rot90(input, k=1, dims=(0, 1)):
    """Rotated by 90 degrees ``k`` times in the plane of ``dims``, from the first towards the second."""
    dims = tuple(dims)
    if len(dims) != 2 or input.ndim < 2:
        raise RuntimeError(f"rot90(): expected two dims of a tensor of at least 2 dims, got dims {dims} of "
                           f"shape {tuple(input.shape)}")
    d0, d1 = (one_dim(input, d, "rot90") for d in dims)
    if d0 == d1:
        raise RuntimeError(f"rot90(): dims must differ, got {dims}")
    k %= 4
    if k == 1:
        return transpose(flip(input, (d1,)), d0, d1)
    if k == 2:
        return flip(input, (d0, d1))
    if k == 3:
        return transpose(flip(input, (d0,)), d0, d1)
    return input.clone()


def _triangle_indices(row, col, offset, dtype, device, lower, op):
    """The (2, n) row-major coordinates of the lower (upper) triangle of a row x col matrix."""
    from .. import backends, dtypes
    from ..device import target_device
    if row < 0 or col < 0:
        raise RuntimeError(f"{op}(): row and col must be non-negative, got {row} and {col}")
    dev = target_device(device)
    b = backends.get(dev.type)
    with placed(dev):
        diff = b.arange(col).reshape(1, col) - b.arange(row).reshape(row, 1)
        rows, cols = b.nonzero(diff <= offset if lower else diff >= offset)
        out = b.concatenate((rows.reshape(1, -1), cols.reshape(1, -1))).astype(dtypes.as_dtype(dtype).np)
    return Tensor._wrap(out, dev, backend=b)


def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """Coordinates of the lower triangle (``j <= i + offset``), int64 unless ``dtype``; ``layout`` is
    accepted for PyTorch's signature (strided is the only layout)."""
    from .. import dtypes
    return _triangle_indices(row, col, offset, dtype or dtypes.int64, device, True, "tril_indices")


def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """Coordinates of the upper triangle (``j >= i + offset``), as :func:`tril_indices`."""
    from .. import dtypes
    return _triangle_indices(row, col, offset, dtype or dtypes.int64, device, False, "triu_indices")


# ---- broadcasting, block and product layouts, diff --------------------------------------------

def broadcast_shapes(*shapes):
    """The shape ``shapes`` broadcast to (ints count as 1-d shapes), as a ``lumen.Size``."""
    from .arith import broadcast_shapes as common
    from ..tensor import Size
    shapes = [(s,) if isinstance(s, int) else tuple(s) for s in shapes]
    try:
        return Size(common(*shapes))
    except ValueError:
        raise RuntimeError(f"broadcast_shapes(): shapes {shapes} cannot be broadcast together") from None


def broadcast_to(input, size):
    return expand(input, tuple(size))


def broadcast_tensors(*tensors):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    shape = tuple(broadcast_shapes(*(t.shape for t in tensors)))
    return tuple(expand(t, shape) for t in tensors)


def trace(input):
    """The sum of the main diagonal of a 2-d tensor (integers sum to int64, as ``sum``)."""
    if input.ndim != 2:
        raise RuntimeError(f"trace(): expected a matrix, got shape {tuple(input.shape)}")
    return diagonal(input).sum()


def diagflat(input, offset=0):
    return diag(reshape(input, (-1,)), offset)


def block_diag(*tensors):
    """The tensors (0-d, 1-d as one row, or 2-d) as the blocks of a block-diagonal matrix, zeros elsewhere;
    the dtype they promote to."""
    from .. import dtypes
    blocks = [reshape(t, (1, 1)) if t.ndim == 0 else reshape(t, (1, -1)) if t.ndim == 1 else t for t in tensors]
    if any(t.ndim != 2 for t in blocks):
        raise RuntimeError(f"block_diag(): expected tensors of at most 2 dims, got shapes "
                           f"{[tuple(t.shape) for t in tensors]}")
    if not blocks:
        raise RuntimeError("block_diag(): expected at least one tensor")
    dt = dtypes.promote([t.dtype for t in blocks])
    width = sum(t.shape[1] for t in blocks)
    rows, left = [], 0
    for t in blocks:
        rows.append(pad(t.to(dt), (left, width - left - t.shape[1])))
        left += t.shape[1]
    return cat(rows, 0)


def cartesian_prod(*tensors):
    """Every combination of one element of each 1-d tensor, one per row (one tensor: itself)."""
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return stack([reshape(g, (-1,)) for g in grids], 1)


@on_input_device
def combinations(input, r=2, with_replacement=False):
    """The length-``r`` combinations of a 1-d tensor's elements, one per row (as ``itertools``)."""
    import itertools
    from .. import dtypes
    if input.ndim != 1:
        raise RuntimeError(f"combinations(): expected a 1-d tensor, got shape {tuple(input.shape)}")
    if r < 0:
        raise RuntimeError(f"combinations(): r must be non-negative, got {r}")
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    if r == 0:
        return input.new_empty((0,))  # as PyTorch: 1-d and outside the graph
    rows = list(pick(range(input.shape[0]), r))
    positions = input._backend.asarray(rows, dtype=dtypes.int64.np).reshape(-1, r)
    return GetItem.apply(input, index=positions)


def unravel_index(indices, shape):
    """Flat ``indices`` as one coordinate tensor per dim of ``shape`` (C order)."""
    from .. import dtypes
    if isinstance(indices, Tensor) and indices.dtype.category != 1:
        raise TypeError(f"unravel_index(): expected integer indices, got {indices.dtype}")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    size = math.prod(shape)
    flat = indices._data
    if flat.size and not -size <= int(flat.min()) <= int(flat.max()) < size:
        raise RuntimeError(f"unravel_index(): indices must be in [{-size}, {size}) for shape {shape}")
    rest, out = flat % size if size else flat, []
    for n in reversed(shape):
        out.append(rest % n)
        rest = rest // n
    return tuple(indices._like(c.astype(dtypes.int64.np, copy=False)) for c in reversed(out))


def diff(input, n=1, dim=-1, prepend=None, append=None):
    """The ``n``-th forward difference along ``dim``, after joining ``prepend``/``append`` on it; bools
    give ``!=`` of neighbours, as PyTorch."""
    d = one_dim(input, dim, "diff")
    if n < 0:
        raise RuntimeError(f"diff(): order n must be non-negative, got {n}")
    x = cat([t for t in (prepend, input, append) if t is not None], d) if prepend is not None or \
        append is not None else input
    for _ in range(n):
        if x.shape[d] == 0:
            break
        later, earlier = narrow(x, d, 1, x.shape[d] - 1), narrow(x, d, 0, x.shape[d] - 1)
        x = later != earlier if x.dtype.category == 0 else later - earlier
    return x
