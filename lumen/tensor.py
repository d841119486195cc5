"""``lumen.Tensor``: a backend array plus its place on the tape."""
from __future__ import annotations

import numpy as np

from . import backends, dtypes
from .autograd.function import Function, run_backward
from .autograd.grad_mode import is_grad_enabled, no_grad
from .device import as_device
from .ops import arith, index as index_ops, reduce as red, shape as shape_ops


_new = object.__new__
_FROM_NP = dtypes._FROM_NP


class _VersionCounter:
    """Shared by a tensor and its views; bumped by every in-place write."""
    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


class Tensor:
    """An n-dimensional array on a device, recording the ops that made it.

    ``Tensor(data)`` is ``lumen.tensor(data, dtype=lumen.get_default_dtype())``, as ``torch.Tensor``.
    """

    __slots__ = ("_data", "_device", "_backend", "_requires_grad", "grad", "grad_fn", "_output_index",
                 "_version_counter", "_grad_hooks", "_retains_grad", "__weakref__", "__dict__")
    __array_priority__ = 1000  # numpy scalars on the left defer to our operators

    def __init__(self, data=None, *, dtype=None, device=None, requires_grad=False):
        if isinstance(data, Tensor):
            src = data.to(device or data.device, dtype or data.dtype)
            self._init(src._data, src._device, src._backend)
            self._version_counter = src._version_counter if src._data is data._data else _VersionCounter()
        else:
            # As torch.Tensor(data): the default float dtype unless one is given (lumen.tensor infers it).
            dev = as_device(device)
            backend = backends.get(dev.type)
            self._init(_as_array(backend, data if data is not None else [], dtype or dtypes.get_default_dtype()),
                       dev, backend)
        if requires_grad:
            self.requires_grad_(True)

    def _init(self, array, dev, backend, grad_fn=None, output_index=0, version_counter=None):
        self._data = array
        self._device = dev
        self._backend = backend
        self._requires_grad = grad_fn is not None
        self.grad = None
        self.grad_fn = grad_fn
        self._output_index = output_index
        self._version_counter = version_counter or _VersionCounter()
        self._grad_hooks = None
        self._retains_grad = False

    @classmethod
    def _wrap(cls, array, dev, grad_fn=None, output_index=0, version_counter=None, backend=None):
        if backend is None:
            backend = backends.get(dev.type) if dev is not None else backends.get("cpu")
        if dev is None:
            dev = as_device("cpu" if backend.name == "cpu" else "cuda")
        # _init's assignments, inlined: every op result passes through here
        t = _new(Tensor)
        t._data = array
        t._device = dev
        t._backend = backend
        t._requires_grad = grad_fn is not None
        t.grad = None
        t.grad_fn = grad_fn
        t._output_index = output_index
        t._version_counter = version_counter or _VersionCounter()
        t._grad_hooks = None
        t._retains_grad = False
        return t

    # ---- metadata -------------------------------------------------------
    @property
    def shape(self):
        return self._data.shape

    def size(self, dim=None):
        return self._data.shape if dim is None else self._data.shape[dim]

    @property
    def dtype(self):
        try:
            return _FROM_NP[self._data.dtype]
        except KeyError:
            return dtypes.from_numpy_dtype(self._data.dtype)  # raises, naming the dtype

    @property
    def device(self):
        return self._device

    @property
    def backend(self):
        return self._backend

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    def numel(self):
        return int(self._data.size)

    def element_size(self):
        return self._data.itemsize

    @property
    def is_cuda(self):
        return self._device.type == "cuda"

    def is_floating_point(self):
        return self.dtype.is_floating_point

    def is_contiguous(self):
        return bool(self._data.flags.c_contiguous)

    @property
    def _version(self):
        return self._version_counter.value

    # ---- autograd state --------------------------------------------------
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad=True):
        if self.grad_fn is not None and not requires_grad:
            raise RuntimeError("requires_grad_(False): you can only change requires_grad of leaf tensors; "
                               "use detach() for a non-leaf")
        if requires_grad and not self.dtype.is_floating_point:
            raise RuntimeError(f"requires_grad: only floating point tensors can require gradients, "
                               f"got {self.dtype}")
        self._requires_grad = bool(requires_grad) or self.grad_fn is not None
        return self

    @property
    def is_leaf(self):
        return self.grad_fn is None

    def detach(self):
        """A tensor sharing storage (and version counter) with this one, outside the graph."""
        return Tensor._wrap(self._data, self._device, version_counter=self._version_counter,
                            backend=self._backend)

    def detach_(self):
        self.grad_fn, self._requires_grad = None, False
        return self

    @property
    def data(self):
        return self.detach()

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"data: expected a Tensor, got {type(value).__name__}")
        self._data, self._device, self._backend = value._data, value._device, value._backend
        self._version_counter.value += 1

    def __deepcopy__(self, memo):
        # Only the array is copied: the backend (and its random generator) is shared state.
        if self.grad_fn is not None:
            raise RuntimeError("deepcopy: only leaf tensors can be deep-copied; detach() it first")
        out = Tensor._wrap(self._data.copy(), self._device, backend=self._backend)
        out.__class__ = type(self)
        out._requires_grad = self._requires_grad
        if self.grad is not None:
            out.grad = self.grad.__deepcopy__(memo)
        if hasattr(self, "__dict__"):
            import copy
            out.__dict__.update(copy.deepcopy(self.__dict__, memo))
        memo[id(self)] = out
        return out

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this leaf's gradient is computed; it may return a replacement."""
        if not self._requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not require grad")
        if self.grad_fn is not None:
            raise RuntimeError("register_hook: hooks on non-leaf tensors are not supported; "
                               "use lumen.autograd.grad on the tensor instead")
        if self._grad_hooks is None:
            self._grad_hooks = []
        self._grad_hooks.append(hook)
        return hook

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``."""
        if not self._requires_grad:
            raise RuntimeError("backward: element 0 of tensors does not require grad and does not have a "
                               "grad_fn")
        if gradient is None:
            if self.numel() != 1:
                raise RuntimeError(f"backward: grad can be implicitly created only for scalar outputs; this "
                                   f"tensor has shape {tuple(self.shape)}, pass gradient= of that shape")
            gradient = Tensor._wrap(self._backend.xp.ones(self.shape, self._data.dtype), self._device,
                                    backend=self._backend)
        elif not isinstance(gradient, Tensor):
            gradient = Tensor(gradient, dtype=self.dtype, device=self.device)
        if gradient.shape != self.shape:
            raise RuntimeError(f"backward: gradient has shape {tuple(gradient.shape)}, expected "
                               f"{tuple(self.shape)}")
        if retain_graph is None:
            retain_graph = create_graph
        if inputs is not None:
            inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
            grads = run_backward([self], [gradient], retain_graph, create_graph, inputs)
            for t, g in zip(inputs, grads):
                if g is not None:
                    t.grad = g if t.grad is None else t.grad + g
            return
        run_backward([self], [gradient], retain_graph, create_graph)

    def _iadd_grad(self, g):
        """Accumulate into an existing .grad buffer (no graph)."""
        if self._data.flags.writeable and self._data.shape == g.shape and self._data.dtype == g._data.dtype:
            self._data += g._data
            self._version_counter.value += 1
            return self
        return Tensor._wrap(self._data + g._data, self._device, backend=self._backend)

    # ---- conversion -------------------------------------------------------
    def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False):
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(other_tensor)``."""
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, (dtypes.dtype, type)) or (isinstance(a, str) and a in dtypes._NAMES):
                dtype = a
            elif a is not None:
                device = a
        out = self
        if dtype is not None:
            dtype = dtypes.as_dtype(dtype)
            if dtype is not self.dtype:
                out = arith.Cast.apply(out, dtype=dtype)
        if device is not None:
            dev = as_device(device)
            if dev != out._device:
                if dev.type == "cuda" and dev.index != 0:
                    raise RuntimeError(f"to: device {dev} is not supported yet; Lumen drives cuda:0")
                out = ToDevice.apply(out, device=dev)
        if copy and out is self:
            out = self.clone()
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{device}" if isinstance(device, int) else device)

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def half(self):
        return self.to(dtypes.float16)

    def long(self):
        return self.to(dtypes.int64)

    def int(self):
        return self.to(dtypes.int32)

    def bool(self):
        return self.to(dtypes.bool_)

    def type(self, dtype=None):
        return self.dtype.name if dtype is None else self.to(dtype)

    def numpy(self, force=False):
        if self._requires_grad and not force:
            raise RuntimeError("numpy(): can't call numpy() on a tensor that requires grad; "
                               "use tensor.detach().numpy()")
        return self._backend.to_numpy(self._data)

    def __array__(self, dtype=None, copy=None):
        a = self._backend.to_numpy(self._data)
        return a if dtype is None else a.astype(dtype, copy=False)

    def item(self):
        if self.numel() != 1:
            raise RuntimeError(f"item(): a tensor with {self.numel()} elements cannot be converted to a "
                               f"Python number")
        return self._backend.to_numpy(self._data).reshape(()).item()

    def tolist(self):
        return self._backend.to_numpy(self._data).tolist()

    def __dlpack__(self, *args, **kwargs):
        return self._data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError(f"bool(): the truth value of a tensor with {self.numel()} elements is "
                               f"ambiguous")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.category != 1 or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __hash__(self):
        return id(self)

    def __repr__(self):
        body = np.array2string(self._backend.to_numpy(self._data), separator=", ", precision=4,
                               prefix="tensor(", threshold=200)
        extras = []
        if self._device.type != "cpu":
            extras.append(f"device='{self._device}'")
        if self.dtype not in (dtypes.get_default_dtype(), dtypes.int64, dtypes.bool_) or self.numel() == 0:
            extras.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name()}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # ---- creation relative to this tensor -------------------------------------
    def _like(self, array):
        return Tensor._wrap(array, self._device, backend=self._backend)

    def new_tensor(self, data, dtype=None):
        return self._like(_as_array(self._backend, data, dtype or self.dtype))

    def new_full(self, size, fill_value, dtype=None):
        return self._like(self._backend.xp.full(_size((size,)), fill_value, (dtype or self.dtype).np))

    def new_zeros(self, *size, dtype=None):
        return self._like(self._backend.xp.zeros(_size(size), (dtype or self.dtype).np))

    def new_ones(self, *size, dtype=None):
        return self._like(self._backend.xp.ones(_size(size), (dtype or self.dtype).np))

    def new_empty(self, *size, dtype=None):
        return self._like(self._backend.xp.empty(_size(size), (dtype or self.dtype).np))

    def clone(self):
        return shape_ops.Clone.apply(self)

    def contiguous(self):
        return self if self.is_contiguous() else shape_ops.Contiguous.apply(self)

    # ---- arithmetic --------------------------------------------------------
    def __add__(self, other):
        return _binary(arith.Add, self, other)

    def __radd__(self, other):
        return _binary(arith.Add, self, other, reverse=True)

    def __sub__(self, other):
        return _binary(arith.Sub, self, other)

    def __rsub__(self, other):
        return _binary(arith.Sub, self, other, reverse=True)

    def __mul__(self, other):
        return _binary(arith.Mul, self, other)

    def __rmul__(self, other):
        return _binary(arith.Mul, self, other, reverse=True)

    def __truediv__(self, other):
        return _binary(arith.Div, self, other, true_div=True)

    def __rtruediv__(self, other):
        return _binary(arith.Div, self, other, reverse=True, true_div=True)

    def __pow__(self, other):
        return _binary(arith.Pow, self, other)

    def __rpow__(self, other):
        return _binary(arith.Pow, self, other, reverse=True)

    def __matmul__(self, other):
        return arith.matmul(self, other)

    def __rmatmul__(self, other):
        return arith.matmul(_scalar_tensor(self, other), self)

    def __neg__(self):
        return arith.Neg.apply(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return self.abs()

    add = __add__
    sub = __sub__
    mul = __mul__
    div = __truediv__
    pow = __pow__
    matmul = __matmul__
    neg = __neg__

    def mm(self, other):
        return arith.matmul(self, other)

    def exp(self):
        return arith.Exp.apply(self._float())

    def log(self):
        return arith.Log.apply(self._float())

    def sqrt(self):
        return arith.Sqrt.apply(self._float())

    def rsqrt(self):
        return 1 / self.sqrt()

    def abs(self):
        return arith.Abs.apply(self)

    def tanh(self):
        return arith.Tanh.apply(self._float())

    def sigmoid(self):
        return arith.Sigmoid.apply(self._float())

    def relu(self):
        return arith.Relu.apply(self)

    def square(self):
        return self * self

    def clamp(self, min=None, max=None):
        if min is None and max is None:
            raise RuntimeError("clamp: at least one of min and max must be given")
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            out = self
            if min is not None:
                out = out.maximum(_scalar_tensor(self, min))
            if max is not None:
                out = out.minimum(_scalar_tensor(self, max))
            return out
        return arith.Clamp.apply(self, min=min, max=max)

    clip = clamp

    def maximum(self, other):
        return _binary(arith.Maximum, self, other)

    def minimum(self, other):
        return _binary(arith.Minimum, self, other)

    def where(self, condition, other):
        return arith.where(condition, self, other)

    def masked_fill(self, mask, value):
        return arith.where(mask, value, self)

    def sign(self):
        return arith.Piecewise.apply(self, fn="sign")

    def floor(self):
        return arith.Piecewise.apply(self, fn="floor")

    def ceil(self):
        return arith.Piecewise.apply(self, fn="ceil")

    def round(self):
        return arith.Piecewise.apply(self, fn="round")

    def isfinite(self):
        return self._like(self._backend.xp.isfinite(self._data))

    def isnan(self):
        return self._like(self._backend.xp.isnan(self._data))

    def _float(self):
        return self if self.dtype.is_floating_point else self.to(dtypes.get_default_dtype())

    # ---- comparisons and logic (no gradient) ------------------------------------
    def __eq__(self, other):
        return _compare(self, other, "equal")

    def __ne__(self, other):
        return _compare(self, other, "not_equal")

    def __lt__(self, other):
        return _compare(self, other, "less")

    def __le__(self, other):
        return _compare(self, other, "less_equal")

    def __gt__(self, other):
        return _compare(self, other, "greater")

    def __ge__(self, other):
        return _compare(self, other, "greater_equal")

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    def __and__(self, other):
        return _compare(self, other, "bitwise_and")

    def __or__(self, other):
        return _compare(self, other, "bitwise_or")

    def __xor__(self, other):
        return _compare(self, other, "bitwise_xor")

    def __invert__(self):
        return self._like(self._backend.xp.invert(self._data))

    def logical_not(self):
        return self._like(self._backend.xp.logical_not(self._data))

    def all(self, dim=None, keepdim=False):
        axes = None if dim is None else red.normalize_dims(dim, self.ndim, "all")
        return self._like(self._backend.xp.asarray(self._data.all(axis=axes, keepdims=keepdim)))

    def any(self, dim=None, keepdim=False):
        axes = None if dim is None else red.normalize_dims(dim, self.ndim, "any")
        return self._like(self._backend.xp.asarray(self._data.any(axis=axes, keepdims=keepdim)))

    def allclose(self, other, rtol=1e-5, atol=1e-8):
        return bool(self._backend.xp.allclose(self._data, _scalar_tensor(self, other)._data, rtol, atol))

    # ---- reductions -------------------------------------------------------------
    def sum(self, dim=None, keepdim=False, dtype=None):
        return red.sum(self, dim, keepdim, dtype)

    def mean(self, dim=None, keepdim=False):
        return red.mean(self, dim, keepdim)

    def max(self, dim=None, keepdim=False):
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        return red.extreme(self, "max", dim, keepdim)

    def min(self, dim=None, keepdim=False):
        if isinstance(dim, Tensor):
            return self.minimum(dim)
        return red.extreme(self, "min", dim, keepdim)

    def amax(self, dim=None, keepdim=False):
        return red.amax(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return red.argextreme(self, "argmax", dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return red.argextreme(self, "argmin", dim, keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, correction=None):
        return red.var(self, dim, unbiased, keepdim, correction)

    def std(self, dim=None, unbiased=None, keepdim=False, correction=None):
        return red.std(self, dim, unbiased, keepdim, correction)

    def logsumexp(self, dim, keepdim=False):
        return red.logsumexp(self, dim, keepdim)

    def softmax(self, dim):
        e = (self - self.detach().amax(dim, keepdim=True)).exp()
        return e / e.sum(dim, keepdim=True)

    def log_softmax(self, dim):
        return self - self.logsumexp(dim, keepdim=True)

    # ---- shape ------------------------------------------------------------------
    def reshape(self, *shape):
        shape = shape_ops.infer_shape(_size(shape), self.numel())
        return self if shape == self.shape else shape_ops.Reshape.apply(self, shape=shape)

    def view(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (dtypes.dtype, str)):
            raise TypeError("view(dtype) is not supported; use to(dtype)")
        if not self.is_contiguous() and self.ndim > 1:
            target = shape_ops.infer_shape(_size(shape), self.numel(), "view")
            if target != self.shape:
                probe = self._data.view()
                try:
                    probe.shape = target  # numpy refuses exactly when a copy would be needed
                except AttributeError:
                    raise RuntimeError(f"view: shape {target} is not compatible with the strides of a "
                                       f"tensor of shape {tuple(self.shape)}; use reshape()") from None
        return self.reshape(*shape)

    def view_as(self, other):
        return self.view(other.shape)

    def reshape_as(self, other):
        return self.reshape(other.shape)

    def permute(self, *dims):
        dims = tuple(d % self.ndim for d in _size(dims))
        if sorted(dims) != list(range(self.ndim)):
            raise RuntimeError(f"permute: {dims} is not a permutation of the {self.ndim} dims of "
                               f"shape {tuple(self.shape)}")
        return shape_ops.Permute.apply(self, dims=dims)

    def transpose(self, dim0, dim1):
        if self.ndim < 2 and dim0 in (0, -1) and dim1 in (0, -1):
            return self
        dims = list(range(self.ndim))
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        return self.permute(*dims)

    def t(self):
        if self.ndim > 2:
            raise RuntimeError(f"t(): expects a tensor with <= 2 dimensions, got shape {tuple(self.shape)}")
        return self.transpose(0, 1) if self.ndim == 2 else self

    @property
    def T(self):
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self):
        return self.transpose(-2, -1)

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        s, e = start_dim % self.ndim, end_dim % self.ndim
        return self.reshape(self.shape[:s] + (-1,) + self.shape[e + 1:])

    def unflatten(self, dim, sizes):
        d = dim % self.ndim
        return self.reshape(self.shape[:d] + tuple(sizes) + self.shape[d + 1:])

    def squeeze(self, dim=None):
        if dim is None:
            return self.reshape(tuple(s for s in self.shape if s != 1))
        dims = red.normalize_dims(dim, self.ndim, "squeeze")
        return self.reshape(tuple(s for i, s in enumerate(self.shape) if not (i in dims and s == 1)))

    def unsqueeze(self, dim):
        d = dim % (self.ndim + 1)
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def expand(self, *shape):
        shape = _size(shape)
        lead = len(shape) - self.ndim
        if lead < 0:
            raise RuntimeError(f"expand: target shape {shape} has fewer dims than {tuple(self.shape)}")
        full = tuple(self.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
        for i, s in enumerate(self.shape):
            if s != 1 and s != full[lead + i]:
                raise RuntimeError(f"expand: the size {s} of dimension {i} of shape {tuple(self.shape)} "
                                   f"cannot be expanded to {full}")
        return self if full == self.shape else shape_ops.Expand.apply(self, shape=full)

    def expand_as(self, other):
        return self.expand(other.shape)

    def narrow(self, dim, start, length):
        index = [slice(None)] * self.ndim
        index[dim] = slice(start, start + length)
        return self[tuple(index)]

    def split(self, split_size, dim=0):
        return shape_ops.split(self, split_size, dim)

    def chunk(self, chunks, dim=0):
        return shape_ops.chunk(self, chunks, dim)

    def repeat(self, *sizes):
        sizes = _size(sizes)
        x = self.reshape((1,) * (len(sizes) - self.ndim) + self.shape)
        for d, r in enumerate(sizes):
            if r != 1:
                x = shape_ops.cat([x] * r, d)
        return x

    # ---- indexing ---------------------------------------------------------------
    def __getitem__(self, index):
        index = index_ops.to_index(_normalize_index(index), Tensor)
        return index_ops.GetItem.apply(self, index=index)

    def __setitem__(self, index, value):
        index = index_ops.to_index(_normalize_index(index), Tensor)
        value = _scalar_tensor(self, value)
        if value.device != self.device:
            raise RuntimeError(f"__setitem__: value is on {value.device}, tensor on {self.device}")
        if not _records(self, value):
            with no_grad():
                self._data[index] = value._data
            self._version_counter.value += 1
            return
        self._inplace(lambda s: index_ops.IndexPut.apply(s, value.to(s.dtype), index=index), value)

    # ---- in-place ------------------------------------------------------------------
    def _inplace(self, compute, *others):
        """Apply ``compute`` (an out-of-place op on self) in place, keeping the graph right."""
        if _records(self, *others):
            self._check_inplace_in_graph()
            # The node must see the old values, which the write below destroys: give it a copy
            # that stands for this tensor in the graph.
            before = Tensor._wrap(self._data.copy(), self._device, self.grad_fn, self._output_index,
                                  backend=self._backend)
            before._requires_grad = self._requires_grad
            result = compute(before)
            self._write(result)
            self.grad_fn, self._output_index, self._requires_grad = result.grad_fn, result._output_index, True
            return self
        with no_grad():
            result = compute(self)
        self._write(result)
        return self

    def _check_inplace_in_graph(self):
        if self.grad_fn is None and self._requires_grad:
            raise RuntimeError(f"a leaf tensor of shape {tuple(self.shape)} that requires grad is being "
                               f"used in an in-place operation; wrap it in lumen.no_grad() or clone it")
        if self.grad_fn is not None and self.grad_fn.aliases_input:
            # the write would change the base behind its own grad_fn's back
            of = "a leaf" if self.grad_fn.next[0][0] is None else "a non-leaf"
            raise RuntimeError(f"in-place operation on a view (made by {self.grad_fn.name()}, shape "
                               f"{tuple(self.shape)}) of {of} tensor that requires grad is not supported; "
                               f"write through the base (base[index] = value) or clone() the view")
        if not self._data.flags.writeable:
            raise RuntimeError(f"in-place operation on a read-only (expanded) tensor of shape "
                               f"{tuple(self.shape)}; clone() it first")

    def _write(self, result):
        if not self._data.flags.writeable:
            raise RuntimeError(f"in-place operation on a read-only (expanded) tensor of shape "
                               f"{tuple(self.shape)}; clone() it first")
        xp = self._backend.xp
        try:
            xp.copyto(self._data, result._data, casting="same_kind")
        except TypeError:
            raise RuntimeError(f"in-place operation: result type {result.dtype} can't be cast to the "
                               f"tensor's dtype {self.dtype}") from None
        except ValueError:
            raise RuntimeError(f"in-place operation: result of shape {tuple(result.shape)} does not fit a "
                               f"tensor of shape {tuple(self.shape)}") from None
        self._version_counter.value += 1

    def add_(self, other, alpha=1):
        return self._inplace(lambda s: s + (other * alpha if alpha != 1 else other), other)

    def sub_(self, other, alpha=1):
        return self._inplace(lambda s: s - (other * alpha if alpha != 1 else other), other)

    def mul_(self, other):
        return self._inplace(lambda s: s * other, other)

    def div_(self, other):
        return self._inplace(lambda s: s / other, other)

    def addcmul_(self, t1, t2, value=1):
        return self._inplace(lambda s: s + t1 * t2 * value, t1, t2)

    def addcdiv_(self, t1, t2, value=1):
        return self._inplace(lambda s: s + t1 / t2 * value, t1, t2)

    def lerp_(self, end, weight):
        return self._inplace(lambda s: s + (end - s) * weight, end)

    def clamp_(self, min=None, max=None):
        return self._inplace(lambda s: s.clamp(min, max))

    def relu_(self):
        """In place without any copy, also under autograd: relu's backward needs only its output."""
        if not _records(self):
            if not self._data.flags.writeable:
                raise RuntimeError(f"relu_: the tensor of shape {tuple(self.shape)} is read-only "
                                   f"(expanded); clone() it first")
            self._backend.xp.maximum(self._data, 0, out=self._data)
            self._version_counter.value += 1
            return self
        self._check_inplace_in_graph()
        node = arith.ReluInplace.apply(self).grad_fn
        self._version_counter.value += 1
        # The saved output is this tensor's memory, so it must be watched by this tensor's counter.
        node._saved_out = ((self._data, self._version_counter, self._version_counter.value),)
        self.grad_fn, self._output_index = node, 0
        return self

    def sqrt_(self):
        return self._inplace(lambda s: s.sqrt())

    def neg_(self):
        return self._inplace(lambda s: -s)

    def fill_(self, value):
        value = _scalar_tensor(self, value)
        return self._inplace(lambda s: index_ops.IndexPut.apply(s, value.to(s.dtype), index=Ellipsis), value)

    def zero_(self):
        return self.fill_(0)

    def copy_(self, src):
        src = _scalar_tensor(self, src)
        if src.device != self.device:
            src = src.to(self.device)
        return self._inplace(lambda s: index_ops.IndexPut.apply(s, src.to(s.dtype), index=Ellipsis), src)

    def uniform_(self, a=0.0, b=1.0):
        return self._fill_random(lambda g, dt, out: g.random(self.shape, dtype=dt, out=out), b - a, a)

    def normal_(self, mean=0.0, std=1.0):
        return self._fill_random(lambda g, dt, out: g.standard_normal(self.shape, dtype=dt, out=out), std, mean)

    def _fill_random(self, draw, scale, shift):
        # Draw in the tensor's own float width, straight into its memory when possible: float64
        # draws, casts and temporaries cost seconds on a VGG-sized layer.
        a = self._data
        dt = a.dtype if a.dtype in (np.float32, np.float64) else np.float32
        direct = (not _records(self) and isinstance(a, np.ndarray) and a.dtype == dt
                  and a.flags.c_contiguous and a.flags.writeable)
        values = draw(self._backend.generator(), dt, a if direct else None)
        values *= scale
        values += shift
        if direct:
            self._version_counter.value += 1
            return self
        values = self._like(self._backend.asarray(values))
        return self.copy_(values) if _records(self) else self._write(values) or self
    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)


class ToDevice(Function):
    """Moves data between backends; the gradient moves back."""

    def forward(self, a):
        target = backends.get(self.device.type)
        self.source, self.out_device = self.backend, self.device
        return target.asarray(self.backend.to_numpy(a)) if target is not self.backend else a.copy()

    def backward(self, g):
        return g.to(self.source.name)


def _size(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    if isinstance(shape, int):
        return (shape,)
    return tuple(int(s) for s in shape)


def _as_array(backend, data, dtype):
    if dtype is not None:
        dtype = dtypes.as_dtype(dtype)
    if isinstance(data, Tensor):
        data = data._backend.to_numpy(data._data)
    arr = np.asarray(data) if not hasattr(data, "__cuda_array_interface__") else data
    if dtype is None:
        if arr.dtype.kind == "f" and not isinstance(data, np.ndarray):
            dtype = dtypes.get_default_dtype()  # Python floats become float32, as in PyTorch
        elif arr.dtype.kind in "iu" and not isinstance(data, np.ndarray):
            dtype = dtypes.int64
        else:
            dtype = dtypes.from_numpy_dtype(arr.dtype)
    return backend.asarray(arr, dtype=dtype.np)


def _normalize_index(index):
    if isinstance(index, list):
        return np.asarray(index)
    if isinstance(index, tuple):
        return tuple(np.asarray(i) if isinstance(i, list) else i for i in index)
    return index


def _records(*tensors):
    return is_grad_enabled() and any(isinstance(t, Tensor) and t._requires_grad for t in tensors)


def _scalar_tensor(ref, value, dtype=None):
    if isinstance(value, Tensor):
        return value
    if dtype is None:
        dtype = dtypes.promote([], [ref.dtype], [value]) if np.ndim(value) == 0 else None
    arr = _as_array(ref._backend, value, dtype)
    return Tensor._wrap(arr, ref._device, backend=ref._backend)


def _binary(fn, a, b, reverse=False, true_div=False):
    if isinstance(b, Tensor):
        if a._data.dtype != b._data.dtype:
            groups = ([a.dtype] if a.ndim else [], [a.dtype] if not a.ndim else [])
            d = dtypes.promote(groups[0] + ([b.dtype] if b.ndim else []),
                               groups[1] + ([] if b.ndim else [b.dtype]))
            a, b = a.to(d), b.to(d)
        if a._device is not b._device and a._device != b._device:
            raise RuntimeError(f"{fn.__name__.lower()}: expected both tensors on one device, got "
                               f"{tuple(a.shape)} on {a.device} and {tuple(b.shape)} on {b.device}")
    else:
        if isinstance(b, (list, tuple, np.ndarray)):
            b = _scalar_tensor(a, b)
            return _binary(fn, a, b, reverse, true_div)
        d = a.dtype
        if d.category < dtypes.scalar_category(b):  # else the tensor's dtype wins (promote's rule)
            d = dtypes.promote([a.dtype] if a.ndim else [], [] if a.ndim else [a.dtype], [b])
            a = a.to(d)
        try:
            arr = a._backend.xp.asarray(b, dtype=d.np)
        except OverflowError:  # uint8_tensor + -1 wraps around, as in PyTorch
            arr = a._backend.xp.asarray(np.asarray(b).astype(d.np))
        b = Tensor._wrap(arr, a._device, backend=a._backend)
    if true_div and a._data.dtype.kind != "f":
        a, b = a.to(dtypes.get_default_dtype()), b.to(dtypes.get_default_dtype())
    if a.shape != b.shape and a.ndim and b.ndim:
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise RuntimeError(f"{fn.__name__.lower()}: shapes {tuple(a.shape)} and {tuple(b.shape)} "
                               f"cannot be broadcast together") from None
    return fn.apply(b, a) if reverse else fn.apply(a, b)


def _compare(a, b, ufunc):
    b = _scalar_tensor(a, b)
    if a._device != b._device:
        raise RuntimeError(f"{ufunc}: expected both tensors on one device, got {a.device} and {b.device}")
    try:
        out = getattr(a._backend.xp, ufunc)(a._data, b._data)
    except ValueError:
        raise RuntimeError(f"{ufunc}: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast "
                           f"together") from None
    return a._like(a._backend.xp.asarray(out))
