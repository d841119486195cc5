"""Activations: the elementwise nonlinearities of ``torch.nn.functional`` and the softmax family.

Each one that is not a short composition of other ops is a Function whose forward runs on backend arrays
and whose backward is written in Lumen ops (so it can be differentiated again). Gradients at the kinks
follow PyTorch's kernels (e.g. hardtanh passes no gradient at its bounds, hardswish's is -0.5 at -3).
"""
from __future__ import annotations

import math
import warnings

from .. import dtypes
from ..autograd.function import Function
from ..creation import arange
from ..random import uniform_array
from .dropout import dropout
from . import inplace as inplace_ops
from ._check import check_float, check_tensor
from .arith import where
from .linear import linear
from .shape import cat, chunk, pad, repeat_interleave, tril
from .unary import sigmoid, tanh

__all__ = ["relu", "relu_", "leaky_relu", "leaky_relu_", "softmax", "log_softmax", "softmin", "elu", "elu_",
           "selu", "selu_", "celu", "celu_", "gelu", "silu", "mish", "hardswish", "hardsigmoid", "hardtanh",
           "hardtanh_", "relu6", "softplus", "softsign", "tanhshrink", "threshold", "threshold_", "glu",
           "logsigmoid", "hardshrink", "softshrink", "prelu", "rrelu", "rrelu_", "gumbel_softmax",
           "scaled_dot_product_attention", "multi_head_attention_forward"]

# SELU's constants (Klambauer et al. 2017), as PyTorch's kernel spells them
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

class Relu(Function):
    def forward(self, a):
        self.save_outputs(0)
        return self.backend.maximum(a, 0, dtype=a.dtype)

    def backward(self, g):
        (y,) = self.saved_outputs
        return ReluGrad.apply(g, y)


class ReluInplace(Relu):
    """relu written into its input's memory; its backward needs only the output, so no copy is kept."""

    inplace = True

    def forward(self, a):
        self.save_outputs(0)
        return self.backend.maximum(a, 0, out=a)


class ReluGrad(Function):
    """relu's backward, g masked by y > 0, as one backend pass; linear in g, so twice differentiable."""

    def forward(self, g, y):
        self.save_inputs(1)
        return self.backend.relu_backward(g, y)

    def backward(self, gg):
        (y,) = self.saved_inputs
        return ReluGrad.apply(gg, y), None


class LeakyRelu(Function):
    def __init__(self, negative_slope):
        self.negative_slope = negative_slope

    def forward(self, a):
        self.save_inputs(0)
        b = self.backend
        return b.where(a > 0, a, b.multiply(a, a.dtype.type(self.negative_slope)))

    def backward(self, g):
        (a,) = self.saved_inputs
        return where(a > 0, g, g * self.negative_slope)


class Softmax(Function):
    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        b = self.backend
        e = b.exp(x - x.max(axis=self.dim, keepdims=True))
        e /= e.sum(axis=self.dim, keepdims=True)
        self.save_outputs(0)
        return e

    def backward(self, gy):
        (y,) = self.saved_outputs
        return y * (gy - (gy * y).sum(self.dim, keepdim=True))


class LogSoftmax(Function):
    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        b = self.backend
        shifted = x - x.max(axis=self.dim, keepdims=True)
        shifted -= b.log(b.exp(shifted).sum(axis=self.dim, keepdims=True))
        self.save_outputs(0)
        return shifted

    def backward(self, gy):
        (y,) = self.saved_outputs
        return gy - y.exp() * gy.sum(self.dim, keepdim=True)


def relu(input, inplace=False):
    """max(input, 0), any shape. ``inplace=True`` overwrites ``input`` (bumping its version) and
    returns it; refused on a leaf that requires grad, as in PyTorch."""
    check_tensor(input, "input", "relu")
    return relu_(input) if inplace else Relu.apply(input)


