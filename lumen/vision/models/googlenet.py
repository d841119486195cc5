"""GoogLeNet, the original Inception-v1 (Szegedy et al. 2014; BVLC ``bvlc_googlenet``).

Unlike torchvision's ``googlenet`` (batch norm, 3x3 "5x5" branches), this is the
paper's net as the BVLC reference trains it: plain convolutions with biases and
ReLUs, LRN after conv1 and conv2, true 5x5 branches, Caffe's ceil-mode pooling,
two auxiliary classifiers used in training only.

Trunk on a 224x224 input (``TRUNK`` names, output channels @ size)::

    conv1 7x7/2 64 @112 -> pool1 3/2 @56 -> norm1 -> conv2_reduce 1x1 64 -> conv2 3x3 192
    -> norm2 -> pool2 @28 -> inception3a 256 -> inception3b 480 -> pool3 @14
    -> inception4a 512 [aux1] -> 4b 512 -> 4c 512 -> 4d 528 [aux2] -> 4e 832 -> pool4 @7
    -> inception5a 832 -> inception5b 1024
    head: global average pool -> dropout 0.4 -> fc (1024 -> num_classes)
"""
from __future__ import annotations

from collections import namedtuple

import lumen
from lumen import nn
from lumen.nn import functional as F
from lumen.vision.models.geometry import CoordMap, chain_coord_map
from lumen.vision.models.layers import scaled_channels

__all__ = ["GoogLeNet", "GoogLeNetOutputs", "INCEPTION_CFGS", "Inception", "InceptionAux", "googlenet",
           "googlenet_trunk"]

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux1", "aux2"])
GoogLeNetOutputs.__doc__ = "Training-mode output of ``GoogLeNet`` with aux heads: three (N, num_classes) logits."


class Inception(nn.Module):
    """Four parallel branches concatenated on channels (BVLC names ``inception_*/1x1`` etc.).

    (N, in_channels, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W):
    1x1 conv | 1x1 reduce -> 3x3 conv | 1x1 reduce -> 5x5 conv | 3x3/1 max-pool -> 1x1 proj,
    every conv followed by ReLU.
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int,
                 ch5x5: int, pool_proj: int):
        super().__init__()
        self.conv1x1 = nn.Conv2d(in_channels, ch1x1, kernel_size=1)
        self.conv3x3_reduce = nn.Conv2d(in_channels, ch3x3red, kernel_size=1)
        self.conv3x3 = nn.Conv2d(ch3x3red, ch3x3, kernel_size=3, padding=1)
        self.conv5x5_reduce = nn.Conv2d(in_channels, ch5x5red, kernel_size=1)
        self.conv5x5 = nn.Conv2d(ch5x5red, ch5x5, kernel_size=5, padding=2)
        self.pool = nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True)
        self.pool_proj = nn.Conv2d(in_channels, pool_proj, kernel_size=1)
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x):
        b1 = F.relu(self.conv1x1(x))
        b2 = F.relu(self.conv3x3(F.relu(self.conv3x3_reduce(x))))
        b3 = F.relu(self.conv5x5(F.relu(self.conv5x5_reduce(x))))
        b4 = F.relu(self.pool_proj(self.pool(x)))
        return lumen.cat([b1, b2, b3, b4], 1)

    def coord_map(self) -> CoordMap:
        """The branches' common map (each keeps the pixel grid: same-padded, stride 1)."""
        branches = [chain_coord_map(b) for b in ([self.conv1x1], [self.conv3x3_reduce, self.conv3x3],
                                                 [self.conv5x5_reduce, self.conv5x5], [self.pool, self.pool_proj])]
        if len(set(branches)) != 1:
            raise ValueError(f"coord_map: Inception branches are not aligned: {branches}")
        return branches[0]


class InceptionAux(nn.Module):
    """Auxiliary classifier (BVLC ``loss1``/``loss2``): (N, C, 14, 14) -> (N, num_classes).

    5x5/3 average pool -> 1x1 conv 128 + ReLU -> fc 1024 + ReLU -> dropout 0.7 -> fc.
    """

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7):
        super().__init__()
        self.pool = nn.AvgPool2d(5, stride=3, ceil_mode=True)
        self.conv = nn.Conv2d(in_channels, 128, kernel_size=1)
        self.fc = nn.Linear(128 * 4 * 4, 1024)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = F.relu(self.conv(self.pool(x)))
        if tuple(x.shape[2:]) != (4, 4):
            raise ValueError(f"InceptionAux: pooled map is {tuple(x.shape[1:])}, the fc layer needs "
                             "(128, 4, 4): the aux heads need a 14x14 map (224x224 inputs)")
        x = self.dropout(F.relu(self.fc(x.flatten(1))))
        return self.classifier(x)


# (in, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj): the paper's Table 1.
INCEPTION_CFGS = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}


