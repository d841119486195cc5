"""Batch norm folded into the layer before it, as ``torch.nn.utils.fusion``: in eval mode a BatchNorm
is a per-channel affine map, ``y = (x - mean) * weight / sqrt(var + eps) + bias``, so the convolution or
Linear feeding it can absorb it. The FCN trunks, which have no batch norm, take a ``vgg16_bn``
classifier this way (``lumen.vision.models.backbones``)."""
from __future__ import annotations

import copy

import lumen
from lumen.nn.parameter import Parameter

__all__ = ["fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights"]


def fuse_conv_bn_weights(conv_w, conv_b, bn_rm, bn_rv, bn_eps: float, bn_w, bn_b, transpose: bool = False):
    """(weight, bias) Parameters of the convolution that computes ``bn(conv(x))`` in eval mode.

    ``conv_b``, ``bn_w`` and ``bn_b`` may be None (no bias, no affine). ``transpose``: the weight is a
    transposed convolution's (in, out, ...), whose output channels are its second dimension.
    """
    weight_dtype = conv_w.dtype
    bias_dtype = conv_b.dtype if conv_b is not None else weight_dtype
    conv_b = lumen.zeros_like(bn_rm) if conv_b is None else conv_b
    bn_w = lumen.ones_like(bn_rm) if bn_w is None else bn_w
    bn_b = lumen.zeros_like(bn_rm) if bn_b is None else bn_b
    scale = bn_w * lumen.rsqrt(bn_rv + bn_eps)
    shape = [1, -1] if transpose else [-1, 1]
    shape += [1] * (conv_w.ndim - 2)
    with lumen.no_grad():
        weight = (conv_w * scale.reshape(shape)).to(dtype=weight_dtype)
        bias = ((conv_b - bn_rm) * scale + bn_b).to(dtype=bias_dtype)
    return Parameter(weight, conv_w.requires_grad), Parameter(bias, conv_b.requires_grad)


def fuse_linear_bn_weights(linear_w, linear_b, bn_rm, bn_rv, bn_eps: float, bn_w, bn_b):
    """(weight, bias) Parameters of the Linear that computes ``bn(linear(x))`` in eval mode."""
    weight_dtype = linear_w.dtype
    bias_dtype = linear_b.dtype if linear_b is not None else weight_dtype
    linear_b = lumen.zeros_like(bn_rm) if linear_b is None else linear_b
    scale = bn_w * lumen.rsqrt(bn_rv + bn_eps)
    with lumen.no_grad():
        weight = (linear_w * scale.unsqueeze(-1)).to(dtype=weight_dtype)
        bias = ((linear_b - bn_rm) * scale + bn_b).to(dtype=bias_dtype)
    return Parameter(weight, linear_w.requires_grad), Parameter(bias, linear_b.requires_grad)


def _check_eval(layer, bn):
    if layer.training or bn.training:
        raise AssertionError("Fusion only for eval!")


def _check_stats(bn):
    if bn.running_mean is None or bn.running_var is None:
        raise AssertionError("bn.running_mean and bn.running_var must not be None")


def fuse_conv_bn_eval(conv, bn, transpose: bool = False):
    """A new convolution computing ``bn(conv(x))``; both modules in eval mode, ``bn`` with running stats."""
    _check_eval(conv, bn)
    _check_stats(bn)
    fused = copy.deepcopy(conv)
    fused.weight, fused.bias = fuse_conv_bn_weights(fused.weight, fused.bias, bn.running_mean, bn.running_var,
                                                    bn.eps, bn.weight, bn.bias, transpose)
    return fused


def fuse_linear_bn_eval(linear, bn):
    """A new Linear computing ``bn(linear(x))``; both in eval mode, ``bn`` with running stats and either as
    many features as the Linear's outputs or one (broadcast)."""
    _check_eval(linear, bn)
    if linear.out_features != bn.num_features and bn.num_features != 1:
        raise AssertionError("To fuse, linear.out_features == bn.num_features or bn.num_features == 1, got "
                             f"linear.out_features={linear.out_features} and bn.num_features={bn.num_features}")
    _check_stats(bn)
    fused = copy.deepcopy(linear)
    fused.weight, fused.bias = fuse_linear_bn_weights(fused.weight, fused.bias, bn.running_mean, bn.running_var,
                                                      bn.eps, bn.weight, bn.bias)
    return fused
