"""Normalisation layers: ``BatchNorm1d/2d/3d``, ``InstanceNorm1d/2d/3d``, ``GroupNorm``, ``LayerNorm``, ``RMSNorm`` and
``LocalResponseNorm``, with PyTorch's parameters, buffers, input checks and reprs."""
from __future__ import annotations

import numbers
import warnings

import lumen
from lumen.nn import functional as F
from lumen.nn import init
from lumen.nn.module import Module
from lumen.nn.parameter import Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
           "GroupNorm", "LayerNorm", "RMSNorm", "LocalResponseNorm"]


class LocalResponseNorm(Module):
    """Cross-channel LRN (AlexNet, GoogLeNet): ``y = x / (k + alpha/size * sum x^2)^beta``.

    PyTorch's definition (alpha divided by ``size``); Caffe's ACROSS_CHANNELS LRN
    with ``local_size=size`` is the same formula.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input):
        return F.local_response_norm(input, self.size, alpha=self.alpha, beta=self.beta, k=self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


def _add_affine(module, affine, bias, shape, device, dtype):
    """``weight`` (ones of ``shape``) and ``bias`` (zeros, when ``bias``) on ``module`` if ``affine``, else None."""
    module.register_parameter("weight", Parameter(lumen.ones(shape, dtype=dtype, device=device)) if affine else None)
    module.register_parameter("bias", Parameter(lumen.zeros(shape, dtype=dtype, device=device))
                              if affine and bias else None)


def _reset_affine(module):
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)


class _NormBase(Module):
    """Per-channel normalisation state: ``weight`` (C,) when ``affine`` and ``bias`` (C,) unless
    ``bias=False``; buffers ``running_mean``, ``running_var`` (C,) and ``num_batches_tracked`` (int64
    scalar) when ``track_running_stats``. ``momentum=None`` uses a cumulative moving average."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        _add_affine(self, affine, bias, (num_features,), device, dtype)
        if track_running_stats:
            self.register_buffer("running_mean", lumen.zeros((num_features,), dtype=dtype, device=device))
            self.register_buffer("running_var", lumen.ones((num_features,), dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked",
                                 lumen.tensor(0, dtype=lumen.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            with lumen.no_grad():
                self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        _reset_affine(self)

    def _check_input_dim(self, input):
        raise NotImplementedError

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    """Batch normalisation over the batch and spatial dims, per channel (dim 1)."""

    dims = ()  # the input ranks the layer takes

    def _check_input_dim(self, input):
        if isinstance(input, lumen.Tensor) and input.ndim not in self.dims:
            got = " or ".join(f"{d}D" for d in self.dims)
            raise ValueError(f"{type(self).__name__}: expected {got} input (got {input.ndim}D input of shape "
                             f"{tuple(input.shape)})")

    def forward(self, input):
        # Channels, dtypes and devices are checked by F.batch_norm against the parameters and buffers.
        self._check_input_dim(input)
        track = self.training and self.track_running_stats
        factor = 0.0 if self.momentum is None else self.momentum
        if track and self.momentum is None:
            factor = 1.0 / (float(self.num_batches_tracked.item()) + 1)
        # Batch statistics in training, or when there are no running statistics to use.
        use_batch_stats = self.training or self.running_mean is None
        y = F.batch_norm(
            input,
            self.running_mean if not self.training or self.track_running_stats else None,
            self.running_var if not self.training or self.track_running_stats else None,
            weight=self.weight, bias=self.bias, training=use_batch_stats, momentum=factor,
            eps=self.eps)
        if track:
            with lumen.no_grad():
                self.num_batches_tracked.add_(1)
        return y


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs, per channel."""

    dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs over (N, H, W), per channel."""

    dims = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) inputs over (N, D, H, W), per channel."""

    dims = (5,)


class _InstanceNorm(_NormBase):
    """Each (sample, channel) plane normalised over its own elements. PyTorch's defaults: no affine
    parameters and no running statistics; with ``track_running_stats`` eval mode uses them."""

    spatial = 0  # spatial dims of an input: batched inputs have spatial + 2 dims, unbatched spatial + 1

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None, *, bias: bool = True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)

    def _check_input_dim(self, input):
        if input.ndim not in (self.spatial + 1, self.spatial + 2):
            raise ValueError(f"{type(self).__name__}: expected {self.spatial + 1}D or {self.spatial + 2}D input "
                             f"(got {input.ndim}D input of shape {tuple(input.shape)})")

    def forward(self, input):
        self._check_input_dim(input)
        feature_dim = input.ndim - (self.spatial + 1)
        if input.shape[feature_dim] != self.num_features:
            if self.affine:
                raise ValueError(f"{type(self).__name__}: expected input's size at dim={feature_dim} to match "
                                 f"num_features ({self.num_features}), but got: {input.shape[feature_dim]}.")
            warnings.warn(f"input's size at dim={feature_dim} does not match num_features. You can silence this "
                          f"warning by not passing in num_features, which is not used because affine=False",
                          UserWarning, stacklevel=3)
        unbatched = input.ndim == self.spatial + 1
        x = input.unsqueeze(0) if unbatched else input
        y = F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training or not self.track_running_stats,
                            self.momentum if self.momentum is not None else 0.0, self.eps)
        return y.squeeze(0) if unbatched else y


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or (C, L) inputs."""

    spatial = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or (C, H, W) inputs."""

    spatial = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) or (C, D, H, W) inputs."""

    spatial = 3


class GroupNorm(Module):
    """Each sample normalised over each of ``num_groups`` groups of channels, then scaled and shifted
    per channel by ``weight`` / ``bias`` (C,) when ``affine``."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, device=None,
                 dtype=None, *, bias: bool = True):
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        _add_affine(self, affine, bias, (num_channels,), device, dtype)

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input):
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class LayerNorm(Module):
    """Normalisation over the last dims (``normalized_shape``), then an elementwise ``weight`` and ``bias``
    of that shape when ``elementwise_affine`` (``bias=False``: weight only)."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _add_affine(self, elementwise_affine, bias, self.normalized_shape, device, dtype)

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class RMSNorm(Module):
    """``x / sqrt(mean(x^2) + eps)`` over the last dims (``normalized_shape``), times an elementwise
    ``weight`` of that shape when ``elementwise_affine``; ``eps=None``: the dtype's machine epsilon."""

    def __init__(self, normalized_shape, eps: float | None = None, elementwise_affine: bool = True, device=None,
                 dtype=None):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        self.register_parameter("weight", Parameter(lumen.ones(self.normalized_shape, dtype=dtype, device=device))
                                if elementwise_affine else None)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, input):
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