def relu_(input):
    """relu in place, also under autograd without a copy: relu's backward needs only its output."""
    return inplace_ops.apply_inplace(ReluInplace, input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """``x`` where x > 0, else ``negative_slope * x``; any float shape, as PyTorch's."""
    check_tensor(input, "input", "leaky_relu")
    check_float(input, "leaky_relu")
    if inplace:
        return inplace_ops.out_of_place_then_write(
            input, lambda s: LeakyRelu.apply(s, negative_slope=negative_slope))
    return LeakyRelu.apply(input, negative_slope=negative_slope)


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, inplace=True)


def _zero(a):
    return a.dtype.type(0)


class Elu(Function):
    """``scale * x`` for x > 0, else ``scale * alpha * (exp(input_scale * x) - 1)``: elu, selu and celu."""

    def __init__(self, alpha, scale, input_scale):
        self.alpha, self.scale, self.input_scale = alpha, scale, input_scale

    def forward(self, x):
        self.save_inputs(0)
        b = self.backend
        negative = b.expm1(b.minimum(x, _zero(x)) * self.input_scale) * (self.scale * self.alpha)
        return b.where(x > 0, x * self.scale, negative).astype(x.dtype, copy=False)

    def backward(self, g):
        (x,) = self.saved_inputs
        slope = (x.clamp(max=0) * self.input_scale).exp() * (self.scale * self.alpha * self.input_scale)
        return where(x > 0, g * self.scale, g * slope)


class Clip(Function):
    """hardtanh: ``x`` clipped to [min_val, max_val]; no gradient at or beyond the bounds (PyTorch's)."""

    def __init__(self, min_val, max_val):
        self.min_val, self.max_val = min_val, max_val

    def forward(self, x):
        self.save_inputs(0)
        return self.backend.clip(x, self.min_val, self.max_val).astype(x.dtype, copy=False)

    def backward(self, g):
        (x,) = self.saved_inputs
        return g * ((x > self.min_val) & (x < self.max_val)).to(g.dtype)


class Hardswish(Function):
    """``x * relu6(x + 3) / 6``; gradient 0 up to -3, ``x / 3 + 0.5`` on (-3, 3), 1 from 3 (PyTorch's)."""

    def forward(self, x):
        self.save_inputs(0)
        return x * self.backend.clip(x + 3, 0, 6).astype(x.dtype, copy=False) / 6

    def backward(self, g):
        (x,) = self.saved_inputs
        return where(x <= -3, 0.0, where(x < 3, g * (x / 3 + 0.5), g))


class Hardsigmoid(Function):
    """``relu6(x + 3) / 6``; gradient 1/6 strictly inside (-3, 3)."""

    def forward(self, x):
        self.save_inputs(0)
        return self.backend.clip(x + 3, 0, 6).astype(x.dtype, copy=False) / 6

    def backward(self, g):
        (x,) = self.saved_inputs
        return g * ((x > -3) & (x < 3)).to(g.dtype) / 6


class Softplus(Function):
    """``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold``."""

    def __init__(self, beta, threshold):
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        self.save_inputs(0)
        b = self.backend
        z = x * self.beta
        # exp of the clipped z: the linear branch's values would overflow and are not used
        soft = b.log1p(b.exp(b.minimum(z, x.dtype.type(self.threshold)))) / self.beta
        return b.where(z > self.threshold, x, soft).astype(x.dtype, copy=False)

    def backward(self, g):
        (x,) = self.saved_inputs
        z = x * self.beta
        return where(z > self.threshold, g, g * sigmoid(z))


class LogSigmoid(Function):
    """``log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|))``, which never overflows."""

    def forward(self, x):
        self.save_inputs(0)
        b = self.backend
        return (b.minimum(x, _zero(x)) - b.log1p(b.exp(-b.abs(x)))).astype(x.dtype, copy=False)

    def backward(self, g):
        (x,) = self.saved_inputs
        return g * sigmoid(-x)


