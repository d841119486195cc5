"""Caffe's layer types as Lumen modules, with Caffe's test-time semantics.

``build(layer, bottoms, blobs)`` makes the module for one ``LayerParameter`` (a V1 layer
upgraded to its V2 type name): ``bottoms`` are the layer's input Tensors when the net's
input shapes are known (a dry run), ``blobs`` the layer's caffemodel blobs; a layer's
channel counts come from whichever is there, as Caffe infers them from its bottoms.
Parameters are named ``weight`` / ``bias`` (``running_mean`` / ``running_var`` for
BatchNorm), so a net's ``state_dict`` keys are ``<layer>.weight`` and ``<layer>.bias``.
Each module's ``forward(*bottoms)`` returns a tuple of its tops.

Where Caffe and PyTorch agree the module is PyTorch's (``nn.Conv2d``, ``nn.ConvTranspose2d``
(Caffe's Deconvolution weight is (C_in, C_out/group, kh, kw), as PyTorch's),
``nn.LocalResponseNorm`` (Caffe's ACROSS_CHANNELS: x / (k + alpha/n sum x^2)^beta),
pooling with ``ceil_mode`` and ``count_include_pad``: Caffe's pooled size is
ceil((H + 2p - k) / s) + 1, less one when the last window starts in the padding, and its
average divides by the window clipped to the padded input, both exactly PyTorch's rules; they
differ only for an unpadded kernel smaller than its stride, where Caffe keeps a last window
lying wholly past the input).
"""
from __future__ import annotations

import math

import lumen
from lumen import nn
from lumen.nn import functional as F

__all__ = ["build", "CaffeLayerError", "DATA_LAYERS", "LAYER_TYPES"]

#: Layer types whose tops are the net's inputs (their data sources are not part of the net).
DATA_LAYERS = ("Input", "DummyData", "Data", "ImageData", "HDF5Data", "MemoryData", "WindowData", "Python")


class CaffeLayerError(ValueError):
    """A layer of a net definition that Lumen cannot build (unsupported or malformed)."""


def _fail(layer, what):
    raise CaffeLayerError(f"caffe: layer {layer.name!r} ({layer.type}): {what}")


def _axis(axis, ndim, layer):
    if not -ndim <= axis < ndim:
        _fail(layer, f"axis {axis} is out of range for a {ndim}-d bottom")
    return axis % ndim


def _hw(param, name, layer, default=None, repeated=True):
    """Caffe's 2-d spatial parameter: ``name_h``/``name_w``, or ``name`` (``kernel_size`` for
    the kernel) once or per dim."""
    h, w = f"{name}_h", f"{name}_w"
    name = "kernel_size" if name == "kernel" else name
    if param.HasField(h) or param.HasField(w):
        if not (param.HasField(h) and param.HasField(w)):
            _fail(layer, f"{h} and {w} must be given together")
        return getattr(param, h), getattr(param, w)
    values = list(getattr(param, name)) if repeated else (
        [getattr(param, name)] if param.HasField(name) else [])
    if not values:
        if default is None:
            _fail(layer, f"{name} is required")
        return default, default
    if len(values) == 1:
        return values[0], values[0]
    if len(values) == 2:
        return tuple(values)
    _fail(layer, f"{name} has {len(values)} values; only 2-d layers are supported")


# ---- fillers: initial values when no caffemodel gives them (Caffe's filler.hpp) -----------

