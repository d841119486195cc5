"""The primitive interface every Lumen backend implements.

A backend owns one kind of device. It holds arrays of its own array module
(``xp``: numpy or cupy) and implements the deep-learning primitives as plain
functions of those arrays: arrays in, arrays out, no autograd. The layer above
(``lumen`` core and ``lumen.nn.functional``) composes these into differentiable
ops.

Conventions shared by every primitive:
- images are NCHW, filters are (C_out, C_in // groups, kH, kW);
- ``stride``, ``padding`` and ``dilation`` arrive already normalised to pairs
  of ints ``(h, w)``;
- outputs have the dtype of the inputs (no silent upcast);
- max-pool indices are int64 flat indices into each input plane
  (``h * W + w``), as PyTorch returns them.
"""
from __future__ import annotations

import abc

#: The array-level primitives: functions that numpy and cupy both define under these names with one
#: signature and meaning (broadcasting, PyTorch-compatible dtype rules for same-dtype operands,
#: ``out=`` on the ufuncs, which is how in-place ops write into an existing buffer). Each backend
#: binds its array module's function of that name, so ``backend.exp(a)`` costs what ``numpy.exp(a)``
#: does; a backend may override any of them with its own kernel.
ARRAY_PRIMITIVES = (
    # arithmetic and math (ufuncs)
    "add", "subtract", "multiply", "true_divide", "floor_divide", "power", "negative", "maximum",
    "minimum", "exp", "log", "sqrt", "abs", "tanh", "sin", "cos", "sign", "floor", "ceil", "round",
    # comparisons and logic (ufuncs)
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "bitwise_and", "bitwise_or",
    "bitwise_xor", "invert", "logical_not", "isfinite", "isnan",
    # selection, creation, layout
    "where", "clip", "copyto", "zeros", "ones", "full", "empty", "arange", "broadcast_to",
    "ascontiguousarray", "concatenate", "take_along_axis", "argmax", "argmin", "pad", "may_share_memory",
    "allclose", "array_equal", "argsort", "bincount", "cumsum", "linspace", "eye", "from_dlpack",
    "flip", "roll", "unique", "nonzero", "argwhere", "repeat", "searchsorted",  # sorting, selection and indexing
    # more math (ufuncs and products)
    "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh", "arccosh", "arctanh", "log2", "log10", "log1p",
    "expm1", "exp2", "reciprocal", "trunc", "fmod", "remainder", "hypot", "arctan2", "cumprod", "isclose",
    "isinf", "signbit", "logical_and", "logical_or", "logical_xor", "left_shift", "right_shift", "isin", "copysign",
    "fmax", "fmin", "gcd", "lcm", "logaddexp", "logaddexp2", "sinc", "nan_to_num", "frexp",
)