class Gelu(Function):
    """``x * Phi(x)``, Phi the standard normal CDF (``approximate='none'``, through erf), or PyTorch's
    tanh approximation ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""

    def __init__(self, approximate):
        self.approximate = approximate

    def forward(self, x):
        self.save_inputs(0)
        b = self.backend
        if self.approximate == "tanh":
            inner = (x + x * x * x * _GELU_KAPPA) * _GELU_BETA
            return x * 0.5 * (1 + b.tanh(inner))
        return x * 0.5 * (1 + b.erf(x * _SQRT1_2))

    def backward(self, g):
        (x,) = self.saved_inputs
        if self.approximate == "tanh":
            t = tanh((x + x * x * x * _GELU_KAPPA) * _GELU_BETA)
            slope = (1 + t) * 0.5 + x * 0.5 * (1 - t * t) * _GELU_BETA * (1 + x * x * (3 * _GELU_KAPPA))
            return g * slope
        return GeluGrad.apply(g, x)


class GeluGrad(Function):
    """erf-GELU's backward ``g * (Phi(x) + x phi(x))`` as its own node, so that its second derivative
    (``g * phi(x) * (2 - x^2)``) needs no erf in Lumen ops."""

    def forward(self, g, x):
        self.save_inputs(0, 1)
        b = self.backend
        cdf = (1 + b.erf(x * _SQRT1_2)) * 0.5
        pdf = b.exp(x * x * -0.5) * _INV_SQRT_2PI
        return g * (cdf + x * pdf)

    def backward(self, gg):
        g, x = self.saved_inputs
        need = self.needs_input_grad
        gg_g = GeluGrad.apply(gg, x) if need[0] else None
        gg_x = gg * g * (x * x * -0.5).exp() * _INV_SQRT_2PI * (2 - x * x) if need[1] else None
        return gg_g, gg_x


_SQRT1_2 = math.sqrt(0.5)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_GELU_BETA = math.sqrt(2 / math.pi)
_GELU_KAPPA = 0.044715


class Shrink(Function):
    """hardshrink (``x`` where |x| > lambd, else 0) and softshrink (moved ``lambd`` towards 0 there)."""

    def __init__(self, lambd, soft):
        self.lambd, self.soft = lambd, soft

    def forward(self, x):
        self.save_inputs(0)
        b = self.backend
        kept = x - b.sign(x) * x.dtype.type(self.lambd) if self.soft else x
        return b.where(b.abs(x) > self.lambd, kept, _zero(x)).astype(x.dtype, copy=False)

    def backward(self, g):
        (x,) = self.saved_inputs
        return g * (x.abs() > self.lambd).to(g.dtype)


class Threshold(Function):
    """``x`` where x > threshold, else ``value``."""

    def __init__(self, threshold, value):
        self.threshold, self.value = threshold, value

    def forward(self, x):
        self.save_inputs(0)
        return self.backend.where(x > self.threshold, x, x.dtype.type(self.value)).astype(x.dtype, copy=False)

    def backward(self, g):
        (x,) = self.saved_inputs
        return g * (x > self.threshold).to(g.dtype)


def _float_input(input, op):
    check_tensor(input, "input", op)
    check_float(input, op)
    return input


def _elementwise(op, input, inplace, compute):
    """``compute(input)``, or written into ``input`` (returned) when ``inplace``."""
    _float_input(input, op)
    return inplace_ops.out_of_place_then_write(input, compute) if inplace else compute(input)


def elu(input, alpha=1.0, inplace=False):
    """``x`` for x > 0, else ``alpha * (exp(x) - 1)``."""
    return _elementwise("elu", input, inplace, lambda t: Elu.apply(t, alpha=float(alpha), scale=1.0,
                                                                   input_scale=1.0))


def elu_(input, alpha=1.0):
    return elu(input, alpha, inplace=True)


def selu(input, inplace=False):
    """``scale * elu(x, alpha)`` with SELU's fixed alpha ~1.6733 and scale ~1.0507."""
    return _elementwise("selu", input, inplace, lambda t: Elu.apply(t, alpha=SELU_ALPHA, scale=SELU_SCALE,
                                                                    input_scale=1.0))


def selu_(input):
    return selu(input, inplace=True)


