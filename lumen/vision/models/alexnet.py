"""AlexNet in two layouts: torchvision's (one tower) and Caffe's two-tower CaffeNet.

``alexnet()`` builds torchvision's layout, whose ``state_dict`` keys
(``features.0.weight`` ... ``classifier.6.bias``) load torchvision checkpoints
converted by ``python -m lumen.vision.convert``. ``caffenet()`` builds the BVLC
reference CaffeNet (``models/bvlc_reference_caffenet``), the net FCN-AlexNet is
transplanted from, with Caffe's layer names as attributes (``conv1.weight`` ...
``fc8.bias``).
"""
from __future__ import annotations

from lumen import nn
from lumen.vision.models.layers import fc_head, scaled_channels

__all__ = ["AlexNet", "CaffeNet", "alexnet", "caffenet", "caffenet_trunk"]


class AlexNet(nn.Module):
    """torchvision's AlexNet: ``features`` (5 convs, 3 max-pools), ``avgpool``, ``classifier``.

    input (N, 3, H, W) float32, H, W >= 63 (224 for the trained nets) -> logits (N, num_classes).
    ``AdaptiveAvgPool2d((6, 6))`` makes any input size reach the 9216-wide ``classifier.1``.
    ``ceil_mode=True`` rounds the pooled sizes up as Caffe does.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5, ceil_mode: bool = False):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=ceil_mode),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=ceil_mode),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=ceil_mode),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


def caffenet_trunk(width: float = 1.0, padding: int = 0, ceil_mode: bool = True) -> list[tuple[str, nn.Module]]:
    """[(name, layer)] of CaffeNet's trunk, conv1 through pool5 (see ``CaffeNet``).

    ``width`` multiplies every channel count, kept even so that groups=2 still divides it;
    ``padding`` is conv1's (the FCN trunk pads it by 100).
    """
    c1, c2, c3, c4, c5 = (2 * scaled_channels(n // 2, width) for n in (96, 256, 384, 384, 256))
    return [
        ("conv1", nn.Conv2d(3, c1, kernel_size=11, stride=4, padding=padding)),
        ("relu1", nn.ReLU(inplace=True)),
        ("pool1", nn.MaxPool2d(3, stride=2, ceil_mode=ceil_mode)),
        ("norm1", nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75)),
        ("conv2", nn.Conv2d(c1, c2, kernel_size=5, padding=2, groups=2)),
        ("relu2", nn.ReLU(inplace=True)),
        ("pool2", nn.MaxPool2d(3, stride=2, ceil_mode=ceil_mode)),
        ("norm2", nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75)),
        ("conv3", nn.Conv2d(c2, c3, kernel_size=3, padding=1)),
        ("relu3", nn.ReLU(inplace=True)),
        ("conv4", nn.Conv2d(c3, c4, kernel_size=3, padding=1, groups=2)),
        ("relu4", nn.ReLU(inplace=True)),
        ("conv5", nn.Conv2d(c4, c5, kernel_size=3, padding=1, groups=2)),
        ("relu5", nn.ReLU(inplace=True)),
        ("pool5", nn.MaxPool2d(3, stride=2, ceil_mode=ceil_mode)),
    ]


class CaffeNet(nn.Module):
    """The BVLC reference CaffeNet: AlexNet's two towers as ``groups=2`` convolutions.

    Layers, in Caffe's order (CaffeNet pools *before* it normalises; ``bvlc_alexnet``
    swaps the two, with the same parameters)::

        conv1 96 11x11/4 -> relu -> pool1 3/2 -> norm1 LRN(5, 1e-4, 0.75)
        conv2 256 5x5 pad 2 group 2 -> relu -> pool2 3/2 -> norm2
        conv3 384 3x3 pad 1 -> relu; conv4 384 3x3 pad 1 group 2 -> relu
        conv5 256 3x3 pad 1 group 2 -> relu -> pool5 3/2
        fc6 4096 -> relu -> drop6; fc7 4096 -> relu -> drop7; fc8 num_classes

    input (N, 3, 227, 227) float32 (any size whose pool5 map is 6x6, i.e. 227..258)
    -> logits (N, num_classes). Pooling rounds up (``ceil_mode=True``) as Caffe does;
    there is no adaptive pooling, as in Caffe.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5, ceil_mode: bool = True):
        super().__init__()
        for name, layer in caffenet_trunk(ceil_mode=ceil_mode) + fc_head(256, 6, 4096, dropout, num_classes):
            setattr(self, name, layer)

    # Names of the convolutional trunk, in order; ``features`` runs them.
    FEATURES = ("conv1", "relu1", "pool1", "norm1", "conv2", "relu2", "pool2", "norm2",
                "conv3", "relu3", "conv4", "relu4", "conv5", "relu5", "pool5")
    CLASSIFIER = ("fc6", "relu6", "drop6", "fc7", "relu7", "drop7", "fc8")

    def features(self, x):
        """(N, 3, H, W) -> pool5 map (N, 256, H', W')."""
        for name in self.FEATURES:
            x = getattr(self, name)(x)
        return x

    def forward(self, x):
        x = self.features(x)
        if tuple(x.shape[2:]) != (6, 6):
            raise ValueError(
                f"CaffeNet: pool5 is {tuple(x.shape[1:])} for input {tuple(x.shape)}; fc6 needs "
                "(256, 6, 6): use 227x227 inputs (or convolutionalize() the net for other sizes)")
        x = x.flatten(1)
        for name in self.CLASSIFIER:
            x = getattr(self, name)(x)
        return x


