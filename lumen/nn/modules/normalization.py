"""``BatchNorm2d`` and ``LocalResponseNorm``."""
from __future__ import annotations

import lumen
from lumen.nn import functional as F
from lumen.nn import init
from lumen.nn.module import Module
from lumen.nn.parameter import Parameter

__all__ = ["BatchNorm2d", "LocalResponseNorm"]


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


class BatchNorm2d(Module):
    """Batch normalisation over (N, H, W) for each channel of a (N, C, H, W) input.

    Parameters ``weight`` (C,) when ``affine``, and ``bias`` (C,) unless ``bias=False``; buffers ``running_mean``,
    ``running_var`` (C,) and ``num_batches_tracked`` (int64 scalar) when
    ``track_running_stats``. ``momentum=None`` uses a cumulative moving average.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None, dtype=None,
                 *, bias: bool = True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(lumen.ones((num_features,), dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(lumen.zeros((num_features,), dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
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
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input):
        # The 4-d rule is the layer's own (F.batch_norm takes any (N, C, *)); channels, dtypes and devices
        # are checked by F.batch_norm against the parameters and buffers.
        if isinstance(input, lumen.Tensor) and input.ndim != 4:
            raise ValueError(f"BatchNorm2d expects a 4-d (N, C, H, W) input, got shape {tuple(input.shape)}")
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

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, track_running_stats={self.track_running_stats}")