def celu(input, alpha=1.0, inplace=False):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``; alpha must not be 0."""
    if alpha == 0:
        raise RuntimeError("celu: alpha cannot be 0 (it divides x)")
    return _elementwise("celu", input, inplace, lambda t: Elu.apply(t, alpha=float(alpha), scale=1.0,
                                                                    input_scale=1.0 / alpha))


def celu_(input, alpha=1.0):
    return celu(input, alpha, inplace=True)


def gelu(input, approximate="none"):
    """``x * Phi(x)`` (``approximate='none'``) or its tanh approximation (``approximate='tanh'``)."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError(f"gelu: approximate argument must be either 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(_float_input(input, "gelu"), approximate=approximate)


def silu(input, inplace=False):
    """``x * sigmoid(x)`` (swish)."""
    return _elementwise("silu", input, inplace, lambda t: t * sigmoid(t))


def mish(input, inplace=False):
    """``x * tanh(softplus(x))``."""
    return _elementwise("mish", input, inplace, lambda t: t * tanh(Softplus.apply(t, beta=1.0, threshold=20.0)))


def hardswish(input, inplace=False):
    """``x * relu6(x + 3) / 6`` (MobileNetV3)."""
    return _elementwise("hardswish", input, inplace, Hardswish.apply)


def hardsigmoid(input, inplace=False):
    """``relu6(x + 3) / 6``."""
    return _elementwise("hardsigmoid", input, inplace, Hardsigmoid.apply)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """``x`` clipped to [min_val, max_val]."""
    op = "hardtanh"
    check_tensor(input, "input", op)
    if min_val > max_val:
        raise ValueError(f"{op}: min_val cannot be greater than max_val, got min_val={min_val} > "
                         f"max_val={max_val}")
    compute = lambda t: Clip.apply(t, min_val=min_val, max_val=max_val)  # noqa: E731
    return inplace_ops.out_of_place_then_write(input, compute) if inplace else compute(input)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input, inplace=False):
    """``min(max(x, 0), 6)``."""
    return hardtanh(input, 0.0, 6.0, inplace)