def fill(tensor, filler, default_type="constant", default_value=0.0):
    """Fill ``tensor`` in place as Caffe's ``FillerParameter`` ``filler`` (None: the layer's default)."""
    kind = filler.type if filler is not None else default_type
    with lumen.no_grad():
        if kind == "constant":
            tensor.fill_(filler.value if filler is not None else default_value)
        elif kind == "uniform":
            nn.init.uniform_(tensor, filler.min, filler.max)
        elif kind == "gaussian":
            nn.init.normal_(tensor, filler.mean, filler.std)
        elif kind in ("xavier", "msra"):
            count = tensor.numel()
            fan_in, fan_out = count / tensor.shape[0], count / (tensor.shape[1] if tensor.ndim > 1 else 1)
            n = {0: fan_in, 1: fan_out, 2: (fan_in + fan_out) / 2}[filler.variance_norm]
            if kind == "xavier":
                bound = math.sqrt(3.0 / n)
                nn.init.uniform_(tensor, -bound, bound)
            else:
                nn.init.normal_(tensor, 0.0, math.sqrt(2.0 / n))
        elif kind == "bilinear":
            if tensor.ndim != 4:
                raise CaffeLayerError(f"caffe: the bilinear filler needs a 4-d weight, got {tuple(tensor.shape)}")
            tensor.copy_(nn.init.bilinear_kernel(*tensor.shape[2:]).to(tensor.dtype).expand(tensor.shape))
        else:
            raise CaffeLayerError(f"caffe: filler type {kind!r} is not supported (constant, uniform, "
                                  "gaussian, xavier, msra, bilinear)")


# ---- layers with Caffe semantics PyTorch's modules do not have ---------------------------

class InnerProduct(nn.Module):
    """Caffe's InnerProduct: the bottom flattened from ``axis`` times ``weight`` (num_output, K).

    ``transpose``: the weight is stored (K, num_output). Output: bottom.shape[:axis] + (num_output,).
    """

    def __init__(self, in_features, out_features, bias=True, axis=1, transpose=False):
        super().__init__()
        self.axis, self.transpose = axis, transpose
        shape = (in_features, out_features) if transpose else (out_features, in_features)
        self.weight = nn.Parameter(lumen.zeros(shape))
        self.bias = nn.Parameter(lumen.zeros(out_features)) if bias else None

    def forward(self, x):
        x = x.reshape(tuple(x.shape[:self.axis]) + (-1,))
        return (F.linear(x, self.weight.t() if self.transpose else self.weight, self.bias),)

    def extra_repr(self):
        return f"axis={self.axis}, transpose={self.transpose}"


class Pooling(nn.Module):
    """Caffe's Pooling (MAX or AVE; ``global_pooling`` pools each whole map)."""

    def __init__(self, method, kernel, stride, pad, ceil_mode, global_pooling):
        super().__init__()
        self.method, self.kernel, self.stride, self.pad = method, kernel, stride, pad
        self.ceil_mode, self.global_pooling = ceil_mode, global_pooling

    def forward(self, x):
        kernel = tuple(x.shape[2:]) if self.global_pooling else self.kernel
        if self.method == "MAX":
            return (F.max_pool2d(x, kernel, self.stride, self.pad, ceil_mode=self.ceil_mode),)
        return (F.avg_pool2d(x, kernel, self.stride, self.pad, ceil_mode=self.ceil_mode,
                             count_include_pad=True),)

    def extra_repr(self):
        return (f"{self.method}, kernel={'global' if self.global_pooling else self.kernel}, "
                f"stride={self.stride}, pad={self.pad}, ceil_mode={self.ceil_mode}")


