"""Normalisation: ``batch_norm``, ``instance_norm``, ``group_norm``, ``layer_norm``, ``rms_norm``, ``normalize`` and
``local_response_norm`` (AlexNet / GoogLeNet's LRN).

Batch, instance, group and layer norm are one Function (``BatchNormTrain``): each normalises rows of a
reshaped view with the rows' own statistics, and only the view and the affine parameters' shape differ.
"""
from __future__ import annotations

from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled, no_grad
from ._check import check_float, check_same, check_tensor
from .reduce import amax

__all__ = ["batch_norm", "instance_norm", "group_norm", "layer_norm", "rms_norm", "normalize",
           "local_response_norm"]


class ChannelWindowSum(Function):
    """s[:, c] = sum of a[:, c - before : c + after + 1] over channels (zero outside [0, C))."""

    def __init__(self, before, after):
        self.before, self.after = before, after

    def forward(self, a):
        c = a.shape[1]
        s = a.copy()
        for d in range(1, min(self.before, c - 1) + 1):
            s[:, d:] += a[:, :c - d]
        for d in range(1, min(self.after, c - 1) + 1):
            s[:, :c - d] += a[:, d:]
        return s

    def backward(self, g):
        # channel j feeds the windows of [j - after, j + before]: the mirrored window
        return ChannelWindowSum.apply(g, before=self.after, after=self.before)