class Backend(abc.ABC):
    """One device family. Subclasses fill in ``name`` and ``xp``; the :data:`ARRAY_PRIMITIVES` are
    bound from ``xp`` unless the subclass defines them itself."""

    name: str  # "cpu" or "cuda"
    xp = None  # the array module

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.xp is None:
            return
        for name in ARRAY_PRIMITIVES:
            if not any(name in klass.__dict__ for klass in cls.__mro__ if klass is not Backend):
                setattr(cls, name, staticmethod(getattr(cls.xp, name)))

    def owns(self, obj) -> bool:
        """Whether ``obj`` is an array of this backend's array module."""
        return isinstance(obj, self.xp.ndarray)

    def format_array(self, array, **options) -> str:
        """``array`` as text (``numpy.array2string`` options), for ``repr``."""
        import numpy

        return numpy.array2string(self.to_numpy(array), **options)

    # ---- arrays -----------------------------------------------------------
    @abc.abstractmethod
    def asarray(self, data, dtype=None):
        """An array of this backend holding ``data`` (host data is copied over)."""

    @abc.abstractmethod
    def to_numpy(self, array):
        """A host numpy array with the contents of ``array``."""

    # The backend's random-number module (``random.py`` beside it); the core's ``lumen.Generator`` owns the
    # state and calls only these: ``generator(seed)`` -> an array-level generator; ``uniform(gen, shape,
    # dtype, low, high, out=None)`` and ``normal(gen, shape, dtype, mean, std, out=None)`` -> float arrays
    # (filling ``out`` when given); ``integers(gen, low, high, shape, dtype)``; ``permutation(gen, n, dtype)``;
    # ``get_state(gen)`` -> bytes and ``set_state(gen, data)`` (ValueError for bytes that are not a state).
    random = None

    @abc.abstractmethod
    def scatter_add(self, target, index, values) -> None:
        """``target[index] += values`` with repeated indices accumulated."""

    # ---- BLAS ---------------------------------------------------------------
    def matmul(self, a, b):
        """``xp.matmul(a, b)`` for arrays of at least 2 dims (batch dimensions broadcast).

        A backend routes it to the BLAS its convolutions use, so that one thread pool serves both."""
        return self.xp.matmul(a, b)

    # ---- convolution (cuDNN: forward, backward-data, backward-filter) ------
    @abc.abstractmethod
    def conv2d_forward(self, x, w, b, stride, padding, dilation, groups):
        """y = conv(x, w) + b.  x (N,C,H,W), w (O,C/g,kh,kw), b (O,) or None -> (N,O,Ho,Wo)."""

    @abc.abstractmethod
    def conv2d_backward_data(self, gy, w, x_shape, stride, padding, dilation, groups):
        """Gradient w.r.t. the input: gy (N,O,Ho,Wo), w -> (N,C,H,W) with H,W from x_shape.

        This is also the forward of a transposed convolution (Caffe's deconvolution).
        """

    @abc.abstractmethod
    def conv2d_backward_filter(self, x, gy, w_shape, stride, padding, dilation, groups):
        """Gradient w.r.t. the filter: x (N,C,H,W), gy (N,O,Ho,Wo) -> w_shape."""

    # ---- activations (cuDNN: activation backward) ----------------------------
    def relu_backward(self, gy, y):
        """gy where y > 0, else 0 (PyTorch's threshold_backward: y <= 0 gives 0, a NaN y passes gy).

        gy, y of one shape -> gy's dtype. Written once over ``xp``; a backend may fuse it further.
        """
        return self.xp.where(y <= 0, 0, gy).astype(gy.dtype, copy=False)

    # ---- pooling ------------------------------------------------------------
    @abc.abstractmethod
    def max_pool2d_forward(self, x, kernel, stride, padding, dilation, ceil_mode):
        """-> (y, indices). y (N,C,Ho,Wo); indices int64 flat positions in each input plane."""

    @abc.abstractmethod
    def max_pool2d_backward(self, gy, indices, x_shape):
        """Scatter-add gy to the argmax positions -> (N,C,H,W)."""

    @abc.abstractmethod
    def avg_pool2d_forward(self, x, kernel, stride, padding, ceil_mode, count_include_pad,
                           divisor_override):
        """-> y (N,C,Ho,Wo), PyTorch's window and divisor rules."""

    @abc.abstractmethod
    def avg_pool2d_backward(self, gy, x_shape, kernel, stride, padding, ceil_mode,
                            count_include_pad, divisor_override):
        """-> gx (N,C,H,W)."""

    # ---- normalisation and losses ------------------------------------------
    def batch_norm_forward(self, x, w, b, eps):
        """Normalise x (N, C, S) per channel over N and S, then scale by w (C,) and shift by b (C,) (either
        may be None) -> (y (N, C, S), mean (C,), biased variance (C,), 1 / sqrt(variance + eps) (C,)).

        Written once over ``xp`` (``batch_norm_forward_into``); a backend may split it further.
        """
        y = self.xp.empty(x.shape, x.dtype)
        return (y, *batch_norm_forward_into(self.xp, x, w, b, eps, y))

    def batch_norm_backward(self, x, mean, invstd, w, gy, input_grad=True):
        """Gradients of ``batch_norm_forward`` from its mean and invstd -> (gx (N, C, S) or None unless
        ``input_grad``, gw = sum of gy * xhat (C,), gb = sum of gy (C,))."""
        gx = self.xp.empty(x.shape, gy.dtype) if input_grad else None
        return (gx, *batch_norm_backward_into(self.xp, x, mean, invstd, w, gy, gx))

    @abc.abstractmethod
    def lrn_forward(self, x, size, alpha, beta, k):
        """Local response norm across channels (PyTorch's definition) -> (y, scale).

        scale = k + alpha / size * sum of x**2 over the ``size`` channels around c
        (zero padded: size//2 before, (size-1)//2 after); y = x * scale**-beta.
        """

    @abc.abstractmethod
    def lrn_backward(self, x, y, scale, gy, size, alpha, beta, k):
        """-> gx."""

    @abc.abstractmethod
    def softmax_cross_entropy_forward(self, x, target, ignore_index):
        """Fused log-softmax + NLL over axis 1.

        x (N,C,...) float, target (N,...) int64 -> (loss, log_prob) where loss has
        target's shape, 0 where target == ignore_index, and log_prob is x's log-softmax.
        A target outside [0, C) that is not ignore_index raises ValueError.
        """

    @abc.abstractmethod
    def softmax_cross_entropy_backward(self, log_prob, target, gloss, ignore_index):
        """-> gx = (softmax - onehot(target)) * gloss, zero where ignored."""