def softplus(input, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta * x)) / beta``, reverting to ``x`` where ``beta * x > threshold``."""
    return Softplus.apply(_float_input(input, "softplus"), beta=float(beta), threshold=float(threshold))


def softsign(input):
    """``x / (1 + |x|)``."""
    return input / (_float_input(input, "softsign").abs() + 1)


def tanhshrink(input):
    """``x - tanh(x)``."""
    return input - tanh(_float_input(input, "tanhshrink"))


def _threshold(input, threshold, value, inplace):
    check_tensor(input, "input", "threshold")
    compute = lambda t: Threshold.apply(t, threshold=threshold, value=value)  # noqa: E731
    return inplace_ops.out_of_place_then_write(input, compute) if inplace else compute(input)


def threshold(input, threshold, value, inplace=False):
    """``x`` where x > threshold, else ``value``."""
    return _threshold(input, threshold, value, inplace)


def threshold_(input, threshold, value):
    return _threshold(input, threshold, value, inplace=True)


def glu(input, dim=-1):
    """Gated linear unit: ``a * sigmoid(b)`` with a, b the two halves of ``input`` along ``dim``."""
    op = "glu"
    _float_input(input, op)
    if input.ndim == 0:
        raise RuntimeError(f"{op}: does not support scalars (0-d input) because halving size must be even")
    if not -input.ndim <= dim < input.ndim:
        raise IndexError(f"{op}: dim {dim} is out of range for input of shape {tuple(input.shape)}")
    if input.shape[dim] % 2:
        raise RuntimeError(f"{op}: halving dimension must be even, but dimension {dim % input.ndim} of input "
                           f"{tuple(input.shape)} is size {input.shape[dim]}")
    a, b = chunk(input, 2, dim)
    return a * sigmoid(b)


def logsigmoid(input):
    """``log(sigmoid(x))``, stable for large |x|."""
    return LogSigmoid.apply(_float_input(input, "logsigmoid"))


def _shrink(op, input, lambd, soft):
    _float_input(input, op)
    if lambd < 0:
        raise RuntimeError(f"{op}: lambda must be >= 0, got {lambd}")
    return Shrink.apply(input, lambd=float(lambd), soft=soft)


def hardshrink(input, lambd=0.5):
    """``x`` where |x| > lambd, else 0."""
    return _shrink("hardshrink", input, lambd, soft=False)


def softshrink(input, lambd=0.5):
    """``x - lambd`` above lambd, ``x + lambd`` below -lambd, else 0."""
    return _shrink("softshrink", input, lambd, soft=True)


def prelu(input, weight):
    """``x`` for x > 0, else ``weight * x``; weight has one element, or one per channel (dim 1 of input)."""
    op = "prelu"
    _float_input(input, op)
    check_tensor(weight, "weight", op)
    if weight.ndim > 1:
        raise RuntimeError(f"{op}: expected weight to be a scalar or 1-d tensor, got shape {tuple(weight.shape)}")
    channels = input.shape[1] if input.ndim >= 2 else 1
    if weight.numel() != 1 and weight.numel() != channels:
        raise RuntimeError(f"{op}: weight has {weight.numel()} parameters but input of shape "
                           f"{tuple(input.shape)} has {channels} channels (expected 1 or {channels})")
    if weight.numel() != 1:
        weight = weight.reshape((1, channels) + (1,) * (input.ndim - 2))
    return where(input > 0, input, input * weight)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Randomized leaky relu: in training each non-positive element gets its own slope drawn uniformly from
    [lower, upper] (from the default generator of input's device, so ``lumen.manual_seed`` fixes it);
    otherwise the fixed slope ``(lower + upper) / 2``."""
    op = "rrelu"
    _float_input(input, op)
    if lower > upper:
        raise RuntimeError(f"{op}: lower bound {lower} should be less than or equal to the upper bound {upper}")
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    u = input._like(uniform_array(input.shape, input.dtype, input.device))
    slope = u * (upper - lower) + lower
    compute = lambda t: where(t > 0, t, t * slope)  # noqa: E731
    return inplace_ops.out_of_place_then_write(input, compute) if inplace else compute(input)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    return rrelu(input, lower, upper, training, inplace=True)