class LocalResponseNorm(Function):
    """y = x * (k + alpha/size * sum over ``size`` neighbouring channels of x**2) ** -beta."""

    def __init__(self, size, alpha, beta, k):
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        y, self.scale = self.backend.lrn_forward(x, self.size, self.alpha, self.beta, self.k)
        self.save_inputs(0)
        self.save_outputs(0)
        return y

    def backward(self, gy):
        (x,) = self.saved_inputs
        (y,) = self.saved_outputs
        if not is_grad_enabled():
            # a plain backward (nothing records it): the backend's fused kernel
            return gy._like(self.backend.lrn_backward(x._data, y._data, self.scale, gy._data, self.size,
                                                      self.alpha, self.beta, self.k))
        # create_graph: the same gradient written in Lumen ops, so it can be differentiated again
        n, before, after = self.size, self.size // 2, (self.size - 1) // 2
        s = ChannelWindowSum.apply(x * x, before=before, after=after) * (self.alpha / n) + self.k
        back = ChannelWindowSum.apply(gy * x * s ** (-self.beta - 1), before=after, after=before)
        return gy * s ** -self.beta - x * back * (2 * self.alpha * self.beta / n)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalisation across channels, as ``torch.nn.functional.local_response_norm``.

    input (N, C, *) float, same shape out: x / (k + alpha/size * sum_{c' in window} x_c'^2)^beta,
    window [c - size//2, c + (size-1)//2] zero padded. (Caffe's ACROSS_CHANNELS LRN with
    local_size=size and the same alpha is this op.)
    """
    op = "local_response_norm"
    check_tensor(input, "input", op)
    check_float(input, op)
    if input.ndim < 3:
        raise ValueError(f"{op}: expected input (N, C, *) with at least 3 dims, got {tuple(input.shape)}")
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"{op}: size must be a positive int, got {size!r}")
    return LocalResponseNorm.apply(input, size=size, alpha=float(alpha), beta=float(beta), k=float(k))


class BatchNormTrain(Function):
    """Normalise x (N, C, *) over every dimension but 1 with its own per-channel statistics, then scale by w
    (C,) and shift by b (C,); x is seen as (N, C, S).

    Outputs (y, batch mean (C,), biased batch variance (C,)); the statistics carry no gradient.
    """

    def __init__(self, eps):
        self.eps = eps

    def forward(self, x, w, b):
        y, self.mean, var, self.invstd = self.backend.batch_norm_forward(_rows(x), w, b, self.eps)
        self.save_inputs(0, 1)
        self.mark_non_differentiable(1, 2)
        return y.reshape(x.shape), self.mean, var

    def backward(self, gy, _mean, _var):
        x, w = self.saved_inputs
        need = self.needs_input_grad
        if not is_grad_enabled():  # a plain backward (nothing records it): the backend's fused primitive
            gx, gw, gb = self.backend.batch_norm_backward(_rows(x._data), self.mean, self.invstd,
                                                          None if w is None else w._data, _rows(gy._data), need[0])
            return tuple(gy._like(g) if wanted else None
                         for g, wanted in zip((gx.reshape(x.shape) if need[0] else None, gw, gb), need))
        # create_graph: the same gradient in Lumen ops, the statistics recomputed from x, so that it can be
        # differentiated again.
        axes, cshape = (0,) + tuple(range(2, x.ndim)), (1, -1) + (1,) * (x.ndim - 2)
        xc = x - x.mean(axes, keepdim=True)
        invstd = ((xc * xc).mean(axes, keepdim=True) + self.eps).rsqrt()
        xhat = xc * invstd
        g = gy if w is None else gy * w.reshape(cshape)
        gx = invstd * (g - g.mean(axes, keepdim=True) - xhat * (g * xhat).mean(axes, keepdim=True)) \
            if need[0] else None
        gw = (gy * xhat).sum(axes) if need[1] else None
        gb = gy.sum(axes) if need[2] else None
        return gx, gw, gb


def _rows(a):
    """(N, C, *) -> the (N, C, S) view (a copy when not contiguous) the backend's batch norm reads."""
    return a.reshape(a.shape[0], a.shape[1], -1)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5):
    """Batch normalisation over (N, *) per channel, as ``torch.nn.functional.batch_norm``.

    input (N, C, *) float; running_mean / running_var (C,) or None; weight / bias (C,) or None.
    ``training``: normalise with the batch's statistics and, if running stats are given, update them
    in place: running = (1 - momentum) * running + momentum * batch (unbiased variance).
    Otherwise normalise with the running statistics.
    """
    op = "batch_norm"
    check_tensor(input, "input", op)
    check_float(input, op)
    if input.ndim < 2:
        raise ValueError(f"{op}: expected input (N, C, *) with at least 2 dims, got {tuple(input.shape)}")
    check_same(op, input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ValueError(f"{op}: {name} of shape {tuple(t.shape)} does not match the {c} channels of "
                             f"input {tuple(input.shape)}")
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: give both running_mean and running_var or neither")
    cshape = (1, c) + (1,) * (input.ndim - 2)
    if not training:
        if running_mean is None:
            raise ValueError(f"{op}: running_mean and running_var are needed when training=False")
        # The weight folded into the per-channel scale first. Subtracting the mean before scaling (not an
        # x * scale + shift fold) keeps the weight's gradient and float16 outputs free of cancellation.
        scale = (running_var.detach() + eps).rsqrt()
        if weight is not None:
            scale = scale * weight
        y = (input - running_mean.detach().reshape(cshape)) * scale.reshape(cshape)
        return y if bias is None else y + bias.reshape(cshape)
    count = input.numel() // c
    if count == 0:  # as torch: an empty batch normalises to an empty output and leaves the running stats
        y = input.clone() if weight is None else input * weight.reshape(cshape)
        return y if bias is None else y + bias.reshape(cshape)
    if count == 1:
        raise ValueError(f"{op}: expected more than 1 value per channel when training, got input of shape "
                         f"{tuple(input.shape)}")
    y, mean, var = BatchNormTrain.apply(input, weight, bias, eps=float(eps))
    if running_mean is not None:
        with no_grad():
            running_mean.mul_(1 - momentum).add_(mean * momentum)
            running_var.mul_(1 - momentum).add_(var * (momentum * count / (count - 1)))
    return y


def _check_input(op, input, min_ndim, **params):
    check_tensor(input, "input", op)
    check_float(input, op)
    if input.ndim < min_ndim:
        raise ValueError(f"{op}: expected input (N, C, *) with at least {min_ndim} dims, got {tuple(input.shape)}")
    check_same(op, input, **params)


def _check_channels(op, input, **params):
    c = input.shape[1]
    for name, t in params.items():
        if t is not None and tuple(t.shape) != (c,):
            raise ValueError(f"{op}: {name} of shape {tuple(t.shape)} does not match the {c} channels of "
                             f"input {tuple(input.shape)}")


def _normalize_rows(x, rows, eps):
    """x seen as ``rows`` rows, each normalised with its own mean and biased variance:
    (y of x's shape, mean (rows,), var (rows,))."""
    if not x.numel():
        return x * 1, None, None  # nothing to normalise (an empty batch): an empty result, as PyTorch's
    flat = x.reshape((1, rows, -1))
    y, mean, var = BatchNormTrain.apply(flat, None, None, eps=float(eps))
    return y.reshape(x.shape), mean, var


def _affine(y, weight, bias, shape):
    if weight is not None:
        y = y * weight.reshape(shape)
    return y if bias is None else y + bias.reshape(shape)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalise each (sample, channel) plane of an (N, C, *) input over its own elements, as
    ``torch.nn.functional.instance_norm``.

    ``use_input_stats``: the planes' statistics, and running_mean / running_var (C,), if given, move
    towards their mean over the batch (unbiased variance). Otherwise normalise with the running statistics.
    weight / bias (C,) or None.
    """
    op = "instance_norm"
    _check_input(op, input, 2, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    _check_channels(op, input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: give both running_mean and running_var or neither")
    n, c = input.shape[:2]
    cshape = (1, c) + (1,) * (input.ndim - 2)
    if not use_input_stats:
        if running_mean is None:
            raise ValueError(f"{op}: running_mean and running_var are needed when use_input_stats=False")
        y = (input - running_mean.detach().reshape(cshape)) * (running_var.detach() + eps).rsqrt().reshape(cshape)
        return _affine(y, weight, bias, cshape)
    count = input.numel() // max(n * c, 1)
    if count <= 1:
        raise ValueError(f"{op}: expected more than 1 spatial element when training, got input of shape "
                         f"{tuple(input.shape)}")
    y, mean, var = _normalize_rows(input, n * c, eps)
    if running_mean is not None:
        with no_grad():
            running_mean.mul_(1 - momentum).add_(mean.reshape((n, c)).mean(0) * momentum)
            running_var.mul_(1 - momentum).add_(var.reshape((n, c)).mean(0) * (momentum * count / (count - 1)))
    return _affine(y, weight, bias, cshape)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise each sample of an (N, C, *) input over each of ``num_groups`` groups of C/num_groups
    channels, then scale and shift per channel by weight / bias (C,), as ``torch.nn.functional.group_norm``."""
    op = "group_norm"
    _check_input(op, input, 2, weight=weight, bias=bias)
    _check_channels(op, input, weight=weight, bias=bias)
    if not isinstance(num_groups, int) or num_groups < 1 or input.shape[1] % num_groups:
        raise RuntimeError(f"{op}: expected number of channels in input to be divisible by num_groups, but got "
                           f"input of shape {tuple(input.shape)} and num_groups={num_groups!r}")
    y, _, _ = _normalize_rows(input, input.shape[0] * num_groups, eps)
    return _affine(y, weight, bias, (1, input.shape[1]) + (1,) * (input.ndim - 2))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last ``len(normalized_shape)`` dims (which must equal ``normalized_shape``), then
    scale and shift elementwise by weight / bias of ``normalized_shape``, as
    ``torch.nn.functional.layer_norm``."""
    shape = _normalized_shape("layer_norm", input, normalized_shape, weight=weight, bias=bias)
    size = 1
    for s in shape:
        size *= s
    y, _, _ = _normalize_rows(input, input.numel() // size if size else 0, eps)
    return _affine(y, weight, bias, shape)


# machine epsilon of each float dtype: rms_norm's default eps, as torch.finfo(dtype).eps
_MACHINE_EPS = {"float16": 2.0 ** -10, "float32": 2.0 ** -23, "float64": 2.0 ** -52}


def _normalized_shape(op, input, normalized_shape, **params):
    """``normalized_shape`` as a tuple, checked to end input's shape and to be the shape of ``params``."""
    check_tensor(input, "input", op)
    check_float(input, op)
    check_same(op, input, **params)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise RuntimeError(f"{op}: given normalized_shape={list(shape)}, expected input with shape "
                           f"[*, {', '.join(map(str, shape))}], but got input of size {tuple(input.shape)}")
    for name, t in params.items():
        if t is not None and tuple(t.shape) != shape:
            raise RuntimeError(f"{op}: expected {name} to be of same shape as normalized_shape, but got {name} "
                               f"of shape {tuple(t.shape)} and normalized_shape={list(shape)}")
    return shape


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """``x / sqrt(mean(x^2) + eps) * weight`` over the last ``len(normalized_shape)`` dims, as
    ``torch.nn.functional.rms_norm``; ``eps=None`` is the machine epsilon of input's dtype."""
    shape = _normalized_shape("rms_norm", input, normalized_shape, weight=weight)
    if eps is None:
        eps = _MACHINE_EPS[str(input.dtype).rsplit(".", 1)[-1]]
    dims = tuple(range(input.ndim - len(shape), input.ndim))
    y = input * ((input * input).mean(dims, keepdim=True) + eps).rsqrt()
    return y if weight is None else y * weight


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """``input / max(||input||_p, eps)`` along ``dim``, as ``torch.nn.functional.normalize``;
    ``out``, if given, receives the result (and is returned)."""
    op = "normalize"
    check_tensor(input, "input", op)
    check_float(input, op)
    if not p > 0:
        raise ValueError(f"{op}: p must be positive (or inf), got {p!r}")
    a = input.abs()
    if p == float("inf"):
        denom = amax(a, dim, keepdim=True).clamp(min=eps)
    else:
        # clamped before the root: a zero vector's gradient stays finite (g / eps, as PyTorch's)
        denom = (a ** p).sum(dim, keepdim=True).clamp(min=eps ** p) ** (1.0 / p)
    y = input / denom
    return y if out is None else out.copy_(y)
