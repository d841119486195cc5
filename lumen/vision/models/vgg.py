"""VGG (Simonyan & Zisserman 2014) with torchvision's layout and ``state_dict`` keys."""
from __future__ import annotations

from lumen import nn
from lumen.vision.models.layers import fc_head, scaled_channels

__all__ = ["VGG", "CFGS", "make_layers", "vgg_trunk", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn",
           "vgg16_bn", "vgg19_bn"]

# Channel counts of the 3x3 convolutions, "M" a 2x2/2 max-pool (the paper's Table 1).
CFGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


def vgg_trunk(cfg, batch_norm: bool = False, ceil_mode: bool = False, width: float = 1.0,
              padding: int = 1) -> list[tuple[str, nn.Module]]:
    """[(Caffe name, layer)] of a config's trunk, in order: per number conv{b}_{i} (3x3, pad 1)
    [+ bn{b}_{i}] + relu{b}_{i}, per "M" pool{b} (MaxPool2d(2, 2)).

    ``width`` multiplies every channel count; ``padding`` is the first convolution's (the
    FCN trunk pads it by 100).
    """
    layers, in_channels, block, conv = [], 3, 1, 0
    for v in cfg:
        if v == "M":
            layers.append((f"pool{block}", nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=ceil_mode)))
            block, conv = block + 1, 0
            continue
        conv, out_channels = conv + 1, scaled_channels(v, width)
        layers.append((f"conv{block}_{conv}", nn.Conv2d(in_channels, out_channels, kernel_size=3,
                                                        padding=padding if not layers else 1)))
        if batch_norm:
            layers.append((f"bn{block}_{conv}", nn.BatchNorm2d(out_channels)))
        layers.append((f"relu{block}_{conv}", nn.ReLU(inplace=True)))
        in_channels = out_channels
    return layers


def make_layers(cfg, batch_norm: bool = False, ceil_mode: bool = False) -> nn.Sequential:
    """The ``features`` trunk for a config (``vgg_trunk``'s layers, numbered).

    Indices match torchvision's (``features.0`` is the first conv), so keys line up.
    """
    return nn.Sequential(*(layer for _, layer in vgg_trunk(cfg, batch_norm, ceil_mode)))


class VGG(nn.Module):
    """``features`` -> ``avgpool`` (AdaptiveAvgPool2d((7, 7))) -> ``classifier``.

    input (N, 3, H, W) float32, H, W >= 32 (224 for the trained nets) -> logits (N, num_classes).
    classifier: Linear(25088, 4096), ReLU, Dropout, Linear(4096, 4096), ReLU, Dropout,
    Linear(4096, num_classes) at indices 0..6.
    """

    def __init__(self, features: nn.Sequential, num_classes: int = 1000, dropout: float = 0.5,
                 init_weights: bool = True):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(*(layer for _, layer in fc_head(512, 7, 4096, dropout, num_classes)))
        if init_weights:
            self._initialize_weights()

    def _initialize_weights(self) -> None:
        # torchvision's init: He-normal (fan_out) convs, N(0, 0.01) linears, zero biases.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


def _vgg(cfg: str, num_classes, dropout, batch_norm, ceil_mode, init_weights) -> VGG:
    return VGG(make_layers(CFGS[cfg], batch_norm=batch_norm, ceil_mode=ceil_mode),
               num_classes=num_classes, dropout=dropout, init_weights=init_weights)


def vgg11(num_classes: int = 1000, dropout: float = 0.5, batch_norm: bool = False,
          ceil_mode: bool = False, init_weights: bool = True) -> VGG:
    """VGG-11 (config A): 132,863,336 parameters (132,868,840 with batch_norm) at 1000 classes."""
    return _vgg("A", num_classes, dropout, batch_norm, ceil_mode, init_weights)


def vgg13(num_classes: int = 1000, dropout: float = 0.5, batch_norm: bool = False,
          ceil_mode: bool = False, init_weights: bool = True) -> VGG:
    """VGG-13 (config B): 133,047,848 parameters (133,053,736 with batch_norm) at 1000 classes."""
    return _vgg("B", num_classes, dropout, batch_norm, ceil_mode, init_weights)


def vgg16(num_classes: int = 1000, dropout: float = 0.5, batch_norm: bool = False,
          ceil_mode: bool = False, init_weights: bool = True) -> VGG:
    """VGG-16 (config D): 138,357,544 parameters (138,365,992 with batch_norm) at 1000 classes.

    ``ceil_mode=True`` gives Caffe's pooling (the FCN reference's trunk).
    """
    return _vgg("D", num_classes, dropout, batch_norm, ceil_mode, init_weights)


def vgg19(num_classes: int = 1000, dropout: float = 0.5, batch_norm: bool = False,
          ceil_mode: bool = False, init_weights: bool = True) -> VGG:
    """VGG-19 (config E): 143,667,240 parameters (143,678,248 with batch_norm) at 1000 classes."""
    return _vgg("E", num_classes, dropout, batch_norm, ceil_mode, init_weights)


def _with_batch_norm(plain):
    def build(*, num_classes: int = 1000, dropout: float = 0.5, ceil_mode: bool = False,
              init_weights: bool = True) -> VGG:
        return plain(num_classes, dropout, True, ceil_mode, init_weights)

    build.__name__ = build.__qualname__ = f"{plain.__name__}_bn"
    build.__doc__ = f"``{plain.__name__}(batch_norm=True)``, torchvision's ``{plain.__name__}_bn``."
    return build


vgg11_bn, vgg13_bn, vgg16_bn, vgg19_bn = (_with_batch_norm(f) for f in (vgg11, vgg13, vgg16, vgg19))