class GoogLeNet(nn.Module):
    """Inception-v1. input (N, 3, H, W) float32 (224x224 for the aux heads) -> logits.

    ``forward`` returns ``GoogLeNetOutputs(logits, aux1, aux2)`` in training mode when
    ``aux_logits`` (aux1 taps inception4a, aux2 inception4d; the BVLC recipe weights
    their losses by 0.3), and the (N, num_classes) logits otherwise. ``features(x)``
    gives the inception5b map (N, 1024, ~H/32, ~W/32) for fully convolutional use;
    ``feature_maps(x, names)`` gives any ``TRUNK`` stages by name (e.g. skip taps).
    """

    TRUNK = ("conv1", "relu1", "pool1", "norm1", "conv2_reduce", "relu2_reduce", "conv2", "relu2",
             "norm2", "pool2", "inception3a", "inception3b", "pool3", "inception4a", "inception4b",
             "inception4c", "inception4d", "inception4e", "pool4", "inception5a", "inception5b")

    def __init__(self, num_classes: int = 1000, aux_logits: bool = True, dropout: float = 0.4,
                 aux_dropout: float = 0.7, init_weights: bool = True):
        super().__init__()
        self.aux_logits = aux_logits
        for name, layer in googlenet_trunk():
            setattr(self, name, layer)
        if aux_logits:
            self.aux1 = InceptionAux(self.inception4a.out_channels, num_classes, aux_dropout)
            self.aux2 = InceptionAux(self.inception4d.out_channels, num_classes, aux_dropout)
        # BVLC pools 7x7 at 224x224; the adaptive pool is the same there and takes any size.
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.inception5b.out_channels, num_classes)
        if init_weights:
            self._initialize_weights()

    def _initialize_weights(self) -> None:
        # bvlc_googlenet/train_val.prototxt: "xavier" fillers (Caffe's: U(+-sqrt(3/fan_in))),
        # bias 0.2 everywhere except the three classifiers' output layers (bias 0).
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_uniform_(m.weight, nonlinearity="linear")
                nn.init.constant_(m.bias, 0.2)
        for head in (self.fc, *((self.aux1.classifier, self.aux2.classifier) if self.aux_logits else ())):
            nn.init.zeros_(head.bias)

    def feature_maps(self, x, names=("inception5b",)) -> dict:
        """Run the trunk up to the last of ``names``; returns {name: map} for each name in ``names``.

        x (N, 3, H, W) float32; names from ``TRUNK``.
        """
        unknown = [n for n in names if n not in self.TRUNK]
        if unknown:
            raise ValueError(f"GoogLeNet.feature_maps: unknown stage(s) {unknown}; known: {self.TRUNK}")
        wanted, last = set(names), max(self.TRUNK.index(n) for n in names)
        out = {}
        for name in self.TRUNK[:last + 1]:
            x = getattr(self, name)(x)
            if name in wanted:
                out[name] = x
        return out

    def features(self, x):
        """(N, 3, H, W) -> inception5b map (N, 1024, H', W'), H' = 7 at 224."""
        return self.feature_maps(x, ("inception5b",))["inception5b"]

    def forward(self, x):
        want_aux = self.training and self.aux_logits
        taps = self.feature_maps(x, ("inception4a", "inception4d", "inception5b") if want_aux
                                 else ("inception5b",))
        x = self.avgpool(taps["inception5b"]).flatten(1)
        logits = self.fc(self.dropout(x))
        if want_aux:
            return GoogLeNetOutputs(logits, self.aux1(taps["inception4a"]), self.aux2(taps["inception4d"]))
        return logits


def googlenet_trunk(width: float = 1.0, padding: int = 3) -> list[tuple[str, nn.Module]]:
    """[(name, layer)] of ``GoogLeNet.TRUNK``, conv1 through inception5b, in order.

    ``width`` multiplies every channel count; ``padding`` is conv1's (BVLC's 3; the FCN
    trunk pads it by 100).
    """
    c1, c2_reduce, c2 = (scaled_channels(n, width) for n in (64, 64, 192))
    layers = [
        ("conv1", nn.Conv2d(3, c1, kernel_size=7, stride=2, padding=padding)),
        ("relu1", nn.ReLU(inplace=True)),
        ("pool1", nn.MaxPool2d(3, stride=2, ceil_mode=True)),
        ("norm1", nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75)),
        ("conv2_reduce", nn.Conv2d(c1, c2_reduce, kernel_size=1)),
        ("relu2_reduce", nn.ReLU(inplace=True)),
        ("conv2", nn.Conv2d(c2_reduce, c2, kernel_size=3, padding=1)),
        ("relu2", nn.ReLU(inplace=True)),
        ("norm2", nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75)),
        ("pool2", nn.MaxPool2d(3, stride=2, ceil_mode=True)),
    ]
    in_channels = c2
    for name in GoogLeNet.TRUNK[GoogLeNet.TRUNK.index("inception3a"):]:
        if name.startswith("pool"):
            layers.append((name, nn.MaxPool2d(3, stride=2, ceil_mode=True)))
            continue
        # INCEPTION_CFGS[name][0], the paper's input width, is the previous block's output.
        block = Inception(in_channels, *(scaled_channels(n, width) for n in INCEPTION_CFGS[name][1:]))
        layers.append((name, block))
        in_channels = block.out_channels
    return layers


def googlenet(num_classes: int = 1000, aux_logits: bool = True, dropout: float = 0.4,
              init_weights: bool = True) -> GoogLeNet:
    """Inception-v1 with BVLC's layout. At 1000 classes: 6,998,552 parameters without the aux
    heads (6,990,272 weights + 8,280 biases; the paper's Table 1 rounds to "6.8M"), 13,378,280
    with them (each head about 3.19M, mostly its 2048x1024 fc).
    """
    return GoogLeNet(num_classes, aux_logits=aux_logits, dropout=dropout, init_weights=init_weights)
