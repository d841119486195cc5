"""Trunks for fully convolutional nets: the classifiers' layers, run to named feature maps.

A ``Backbone`` is a chain of named layers run in order; ``forward`` returns a dict of
named feature maps (the outputs of chosen layers). For each feature it knows the
channel count, the stride and the affine map from input pixel coordinates to the
feature's coordinates (``geometry.coord_map``, Caffe's), from which an FCN head computes
its crop offsets. A new trunk is one subclass that adds its layers in ``__init__`` and
fills ``FEATURES`` (feature name -> layer name), ``feature_channels``, ``out_feature`` and
optionally ``skip_features``. The trunks here take their layers from the classifiers'
own definitions (``vgg_trunk``, ``caffenet_trunk``, ``googlenet_trunk``, ``fc_head``).
"""
from __future__ import annotations

import math

from lumen import nn
from lumen.nn.utils.fusion import fuse_conv_bn_weights
from lumen.vision.models.alexnet import caffenet_trunk
from lumen.vision.models.geometry import CoordMap, coord_map
from lumen.vision.models.googlenet import googlenet_trunk
from lumen.vision.models.layers import as_tensor, copy_into_conv, fc_head, scaled_channels
from lumen.vision.models.vgg import CFGS, vgg_trunk

# CoordMap and coord_map stay importable from here, where they were first defined.
__all__ = ["CoordMap", "coord_map", "Backbone", "VGG16Backbone", "AlexNetBackbone",
           "GoogLeNetBackbone", "BACKBONES", "build_backbone", "classifier_output_layer"]


