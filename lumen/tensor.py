"""``lumen.Tensor``: a backend array plus its place on the tape."""
from __future__ import annotations

import numbers
import sys

from . import backends, dtypes
from .autograd import backward as autograd_backward, function as autograd_function
from .autograd.function import run_backward
from .device import as_device, placed


_new = object.__new__
_FROM_NP = dtypes._FROM_NP


class Size(tuple):
    """A shape, as ``torch.Size``: a tuple of ints (equal to the plain tuple) that prints as
    ``lumen.Size([2, 3])``. ``Tensor.size()`` returns one; ``Tensor.shape`` stays the backend's plain
    tuple, because the ops read it on every call and a Size costs a construction each time."""
    __slots__ = ()

    def __repr__(self):
        return f"lumen.Size({list(self)})"

    def __getitem__(self, index):
        item = tuple.__getitem__(self, index)
        return Size(item) if isinstance(index, slice) else item

    def __add__(self, other):
        return Size(tuple.__add__(self, tuple(other)))

    def numel(self) -> int:
        n = 1
        for d in self:
            n *= d
        return n


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
                 "_counter", "_grad_hooks", "_retains_grad", "__weakref__", "__dict__")
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
            with placed(dev):
                self._init(as_array(backend, data if data is not None else [],
                                    dtype or dtypes.get_default_dtype()), dev, backend)
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
        self._counter = version_counter
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
        t._counter = version_counter
        t._grad_hooks = None
        t._retains_grad = False
        return t

    @property
    def _version_counter(self):
        # Made on first use: most op results (and every gradient) are never written in place nor saved for backward.
        counter = self._counter
        if counter is None:
            counter = self._counter = _VersionCounter()
        return counter

    @_version_counter.setter
    def _version_counter(self, counter):
        self._counter = counter

    # ---- metadata -------------------------------------------------------
    @property
    def shape(self):
        return self._data.shape

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        if not self.ndim:
            raise IndexError(f"size(): dimension specified as {dim} but tensor has no dimensions")
        if not -self.ndim <= dim < self.ndim:
            raise IndexError(f"size(): dimension out of range (expected to be in range of "
                             f"[{-self.ndim}, {self.ndim - 1}], but got {dim})")
        return self._data.shape[dim]

    def stride(self, dim=None):
        """Element strides of the backend array (as PyTorch's, in elements, not bytes)."""
        strides = tuple(s // self._data.itemsize for s in self._data.strides)
        return strides if dim is None else strides[dim]

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

    ndimension = dim

    def numel(self):
        return int(self._data.size)

    nelement = numel

    def element_size(self):
        return self._data.itemsize

    @property
    def itemsize(self):
        return self._data.itemsize

    @property
    def nbytes(self):
        return self._data.itemsize * int(self._data.size)

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
        with placed(self._device):  # CuPy copies onto the current device
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
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a replacement."""
        return autograd_function.register_hook(self, hook)

    def retain_grad(self):
        autograd_function.retain_grad(self)

    @property
    def retains_grad(self):
        return self._retains_grad

    def register_post_accumulate_grad_hook(self, hook):
        return autograd_function.register_post_accumulate_grad_hook(self, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``."""
        if not self._requires_grad:
            raise RuntimeError("backward: element 0 of tensors does not require grad and does not have a "
                               "grad_fn")
        if gradient is None:
            if self.numel() != 1:
                raise RuntimeError(f"backward: grad can be implicitly created only for scalar outputs; this "
                                   f"tensor has shape {tuple(self.shape)}, pass gradient= of that shape")
            with placed(self._device):
                gradient = Tensor._wrap(self._backend.ones(self.shape, self._data.dtype), self._device,
                                        backend=self._backend)
        elif not isinstance(gradient, Tensor):
            gradient = Tensor(gradient, dtype=self.dtype, device=self.device)
        if gradient.shape != self.shape:
            raise RuntimeError(f"backward: gradient has shape {tuple(gradient.shape)}, expected "
                               f"{tuple(self.shape)}")
        if retain_graph is None:
            retain_graph = create_graph
        if inputs is not None:
            autograd_backward(self, gradient, retain_graph, create_graph, inputs=inputs)
            return
        run_backward([self], [gradient], retain_graph, create_graph)

    # ---- conversion -------------------------------------------------------
    def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False):
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(other_tensor)``."""
        return device_ops.to(self, *args, dtype=dtype, device=device, copy=copy)

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

    def type(self, dtype=None, non_blocking=False):
        """Without ``dtype``, the legacy type name (``'lumen.FloatTensor'``, ``'lumen.cuda.LongTensor'``);
        with one (a dtype, ``lumen.LongTensor`` or its name), this tensor converted to it."""
        from .creation import TENSOR_TYPES  # lumen.creation builds on Tensor
        if dtype is None:
            name = next(n for n, cls in TENSOR_TYPES.items() if cls.dtype is self.dtype)
            return f"lumen.{name}" if self._device.type == "cpu" else f"lumen.cuda.{name}"
        if isinstance(dtype, str) and dtype.rsplit(".", 1)[-1] in TENSOR_TYPES:
            dtype = TENSOR_TYPES[dtype.rsplit(".", 1)[-1]]
        return self.to(getattr(dtype, "dtype", dtype) if isinstance(dtype, type) else dtype)

    def numpy(self, force=False):
        if self._requires_grad and not force:
            raise RuntimeError("numpy(): can't call numpy() on a tensor that requires grad; "
                               "use tensor.detach().numpy()")
        return self._backend.to_numpy(self._data)

    def __array__(self, dtype=None, copy=None):
        # as PyTorch: through numpy(), which refuses a tensor that requires grad; never a device copy
        if self._device.type != "cpu":
            raise TypeError(f"can't convert {self._device} device type tensor to numpy. Use Tensor.cpu() to copy "
                            f"the tensor to host memory first.")
        a = self.numpy()
        a = a if dtype is None else a.astype(dtype, copy=False)
        return a.copy() if copy and a is self._data else a

    def __format__(self, format_spec):
        # as PyTorch: a 0-d tensor formats as its Python number (f"{loss:.3f}"), anything else as an object
        if self.ndim == 0 and type(self) is Tensor:
            return self.item().__format__(format_spec)
        return object.__format__(self, format_spec)

    def __contains__(self, element):
        if isinstance(element, (Tensor, numbers.Number)):
            return bool((element == self).any().item())
        raise RuntimeError(f"Tensor.__contains__ only supports Tensor or scalar, but you passed in a "
                           f"{type(element)}.")

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
        body = self._backend.format_array(self._data, separator=", ", prefix="tensor(", **_print_options)
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

    def _new(self, make, dtype, device, requires_grad):
        """``make(backend, numpy_dtype)`` as a new tensor, in this tensor's dtype and on its device
        unless told otherwise (the ``new_*`` methods' rule)."""
        dev = self._device if device is None else as_device(device)
        backend = self._backend if device is None else backends.get(dev.type)
        with placed(dev):
            out = Tensor._wrap(make(backend, dtypes.as_dtype(dtype or self.dtype).np), dev, backend=backend)
        return out.requires_grad_() if requires_grad else out

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        return self._new(lambda b, dt: as_array(b, data, dt), dtype, device, requires_grad)

    def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
        return self._new(lambda b, dt: b.full(_size((size,)), fill_value, dt), dtype, device, requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        return self._new(lambda b, dt: b.zeros(_size(size), dt), dtype, device, requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return self._new(lambda b, dt: b.ones(_size(size), dt), dtype, device, requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        return self._new(lambda b, dt: b.empty(_size(size), dt), dtype, device, requires_grad)

    def type_as(self, other):
        return self.to(device=other.device, dtype=other.dtype)

    # ---- arithmetic --------------------------------------------------------
    def __add__(self, other):
        return arith.binary(arith.Add, self, other)

    def __radd__(self, other):
        return arith.binary(arith.Add, self, other, reverse=True)

    def __sub__(self, other):
        return arith.binary(arith.Sub, self, other)

    def __rsub__(self, other):
        return arith.rsub(self, other)

    def __mul__(self, other):
        return arith.binary(arith.Mul, self, other)

    def __rmul__(self, other):
        return arith.binary(arith.Mul, self, other, reverse=True)

    def __truediv__(self, other):
        return arith.binary(arith.Div, self, other, true_div=True)

    def __rtruediv__(self, other):
        return arith.rdiv(self, other)

    def __floordiv__(self, other):
        return arith.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return arith.floor_divide(other, self)

    def floor_divide(self, other):
        return arith.floor_divide(self, other)

    def __pow__(self, other):
        return arith.pow(self, other)

    def __rpow__(self, other):
        return arith.rpow(self, other)

    def __matmul__(self, other):
        return arith.matmul(self, other)

    def __rmatmul__(self, other):
        return arith.matmul(arith.scalar_tensor(self, other), self)

    def __neg__(self):
        return unary.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return unary.abs(self)

    def add(self, other, *, alpha=1):
        return arith.add(self, other, alpha=alpha)

    def sub(self, other, *, alpha=1):
        return arith.sub(self, other, alpha=alpha)

    def mul(self, other):
        return arith.mul(self, other)

    def div(self, other, *, rounding_mode=None):
        return arith.div(self, other, rounding_mode=rounding_mode)

    def pow(self, exponent):
        return arith.pow(self, exponent)

    def matmul(self, other):
        return arith.matmul(self, other)

    def mm(self, other):
        return arith.matmul(self, other)

    def neg(self):
        return unary.neg(self)

    def exp(self):
        return unary.exp(self)

    def log(self):
        return unary.log(self)

    def sqrt(self):
        return unary.sqrt(self)

    def rsqrt(self):
        return unary.rsqrt(self)

    def abs(self):
        return unary.abs(self)

    def tanh(self):
        return unary.tanh(self)

    def sigmoid(self):
        return unary.sigmoid(self)

    def sin(self):
        return unary.sin(self)

    def cos(self):
        return unary.cos(self)

    def square(self):
        return unary.square(self)

    def sign(self):
        return unary.sign(self)

    def floor(self):
        return unary.floor(self)

    def ceil(self):
        return unary.ceil(self)

    def round(self):
        return unary.round(self)

    def relu(self):
        return activation.relu(self)

    def prelu(self, weight):
        return activation.prelu(self, weight)

    def hardshrink(self, lambd=0.5):
        return activation.hardshrink(self, lambd)

    def clamp(self, min=None, max=None):
        return arith.clamp(self, min, max)

    clip = clamp

    def maximum(self, other):
        return arith.maximum(self, other)

    def minimum(self, other):
        return arith.minimum(self, other)

    def where(self, condition, other):
        return arith.where(condition, self, other)

    def masked_fill(self, mask, value):
        return arith.masked_fill(self, mask, value)

    def isfinite(self):
        return arith.logical(self, "isfinite")

    def isnan(self):
        return arith.logical(self, "isnan")

    # ---- comparisons and logic (no gradient) ------------------------------------
    def __eq__(self, other):
        return arith.compare(self, other, "equal")

    def __ne__(self, other):
        return arith.compare(self, other, "not_equal")

    def __lt__(self, other):
        return arith.compare(self, other, "less")

    def __le__(self, other):
        return arith.compare(self, other, "less_equal")

    def __gt__(self, other):
        return arith.compare(self, other, "greater")

    def __ge__(self, other):
        return arith.compare(self, other, "greater_equal")

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    def __and__(self, other):
        return arith.compare(self, other, "bitwise_and")

    def __or__(self, other):
        return arith.compare(self, other, "bitwise_or")

    def __xor__(self, other):
        return arith.compare(self, other, "bitwise_xor")

    def __invert__(self):
        return arith.logical(self, "invert")

    def logical_not(self):
        return arith.logical(self, "logical_not")

    def allclose(self, other, rtol=1e-5, atol=1e-8, equal_nan=False):
        return arith.allclose(self, other, rtol, atol, equal_nan)

    def equal(self, other):
        return arith.equal(self, other)

    # ---- reductions -------------------------------------------------------------
    def sum(self, dim=None, keepdim=False, dtype=None):
        return red.sum(self, dim, keepdim, dtype)

    def mean(self, dim=None, keepdim=False):
        return red.mean(self, dim, keepdim)

    def max(self, dim=None, keepdim=False):
        return red.max(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return red.min(self, dim, keepdim)

    def amax(self, dim=None, keepdim=False):
        return red.amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim=False):
        return red.amin(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return red.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return red.argmin(self, dim, keepdim)

    def all(self, dim=None, keepdim=False):
        return red.all(self, dim, keepdim)

    def any(self, dim=None, keepdim=False):
        return red.any(self, dim, keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, correction=None):
        return red.var(self, dim, unbiased, keepdim, correction)

    def std(self, dim=None, unbiased=None, keepdim=False, correction=None):
        return red.std(self, dim, unbiased, keepdim, correction)

    def logsumexp(self, dim, keepdim=False):
        return red.logsumexp(self, dim, keepdim)

    def softmax(self, dim, dtype=None):
        return activation.softmax(self, dim, dtype=dtype)

    def log_softmax(self, dim, dtype=None):
        return activation.log_softmax(self, dim, dtype=dtype)

    # ---- more math: trigonometric, hyperbolic, special, rounding (lumen.ops.unary) ----------------
    def tan(self):
        return unary.tan(self)

    def asin(self):
        return unary.asin(self)

    def acos(self):
        return unary.acos(self)

    def atan(self):
        return unary.atan(self)

    def sinh(self):
        return unary.sinh(self)

    def cosh(self):
        return unary.cosh(self)

    def asinh(self):
        return unary.asinh(self)

    def acosh(self):
        return unary.acosh(self)

    def atanh(self):
        return unary.atanh(self)

    arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh

    def log2(self):
        return unary.log2(self)

    def log10(self):
        return unary.log10(self)

    def log1p(self):
        return unary.log1p(self)

    def expm1(self):
        return unary.expm1(self)

    def exp2(self):
        return unary.exp2(self)

    def erf(self):
        return unary.erf(self)

    def erfc(self):
        return unary.erfc(self)

    def erfinv(self):
        return unary.erfinv(self)

    def reciprocal(self):
        return unary.reciprocal(self)

    def trunc(self):
        return unary.trunc(self)

    fix = trunc

    def frac(self):
        return unary.frac(self)

    def sgn(self):
        return unary.sgn(self)

    def tan_(self):
        return inplace._unary_("tan", "tan", self)

    def asin_(self):
        return inplace._unary_("asin", "arcsin", self)

    def acos_(self):
        return inplace._unary_("acos", "arccos", self)

    def atan_(self):
        return inplace._unary_("atan", "arctan", self)

    def sinh_(self):
        return inplace._unary_("sinh", "sinh", self)

    def cosh_(self):
        return inplace._unary_("cosh", "cosh", self)

    def asinh_(self):
        return inplace._unary_("asinh", "arcsinh", self)

    def acosh_(self):
        return inplace._unary_("acosh", "arccosh", self)

    def atanh_(self):
        return inplace._unary_("atanh", "arctanh", self)

    arcsin_, arccos_, arctan_, arcsinh_, arccosh_, arctanh_ = asin_, acos_, atan_, asinh_, acosh_, atanh_

    def log2_(self):
        return inplace._unary_("log2", "log2", self)

    def log10_(self):
        return inplace._unary_("log10", "log10", self)

    def log1p_(self):
        return inplace._unary_("log1p", "log1p", self)

    def expm1_(self):
        return inplace._unary_("expm1", "expm1", self)

    def exp2_(self):
        return inplace._unary_("exp2", "exp2", self)

    def erf_(self):
        return inplace._unary_("erf", "erf", self)

    def erfc_(self):
        return inplace._unary_("erfc", "erfc", self)

    def erfinv_(self):
        return inplace._unary_("erfinv", "erfinv", self)

    def reciprocal_(self):
        return inplace._unary_("reciprocal", "reciprocal", self)

    def trunc_(self):
        return inplace.out_of_place_then_write(self, unary.trunc)

    fix_ = trunc_

    def frac_(self):
        return inplace.out_of_place_then_write(self, unary.frac)

    def sgn_(self):
        return inplace.out_of_place_then_write(self, unary.sgn)

    def sin_(self):
        return inplace._unary_("sin", "sin", self)

    def cos_(self):
        return inplace._unary_("cos", "cos", self)

    def tanh_(self):
        return inplace._unary_("tanh", "tanh", self)

    def log_(self):
        return inplace._unary_("log", "log", self)

    def sigmoid_(self):
        return inplace.out_of_place_then_write(self, unary.sigmoid)

    def rsqrt_(self):
        return inplace.out_of_place_then_write(self, unary.rsqrt)

    def square_(self):
        return inplace.out_of_place_then_write(self, unary.square)

    def abs_(self):
        return inplace.out_of_place_then_write(self, unary.abs)

    def sign_(self):
        return inplace.out_of_place_then_write(self, unary.sign)

    def floor_(self):
        return inplace.out_of_place_then_write(self, unary.floor)

    def ceil_(self):
        return inplace.out_of_place_then_write(self, unary.ceil)

    def round_(self):
        return inplace.out_of_place_then_write(self, unary.round)

    # ---- more math: two operands (lumen.ops.arith) ---------------------------------------------------
    def atan2(self, other):
        return arith.atan2(self, other)

    arctan2 = atan2

    def remainder(self, other):
        return arith.remainder(self, other)

    def __mod__(self, other):
        return arith.remainder(self, other)

    def __rmod__(self, other):
        return arith.remainder(other, self)

    def fmod(self, other):
        return arith.fmod(self, other)

    def hypot(self, other):
        return arith.hypot(self, other)

    def lerp(self, end, weight):
        return arith.lerp(self, end, weight)

    def isclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return arith.isclose(self, other, rtol, atol, equal_nan)

    def clamp_min(self, min):
        return arith.clamp_min(self, min)

    def clamp_max(self, max):
        return arith.clamp_max(self, max)

    def clamp_min_(self, min):
        return inplace.clamp_(self, min=min)

    def clamp_max_(self, max):
        return inplace.clamp_(self, max=max)

    def atan2_(self, other):
        return inplace._binary_("atan2", "arctan2", self, other)

    arctan2_ = atan2_

    def remainder_(self, other):
        return inplace._binary_("remainder", "remainder", self, other)

    def fmod_(self, other):
        return inplace._binary_("fmod", "fmod", self, other)

    def hypot_(self, other):
        return inplace._binary_("hypot", "hypot", self, other)

    # ---- products, cumulative ops, norms (lumen.ops.reduce, lumen.ops.linalg) -------------------------
    def cumsum(self, dim, *, dtype=None):
        return red.cumsum(self, dim, dtype=dtype)

    def cumprod(self, dim, *, dtype=None):
        return red.cumprod(self, dim, dtype=dtype)

    def cumsum_(self, dim, *, dtype=None):
        return inplace.out_of_place_then_write(self, lambda s: red.cumsum(s, dim, dtype=dtype))

    def cumprod_(self, dim, *, dtype=None):
        return inplace.out_of_place_then_write(self, lambda s: red.cumprod(s, dim, dtype=dtype))

    def prod(self, dim=None, keepdim=False, *, dtype=None):
        return red.prod(self, dim, keepdim, dtype=dtype)

    def norm(self, p="fro", dim=None, keepdim=False, dtype=None):
        return linalg_ops.tensor_norm(self, p, dim, keepdim, dtype=dtype)

    def dist(self, other, p=2):
        return linalg_ops.dist(self, other, p)

    def bmm(self, mat2):
        return linalg_ops.bmm(self, mat2)

    def baddbmm(self, batch1, batch2, *, beta=1, alpha=1):
        return linalg_ops.baddbmm(self, batch1, batch2, beta=beta, alpha=alpha)

    def addmm(self, mat1, mat2, *, beta=1, alpha=1):
        return linalg_ops.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def addmv(self, mat, vec, *, beta=1, alpha=1):
        return linalg_ops.addmv(self, mat, vec, beta=beta, alpha=alpha)

    def addmm_(self, mat1, mat2, *, beta=1, alpha=1):
        return inplace.out_of_place_then_write(self, lambda s: linalg_ops.addmm(s, mat1, mat2, beta=beta,
                                                                                 alpha=alpha), mat1, mat2)

    def baddbmm_(self, batch1, batch2, *, beta=1, alpha=1):
        return inplace.out_of_place_then_write(self, lambda s: linalg_ops.baddbmm(s, batch1, batch2, beta=beta,
                                                                                   alpha=alpha), batch1, batch2)

    def addbmm(self, batch1, batch2, *, beta=1, alpha=1):
        return linalg_ops.addbmm(self, batch1, batch2, beta=beta, alpha=alpha)

    def addbmm_(self, batch1, batch2, *, beta=1, alpha=1):
        return inplace.out_of_place_then_write(self, lambda s: linalg_ops.addbmm(s, batch1, batch2, beta=beta,
                                                                                 alpha=alpha), batch1, batch2)

    def addr(self, vec1, vec2, *, beta=1, alpha=1):
        return linalg_ops.addr(self, vec1, vec2, beta=beta, alpha=alpha)

    def addr_(self, vec1, vec2, *, beta=1, alpha=1):
        return inplace.out_of_place_then_write(self, lambda s: linalg_ops.addr(s, vec1, vec2, beta=beta,
                                                                               alpha=alpha), vec1, vec2)

    def floor_divide_(self, other):
        return inplace.out_of_place_then_write(self, lambda s: arith.floor_divide(s, other), other)

    def pow_(self, exponent):
        return inplace.out_of_place_then_write(self, lambda s: arith.pow(s, exponent), exponent)

    def split_with_sizes(self, split_sizes, dim=0):
        return shape_ops.split(self, list(split_sizes), dim)

    def addmv_(self, mat, vec, *, beta=1, alpha=1):
        return inplace.out_of_place_then_write(self, lambda s: linalg_ops.addmv(s, mat, vec, beta=beta,
                                                                                 alpha=alpha), mat, vec)

    def outer(self, vec2):
        return linalg_ops.outer(self, vec2)

    ger = outer

    def mv(self, vec):
        return linalg_ops.mv(self, vec)

    def dot(self, other):
        return linalg_ops.dot(self, other)

    # ---- shape ------------------------------------------------------------------
    def reshape(self, *shape):
        return shape_ops.reshape(self, _size(shape))

    def view(self, *shape):
        return shape_ops.view(self, shape)

    def view_as(self, other):
        return shape_ops.view(self, (other.shape,))

    def reshape_as(self, other):
        return shape_ops.reshape(self, other.shape)

    def permute(self, *dims):
        return shape_ops.permute(self, _size(dims))

    def transpose(self, dim0, dim1):
        return shape_ops.transpose(self, dim0, dim1)

    def t(self):
        return shape_ops.t(self)

    @property
    def T(self):
        return shape_ops.permute(self, tuple(reversed(range(self.ndim))))

    @property
    def mT(self):
        return shape_ops.transpose(self, -2, -1)

    def flatten(self, start_dim=0, end_dim=-1):
        return shape_ops.flatten(self, start_dim, end_dim)

    def unflatten(self, dim, sizes):
        return shape_ops.unflatten(self, dim, sizes)

    def squeeze(self, dim=None):
        return shape_ops.squeeze(self, dim)

    def unsqueeze(self, dim):
        return shape_ops.unsqueeze(self, dim)

    def expand(self, *shape):
        return shape_ops.expand(self, _size(shape))

    def expand_as(self, other):
        return shape_ops.expand(self, other.shape)

    def narrow(self, dim, start, length):
        return shape_ops.narrow(self, dim, start, length)

    def split(self, split_size, dim=0):
        return shape_ops.split(self, split_size, dim)

    def chunk(self, chunks, dim=0):
        return shape_ops.chunk(self, chunks, dim)

    def repeat(self, *sizes):
        return shape_ops.repeat(self, _size(sizes))

    def clone(self):
        return shape_ops.clone(self)

    def contiguous(self):
        return shape_ops.contiguous(self)

    # ---- indexing ---------------------------------------------------------------
    def __getitem__(self, index):
        return index_ops.getitem(self, index)

    def __setitem__(self, index, value):
        index_ops.setitem(self, index, value)

    # ---- sorting, selection and indexing ------------------------------------------
    def sort(self, dim=-1, descending=False, *, stable=False):
        return sort_ops.sort(self, dim, descending, stable=stable)

    def argsort(self, dim=-1, descending=False, *, stable=False):
        return sort_ops.argsort(self, dim, descending, stable=stable)

    def topk(self, k, dim=-1, largest=True, sorted=True):
        return sort_ops.topk(self, k, dim, largest, sorted)

    def kthvalue(self, k, dim=-1, keepdim=False):
        return sort_ops.kthvalue(self, k, dim, keepdim)

    def median(self, dim=None, keepdim=False):
        return sort_ops.median(self, dim, keepdim)

    def mode(self, dim=-1, keepdim=False):
        return sort_ops.mode(self, dim, keepdim)

    def unique(self, sorted=True, return_inverse=False, return_counts=False, dim=None):
        return sort_ops.unique(self, sorted, return_inverse, return_counts, dim)

    def bincount(self, weights=None, minlength=0):
        return sort_ops.bincount(self, weights, minlength)

    def histc(self, bins=100, min=0, max=0):
        return sort_ops.histc(self, bins, min, max)

    def diag(self, diagonal=0):
        return shape_ops.diag(self, diagonal)

    def diagonal(self, offset=0, dim1=0, dim2=1):
        return shape_ops.diagonal(self, offset, dim1, dim2)

    def diag_embed(self, offset=0, dim1=-2, dim2=-1):
        return shape_ops.diag_embed(self, offset, dim1, dim2)

    def tril(self, diagonal=0):
        return shape_ops.tril(self, diagonal)

    def triu(self, diagonal=0):
        return shape_ops.triu(self, diagonal)

    def tril_(self, diagonal=0):
        return inplace.out_of_place_then_write(self, lambda s: shape_ops.tril(s, diagonal))

    def triu_(self, diagonal=0):
        return inplace.out_of_place_then_write(self, lambda s: shape_ops.triu(s, diagonal))

    def roll(self, shifts, dims=None):
        return shape_ops.roll(self, shifts, dims)

    def flip(self, *dims):
        return shape_ops.flip(self, _size(dims))

    def fliplr(self):
        return shape_ops.fliplr(self)

    def flipud(self):
        return shape_ops.flipud(self)

    def repeat_interleave(self, repeats, dim=None, *, output_size=None):
        return shape_ops.repeat_interleave(self, repeats, dim, output_size=output_size)

    def unfold(self, dimension, size, step):
        return shape_ops.unfold(self, dimension, size, step)

    def gather(self, dim, index, *, sparse_grad=False):
        return index_ops.gather(self, dim, index, sparse_grad=sparse_grad)

    def take(self, index):
        return index_ops.take(self, index)

    def take_along_dim(self, indices, dim=None):
        return index_ops.take_along_dim(self, indices, dim)

    def scatter(self, dim, index, src=None, value=None, *, reduce=None):
        return index_ops.scatter(self, dim, index, src, value, reduce=reduce)

    def scatter_(self, dim, index, src=None, value=None, *, reduce=None):
        return inplace.out_of_place_then_write(
            self, lambda s: index_ops.scatter(s, dim, index, src, value, reduce=reduce), src)

    def scatter_add(self, dim, index, src):
        return index_ops.scatter_add(self, dim, index, src)

    def scatter_add_(self, dim, index, src):
        return inplace.out_of_place_then_write(self, lambda s: index_ops.scatter_add(s, dim, index, src), src)

    def scatter_reduce(self, dim, index, src, reduce, *, include_self=True):
        return index_ops.scatter_reduce(self, dim, index, src, reduce, include_self=include_self)

    def scatter_reduce_(self, dim, index, src, reduce, *, include_self=True):
        return inplace.out_of_place_then_write(
            self, lambda s: index_ops.scatter_reduce(s, dim, index, src, reduce, include_self=include_self), src)

    def index_select(self, dim, index):
        return index_ops.index_select(self, dim, index)

    def index_add(self, dim, index, source, *, alpha=1):
        return index_ops.index_add(self, dim, index, source, alpha=alpha)

    def index_add_(self, dim, index, source, *, alpha=1):
        return inplace.out_of_place_then_write(
            self, lambda s: index_ops.index_add(s, dim, index, source, alpha=alpha), source)

    def index_copy(self, dim, index, source):
        return index_ops.index_copy(self, dim, index, source)

    def index_copy_(self, dim, index, source):
        return inplace.out_of_place_then_write(self, lambda s: index_ops.index_copy(s, dim, index, source), source)

    def index_fill(self, dim, index, value):
        return index_ops.index_fill(self, dim, index, value)

    def index_fill_(self, dim, index, value):
        return inplace.out_of_place_then_write(self, lambda s: index_ops.index_fill(s, dim, index, value), value)

    def masked_select(self, mask):
        return index_ops.masked_select(self, mask)

    def masked_scatter(self, mask, source):
        return index_ops.masked_scatter(self, mask, source)

    def masked_scatter_(self, mask, source):
        return inplace.out_of_place_then_write(self, lambda s: index_ops.masked_scatter(s, mask, source), source)

    def nonzero(self, *, as_tuple=False):
        return index_ops.nonzero(self, as_tuple=as_tuple)

    def argwhere(self):
        return index_ops.argwhere(self)

    def index_put(self, indices, values, accumulate=False):
        return index_ops.index_put(self, indices, values, accumulate)

    def index_put_(self, indices, values, accumulate=False):
        return inplace.out_of_place_then_write(
            self, lambda s: index_ops.index_put(s, indices, values, accumulate), values)

    def count_nonzero(self, dim=None):
        return index_ops.count_nonzero(self, dim)

    def put(self, index, source, accumulate=False):
        return index_ops.put(self, index, source, accumulate)

    def put_(self, index, source, accumulate=False):
        return inplace.out_of_place_then_write(self, lambda s: index_ops.put(s, index, source, accumulate), source)

    def masked_fill_(self, mask, value):
        return inplace.out_of_place_then_write(self, lambda s: arith.masked_fill(s, mask, value), value)

    def nanmedian(self, dim=None, keepdim=False):
        return sort_ops.nanmedian(self, dim, keepdim)

    def msort(self):
        return sort_ops.msort(self)

    def quantile(self, q, dim=None, keepdim=False, *, interpolation="linear"):
        return sort_ops.quantile(self, q, dim, keepdim, interpolation=interpolation)

    def nanquantile(self, q, dim=None, keepdim=False, *, interpolation="linear"):
        return sort_ops.nanquantile(self, q, dim, keepdim, interpolation=interpolation)

    def unique_consecutive(self, return_inverse=False, return_counts=False, dim=None):
        return sort_ops.unique_consecutive(self, return_inverse, return_counts, dim)

    def select(self, dim, index):
        return shape_ops.select(self, dim, index)

    def unbind(self, dim=0):
        return shape_ops.unbind(self, dim)

    def movedim(self, source, destination):
        return shape_ops.movedim(self, source, destination)

    moveaxis = movedim

    def swapaxes(self, axis0, axis1):
        return shape_ops.swapaxes(self, axis0, axis1)

    swapdims = swapaxes

    def tile(self, *dims):
        return shape_ops.tile(self, _size(dims))

    def tensor_split(self, indices_or_sections, dim=0):
        return shape_ops.tensor_split(self, indices_or_sections, dim)

    def hsplit(self, sections):
        return shape_ops.hsplit(self, sections)

    def vsplit(self, sections):
        return shape_ops.vsplit(self, sections)

    def dsplit(self, sections):
        return shape_ops.dsplit(self, sections)

    def ravel(self):
        return shape_ops.ravel(self)

    def rot90(self, k=1, dims=(0, 1)):
        return shape_ops.rot90(self, k, dims)

    def broadcast_to(self, size):
        return shape_ops.broadcast_to(self, size)

    def trace(self):
        return shape_ops.trace(self)

    def diagflat(self, offset=0):
        return shape_ops.diagflat(self, offset)

    def diff(self, n=1, dim=-1, prepend=None, append=None):
        return shape_ops.diff(self, n, dim, prepend, append)

    def cummax(self, dim):
        return sort_ops.cummax(self, dim)

    def cummin(self, dim):
        return sort_ops.cummin(self, dim)

    # ---- comparisons, logic, bits and more math as torch names them (lumen.ops.arith, lumen.ops.unary) ----
    greater, greater_equal, less, less_equal, not_equal = __gt__, __ge__, __lt__, __le__, __ne__

    def eq_(self, other):
        return arith.without_gradient_(self, lambda s: arith.eq(s, other))

    def ne_(self, other):
        return arith.without_gradient_(self, lambda s: arith.ne(s, other))

    def lt_(self, other):
        return arith.without_gradient_(self, lambda s: arith.lt(s, other))

    def le_(self, other):
        return arith.without_gradient_(self, lambda s: arith.le(s, other))

    def gt_(self, other):
        return arith.without_gradient_(self, lambda s: arith.gt(s, other))

    def ge_(self, other):
        return arith.without_gradient_(self, lambda s: arith.ge(s, other))

    greater_, greater_equal_, less_, less_equal_, not_equal_ = gt_, ge_, lt_, le_, ne_

    def logical_and(self, other):
        return arith.logical_and(self, other)

    def logical_or(self, other):
        return arith.logical_or(self, other)

    def logical_xor(self, other):
        return arith.logical_xor(self, other)

    def logical_and_(self, other):
        return arith.without_gradient_(self, lambda s: arith.logical_and(s, other))

    def logical_or_(self, other):
        return arith.without_gradient_(self, lambda s: arith.logical_or(s, other))

    def logical_xor_(self, other):
        return arith.without_gradient_(self, lambda s: arith.logical_xor(s, other))

    def logical_not_(self):
        return arith.without_gradient_(self, arith.logical_not)

    def bitwise_and(self, other):
        return arith.bitwise_and(self, other)

    def bitwise_or(self, other):
        return arith.bitwise_or(self, other)

    def bitwise_xor(self, other):
        return arith.bitwise_xor(self, other)

    def bitwise_left_shift(self, other):
        return arith.bitwise_left_shift(self, other)

    def bitwise_right_shift(self, other):
        return arith.bitwise_right_shift(self, other)

    def bitwise_not(self):
        return arith.bitwise_not(self)

    def bitwise_and_(self, other):
        return arith.without_gradient_(self, lambda s: arith.bitwise_and(s, other))

    def bitwise_or_(self, other):
        return arith.without_gradient_(self, lambda s: arith.bitwise_or(s, other))

    def bitwise_xor_(self, other):
        return arith.without_gradient_(self, lambda s: arith.bitwise_xor(s, other))

    def bitwise_left_shift_(self, other):
        return arith.without_gradient_(self, lambda s: arith.bitwise_left_shift(s, other))

    def bitwise_right_shift_(self, other):
        return arith.without_gradient_(self, lambda s: arith.bitwise_right_shift(s, other))

    def bitwise_not_(self):
        return arith.without_gradient_(self, arith.bitwise_not)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__
    __lshift__, __rshift__ = bitwise_left_shift, bitwise_right_shift
    __iand__, __ior__, __ixor__ = bitwise_and_, bitwise_or_, bitwise_xor_
    __ilshift__, __irshift__ = bitwise_left_shift_, bitwise_right_shift_

    def __rlshift__(self, other):
        return arith.bitwise_left_shift(other, self)

    def __rrshift__(self, other):
        return arith.bitwise_right_shift(other, self)

    def isinf(self):
        return arith.isinf(self)

    def isposinf(self):
        return arith.isposinf(self)

    def isneginf(self):
        return arith.isneginf(self)

    def isreal(self):
        return arith.isreal(self)

    def signbit(self):
        return arith.signbit(self)

    def is_complex(self):
        return arith.is_complex(self)

    def is_signed(self):
        return arith.is_signed(self)

    def is_nonzero(self):
        return arith.is_nonzero(self)

    def is_same_size(self, other):
        return arith.is_same_size(self, other)

    @property
    def is_cpu(self):
        return self._device.type == "cpu"

    def absolute(self):
        return unary.abs(self)

    def subtract(self, other, *, alpha=1):
        return arith.sub(self, other, alpha=alpha)

    def multiply(self, other):
        return arith.mul(self, other)

    def divide(self, other, *, rounding_mode=None):
        return arith.div(self, other, rounding_mode=rounding_mode)

    def true_divide(self, other):
        return arith.div(self, other)

    def negative(self):
        return unary.neg(self)

    def positive(self):
        return arith.positive(self)

    def float_power(self, exponent):
        return arith.float_power(self, exponent)

    def addcmul(self, tensor1, tensor2, *, value=1):
        return arith.addcmul(self, tensor1, tensor2, value=value)

    def addcdiv(self, tensor1, tensor2, *, value=1):
        return arith.addcdiv(self, tensor1, tensor2, value=value)

    def xlogy(self, other):
        return arith.xlogy(self, other)

    def logaddexp(self, other):
        return arith.logaddexp(self, other)

    def logaddexp2(self, other):
        return arith.logaddexp2(self, other)

    def copysign(self, other):
        return arith.copysign(self, other)

    def heaviside(self, values):
        return arith.heaviside(self, values)

    def fmax(self, other):
        return arith.fmax(self, other)

    def fmin(self, other):
        return arith.fmin(self, other)

    def gcd(self, other):
        return arith.gcd(self, other)

    def lcm(self, other):
        return arith.lcm(self, other)

    def ldexp(self, other):
        return arith.ldexp(self, other)

    def nan_to_num(self, nan=0.0, posinf=None, neginf=None):
        return arith.nan_to_num(self, nan, posinf, neginf)

    def logit(self, eps=None):
        return unary.logit(self, eps)

    def sinc(self):
        return unary.sinc(self)

    def deg2rad(self):
        return unary.deg2rad(self)

    def rad2deg(self):
        return unary.rad2deg(self)

    def lgamma(self):
        return unary.lgamma(self)

    def digamma(self):
        return unary.digamma(self)

    def polygamma(self, n):
        return unary.polygamma(n, self)

    def mvlgamma(self, p):
        return unary.mvlgamma(self, p)

    def frexp(self):
        return unary.frexp(self)

    def absolute_(self):
        return inplace.out_of_place_then_write(self, unary.abs)

    def subtract_(self, other, *, alpha=1):
        return inplace.sub_(self, other, alpha)

    def multiply_(self, other):
        return inplace.mul_(self, other)

    def divide_(self, other, *, rounding_mode=None):
        if rounding_mode is None:
            return inplace.div_(self, other)
        return inplace.out_of_place_then_write(self, lambda s: arith.div(s, other, rounding_mode=rounding_mode), other)

    def true_divide_(self, other):
        return inplace.div_(self, other)

    def negative_(self):
        return inplace.neg_(self)

    def float_power_(self, exponent):
        return inplace.out_of_place_then_write(self, lambda s: arith.float_power(s, exponent), exponent)

    def xlogy_(self, other):
        return inplace.out_of_place_then_write(self, lambda s: arith.xlogy(s, other), other)

    def copysign_(self, other):
        return inplace.out_of_place_then_write(self, lambda s: arith.copysign(s, other), other)

    def heaviside_(self, values):
        return arith.without_gradient_(self, lambda s: arith.heaviside(s, values))

    def gcd_(self, other):
        return arith.without_gradient_(self, lambda s: arith.gcd(s, other))

    def lcm_(self, other):
        return arith.without_gradient_(self, lambda s: arith.lcm(s, other))

    def ldexp_(self, other):
        return inplace.out_of_place_then_write(self, lambda s: arith.ldexp(s, other), other)

    def nan_to_num_(self, nan=0.0, posinf=None, neginf=None):
        return inplace.out_of_place_then_write(self, lambda s: arith.nan_to_num(s, nan, posinf, neginf))

    def logit_(self, eps=None):
        return inplace.out_of_place_then_write(self, lambda s: unary.logit(s, eps))

    def sinc_(self):
        return inplace.out_of_place_then_write(self, unary.sinc)

    def deg2rad_(self):
        return inplace.out_of_place_then_write(self, unary.deg2rad)

    def rad2deg_(self):
        return inplace.out_of_place_then_write(self, unary.rad2deg)

    def lgamma_(self):
        return inplace.out_of_place_then_write(self, unary.lgamma)

    def digamma_(self):
        return inplace.out_of_place_then_write(self, unary.digamma)

    def polygamma_(self, n):
        return inplace.out_of_place_then_write(self, lambda s: unary.polygamma(n, s))

    def mvlgamma_(self, p):
        return inplace.out_of_place_then_write(self, lambda s: unary.mvlgamma(s, p))

    def nansum(self, dim=None, keepdim=False, *, dtype=None):
        return red.nansum(self, dim, keepdim, dtype=dtype)

    def nanmean(self, dim=None, keepdim=False, *, dtype=None):
        return red.nanmean(self, dim, keepdim, dtype=dtype)

    def aminmax(self, *, dim=None, keepdim=False):
        return red.aminmax(self, dim=dim, keepdim=keepdim)

    def logcumsumexp(self, dim):
        return red.logcumsumexp(self, dim)

    # ---- linear algebra (lumen.ops.linalg) ----------------------------------------------------------
    def inverse(self):
        return linalg_ops.inv(self)

    def det(self):
        return linalg_ops.det(self)

    def logdet(self):
        return linalg_ops.logdet(self)

    def slogdet(self):
        return linalg_ops.slogdet(self)

    def pinverse(self, rcond=1e-15):
        return linalg_ops.pinverse(self, rcond)

    def svd(self, some=True, compute_uv=True):
        return linalg_ops.torch_svd(self, some, compute_uv)

    def qr(self, some=True):
        return linalg_ops.torch_qr(self, some)

    def cholesky(self, upper=False):
        return linalg_ops.torch_cholesky(self, upper)

    def matrix_power(self, n):
        return linalg_ops.matrix_power(self, n)

    def cholesky_solve(self, input2, upper=False):
        return linalg_ops.cholesky_solve(self, input2, upper)

    def cholesky_inverse(self, upper=False):
        return linalg_ops.cholesky_inverse(self, upper)

    def matrix_exp(self):
        return linalg_ops.matrix_exp(self)

    def cross(self, other, dim=None):
        return linalg_ops.torch_cross(self, other, dim)

    def inner(self, other):
        return linalg_ops.inner(self, other)

    def vdot(self, other):
        return linalg_ops.vdot(self, other)

    def kron(self, other):
        return linalg_ops.kron(self, other)

    def renorm(self, p, dim, maxnorm):
        return linalg_ops.renorm(self, p, dim, maxnorm)

    def renorm_(self, p, dim, maxnorm):
        return inplace.out_of_place_then_write(self, lambda s: linalg_ops.renorm(s, p, dim, maxnorm))

    def cov(self, *, correction=1, fweights=None, aweights=None):
        return red.cov(self, correction=correction, fweights=fweights, aweights=aweights)

    def corrcoef(self):
        return red.corrcoef(self)

    def fill_diagonal_(self, fill_value, wrap=False):
        return arith.fill_diagonal_(self, fill_value, wrap)

    def sum_to_size(self, *size):
        return arith.sum_to_size(self, *size)

    def byte(self):
        return self.to(dtypes.uint8)

    def char(self):
        return self.to(dtypes.int8)

    def short(self):
        return self.to(dtypes.int16)

    def get_device(self):
        """-1 on the CPU, else the device's index (as torch)."""
        return -1 if self._device.type == "cpu" else (self._device.index or 0)

    def new(self, *args, **kwargs):
        """The legacy constructor: ``new()`` an empty tensor, ``new(*sizes)`` an uninitialised one, ``new(data)``
        a copy of the data, in this tensor's dtype and device."""
        if len(args) == 1 and not isinstance(args[0], int):
            return self.new_tensor(args[0], **kwargs)
        return self.new_empty(args or (0,), **kwargs)

    def cauchy_(self, median=0.0, sigma=1.0, *, generator=None):
        from .random import cauchy_  # lumen.random builds on Tensor
        return cauchy_(self, median, sigma, generator)

    def log_normal_(self, mean=1.0, std=2.0, *, generator=None):
        from .random import log_normal_  # lumen.random builds on Tensor
        return log_normal_(self, mean, std, generator)

    def geometric_(self, p, *, generator=None):
        from .random import geometric_  # lumen.random builds on Tensor
        return geometric_(self, p, generator)

    def squeeze_(self, dim=None):
        return arith.view_in_place_(self, lambda s: s.squeeze(dim))

    def unsqueeze_(self, dim):
        return arith.view_in_place_(self, lambda s: s.unsqueeze(dim))

    def t_(self):
        return arith.view_in_place_(self, lambda s: s.t())

    def transpose_(self, dim0, dim1):
        return arith.view_in_place_(self, lambda s: s.transpose(dim0, dim1))

    def swapaxes_(self, axis0, axis1):
        return arith.view_in_place_(self, lambda s: s.transpose(axis0, axis1))

    swapdims_ = swapaxes_

    def data_ptr(self):
        return self._backend.data_ptr(self._data)

    def storage_offset(self):
        return self._backend.storage_offset(self._data)

    # ---- in-place ------------------------------------------------------------------
    def add_(self, other, *, alpha=1):
        return inplace.add_(self, other, alpha)

    def sub_(self, other, *, alpha=1):
        return inplace.sub_(self, other, alpha)

    def mul_(self, other):
        return inplace.mul_(self, other)

    def div_(self, other):
        return inplace.div_(self, other)

    def addcmul_(self, tensor1, tensor2, *, value=1):
        return inplace.addcmul_(self, tensor1, tensor2, value)

    def addcdiv_(self, tensor1, tensor2, *, value=1):
        return inplace.addcdiv_(self, tensor1, tensor2, value)

    def lerp_(self, end, weight):
        return inplace.lerp_(self, end, weight)

    def clamp_(self, min=None, max=None):
        return inplace.clamp_(self, min, max)

    clip_ = clamp_

    def relu_(self):
        return activation.relu_(self)

    def sqrt_(self):
        return inplace.sqrt_(self)

    def exp_(self):
        return inplace.exp_(self)

    def neg_(self):
        return inplace.neg_(self)

    def fill_(self, value):
        return inplace.fill_(self, value)

    def zero_(self):
        return inplace.zero_(self)

    def copy_(self, src):
        return inplace.copy_(self, src)

    def uniform_(self, a=0.0, b=1.0, *, generator=None):
        from .random import uniform_  # lumen.random builds on Tensor
        return uniform_(self, a, b, generator)

    def normal_(self, mean=0.0, std=1.0, *, generator=None):
        from .random import normal_  # lumen.random builds on Tensor
        return normal_(self, mean, std, generator)

    def exponential_(self, lambd=1.0, *, generator=None):
        from .random import exponential_  # lumen.random builds on Tensor
        return exponential_(self, lambd, generator)

    def random_(self, from_=None, to=None, *, generator=None):
        from .random import random_  # lumen.random builds on Tensor
        return random_(self, from_, to, generator)

    def bernoulli_(self, p=0.5, *, generator=None):
        from .random import bernoulli_  # lumen.random builds on Tensor
        return bernoulli_(self, p, generator)

    def bernoulli(self, p=None, *, generator=None):
        from .random import bernoulli  # lumen.random builds on Tensor
        return bernoulli(self, p, generator=generator)

    def multinomial(self, num_samples, replacement=False, *, generator=None):
        from .random import multinomial  # lumen.random builds on Tensor
        return multinomial(self, num_samples, replacement, generator=generator)

    def __iadd__(self, other):
        return inplace.add_(self, other)

    def __isub__(self, other):
        return inplace.sub_(self, other)

    def __imul__(self, other):
        return inplace.mul_(self, other)

    def __itruediv__(self, other):
        return inplace.div_(self, other)


# numpy.array2string's names; Lumen's defaults (torch's threshold is 1000, its line width 80)
_DEFAULT_PRINT_OPTIONS = {"precision": 4, "threshold": 200, "edgeitems": 3, "max_line_width": 75}
_print_options = dict(_DEFAULT_PRINT_OPTIONS)


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """``torch.set_printoptions``: digits after the point, the element count above which a tensor is summarised,
    the items kept at each end when it is, the line width; ``profile`` 'default', 'short' or 'full' first;
    ``sci_mode`` True/False forces or forbids scientific notation (None: numpy's choice)."""
    profiles = {"default": _DEFAULT_PRINT_OPTIONS,
                "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "max_line_width": 80},
                "full": {"precision": 4, "threshold": sys.maxsize, "edgeitems": 3, "max_line_width": 80}}
    if profile is not None:
        if profile not in profiles:
            raise ValueError(f"set_printoptions: profile must be 'default', 'short' or 'full', got {profile!r}")
        _print_options.clear()
        _print_options.update(profiles[profile])
    for name, value in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                        ("max_line_width", linewidth)):
        if value is not None:
            _print_options[name] = value
    if sci_mode is not None:
        digits = _print_options["precision"]
        _print_options.pop("suppress_small", None)
        _print_options.pop("formatter", None)
        if sci_mode:
            _print_options["formatter"] = {"float_kind": lambda x: f"{x:.{digits}e}"}
        else:
            _print_options["suppress_small"] = True


def _size(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    if isinstance(shape, int):
        return (shape,)
    return tuple(int(s) for s in shape)


def as_array(backend, data, dtype):
    """``data`` (a Tensor, a backend or host array, nested lists or numbers) as an array of
    ``backend`` in ``dtype``, or in the dtype PyTorch infers (Python floats: the default dtype)."""
    if dtype is not None:
        dtype = dtypes.as_dtype(dtype)
    if isinstance(data, Tensor):
        data = data._backend.to_numpy(data._data)
    typed = hasattr(data, "dtype")  # an array or array scalar keeps its dtype; Python data is inferred
    arr = backend.asarray(data)
    if dtype is None:
        if arr.dtype.kind == "f" and not typed:
            dtype = dtypes.get_default_dtype()  # Python floats become float32, as in PyTorch
        elif arr.dtype.kind in "iu" and not typed:
            dtype = dtypes.int64
        else:
            dtype = dtypes.from_numpy_dtype(arr.dtype)
    return arr.astype(dtype.np, copy=False)


from .ops import (activation, arith, device as device_ops, index as index_ops, inplace,  # noqa: E402
                  reduce as red, shape as shape_ops, unary)
from .ops import sort as sort_ops  # noqa: E402
from .ops import linalg as linalg_ops  # noqa: E402
