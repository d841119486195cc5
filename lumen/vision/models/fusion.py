"""Late fusion of FCNs over several input modalities (the FCN paper's Table 4: RGB-HHA).

Each modality has its own trunk and scorers; their class scores are summed with fixed weights
before the upsampling (the reference's ``nyud-fcn32s-color-hha``: ``score_fused = Eltwise(SUM,
coeff 0.5, 0.5)`` of ``score_frcolor`` and ``score_frhha``, then one ``upscore``). Layer names are the
reference's: the modality is a suffix of every trunk and scorer layer (``conv1_1color``,
``score_frhha``, ``score_pool4color`` ...); the upsamplings are shared (``upscore``, ``upscore2`` ...).
Because the deconvolutions are linear without bias, summing before the final upsampling (and, for
FCN-16s/8s, using shared intermediate upsamplings) is exactly the weighted sum of the single-modality
nets' scores.
"""
from __future__ import annotations

import copy

import lumen
from lumen import nn
from lumen.vision.models.fcn import CONSTRUCTORS, FCN8s, FCN8sAtOnce, FCN16s, FCN32s

__all__ = ["LateFusionFCN"]

_ARCHS = {FCN32s: "fcn32s", FCN16s: "fcn16s", FCN8s: "fcn8s", FCN8sAtOnce: "fcn8s-atonce"}


