"""The top-level functional forms of ``torch`` whose argument order or types differ from
``torch.nn.functional``'s: they follow torch's native (ATen) schemas, which ``torch.<name>`` exposes.

Each is a thin mapping onto the one op in its family: ``torch.dropout(input, p, train)`` with every
argument required, ``torch.batch_norm(input, weight, bias, running_mean, running_var, training,
momentum, eps, cudnn_enabled)``, ``torch.embedding(weight, indices)`` (the reverse of
``F.embedding``; a negative ``padding_idx`` means none), losses whose ``reduction`` is ATen's int
(0 none, 1 mean, 2 sum; any other int reduces nothing, as ATen's ``apply_loss_reduction``; the
default is 0: torch's schemas say ``reduction=Mean`` but its Python bindings read that default as 0, so
``torch.kl_div(x, y)`` returns the unreduced loss, and so does this), and
``torch.max_pool*d``/``adaptive_max_pool1d`` without ``return_indices`` (the latter always returns
(values, indices)). ``cudnn_enable(d)`` selects a torch kernel and has no effect here.
"""
from __future__ import annotations

from . import dropout as _dropout
from . import embedding as _embedding
from . import loss as _loss
from . import normalization as _normalization
from . import pooling as _pooling

__all__ = ["dropout", "dropout_", "alpha_dropout", "alpha_dropout_", "feature_alpha_dropout",
           "feature_alpha_dropout_", "layer_norm", "group_norm", "batch_norm", "instance_norm", "embedding",
           "binary_cross_entropy_with_logits", "cosine_embedding_loss", "hinge_embedding_loss", "kl_div",
           "margin_ranking_loss", "poisson_nll_loss", "triplet_margin_loss", "max_pool1d", "max_pool2d",
           "max_pool3d", "adaptive_max_pool1d", "detach_"]

_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


def _reduction(op, reduction):
    if not isinstance(reduction, int) or isinstance(reduction, bool):
        raise TypeError(f"{op}(): argument 'reduction' must be int (0 none, 1 mean, 2 sum), not "
                        f"{type(reduction).__name__}")
    return _REDUCTIONS.get(reduction, "none")


def dropout(input, p, train):
    return _dropout.dropout(input, p, train)


def dropout_(input, p, train):
    return _dropout.dropout(input, p, train, inplace=True)


def alpha_dropout(input, p, train):
    return _dropout.alpha_dropout(input, p, train)


def alpha_dropout_(input, p, train):
    return _dropout.alpha_dropout(input, p, train, inplace=True)


def feature_alpha_dropout(input, p, train):
    return _dropout.feature_alpha_dropout(input, p, train)


def feature_alpha_dropout_(input, p, train):
    return _dropout.feature_alpha_dropout(input, p, train, inplace=True)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    return _normalization.layer_norm(input, normalized_shape, weight, bias, eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5, cudnn_enabled=True):
    return _normalization.group_norm(input, num_groups, weight, bias, eps)


def batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled):
    return _normalization.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def instance_norm(input, weight, bias, running_mean, running_var, use_input_stats, momentum, eps,
                  cudnn_enabled):
    return _normalization.instance_norm(input, running_mean, running_var, weight, bias, use_input_stats,
                                        momentum, eps)


def embedding(weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    return _embedding.embedding(indices, weight, padding_idx if padding_idx >= 0 else None,
                                scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


def binary_cross_entropy_with_logits(input, target, weight=None, pos_weight=None, reduction=0):
    return _loss.binary_cross_entropy_with_logits(
        input, target, weight, reduction=_reduction("binary_cross_entropy_with_logits", reduction),
        pos_weight=pos_weight)


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction=0):
    return _loss.cosine_embedding_loss(input1, input2, target, margin,
                                       reduction=_reduction("cosine_embedding_loss", reduction))


def hinge_embedding_loss(input, target, margin=1.0, reduction=0):
    return _loss.hinge_embedding_loss(input, target, margin, reduction=_reduction("hinge_embedding_loss", reduction))


def kl_div(input, target, reduction=0, *, log_target=False):
    # ATen's "mean" is over every element, F.kl_div's "mean" without the warning F gives it
    loss = _loss.kl_div(input, target, reduction="none", log_target=log_target)
    return _loss._apply_reduction(loss, _reduction("kl_div", reduction))


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction=0):
    return _loss.margin_ranking_loss(input1, input2, target, margin,
                                     reduction=_reduction("margin_ranking_loss", reduction))


def poisson_nll_loss(input, target, log_input, full, eps, reduction):
    return _loss.poisson_nll_loss(input, target, log_input, full, eps=eps,
                                  reduction=_reduction("poisson_nll_loss", reduction))


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False, reduction=0):
    return _loss.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap,
                                     reduction=_reduction("triplet_margin_loss", reduction))


def max_pool1d(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    return _pooling.max_pool1d(input, kernel_size, stride or None, padding, dilation, ceil_mode)


def max_pool2d(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    return _pooling.max_pool2d(input, kernel_size, stride or None, padding, dilation, ceil_mode)


def max_pool3d(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    return _pooling.max_pool3d(input, kernel_size, stride or None, padding, dilation, ceil_mode)


def adaptive_max_pool1d(input, output_size):
    return _pooling.adaptive_max_pool1d(input, output_size, return_indices=True)


def detach_(input):
    return input.detach_()