class Backbone(nn.Module):
    """A trunk run layer by layer, in the order its layers were added.

    ``forward(x)`` -> dict {feature name: Tensor (N, C_f, H_f, W_f)} for every name in
    ``FEATURES``. Subclasses set, besides their layers:

    - ``FEATURES``: feature name -> name of the layer whose output it is;
    - ``feature_channels``: feature name -> channels;
    - ``out_feature``: the feature the class scores are read from (stride 32 in the paper);
    - ``skip_features``: stride -> feature name for the FCN-16s/8s skips (empty: no skips);
    - ``transplant(state_dict)``: net surgery from a classifier's weights.
    """

    FEATURES: dict[str, str] = {}
    out_feature: str = ""
    skip_features: dict[int, str] = {}

    def _add_layers(self, layers) -> None:
        """Append [(name, layer)] to the trunk, in order."""
        for name, layer in layers:
            self.add_module(name, layer)

    def forward(self, x) -> dict:
        wanted = {layer: feature for feature, layer in self.FEATURES.items()}
        out = {}
        for name, layer in self._modules.items():
            x = layer(x)
            if name in wanted:
                out[wanted[name]] = x
                if len(out) == len(wanted):
                    break
        return out

    def coord_map(self, feature: str) -> CoordMap:
        """The map from input pixel coordinates to ``feature``'s coordinates."""
        layer_name = self._layer_of(feature)
        m = CoordMap()
        for name, layer in self._modules.items():
            m = m.then(coord_map(layer))
            if name == layer_name:
                return m
        raise AssertionError(f"{type(self).__name__}: layer {layer_name!r} is not in the trunk")

    def stride(self, feature: str) -> int:
        s = 1 / self.coord_map(feature).scale
        if s.denominator != 1:
            raise ValueError(f"{type(self).__name__}: feature {feature!r} has non-integer stride {s}")
        return int(s)

    def channels(self, feature: str) -> int:
        self._layer_of(feature)
        return self.feature_channels[feature]

    def _layer_of(self, feature):
        if feature not in self.FEATURES:
            raise KeyError(f"{type(self).__name__} has no feature {feature!r}; it has "
                           f"{sorted(self.FEATURES)}")
        return self.FEATURES[feature]

    def transplant(self, state_dict) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot take classifier weights")

    def init_weights(self) -> None:
        """Start from scratch as torchvision's classifiers do: He-normal (fan_out) convolutions, zero biases.
        PyTorch's Conv2d default shrinks the signal ~2.4x per layer, which stalls a 15-layer plain trunk."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def _transplant_in_order(self, targets, sources, where):
        """Copy ``sources`` [(key, weight, bias)] into the layers named ``targets``, in order.

        Fully connected weights are coerced into the convolution's kernel shape (Caffe's
        ``surgery.transplant``): fc6's (4096, 512*7*7) becomes (4096, 512, 7, 7).
        """
        if len(sources) != len(targets):
            raise ValueError(
                f"{type(self).__name__}.transplant: {where} has {len(sources)} layers to transplant "
                f"({[k for k, _, _ in sources]}), the trunk needs {len(targets)} ({list(targets)})")
        for name, (key, w, b) in zip(targets, sources):
            copy_into_conv(getattr(self, name), w, b,
                           f"{type(self).__name__}.transplant: {key} into {name} (a width multiplier "
                           "other than 1 cannot take a full-size classifier's weights)")


# PyTorch's BatchNorm default; state dicts do not record eps.
BN_EPS = 1e-5


def _folded(key, weight, bias, state_dict, bn):
    """(key, weight, bias) with the eval-mode batch norm whose keys start with ``bn`` folded in
    (``fuse_conv_bn_weights``, eps ``BN_EPS``), or as given where there is none."""
    if f"{bn}.running_mean" not in state_dict:
        if f"{bn}.weight" in state_dict:
            raise ValueError(f"transplant: {bn} is a batch norm without running statistics "
                             f"(track_running_stats=False); it cannot be folded into {key}")
        return key, weight, bias
    weight, bias = fuse_conv_bn_weights(
        as_tensor(weight), None if bias is None else as_tensor(bias), as_tensor(state_dict[f"{bn}.running_mean"]),
        as_tensor(state_dict[f"{bn}.running_var"]), BN_EPS,
        *(as_tensor(state_dict[f"{bn}.{p}"]) if f"{bn}.{p}" in state_dict else None for p in ("weight", "bias")))
    return f"{key} + {bn}", weight.detach(), bias.detach()


def _pick(state_dict, names):
    """[(name, weight, bias)] for Caffe-named layers if all are present, else None; a convolution
    ``conv{b}_{i}`` followed by batch norm ``bn{b}_{i}``, or ``fc{i}`` by ``bn{i}`` (``vgg_trunk`` and
    ``fc_head`` with ``batch_norm=True``), has it folded in.

    Names may carry a prefix, as ``convolutionalize(caffenet())``'s ``features.conv1.weight``.
    """
    flat = {}
    for key, value in state_dict.items():
        flat.setdefault(".".join(key.split(".")[-2:]), value)
    if all(f"{n}.weight" in flat and f"{n}.bias" in flat for n in names):
        return [_folded(n, flat[f"{n}.weight"], flat[f"{n}.bias"], flat, "bn" + n.removeprefix("conv").removeprefix("fc"))
                for n in names]
    return None


def _indexed(state_dict, prefix):
    """[(key, weight, bias)] of ``prefix.N`` layers sorted by N (torchvision's layout); a batch norm
    (``vgg16_bn``'s ``features.N`` with running statistics) is folded into the layer before it."""
    def index(key):
        parts = key.split(".")
        return int(parts[1]) if len(parts) == 3 and parts[0] == prefix and parts[1].isdigit() else None

    norms = {index(k) for k in state_dict if k.endswith(".running_mean")} - {None}
    layers = sorted({index(k) for k in state_dict if k.endswith(".weight")} - {None} - norms)
    for j in norms:
        if j - 1 not in layers:
            raise ValueError(f"transplant: {prefix}.{j} is a batch norm that does not directly follow a "
                             f"convolution or linear layer; it cannot be folded")
    out = []
    for i in layers:
        entry = (f"{prefix}.{i}", state_dict[f"{prefix}.{i}.weight"], state_dict.get(f"{prefix}.{i}.bias"))
        if i + 1 not in norms and len(state_dict[f"{prefix}.{i}.weight"].shape) == 1:
            raise ValueError(f"transplant: {prefix}.{i} has a 1-d weight, a batch norm without running "
                             f"statistics (track_running_stats=False); it cannot be folded")
        out.append(_folded(*entry, state_dict, f"{prefix}.{i + 1}") if i + 1 in norms else entry)
    return out


def classifier_output_layer(state_dict):
    """(key, weight, bias) of a classifier's last layer (fc8): Caffe-named (``fc8``) or torchvision's
    last ``classifier.N``; None when the state dict has neither."""
    named = _pick(state_dict, ["fc8"])
    if named is not None:
        return named[0]
    head = _indexed(state_dict, "classifier")
    return head[-1] if head else None


def _classifier_layers(state_dict, caffe_names, backbone):
    """The trunk's convolutions + fc6 + fc7 from a classifier state dict, in order.

    Accepts Caffe layer names (``conv1_1.weight`` ... ``fc7.weight``) or torchvision's
    ``features.N`` / ``classifier.N`` layout (the last classifier layer, fc8, is dropped).
    """
    named = _pick(state_dict, caffe_names)
    if named is not None:
        return named, "Caffe-named state_dict"
    feats, cls = _indexed(state_dict, "features"), _indexed(state_dict, "classifier")
    if feats and cls:
        return feats + cls[:-1], "features.N/classifier.N state_dict"
    raise KeyError(f"{backbone}.transplant: the state_dict has neither Caffe layer names "
                   f"({caffe_names[0]}.weight ... {caffe_names[-1]}.weight) nor torchvision's "
                   f"features.N/classifier.N keys; got keys like {sorted(state_dict)[:4]}")


class VGG16Backbone(Backbone):
    """The FCN-VGG16 trunk ([FBV] voc-fcn32s/net.py), Caffe layer names.

    conv1_1 (pad 100) ... conv5_3, each 3x3 + ReLU; 2x2/2 max-pools rounding up
    (``ceil_mode``); fc6 7x7 conv (4096) + ReLU + Dropout(0.5); fc7 1x1 conv (4096) +
    ReLU + Dropout(0.5). ``width`` multiplies every channel count. Features: pool3
    (stride 8), pool4 (stride 16), fc7 (stride 32).

    ``fc6_kernel`` and ``ceil_mode`` fit the trunk to a classifier whose fc6 reads a k x k pool5
    without torchvision's adaptive pooling to 7x7 (a 96-px crop leaves a 3x3 pool5, so fc6 is 3x3) or
    that pools in floor mode (torchvision's); the FCN heads compute their crop offsets from whatever
    geometry results. ``pad``, conv1_1's padding, is by default 16 k - 12 with ceil-mode pools (the
    reference's 100 for k = 7) and 16 k + 1 with floor-mode ones (49 for k = 3): with these every image
    size is scored and every skip aligns (the reference's net; the 3x3 floor-mode one checked for every
    size from 1 to 260 px), where ceil-mode pools with a 3x3 fc6 leave sizes whose skips do not fit.
    """

    FEATURES = {"pool3": "pool3", "pool4": "pool4", "fc7": "drop7"}
    out_feature = "fc7"
    skip_features = {16: "pool4", 8: "pool3"}
    CONVS = ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
             "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3", "fc6", "fc7")

    def __init__(self, width: float = 1.0, dropout: float = 0.5, pad: int | None = None, fc6_kernel: int = 7,
                 ceil_mode: bool = True):
        super().__init__()
        if pad is None:
            pad = 16 * fc6_kernel - 12 if ceil_mode else 16 * fc6_kernel + 1
        self._add_layers(vgg_trunk(CFGS["D"], ceil_mode=ceil_mode, width=width, padding=pad))
        self._add_layers(fc_head(self.conv5_3.out_channels, fc6_kernel, scaled_channels(4096, width), dropout,
                                 convolutional=True))
        self.feature_channels = {"pool3": self.conv3_3.out_channels, "pool4": self.conv4_3.out_channels,
                                 "fc7": self.fc7.out_channels}

    def transplant(self, state_dict) -> None:
        """Take VGG16 classifier weights: torchvision keys (features.N, classifier.N) or Caffe names.

        Convolutions copy one to one; fc6 (4096, 25088) becomes (4096, 512, 7, 7) and fc7 a
        1x1 kernel. fc8 is dropped. A ``vgg16_bn`` classifier's batch norms (running statistics,
        eps 1e-5) are folded into their convolutions, so the trunk computes its eval-mode features.
        """
        layers, where = _classifier_layers(state_dict, self.CONVS, "VGG16Backbone")
        self._transplant_in_order(self.CONVS, layers, where)

    @classmethod
    def from_classifier(cls, state_dict, width: float = 1.0, dropout: float = 0.5, pad: int | None = None,
                        ceil_mode: bool = True) -> "VGG16Backbone":
        """The trunk of a VGG16 classifier, transplanted, its fc6 kernel read from the classifier's fc6 (a
        Linear over C x k x k inputs, C being conv5_3's outputs, or a k x k convolution); ``pad`` as
        ``VGG16Backbone``'s."""
        layers, where = _classifier_layers(state_dict, cls.CONVS, "VGG16Backbone")
        if len(layers) != len(cls.CONVS):
            raise ValueError(f"VGG16Backbone.from_classifier: {len(layers)} layers to transplant, the trunk needs "
                             f"{len(cls.CONVS)} ({list(cls.CONVS)})")
        (conv5_3, conv5_3_weight, _), (fc6, fc6_weight, _) = layers[12], layers[13]
        if len(fc6_weight.shape) == 4:
            kernel = fc6_weight.shape[-1]
        else:
            kernel = math.isqrt(fc6_weight.shape[1] // conv5_3_weight.shape[0])
            if kernel * kernel * conv5_3_weight.shape[0] != fc6_weight.shape[1]:
                raise ValueError(f"VGG16Backbone.from_classifier: fc6 ({fc6}) reads {fc6_weight.shape[1]} inputs, "
                                 f"not conv5_3's ({conv5_3}) {conv5_3_weight.shape[0]} channels over a square grid")
        trunk = cls(width, dropout, pad, fc6_kernel=kernel, ceil_mode=ceil_mode)
        trunk._transplant_in_order(cls.CONVS, layers, where)
        return trunk

    def geometry(self) -> dict:
        """The arguments that, with width and dropout, rebuild this trunk's layers."""
        return {"pad": self.conv1_1.padding[0], "fc6_kernel": self.fc6.kernel_size[0],
                "ceil_mode": self.pool1.ceil_mode}


class AlexNetBackbone(Backbone):
    """The FCN-AlexNet trunk ([FBV] voc-fcn-alexnet/net.py): CaffeNet with conv1 pad 100.

    conv1 11x11/4 pad 100 (96) -> pool1 3/2 -> norm1 LRN(5, 1e-4, 0.75); conv2 5x5 pad 2
    group 2 (256) -> pool2 -> norm2; conv3 (384), conv4 group 2 (384), conv5 group 2 (256)
    3x3 pad 1 -> pool5 3/2; fc6 6x6 conv (4096), fc7 1x1 (4096), each + ReLU + Dropout(0.5).
    Pools round up (Caffe). One feature: fc7 (stride 32); no skips.
    """

    FEATURES = {"fc7": "drop7"}
    out_feature = "fc7"
    skip_features = {}
    CONVS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7")

    def __init__(self, width: float = 1.0, dropout: float = 0.5, pad: int = 100):
        super().__init__()
        self._add_layers(caffenet_trunk(width, padding=pad))
        self._add_layers(fc_head(self.conv5.out_channels, 6, scaled_channels(4096, width), dropout,
                                 convolutional=True))
        self.feature_channels = {"fc7": self.fc7.out_channels}

    def transplant(self, state_dict) -> None:
        """Take CaffeNet weights (``caffenet().state_dict()``: conv1 ... fc7, fc8 dropped).

        fc6 (4096, 9216) becomes a (4096, 256, 6, 6) kernel. torchvision's one-tower AlexNet
        (64/192/384/256/256 channels, no groups) is a different net and does not fit.
        """
        layers, where = _classifier_layers(state_dict, self.CONVS, "AlexNetBackbone")
        self._transplant_in_order(self.CONVS, layers, where)


class GoogLeNetBackbone(Backbone):
    """The FCN-GoogLeNet trunk: BVLC GoogLeNet (``googlenet.GoogLeNet``) up to inception5b.

    The final average pooling, dropout and classifier are dropped ([PAPER] §4.1), and the
    auxiliary heads with them. conv1 (7x7/2) is padded by ``pad`` = 100 instead of 3, as
    the reference pads VGG16 and AlexNet, so every input size from 1x1 up yields scores
    (30 would be the least that does). Layer names as ``GoogLeNet`` (``conv1``,
    ``inception3a.conv1x1`` ...). One feature, inception5b (1024 channels, stride 32); no
    skips: its 3x3/2 ceil-mode poolings put a coarse pixel on every other fine pixel with
    one pixel to spare on even sizes, so a 2x upsampling cannot be cropped onto
    inception4e for every input size.
    """

    FEATURES = {"inception5b": "inception5b"}
    out_feature = "inception5b"
    skip_features = {}

    def __init__(self, width: float = 1.0, dropout: float = 0.5, pad: int = 100):
        super().__init__()
        del dropout  # GoogLeNet's only dropout belongs to the dropped classifier
        self._add_layers(googlenet_trunk(width, padding=pad))
        self.feature_channels = {"inception5b": self.inception5b.out_channels}

    def transplant(self, state_dict) -> None:
        """Take ``googlenet()``'s weights: every trunk key copied (aux heads and fc ignored)."""
        mine = self.state_dict()
        missing = [k for k in mine if k not in state_dict]
        if missing:
            raise KeyError(f"GoogLeNetBackbone.transplant: the state_dict lacks {len(missing)} trunk "
                           f"key(s), e.g. {missing[:3]}; expected googlenet().state_dict() keys")
        self.load_state_dict({k: state_dict[k] for k in mine})


BACKBONES = {"vgg16": VGG16Backbone, "alexnet": AlexNetBackbone, "googlenet": GoogLeNetBackbone}


def build_backbone(name: str, width: float = 1.0, dropout: float = 0.5, **geometry) -> Backbone:
    """A trunk by name: "vgg16", "alexnet" or "googlenet" (``width`` multiplies its channels); ``geometry``
    goes to its class (``pad``; VGG16 also ``fc6_kernel`` and ``ceil_mode``)."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; expected one of {sorted(BACKBONES)}")
    if not (isinstance(width, (int, float)) and width > 0 and math.isfinite(width)):
        raise ValueError(f"{name} backbone: width must be a positive number, got {width!r}")
    return BACKBONES[name](width=width, dropout=dropout, **geometry)
