"""Differentiable deep-learning ops with ``torch.nn.functional``'s names and signatures.

Re-exports: each op lives once in ``lumen.ops.<family>`` (its function, its Functions' forward and
backward, its backend calls); backward passes are themselves differentiable, so double backward works.
"""
from lumen.ops.activation import leaky_relu, log_softmax, relu, softmax
from lumen.ops.conv import conv2d, conv_transpose2d
from lumen.ops.dropout import dropout
from lumen.ops.linear import linear
from lumen.ops.loss import cross_entropy, nll_loss
from lumen.ops.normalization import batch_norm, local_response_norm
from lumen.ops.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from lumen.ops.resample import crop, interpolate
from lumen.ops.shape import pad

__all__ = ["conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
           "local_response_norm", "batch_norm", "relu", "leaky_relu", "softmax", "log_softmax", "dropout", "linear",
           "cross_entropy", "nll_loss", "crop", "interpolate", "pad"]