def legacy_softmax_dim(op, ndim, stacklevel=3):
    """The dim PyTorch still picks, with a deprecation warning, when a softmax gets ``dim=None``:
    0 for 0-, 1- and 3-d inputs (3-d read as an unbatched (C, H, W) image), else 1."""
    warnings.warn(f"Implicit dimension choice for {op} has been deprecated. Change the call to include dim=X "
                  f"as an argument.", UserWarning, stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def _dim_and_cast(op, input, dim, dtype, stacklevel):
    if isinstance(stacklevel, dtypes.dtype):
        # torch.softmax(input, dim, dtype) and Tensor.softmax pass the dtype third, where F.softmax has
        # _stacklevel: the same function serves both
        stacklevel, dtype = 3, stacklevel
    check_tensor(input, "input", op)
    if dim is None:
        dim = legacy_softmax_dim(op, input.ndim, stacklevel + 1)
    ndim = max(input.ndim, 1)
    if not -ndim <= dim < ndim:
        raise IndexError(f"{op}: dim {dim} is out of range for input of shape {tuple(input.shape)}")
    if dtype is not None:
        input = input.to(dtypes.as_dtype(dtype))
    check_float(input, op)
    return input, dim % ndim if input.ndim else None


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim``; float input (cast to ``dtype`` first if given), same shape.
    ``dim=None`` takes PyTorch's deprecated implicit choice (see ``legacy_softmax_dim``), warning;
    ``_stacklevel`` is where that warning points, as in PyTorch."""
    input, dim = _dim_and_cast("softmax", input, dim, dtype, _stacklevel)
    return Softmax.apply(input, dim=dim)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """x - logsumexp(x) along ``dim``; float input (cast to ``dtype`` first if given), same shape."""
    input, dim = _dim_and_cast("log_softmax", input, dim, dtype, _stacklevel)
    return LogSoftmax.apply(input, dim=dim)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """softmax(-x) along ``dim``."""
    input, dim = _dim_and_cast("softmin", input, dim, dtype, _stacklevel)
    return Softmax.apply(-input, dim=dim)


def gumbel_softmax(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
    """softmax((logits + g) / tau) along ``dim``, g ~ Gumbel(0, 1) drawn from the default generator of the
    logits' device. ``hard``: the one-hot of its argmax in the forward, the soft sample's gradient in the
    backward (straight through). ``eps`` is PyTorch's deprecated no-op (a warning when given)."""
    op = "gumbel_softmax"
    _float_input(logits, op)
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", UserWarning, stacklevel=2)
    u = logits._like(uniform_array(logits.shape, logits.dtype, logits.device))
    # Exp(1) = -log(1 - U), and -log of it is Gumbel(0, 1)
    gumbels = -(-(1 - u).log()).log()
    y_soft = softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y_soft
    index = y_soft.argmax(dim, keepdim=True)
    positions = arange(logits.shape[dim], device=logits.device).reshape(
        (-1,) + (1,) * (logits.ndim - 1 - dim % max(logits.ndim, 1)))
    y_hard = (positions == index).to(logits.dtype)
    return y_hard - y_soft.detach() + y_soft


def attention_bias(mask, dtype, keep_where_true):
    """A boolean or float attention mask as an additive float bias: a bool mask gives -inf where it masks
    (where False if ``keep_where_true``, as scaled_dot_product_attention's, else where True, as
    MultiheadAttention's masks); a float mask is the bias itself."""
    if mask.dtype is dtypes.bool_:
        masked = mask.logical_not() if keep_where_true else mask
        return where(masked, float("-inf"), 0.0).to(dtype)
    return mask.to(dtype)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """``softmax(query @ key^T * scale + bias) @ value``, as ``torch.nn.functional.scaled_dot_product_attention``
    (its reference "math" computation): query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev).

    ``scale`` defaults to 1/sqrt(E); ``attn_mask`` is boolean (True: takes part) or an additive float bias,
    broadcast to (..., L, S); ``is_causal``: position i attends to positions <= i (no attn_mask then).
    ``dropout_p`` drops attention weights (always, as PyTorch's: pass 0.0 in eval). ``enable_gqa``: key and
    value with fewer heads (dim -3) than query are shared by groups of query heads.
    """
    op = "scaled_dot_product_attention"
    for name, t in (("query", query), ("key", key), ("value", value)):
        check_tensor(t, name, op)
    check_float(query, op, "query")
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2 or query.shape[-1] != key.shape[-1] or \
            key.shape[-2] != value.shape[-2]:
        raise RuntimeError(f"{op}: expected query (..., L, E), key (..., S, E) and value (..., S, Ev), got "
                           f"{tuple(query.shape)}, {tuple(key.shape)} and {tuple(value.shape)}")
    if is_causal and attn_mask is not None:
        raise RuntimeError(f"{op}: is_causal=True and an explicit attn_mask are exclusive")
    if enable_gqa and key.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        if query.shape[-3] % key.shape[-3]:
            raise RuntimeError(f"{op}: with enable_gqa the query's {query.shape[-3]} heads must be a multiple of "
                               f"the key's {key.shape[-3]}")
        groups = query.shape[-3] // key.shape[-3]
        key, value = repeat_interleave(key, groups, -3), repeat_interleave(value, groups, -3)
    length, source = query.shape[-2], key.shape[-2]
    factor = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query * factor) @ key.transpose(-2, -1)
    if is_causal:
        causal = tril(query.new_ones((length, source), dtype=dtypes.bool_))
        scores = scores + attention_bias(causal, scores.dtype, keep_where_true=True)
    elif attn_mask is not None:
        scores = scores + attention_bias(attn_mask, scores.dtype, keep_where_true=True)
    weights = softmax(scores, -1)
    if dropout_p > 0:
        weights = dropout(weights, dropout_p, training=True)
    return weights @ value


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """``nn.MultiheadAttention``'s computation, as ``torch.nn.functional.multi_head_attention_forward``:
    query (L, N, E), key (S, N, kdim), value (S, N, vdim), or unbatched (L, E) ... -> (output (L, N, E),
    attention weights (N, L, S), per head (N, H, L, S) unless ``average_attn_weights``, or None unless
    ``need_weights``). Masks: True (or -inf) where not to attend, float masks added; ``static_k`` /
    ``static_v`` (N * H, S, E / H) replace the projected keys / values."""
    op = "multi_head_attention_forward"
    if is_causal and attn_mask is None:
        raise RuntimeError(f"{op}: is_causal=True is a hint that attn_mask is the causal mask; pass that "
                           f"attn_mask as well")
    unbatched = query.ndim == 2
    if unbatched:
        query, key, value = (t.unsqueeze(1) for t in (query, key, value))
        key_padding_mask = None if key_padding_mask is None else key_padding_mask.unsqueeze(0)
    length, batch, e = query.shape
    if e != embed_dim_to_check:
        raise RuntimeError(f"{op}: was expecting embedding dimension of {embed_dim_to_check}, but got {e} "
                           f"(query of shape {tuple(query.shape)})")
    if e % num_heads:
        raise RuntimeError(f"{op}: embed_dim {e} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        weights = (q_proj_weight, k_proj_weight, v_proj_weight)
    else:
        weights = (in_proj_weight[:e], in_proj_weight[e:2 * e], in_proj_weight[2 * e:])
    biases = (None,) * 3 if in_proj_bias is None else (in_proj_bias[:e], in_proj_bias[e:2 * e], in_proj_bias[2 * e:])
    q, k, v = (linear(x, w, b) for x, w, b in zip((query, key, value), weights, biases))
    bias = None if attn_mask is None else attention_bias(attn_mask, q.dtype, keep_where_true=False)
    padding = None if key_padding_mask is None else attention_bias(key_padding_mask, q.dtype, keep_where_true=False)
    if bias_k is not None:
        k = cat([k, bias_k.expand((1, batch, e))])
        v = cat([v, bias_v.expand((1, batch, e))])
        bias = None if bias is None else pad(bias, (0, 1))
        padding = None if padding is None else pad(padding, (0, 1))
    head_dim = e // num_heads
    q, k, v = (t.reshape((t.shape[0], batch * num_heads, head_dim)).transpose(0, 1) for t in (q, k, v))
    k = k if static_k is None else static_k
    v = v if static_v is None else static_v
    if add_zero_attn:
        k = cat([k, k.new_zeros((batch * num_heads, 1, head_dim))], 1)
        v = cat([v, v.new_zeros((batch * num_heads, 1, head_dim))], 1)
        bias = None if bias is None else pad(bias, (0, 1))
        padding = None if padding is None else pad(padding, (0, 1))
    source = k.shape[1]
    if padding is not None:
        padding = padding.reshape((batch, 1, 1, source)).expand((batch, num_heads, 1, source)).reshape(
            (batch * num_heads, 1, source))
        bias = padding if bias is None else bias + padding
    scores = (q * (1 / math.sqrt(head_dim))) @ k.transpose(1, 2)
    if bias is not None:
        scores = scores + bias
    attention = softmax(scores, -1)
    dropped = dropout(attention, dropout_p, training=training) if dropout_p > 0 else attention
    out = (dropped @ v).transpose(0, 1).reshape((length * batch, e))
    out = linear(out, out_proj_weight, out_proj_bias).reshape((length, batch, e))
    if unbatched:
        out = out.squeeze(1)
    if not need_weights:
        return out, None
    attention = attention.reshape((batch, num_heads, length, source))
    if average_attn_weights:
        attention = attention.mean(1)
    return out, attention.squeeze(0) if unbatched else attention