class LateFusionFCN(nn.Module):
    """One FCN per modality, scores summed with ``weights`` before the final upsampling.

    Args:
        arch: "fcn32s", "fcn16s", "fcn8s" or "fcn8s-atonce".
        num_classes: classes (one head).
        modalities: {name: input channels}, in the order the inputs are given to ``forward``.
        weights: the sum's coefficients, one per modality (default: equal, summing to 1, as the
            reference's 0.5/0.5).
        backbone, width, upsampling, dropout: as ``FCN``.

    ``forward(x_1, ..., x_M)`` (or one tuple of them): each (N, C_m, H, W), same N, H, W -> scores
    (N, num_classes, H, W).
    """

    def __init__(self, arch: str = "fcn32s", num_classes: int = 40, modalities=None, weights=None,
                 backbone: str = "vgg16", width: float = 1.0, upsampling: str = "paper", dropout: float = 0.5):
        super().__init__()
        modalities = dict(modalities if modalities is not None else {"color": 3, "hha": 3})
        if arch not in CONSTRUCTORS:
            raise ValueError(f"LateFusionFCN: arch must be one of {sorted(CONSTRUCTORS)}, got {arch!r}")
        if len(modalities) < 2 or not all(isinstance(k, str) and k.isidentifier() for k in modalities):
            raise ValueError(f"LateFusionFCN: modalities must name two or more inputs {{name: channels}}, got "
                             f"{modalities!r}")
        if not isinstance(num_classes, int):
            raise ValueError(f"LateFusionFCN: num_classes must be an int (one head), got {num_classes!r}")
        self._register(arch, weights, {m: CONSTRUCTORS[arch](num_classes, backbone, width, upsampling, None, dropout,
                                                             channels) for m, channels in modalities.items()})

    def _register(self, arch, weights, nets):
        """Take ``nets`` {modality: FCN} as this fusion's: their layers registered under the reference's
        names, the first net's upsamplings shared by all; ``weights`` None: equal, summing to 1."""
        weights = tuple(float(w) for w in (weights if weights is not None else [1 / len(nets)] * len(nets)))
        if len(weights) != len(nets):
            raise ValueError(f"LateFusionFCN: {len(weights)} weights for {len(nets)} modalities")
        first = next(iter(nets.values()))
        self.arch, self.num_classes, self.weights = arch, first.num_classes, weights
        self.modalities = {m: net.in_channels for m, net in nets.items()}
        self.backbone_name, self.width, self.upsampling = first.backbone_name, first.width, first.upsampling
        shared = {}
        for modality, net in nets.items():
            for name, layer in list(net.named_children()):
                if isinstance(layer, nn.ConvTranspose2d):
                    shared.setdefault(name, layer)
                    net.add_module(name, shared[name])  # every modality upsamples with the one layer
                else:
                    self.add_module(name + modality, layer)
        for name, layer in shared.items():
            self.add_module(name, layer)
        # Unregistered on purpose: their layers are registered above under the reference's names.
        object.__setattr__(self, "nets", nets)
        self.crop_offsets = next(iter(nets.values())).crop_offsets

    @classmethod
    def from_nets(cls, nets: dict, weights=None) -> "LateFusionFCN":
        """A fusion of trained single-modality nets {modality: FCN} (the reference's RGB-HHA starts from
        its trained RGB and HHA nets): copies of their trunks and scorers (dropout and frozen flags
        included), the upsamplings from the first net."""
        first = next(iter(nets.values()))
        arch = _ARCHS.get(type(first))
        if arch is None or any(type(n) is not type(first) or n.num_classes != first.num_classes
                               or n.width != first.width or n.backbone_name != first.backbone_name
                               for n in nets.values()):
            raise TypeError("LateFusionFCN.from_nets: the nets must be FCNs of one kind, class count, backbone "
                            f"and width, got {[repr(n).splitlines()[0] for n in nets.values()]}")
        return cls._of_nets(arch, weights, {m: copy.deepcopy(n) for m, n in nets.items()})

    @classmethod
    def _of_nets(cls, arch, weights, nets):
        """A fusion made of ``nets`` themselves (their layers, dropout, frozen flags, device and dtype kept)."""
        fused = cls.__new__(cls)
        nn.Module.__init__(fused)
        fused._register(arch, weights, nets)
        return fused.train(next(iter(nets.values())).training)

    @classmethod
    def from_fusion(cls, fused: "LateFusionFCN", arch: str) -> "LateFusionFCN":
        """A finer-stride fusion carrying a trained one forward, as the paper upgrades its FCN-32s RGB-HHA to
        FCN-16s: each modality's net carried forward as ``FCN16s.from_fcn32s`` does (its trunk copied with
        its dropout and frozen flags, its new skip scorer zero so the fused scores start unmodified, the
        new upsamplings bilinear)."""
        order = ("fcn32s", "fcn16s", "fcn8s")
        if not isinstance(fused, LateFusionFCN) or arch not in order or fused.arch not in order \
                or order.index(arch) != order.index(fused.arch) + 1:
            raise ValueError(f"LateFusionFCN.from_fusion: expected a fusion one stride coarser than {arch!r} "
                             f"(fcn32s -> fcn16s -> fcn8s), got {getattr(fused, 'arch', type(fused).__name__)!r}")
        upgrade = FCN16s.from_fcn32s if arch == "fcn16s" else FCN8s.from_fcn16s
        return cls._of_nets(arch, fused.weights, {m: upgrade(net) for m, net in fused.nets.items()})

    def trainable_parameters(self):
        """The parameters an optimiser should see (fixed deconvolutions left out)."""
        return (p for p in self.parameters() if p.requires_grad)

    def forward(self, *inputs):
        if len(inputs) == 1 and isinstance(inputs[0], (tuple, list)):
            inputs = tuple(inputs[0])
        if len(inputs) != len(self.nets):
            raise ValueError(f"LateFusionFCN: expected {len(self.nets)} inputs ({', '.join(self.nets)}), got "
                             f"{len(inputs)}")
        shapes = {(x.shape[0], *x.shape[2:]) for x in inputs if isinstance(x, lumen.Tensor) and x.ndim == 4}
        if len(shapes) > 1:
            raise ValueError(f"LateFusionFCN: the inputs must share N, H and W, got shapes "
                             f"{[tuple(x.shape) for x in inputs]}")
        fused = None
        for weight, net, x in zip(self.weights, self.nets.values(), inputs):
            score = net.coarse_scores(x)[""] * weight
            fused = score if fused is None else fused + score
        return next(iter(self.nets.values())).upsample({"": fused}, inputs[0])

    def extra_repr(self) -> str:
        return (f"arch={self.arch}, modalities={self.modalities}, weights={self.weights}, "
                f"backbone={self.backbone_name}, num_classes={self.num_classes}, width={self.width:g}")

