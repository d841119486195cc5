"""Net surgery: turn a trained classifier into its fully convolutional form (FCN paper, Sec. 3.1).

A Linear layer reading a flattened (C, k, k) map is the same affine map as a k x k
convolution with the weight reshaped (``layers.copy_into_conv``). Applied
to the classifier of AlexNet/CaffeNet (fc6: 6x6 kernel) or VGG (fc6: 7x7), with
fc7/fc8 as 1x1 convolutions and the adaptive pooling dropped, the net takes any
image at least as large as its canonical input and returns a map of class scores.
"""
from __future__ import annotations

import copy
from collections import OrderedDict

from lumen import nn
from lumen.vision.models.alexnet import AlexNet, CaffeNet
from lumen.vision.models.layers import copy_into_conv
from lumen.vision.models.vgg import VGG

__all__ = ["FullyConvNet", "convolutionalize"]


class FullyConvNet(nn.Module):
    """``classifier(features(x))``: (N, 3, H, W) -> class scores (N, num_classes, H', W').

    For the canonical input (AlexNet 224, CaffeNet 227, VGG 224) H' = W' = 1 and the scores
    equal the source classifier's logits (eval mode) up to float rounding: the same products
    summed in another order, about 1e-6 relative in float32 and 1e-12 in float64. For larger
    inputs score (i, j) is the classifier applied to the k x k window of ``features`` at (i, j),
    i.e. to the input window with stride 32. ``features`` and ``classifier`` keep the source's
    layer names (``features.0.weight``, ``classifier.1.weight``, or for CaffeNet
    ``features.conv1.weight``, ``classifier.fc6.weight``).
    """

    def __init__(self, features: nn.Module, classifier: nn.Sequential):
        super().__init__()
        self.features = features
        self.classifier = classifier

    def forward(self, x):
        return self.classifier(self.features(x))


def _linear_to_conv(linear: nn.Linear, kernel: int) -> nn.Conv2d:
    out_f, in_f = linear.weight.shape
    if in_f % (kernel * kernel):
        raise ValueError(f"convolutionalize: Linear({in_f}, {out_f}) cannot read a {kernel}x{kernel} map "
                         f"({in_f} is not a multiple of {kernel * kernel})")
    channels = in_f // (kernel * kernel)
    conv = nn.Conv2d(channels, out_f, kernel, bias=linear.bias is not None,
                     device=linear.weight.device, dtype=linear.weight.dtype)
    copy_into_conv(conv, linear.weight, linear.bias, f"convolutionalize: Linear({in_f}, {out_f})")
    conv.weight.requires_grad_(linear.weight.requires_grad)
    if linear.bias is not None:
        conv.bias.requires_grad_(linear.bias.requires_grad)
    return conv


def _convert_classifier(items, first_kernel: int) -> "OrderedDict[str, nn.Module]":
    out, kernel = OrderedDict(), first_kernel
    for name, module in items:
        if isinstance(module, nn.Linear):
            out[name] = _linear_to_conv(module, kernel)
            kernel = 1
        else:
            out[name] = copy.deepcopy(module)
    return out


def convolutionalize(model: nn.Module) -> FullyConvNet:
    """The fully convolutional twin of a trained AlexNet (either variant) or VGG.

    Returns a new ``FullyConvNet`` (``model`` is untouched; parameters are copied, on the
    same device and dtype, keeping their ``requires_grad``; the train/eval mode carries over):
    fc6 becomes a k x k conv (AlexNet/CaffeNet 6, VGG 7), fc7 and fc8 1x1 convs, dropout and
    ReLU stay where they were, the adaptive average pool is dropped. Input (N, 3, H, W),
    H, W >= the canonical 224 (CaffeNet 227) -> (N, num_classes, H', W').
    """
    if isinstance(model, CaffeNet):
        features = nn.Sequential(OrderedDict(
            (name, copy.deepcopy(getattr(model, name))) for name in CaffeNet.FEATURES))
        classifier = nn.Sequential(_convert_classifier(
            ((name, getattr(model, name)) for name in CaffeNet.CLASSIFIER), first_kernel=6))
    elif isinstance(model, (AlexNet, VGG)):
        kernel = 6 if isinstance(model, AlexNet) else 7
        features = copy.deepcopy(model.features)
        classifier = nn.Sequential(_convert_classifier(model.classifier.named_children(), kernel))
    else:
        raise TypeError(
            f"convolutionalize: expected an AlexNet, CaffeNet or VGG from lumen.vision.models, got "
            f"{type(model).__name__} (a GoogLeNet has no fc layers to convert: use its features())")
    return FullyConvNet(features, classifier).train(model.training)
