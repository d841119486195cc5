"""What the classifiers and the FCN trunks built from them share: channel scaling and the fc head.

A Linear reading a flattened (C, k, k) map is the same affine map as a k x k convolution
with the weight reshaped (out, C*k*k) -> (out, C, k, k), because ``flatten`` lays NCHW
maps out channel-major exactly as a conv kernel is (the FCN paper's Sec. 3.1). So one
definition of the fully connected head, ``fc_head``, builds it as Linears for a
classifier or as those convolutions for an FCN trunk, and ``copy_into_conv`` moves a
trained Linear's weights into its convolution (net surgery).
"""
from __future__ import annotations

import lumen
from lumen import nn

__all__ = ["scaled_channels", "fc_head", "copy_into_conv", "as_tensor"]


def scaled_channels(c: int, width: float) -> int:
    """``c`` trunk channels times the width multiplier (at least 1)."""
    return max(1, int(round(c * width)))


def fc_head(in_channels: int, kernel: int, hidden: int, dropout: float, num_classes: int | None = None,
            convolutional: bool = False, batch_norm: bool = False) -> list[tuple[str, nn.Module]]:
    """[(Caffe name, layer)] of the VGG/CaffeNet head, in order.

    fc6 reads an (in_channels, kernel, kernel) map into ``hidden`` units -> relu6 -> drop6
    -> fc7 (hidden) -> relu7 -> drop7, then fc8 (num_classes) unless ``num_classes`` is
    None. ``convolutional``: fc6 is a kernel x kernel Conv2d and fc7/fc8 1x1 ones instead
    of Linears, with the same parameter counts. ``batch_norm``: a BatchNorm1d (bn6, bn7)
    after fc6 and fc7, as ``vgg_trunk``'s after its convolutions (Linears only: the FCN trunk
    folds them into its convolutions instead).
    """
    if batch_norm and convolutional:
        raise ValueError("fc_head: batch_norm is for the Linear head; a convolutional head folds it in")

    def fc(n_in, k, n_out):
        return nn.Conv2d(n_in, n_out, k) if convolutional else nn.Linear(n_in * k * k, n_out)

    layers = []
    for i, (n_in, k) in ((6, (in_channels, kernel)), (7, (hidden, 1))):
        layers.append((f"fc{i}", fc(n_in, k, hidden)))
        if batch_norm:
            layers.append((f"bn{i}", nn.BatchNorm1d(hidden)))
        layers += [(f"relu{i}", nn.ReLU(inplace=True)), (f"drop{i}", nn.Dropout(dropout))]
    if num_classes is not None:
        layers.append(("fc8", fc(hidden, 1, num_classes)))
    return layers


def as_tensor(value):
    """A state dict's entry (Tensor or array-like) as a Tensor; a Tensor as it is."""
    return value if isinstance(value, lumen.Tensor) else lumen.tensor(value)


def copy_into_conv(conv: nn.Conv2d, weight, bias, what: str) -> None:
    """Copy a Linear's (out, C*k*k) ``weight`` and (out,) ``bias`` (or a conv's, as they are)
    into ``conv``'s (out, C, k, k) kernel and bias, on its device and dtype.

    ``weight``/``bias``: Tensors or arrays; ``bias`` None where ``conv`` has none. ``what``
    starts the error message when they do not fit.
    """
    weight = as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    bias_shape = None if bias is None else tuple(bias.shape)
    conv_bias_shape = None if conv.bias is None else tuple(conv.bias.shape)
    if weight.numel() != conv.weight.numel() or bias_shape != conv_bias_shape:
        raise ValueError(f"{what}: weight {tuple(weight.shape)} / bias {bias_shape} does not fit the "
                         f"convolution's weight {tuple(conv.weight.shape)} / bias {conv_bias_shape}")
    with lumen.no_grad():
        conv.weight.copy_(weight.detach().reshape(conv.weight.shape).to(
            device=conv.weight.device, dtype=conv.weight.dtype))
        if bias is not None:
            conv.bias.copy_(bias.detach().to(device=conv.bias.device, dtype=conv.bias.dtype))
