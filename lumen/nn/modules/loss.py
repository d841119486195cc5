"""Loss layers."""
from __future__ import annotations

import lumen
from lumen.nn import functional as F
from lumen.nn.module import Module

__all__ = ["CrossEntropyLoss", "NLLLoss"]

_REDUCTIONS = ("none", "mean", "sum")


class _WeightedLoss(Module):
    def __init__(self, weight, reduction):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        if weight is not None and not isinstance(weight, lumen.Tensor):
            raise TypeError(f"{type(self).__name__}: weight must be a lumen.Tensor of shape (C,) or None, "
                            f"got {type(weight).__name__}")
        self.register_buffer("weight", weight)
        self.reduction = reduction


class CrossEntropyLoss(_WeightedLoss):
    """Fused log-softmax + NLL. input (N, C, ...) float, target (N, ...) int64 class indices.

    ``reduction="sum"`` with ``ignore_index=255`` is Caffe's
    ``SoftmaxWithLoss(normalize=False, ignore_label=255)`` used by FCN.
    """

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities. input (N, C, ...), target (N, ...) int64."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)