class LRNWithinChannel(nn.Module):
    """Caffe's LRN WITHIN_CHANNEL: x * (1 + alpha * mean of x^2 over a size x size window)^-beta
    (zero-padded, the mean always over size^2 values, as Caffe's average pooling)."""

    def __init__(self, size, alpha, beta):
        super().__init__()
        self.size, self.alpha, self.beta = size, alpha, beta

    def forward(self, x):
        mean_sq = F.avg_pool2d(x * x, self.size, 1, (self.size - 1) // 2, count_include_pad=True)
        return (x * (1 + self.alpha * mean_sq) ** (-self.beta),)


class SoftmaxWithLoss(nn.Module):
    """Caffe's SoftmaxWithLoss: softmax cross-entropy over ``axis``, labels a float or int blob.

    ``normalization``: VALID (divide by the labels not ignored), FULL (by every label),
    BATCH_SIZE (by the outer count, N for (N, C, H, W)) or NONE. Tops: the loss, and the
    probabilities when a second top is named.
    """

    def __init__(self, axis, ignore_label, normalization, loss_weight=1.0):
        super().__init__()
        self.axis, self.ignore_label, self.normalization = axis, ignore_label, normalization
        self.loss_weight = loss_weight

    def forward(self, score, label):
        logits = score.movedim(self.axis, -1).reshape(-1, score.shape[self.axis])
        target = label.reshape(-1).long()
        ignore = -100 if self.ignore_label is None else self.ignore_label
        total = F.cross_entropy(logits, target, ignore_index=ignore, reduction="sum")
        if self.normalization == "VALID":
            count = target.numel() if self.ignore_label is None else int((target != ignore).sum().item())
        elif self.normalization == "FULL":
            count = target.numel()
        elif self.normalization == "BATCH_SIZE":
            count = math.prod(score.shape[:self.axis])
        else:
            count = 1
        return (total * self.loss_weight / max(count, 1), F.softmax(score, dim=self.axis))


class Accuracy(nn.Module):
    """Caffe's Accuracy: the fraction of labels among the ``top_k`` scores over ``axis``."""

    def __init__(self, top_k, axis, ignore_label):
        super().__init__()
        self.top_k, self.axis, self.ignore_label = top_k, axis, ignore_label

    def forward(self, score, label):
        logits = score.movedim(self.axis, -1).reshape(-1, score.shape[self.axis])
        target = label.reshape(-1).long()
        hit = (logits.topk(self.top_k, dim=1).indices == target.unsqueeze(1)).any(dim=1)
        if self.ignore_label is not None:
            keep = target != self.ignore_label
            return ((hit & keep).sum().float() / keep.sum().clamp(min=1).float(),)
        return (hit.float().mean(),)


class Eltwise(nn.Module):
    """Caffe's Eltwise: SUM (each bottom times its ``coeff``), PROD or MAX of the bottoms."""

    def __init__(self, operation, coeffs):
        super().__init__()
        self.operation, self.coeffs = operation, coeffs

    def forward(self, *xs):
        if self.operation == "SUM":
            coeffs = self.coeffs or [1.0] * len(xs)
            out = xs[0] * coeffs[0] if coeffs[0] != 1 else xs[0]
            for c, x in zip(coeffs[1:], xs[1:]):
                out = out + (x * c if c != 1 else x)
            return (out,)
        out = xs[0]
        for x in xs[1:]:
            out = out * x if self.operation == "PROD" else lumen.maximum(out, x)
        return (out,)

    def extra_repr(self):
        return f"{self.operation}, coeffs={self.coeffs}"


class Concat(nn.Module):
    def __init__(self, axis):
        super().__init__()
        self.axis = axis

    def forward(self, *xs):
        return (lumen.cat(list(xs), self.axis),)


class Crop(nn.Module):
    """Caffe's Crop: bottom 0 cut to bottom 1's shape on the axes from ``axis`` on, starting at
    ``offsets`` (one for every cropped axis, or one per axis)."""

    def __init__(self, axis, offsets, name):
        super().__init__()
        self.axis, self.offsets, self._name = axis, offsets, name

    def forward(self, x, ref):
        axis = self.axis % x.ndim
        cropped = range(axis, x.ndim)
        offsets = self.offsets or [0]
        if len(offsets) not in (1, len(cropped)):
            raise CaffeLayerError(f"caffe: layer {self._name!r} (Crop): {len(offsets)} offsets for "
                                  f"{len(cropped)} cropped axes")
        for i, dim in enumerate(cropped):
            off = offsets[0] if len(offsets) == 1 else offsets[i]
            if off + ref.shape[dim] > x.shape[dim]:
                raise CaffeLayerError(f"caffe: layer {self._name!r} (Crop): a {tuple(ref.shape)} crop at "
                                      f"offset {off} does not fit bottom {tuple(x.shape)} on axis {dim}")
            x = x.narrow(dim, off, ref.shape[dim])
        return (x,)


class Reshape(nn.Module):
    """Caffe's Reshape: axes [axis, axis + num_axes) replaced by ``shape`` (0 keeps a dim, -1 infers one)."""

    def __init__(self, dims, axis, num_axes):
        super().__init__()
        self.dims, self.axis, self.num_axes = dims, axis, num_axes

    def forward(self, x):
        start = self.axis if self.axis >= 0 else x.ndim + 1 + self.axis
        end = x.ndim if self.num_axes == -1 else start + self.num_axes
        dims = [x.shape[start + i] if d == 0 else d for i, d in enumerate(self.dims)]
        return (x.reshape(tuple(x.shape[:start]) + tuple(dims) + tuple(x.shape[end:])),)


class Flatten(nn.Module):
    def __init__(self, axis, end_axis):
        super().__init__()
        self.axis, self.end_axis = axis, end_axis

    def forward(self, x):
        return (x.flatten(self.axis, self.end_axis),)


class Power(nn.Module):
    """Caffe's Power: (shift + scale * x) ^ power."""

    def __init__(self, power, scale, shift):
        super().__init__()
        self.power, self.scale, self.shift = power, scale, shift

    def forward(self, x):
        y = x * self.scale + self.shift if (self.scale, self.shift) != (1.0, 0.0) else x
        return (y ** self.power if self.power != 1.0 else y,)


def _broadcast(param, x, axis):
    """``param`` (covering x's axes [axis, axis + param.ndim)) shaped to broadcast against x."""
    return param.reshape(tuple(param.shape) + (1,) * (x.ndim - axis - param.ndim))


class Scale(nn.Module):
    """Caffe's Scale: x times ``weight`` (a learned blob over x's axes from ``axis``) or times bottom 1,
    plus ``bias`` when ``bias_term``."""

    def __init__(self, axis, shape, bias):
        super().__init__()
        self.axis = axis
        self.weight = None if shape is None else nn.Parameter(lumen.ones(shape))
        self.bias = nn.Parameter(lumen.zeros(shape)) if bias else None

    def forward(self, x, *factor):
        axis = self.axis % x.ndim
        scale = factor[0] if factor else self.weight
        y = x * (_broadcast(scale, x, axis) if scale.ndim else scale)
        if self.bias is not None:
            y = y + (_broadcast(self.bias, x, axis) if self.bias.ndim else self.bias)
        return (y,)


class Bias(nn.Module):
    """Caffe's Bias: x plus ``bias`` (a learned blob over x's axes from ``axis``) or plus bottom 1."""

    def __init__(self, axis, shape):
        super().__init__()
        self.axis = axis
        self.bias = None if shape is None else nn.Parameter(lumen.zeros(shape))

    def forward(self, x, *term):
        axis = self.axis % x.ndim
        b = term[0] if term else self.bias
        return (x + (_broadcast(b, x, axis) if b.ndim else b),)


class BatchNorm(nn.Module):
    """Caffe's BatchNorm (no affine part: a Scale layer follows it in Caffe nets).

    Caffe's blobs are the running sums of the mean and variance and their total weight;
    they are stored here divided by it, as ``running_mean`` / ``running_var``. Batch
    statistics are used in training mode unless ``use_global_stats`` says otherwise.
    """

    def __init__(self, channels, eps, momentum, use_global_stats):
        super().__init__()
        self.eps, self.momentum, self.use_global_stats = eps, momentum, use_global_stats
        self.register_buffer("running_mean", lumen.zeros(channels))
        self.register_buffer("running_var", lumen.ones(channels))

    def forward(self, x):
        batch_stats = self.training if self.use_global_stats is None else not self.use_global_stats
        return (F.batch_norm(x, self.running_mean, self.running_var, training=batch_stats,
                             momentum=self.momentum, eps=self.eps),)


class _Wrap(nn.Module):
    """A one-bottom PyTorch module whose one output is the layer's one top."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, x):
        return (self.module(x),)


class Split(nn.Module):
    def __init__(self, copies):
        super().__init__()
        self.copies = copies

    def forward(self, x):
        return (x,) * self.copies


class Silence(nn.Module):
    def forward(self, *xs):
        return ()


# ---- the builders ------------------------------------------------------------------------

def _conv(layer, bottoms, blobs, transposed):
    p = layer.convolution_param
    if p.axis != 1:
        _fail(layer, f"axis {p.axis} is not supported (channels on axis 1 only)")
    if not p.HasField("num_output"):
        _fail(layer, "num_output is required")
    kernel = _hw(p, "kernel", layer)
    stride = _hw(p, "stride", layer, default=1)
    pad = _hw(p, "pad", layer, default=0)
    dilation = tuple(p.dilation) * (2 if len(p.dilation) == 1 else 1) if p.dilation else (1, 1)
    if len(dilation) != 2:
        _fail(layer, f"dilation has {len(p.dilation)} values; only 2-d layers are supported")
    group = p.group
    if blobs:
        in_channels = blobs[0].shape[0] if transposed else blobs[0].shape[1] * group
    elif bottoms:
        if bottoms[0].ndim != 4:
            _fail(layer, f"needs a 4-d (N, C, H, W) bottom, got {tuple(bottoms[0].shape)}")
        in_channels = bottoms[0].shape[1]
    else:
        _fail(layer, "its input channels are unknown: give a caffemodel or input shapes")
    if in_channels % group or p.num_output % group:
        _fail(layer, f"group {group} does not divide {in_channels} input / {p.num_output} output channels")
    cls = nn.ConvTranspose2d if transposed else nn.Conv2d
    module = cls(in_channels, p.num_output, kernel, stride=stride, padding=pad, dilation=dilation,
                 groups=group, bias=p.bias_term)
    if not blobs:  # trained blobs overwrite the start values
        fill(module.weight, p.weight_filler if p.HasField("weight_filler") else None)
        if p.bias_term:
            fill(module.bias, p.bias_filler if p.HasField("bias_filler") else None)
    return module


def _inner_product(layer, bottoms, blobs):
    p = layer.inner_product_param
    if not p.HasField("num_output"):
        _fail(layer, "num_output is required")
    if blobs:
        w = blobs[0].shape
        in_features = w[0] if p.transpose else math.prod(w[1:])
    elif bottoms:
        in_features = math.prod(bottoms[0].shape[_axis(p.axis, bottoms[0].ndim, layer):])
    else:
        _fail(layer, "its input size is unknown: give a caffemodel or input shapes")
    module = InnerProduct(in_features, p.num_output, p.bias_term, p.axis, p.transpose)
    if not blobs:
        fill(module.weight, p.weight_filler if p.HasField("weight_filler") else None)
        if p.bias_term:
            fill(module.bias, p.bias_filler if p.HasField("bias_filler") else None)
    return module


def _pooling(layer):
    p = layer.pooling_param
    method = type(p).PoolMethod.Name(p.pool)
    if method == "STOCHASTIC":
        _fail(layer, "STOCHASTIC pooling is not supported")
    kernel = (0, 0) if p.global_pooling else _hw(p, "kernel", layer, repeated=False)
    stride = _hw(p, "stride", layer, default=1, repeated=False)
    pad = _hw(p, "pad", layer, default=0, repeated=False)
    return Pooling(method, kernel, stride, pad, p.round_mode == 0, p.global_pooling)


def _lrn(layer):
    p = layer.lrn_param
    if p.local_size % 2 == 0:
        _fail(layer, f"local_size must be odd, got {p.local_size}")
    if p.norm_region == 0:
        return _Wrap(nn.LocalResponseNorm(p.local_size, alpha=p.alpha, beta=p.beta, k=p.k))
    return LRNWithinChannel(p.local_size, p.alpha, p.beta)


def _learned_shape(layer, blobs, bottoms, axis, num_axes):
    """The shape of a Scale/Bias layer's learned blob: from the caffemodel, else the bottom's axes."""
    if blobs:
        return tuple(blobs[0].shape)
    if not bottoms:
        _fail(layer, "its parameter shape is unknown: give a caffemodel or input shapes")
    x = bottoms[0]
    start = _axis(axis, x.ndim, layer) if x.ndim else 0
    end = x.ndim if num_axes == -1 else start + num_axes
    return tuple(x.shape[start:end])


def _scale(layer, bottoms, blobs):
    p = layer.scale_param
    if len(layer.bottom) > 1:
        if p.bias_term:
            _fail(layer, "bias_term with two bottoms is not supported")
        return Scale(p.axis, None, False)
    module = Scale(p.axis, _learned_shape(layer, blobs, bottoms, p.axis, p.num_axes), p.bias_term)
    fill(module.weight, p.filler if p.HasField("filler") else None, default_value=1.0)
    if p.bias_term:
        fill(module.bias, p.bias_filler if p.HasField("bias_filler") else None)
    return module


def _bias(layer, bottoms, blobs):
    p = layer.bias_param
    if len(layer.bottom) > 1:
        return Bias(p.axis, None)
    module = Bias(p.axis, _learned_shape(layer, blobs, bottoms, p.axis, p.num_axes))
    fill(module.bias, p.filler if p.HasField("filler") else None)
    return module


def _batch_norm(layer, bottoms, blobs):
    p = layer.batch_norm_param
    if blobs:
        channels = blobs[0].shape[0]
    elif bottoms:
        channels = bottoms[0].shape[1]
    else:
        _fail(layer, "its channel count is unknown: give a caffemodel or input shapes")
    return BatchNorm(channels, p.eps, 1.0 - p.moving_average_fraction,
                     p.use_global_stats if p.HasField("use_global_stats") else None)


def _loss_normalization(layer):
    p = layer.loss_param
    if not p.HasField("normalization") and p.HasField("normalize"):
        return "VALID" if p.normalize else "BATCH_SIZE"
    return type(p).NormalizationMode.Name(p.normalization)


def _softmax_loss(layer):
    p = layer.loss_param
    weight = layer.loss_weight[0] if layer.loss_weight else 1.0
    return SoftmaxWithLoss(layer.softmax_param.axis, p.ignore_label if p.HasField("ignore_label") else None,
                           _loss_normalization(layer), weight)


def _accuracy(layer):
    p = layer.accuracy_param
    return Accuracy(p.top_k, p.axis, p.ignore_label if p.HasField("ignore_label") else None)


def _eltwise(layer):
    p = layer.eltwise_param
    op = type(p).EltwiseOp.Name(p.operation)
    if p.coeff and (op != "SUM" or len(p.coeff) != len(layer.bottom)):
        _fail(layer, f"coeff needs the SUM operation and one value per bottom ({len(layer.bottom)}), "
                     f"got {op} with {len(p.coeff)}")
    return Eltwise(op, list(p.coeff))


def _concat(layer):
    p = layer.concat_param
    return Concat(p.axis if p.HasField("axis") or not p.HasField("concat_dim") else p.concat_dim)


def _relu(layer):
    slope = layer.relu_param.negative_slope
    return _Wrap(nn.LeakyReLU(slope) if slope else nn.ReLU())


_BUILDERS = {
    "Convolution": lambda layer, bottoms, blobs: _conv(layer, bottoms, blobs, transposed=False),
    "Deconvolution": lambda layer, bottoms, blobs: _conv(layer, bottoms, blobs, transposed=True),
    "InnerProduct": _inner_product,
    "Scale": _scale,
    "Bias": _bias,
    "BatchNorm": _batch_norm,
    "Pooling": lambda layer, bottoms, blobs: _pooling(layer),
    "LRN": lambda layer, bottoms, blobs: _lrn(layer),
    "ReLU": lambda layer, bottoms, blobs: _relu(layer),
    "Sigmoid": lambda layer, bottoms, blobs: _Wrap(nn.Sigmoid()),
    "TanH": lambda layer, bottoms, blobs: _Wrap(nn.Tanh()),
    "Dropout": lambda layer, bottoms, blobs: _Wrap(nn.Dropout(layer.dropout_param.dropout_ratio)),
    "Softmax": lambda layer, bottoms, blobs: _Wrap(nn.Softmax(dim=layer.softmax_param.axis)),
    "SoftmaxWithLoss": lambda layer, bottoms, blobs: _softmax_loss(layer),
    "Accuracy": lambda layer, bottoms, blobs: _accuracy(layer),
    "Eltwise": lambda layer, bottoms, blobs: _eltwise(layer),
    "Concat": lambda layer, bottoms, blobs: _concat(layer),
    "Crop": lambda layer, bottoms, blobs: Crop(layer.crop_param.axis, list(layer.crop_param.offset), layer.name),
    "Power": lambda layer, bottoms, blobs: Power(layer.power_param.power, layer.power_param.scale,
                                                 layer.power_param.shift),
    "Flatten": lambda layer, bottoms, blobs: Flatten(layer.flatten_param.axis, layer.flatten_param.end_axis),
    "Reshape": lambda layer, bottoms, blobs: Reshape(list(layer.reshape_param.shape.dim),
                                                     layer.reshape_param.axis, layer.reshape_param.num_axes),
    "Split": lambda layer, bottoms, blobs: Split(len(layer.top)),
    "Silence": lambda layer, bottoms, blobs: Silence(),
}

#: The layer types ``build`` supports besides the data layers.
LAYER_TYPES = tuple(_BUILDERS)
#: The ones whose modules take a caffemodel's blobs (the others have none to take).
LEARNED_TYPES = frozenset({"Convolution", "Deconvolution", "InnerProduct", "Scale", "Bias", "BatchNorm"})

# (bottoms, tops) each type takes: (min, max), max None for any number.
_ARITY = {"Eltwise": ((2, None), (1, 1)), "Concat": ((1, None), (1, 1)), "Crop": ((2, 2), (1, 1)),
          "SoftmaxWithLoss": ((2, 2), (1, 2)), "Accuracy": ((2, 2), (1, 1)), "Split": ((1, 1), (1, None)),
          "Silence": ((1, None), (0, 0)), "Scale": ((1, 2), (1, 1)), "Bias": ((1, 2), (1, 1))}


def build(layer, bottoms=None, blobs=None) -> nn.Module:
    """The module for ``layer`` (its ``type`` a V2 name); see the module docstring."""
    if layer.type not in _BUILDERS:
        _fail(layer, f"layer type {layer.type!r} is not supported; supported: "
                     f"{', '.join(sorted(_BUILDERS) + list(DATA_LAYERS))}")
    (b_min, b_max), (t_min, t_max) = _ARITY.get(layer.type, ((1, 1), (1, 1)))
    nb, nt = len(layer.bottom), len(layer.top)
    if not (b_min <= nb and (b_max is None or nb <= b_max)) or not (t_min <= nt and (t_max is None or nt <= t_max)):
        _fail(layer, f"takes {b_min}..{b_max or 'any'} bottoms and {t_min}..{t_max or 'any'} tops, "
                     f"got {nb} and {nt}")
    return _BUILDERS[layer.type](layer, bottoms, blobs)