def _channel_sums(xp, rows, times=None):
    """(N, C, S) -> (C,) sums over N and S of ``rows`` (times ``times``), float16 multiplied and summed in
    float32: the contiguous row sums then a sum over the batch, which NumPy runs several times faster than
    one reduction over (0, 2)."""
    acc = "float32" if rows.dtype == "float16" else rows.dtype
    if times is not None:
        rows = xp.multiply(rows, times, dtype=acc)
    return rows.sum(axis=2, dtype=acc).sum(axis=0)


def batch_norm_forward_into(xp, x, w, b, eps, y):
    """``Backend.batch_norm_forward`` written into ``y`` (x's shape and dtype) -> (mean, variance, invstd)."""
    count = x.shape[0] * x.shape[2]
    mean = (_channel_sums(xp, x) / count).astype(x.dtype, copy=False)
    xp.subtract(x, mean[:, None], out=y)
    var = _channel_sums(xp, y, y) / count
    invstd = 1 / xp.sqrt(var + eps)
    y *= (invstd if w is None else invstd * w).astype(x.dtype, copy=False)[:, None]
    if b is not None:
        y += b[:, None]
    return mean, var.astype(x.dtype, copy=False), invstd.astype(x.dtype, copy=False)


def batch_norm_backward_into(xp, x, mean, invstd, w, gy, gx):
    """``Backend.batch_norm_backward`` with gx written into ``gx`` (None: not computed) -> (gw, gb):
    gx = w invstd (gy - mean(gy) - xhat mean(gy xhat)) with xhat = (x - mean) invstd."""
    count = x.shape[0] * x.shape[2]
    xhat = x - mean[:, None]
    xhat *= invstd[:, None]
    sum_gy, sum_gy_xhat = _channel_sums(xp, gy), _channel_sums(xp, gy, xhat)
    if gx is not None:
        xhat *= (sum_gy_xhat / count).astype(gy.dtype, copy=False)[:, None]
        xp.subtract(gy, xhat, out=gx)
        gx -= (sum_gy / count).astype(gy.dtype, copy=False)[:, None]
        gx *= (invstd if w is None else invstd * w)[:, None]
    return sum_gy_xhat.astype(gy.dtype, copy=False), sum_gy.astype(gy.dtype, copy=False)