def _caffenet_init(model: CaffeNet) -> None:
    # bvlc_reference_caffenet/train_val.prototxt fillers: gaussian weights (0.005 for the
    # hidden fc layers), bias 1 on conv2/4/5 and fc6/7 so their ReLUs start active.
    stds = dict(conv1=0.01, conv2=0.01, conv3=0.01, conv4=0.01, conv5=0.01,
                fc6=0.005, fc7=0.005, fc8=0.01)
    for name, std in stds.items():
        layer = getattr(model, name)
        nn.init.normal_(layer.weight, 0.0, std)
        nn.init.constant_(layer.bias, 1.0 if name in ("conv2", "conv4", "conv5", "fc6", "fc7") else 0.0)


def alexnet(num_classes: int = 1000, dropout: float = 0.5, variant: str = "torchvision",
            ceil_mode: bool | None = None, init_weights: bool = True) -> nn.Module:
    """AlexNet (Krizhevsky et al. 2012).

    variant="torchvision": ``AlexNet``, torchvision's one-tower layout and keys (61,100,840
    parameters at 1000 classes), PyTorch's default init (torchvision has no custom init);
    ``ceil_mode`` defaults to False.
    variant="caffe": ``CaffeNet``, the two-tower BVLC reference net (60,965,224 parameters),
    Caffe names, ``ceil_mode`` defaults to True (Caffe's pooling); ``init_weights`` applies
    CaffeNet's Gaussian fillers, otherwise PyTorch's default init.
    """
    if variant == "torchvision":
        return AlexNet(num_classes, dropout, ceil_mode=bool(ceil_mode))
    if variant == "caffe":
        model = CaffeNet(num_classes, dropout, ceil_mode=True if ceil_mode is None else ceil_mode)
        if init_weights:
            _caffenet_init(model)
        return model
    raise ValueError(f"alexnet: variant must be 'torchvision' or 'caffe', got {variant!r}")


def caffenet(num_classes: int = 1000, dropout: float = 0.5, ceil_mode: bool = True,
             init_weights: bool = True) -> CaffeNet:
    """``alexnet(variant="caffe")``: the BVLC reference CaffeNet (see ``CaffeNet``)."""
    return alexnet(num_classes, dropout, "caffe", ceil_mode, init_weights)
