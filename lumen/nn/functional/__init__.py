"""Differentiable deep-learning ops with ``torch.nn.functional``'s names and signatures.

Each op is a :class:`lumen.autograd.Function` over the backend primitives (or a composition
of Lumen ops); backward passes are themselves differentiable, so double backward works.
"""
from .activation import log_softmax, relu, softmax
from .conv import conv2d, conv_transpose2d
from .dropout import dropout
from .linear import linear
from .loss import cross_entropy, nll_loss
from .normalization import batch_norm, local_response_norm
from .pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from .vision import crop, interpolate, pad

__all__ = ["conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
           "local_response_norm", "batch_norm", "relu", "softmax", "log_softmax", "dropout", "linear",
           "cross_entropy", "nll_loss", "crop", "interpolate", "pad"]
