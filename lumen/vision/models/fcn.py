"""Fully convolutional networks for semantic segmentation (Long, Shelhamer & Darrell, CVPR 2015).

``fcn32s``, ``fcn16s``, ``fcn8s`` and ``fcn8s_atonce`` rebuild the Caffe reference nets
(shelhamer/fcn.berkeleyvision.org ``voc-fcn*/net.py``) with the reference's layer names,
so ``state_dict`` keys (``conv1_1.weight`` ... ``score_fr.weight``, ``upscore2.weight``,
``score_pool4.weight`` ...) map one to one onto converted reference weights.

Every net maps (N, 3, H, W) float -> class scores (N, num_classes, H, W) for any H, W >= 1.
The crop offsets that align the upsampled scores with the input are derived from the
layers' geometry (``geometry.coord_map``, Caffe's), not written down; they
are in ``model.crop_offsets`` (VGG16: 19 for FCN-32s; 5, 27 for FCN-16s; 5, 9, 31 for FCN-8s).
"""
from __future__ import annotations

import copy
from fractions import Fraction

import lumen
from lumen import nn
from lumen.nn import functional as F
from lumen.vision.models.backbones import Backbone, build_backbone
from lumen.vision.models.geometry import CoordMap, coord_map

__all__ = ["FCN", "FCN32s", "FCN16s", "FCN8s", "FCN8sAtOnce", "fcn32s", "fcn16s", "fcn8s",
           "fcn8s_atonce", "UPSAMPLING_MODES"]

UPSAMPLING_MODES = ("paper", "learned", "fixed")


def _crop_offset(src: CoordMap, ref: CoordMap, what: str) -> int:
    """Where the reference's pixel 0 lies in ``src`` (both maps from input coordinates)."""
    if src.scale != ref.scale:
        raise ValueError(f"{what}: scale mismatch ({src.scale} vs {ref.scale}); cannot crop")
    off = src.offset - ref.offset
    if off < 0 or off.denominator != 1:
        raise ValueError(f"{what}: crop offset {off} is not a non-negative integer; the layers "
                         "do not align")
    return int(off)


class FCN(nn.Module):
    """Base of the FCN nets: a ``Backbone`` trunk, ``score_fr`` and the stage's skip head.

    The trunk's layers are registered directly on the net (``conv1_1``, ``fc6`` ...) so
    the keys match the reference; ``self.backbone`` runs them. Subclasses set ``SKIPS``
    (the strides of the skip layers fused, coarse to fine) and ``SKIP_SCALES``.

    Args:
        num_classes: output channels (21 for PASCAL VOC).
        backbone: "vgg16", "alexnet" or "googlenet", or a ``Backbone`` instance.
        width: channel multiplier of the trunk (1 = the paper's nets; the geometry does not
            change, so small widths give fast nets of the same shape).
        upsampling: "paper" (intermediate deconvolutions learned from their bilinear start,
            the final one fixed; the paper's §4.3), "learned" (all learned) or "fixed" (all
            fixed, the reference code's ``lr_mult: 0``). A fixed deconvolution's weight has
            ``requires_grad=False``: it gets no gradient and no optimiser state.
        pretrained_backbone: a classifier's ``state_dict`` (or the classifier itself) whose
            weights are transplanted into the trunk (``Backbone.transplant``).
        dropout: dropout probability after fc6 and fc7 (element-wise, as Caffe).

    Init: trunk transplanted from ``pretrained_backbone``, else He-normal (fan_out) as
    torchvision's classifiers; ``score_fr`` and skip scorers zero
    (the paper: "zero-initialize the class scoring layer"), deconvolutions bilinear
    (``nn.init.bilinear_``), no deconvolution bias.
    """

    SKIPS: tuple[int, ...] = ()
    SKIP_SCALES: dict[int, float] = {}
    # Reference layer names per skip stride: (scorer, its cropped blob).
    _SKIP_NAMES = {16: ("score_pool4", "score_pool4c"), 8: ("score_pool3", "score_pool3c")}
    # Reference deconvolution names: the upsamplings before fusing the first and second skip,
    # and the final one by output stride.
    _INTERMEDIATE_UP = ("upscore2", "upscore_pool4")
    _FINAL_UP = {32: "upscore", 16: "upscore16", 8: "upscore8"}

    def __init__(self, num_classes: int = 21, backbone: str | Backbone = "vgg16", width: float = 1.0,
                 upsampling: str = "paper", pretrained_backbone=None, dropout: float = 0.5):
        super().__init__()
        name = type(self).__name__
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"{name}: num_classes must be a positive int, got {num_classes!r}")
        if upsampling not in UPSAMPLING_MODES:
            raise ValueError(f"{name}: upsampling must be one of {UPSAMPLING_MODES}, got {upsampling!r}")
        if isinstance(backbone, Backbone):
            trunk, self.backbone_name = backbone, type(backbone).__name__
        else:
            trunk, self.backbone_name = build_backbone(backbone, width, dropout=dropout), backbone
        missing = [s for s in self.SKIPS if s not in trunk.skip_features]
        if missing:
            raise ValueError(f"{name}: backbone {self.backbone_name} has no stride-{missing} skip "
                             f"features (it has {trunk.skip_features or 'none'}); use fcn32s")
        self.num_classes, self.width, self.upsampling = num_classes, width, upsampling
        for layer_name, layer in trunk.named_children():
            self.add_module(layer_name, layer)
        # Unregistered on purpose: its layers are registered above under their own names.
        object.__setattr__(self, "backbone", trunk)
        if pretrained_backbone is not None:
            if isinstance(pretrained_backbone, nn.Module):
                pretrained_backbone = pretrained_backbone.state_dict()
            trunk.transplant(pretrained_backbone)
        elif isinstance(backbone, str):
            # No classifier to start from: start as torchvision's classifiers do (He init, zero bias).
            # PyTorch's Conv2d default shrinks the signal ~2.4x per layer, which stalls a 15-layer
            # plain trunk trained from scratch.
            for module in trunk.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.zeros_(module.bias)

        self.score_fr = nn.Conv2d(trunk.channels(trunk.out_feature), num_classes, 1)
        score_map = trunk.coord_map(trunk.out_feature)
        self.crop_offsets: dict[str, int] = {}
        # Strides of the maps in the chain: the trunk's output, then each skip.
        strides = [trunk.stride(trunk.out_feature), *self.SKIPS]
        for i, skip in enumerate(self.SKIPS):
            feature = trunk.skip_features[skip]
            scorer, cropped = self._SKIP_NAMES[skip]
            skip_map = trunk.coord_map(feature)
            up = self._deconv(strides[i] // skip, score_map, skip_map, cropped)
            self.add_module(self._INTERMEDIATE_UP[i], up)
            score_map = score_map.then(coord_map(up))
            self.add_module(scorer, nn.Conv2d(trunk.channels(feature), num_classes, 1))
            self.crop_offsets[cropped] = _crop_offset(skip_map, score_map, f"{name} {cropped}")
        final = self._deconv(strides[-1], score_map, CoordMap(), "score")
        self.add_module(self._FINAL_UP[strides[-1]], final)
        self.crop_offsets["score"] = _crop_offset(score_map.then(coord_map(final)), CoordMap(),
                                                  f"{name} score")
        self._final_up = self._FINAL_UP[strides[-1]]
        self._intermediate_ups = self._INTERMEDIATE_UP[:len(self.SKIPS)]
        self._init_head()

    def _deconv(self, factor: int, in_map: CoordMap, ref_map: CoordMap, what: str):
        """A factor-x upsampling deconvolution, kernel 2*factor, or 2*factor - 1 where only
        the odd kernel puts its output on the reference's pixel grid (FCN-AlexNet's 63/32)."""
        for k in (2 * factor, 2 * factor - 1):
            off = in_map.then(CoordMap(Fraction(factor), Fraction(k - 1, 2))).offset - ref_map.offset
            if off.denominator == 1:
                return nn.ConvTranspose2d(self.num_classes, self.num_classes, k, stride=factor, bias=False)
        raise ValueError(f"{type(self).__name__}: no {factor}x upsampling kernel aligns {what} "
                         f"with its reference (offset {off})")

    def _init_head(self) -> None:
        for name, module in self.named_children():
            if name in ("score_fr", "score_pool4", "score_pool3"):
                nn.init.zeros_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.ConvTranspose2d):
                learned = self.upsampling == "learned" or (
                    self.upsampling == "paper" and name != self._final_up)
                if learned:
                    nn.init.bilinear_(module.weight)
                else:  # frozen bilinear: forward takes the separable upsampling while it stays so
                    module.fix_bilinear_()

    def trainable_parameters(self):
        """The parameters an optimiser should see (fixed deconvolutions left out)."""
        return (p for p in self.parameters() if p.requires_grad)

    def forward(self, x):
        """(N, 3, H, W) float -> scores (N, num_classes, H, W)."""
        if not isinstance(x, lumen.Tensor) or x.ndim != 4:
            shape = tuple(x.shape) if isinstance(x, lumen.Tensor) else type(x).__name__
            raise ValueError(f"{type(self).__name__}: expected a 4-d (N, C, H, W) Tensor, got {shape}")
        feats = self.backbone(x)
        score = self.score_fr(feats[self.backbone.out_feature])
        for up_name, skip in zip(self._intermediate_ups, self.SKIPS):
            score = getattr(self, up_name)(score)
            scorer, cropped = self._SKIP_NAMES[skip]
            skip_in = feats[self.backbone.skip_features[skip]]
            if skip in self.SKIP_SCALES:
                skip_in = skip_in * self.SKIP_SCALES[skip]
            score = score + F.crop(getattr(self, scorer)(skip_in), score, self.crop_offsets[cropped])
        score = getattr(self, self._final_up)(score)
        return F.crop(score, x, self.crop_offsets["score"])

    def extra_repr(self) -> str:
        return (f"backbone={self.backbone_name}, num_classes={self.num_classes}, width={self.width:g}, "
                f"upsampling={self.upsampling!r}, crop_offsets={self.crop_offsets}")

    # ---- staged training ---------------------------------------------------------------
    @classmethod
    def _from_stage(cls, model, expected, upsampling):
        if not isinstance(model, expected):
            raise TypeError(f"{cls.__name__}: expected a {expected.__name__}, got {type(model).__name__}")
        # A copy of the trained trunk (weights, devices, frozen flags), then the shared head layers.
        new = cls(num_classes=model.num_classes, backbone=copy.deepcopy(model.backbone),
                  width=model.width, upsampling=model.upsampling if upsampling is None else upsampling)
        new.backbone_name = model.backbone_name
        ref = next(model.parameters())
        new.to(device=ref.device, dtype=ref.dtype)
        mine = new.state_dict()
        new.load_state_dict({k: v for k, v in model.state_dict().items() if k in mine}, strict=False)
        new.train(model.training)
        return new


class FCN32s(FCN):
    """FCN-32s: score_fr upsampled 32x by ``upscore`` (64/32; 63/32 on AlexNet), cropped.

    VGG16 at full width has 134,270,278 parameters (incl. the fixed 1,806,336-entry upscore).
    """


class FCN16s(FCN):
    """FCN-16s: ``upscore2`` (4/2) of score_fr + crop(score_pool4(pool4)), then ``upscore16`` (32/16)."""

    SKIPS = (16,)

    @classmethod
    def from_fcn32s(cls, model: FCN32s, upsampling: str | None = None) -> "FCN16s":
        """An FCN-16s carrying a trained FCN-32s forward: trunk and score_fr copied, the new
        score_pool4 zero (so the coarse scores start unmodified), deconvolutions bilinear."""
        return cls._from_stage(model, FCN32s, upsampling)


class FCN8s(FCN):
    """FCN-8s: FCN-16s's fuse_pool4, ``upscore_pool4`` (4/2) + crop(score_pool3(pool3)),
    then ``upscore8`` (16/8)."""

    SKIPS = (16, 8)

    @classmethod
    def from_fcn16s(cls, model: FCN16s, upsampling: str | None = None) -> "FCN8s":
        """An FCN-8s carrying a trained FCN-16s forward: trunk, score_fr, upscore2 and
        score_pool4 copied, the new score_pool3 zero, upscore_pool4/upscore8 bilinear."""
        return cls._from_stage(model, FCN16s, upsampling)


class FCN8sAtOnce(FCN8s):
    """FCN-8s trained in one stage: pool4 scaled by 0.01 and pool3 by 0.0001 before their
    scorers (the reference's fixed ``scale_pool4``/``scale_pool3``)."""

    SKIP_SCALES = {16: 0.01, 8: 0.0001}


def fcn32s(num_classes: int = 21, backbone: str | Backbone = "vgg16", width: float = 1.0,
           upsampling: str = "paper", pretrained_backbone=None, dropout: float = 0.5) -> FCN32s:
    """FCN-32s (see ``FCN`` for the arguments). ``fcn16s.from_fcn32s`` continues from it."""
    return FCN32s(num_classes, backbone, width, upsampling, pretrained_backbone, dropout)


def fcn16s(num_classes: int = 21, backbone: str | Backbone = "vgg16", width: float = 1.0,
           upsampling: str = "paper", pretrained_backbone=None, dropout: float = 0.5) -> FCN16s:
    """FCN-16s (VGG16 only: the skip needs a stride-16 feature that aligns)."""
    return FCN16s(num_classes, backbone, width, upsampling, pretrained_backbone, dropout)


def fcn8s(num_classes: int = 21, backbone: str | Backbone = "vgg16", width: float = 1.0,
          upsampling: str = "paper", pretrained_backbone=None, dropout: float = 0.5) -> FCN8s:
    """FCN-8s (VGG16 only)."""
    return FCN8s(num_classes, backbone, width, upsampling, pretrained_backbone, dropout)


def fcn8s_atonce(num_classes: int = 21, backbone: str | Backbone = "vgg16", width: float = 1.0,
                 upsampling: str = "paper", pretrained_backbone=None,
                 dropout: float = 0.5) -> FCN8sAtOnce:
    """FCN-8s at-once (VGG16 only): all skips trained together from the classifier."""
    return FCN8sAtOnce(num_classes, backbone, width, upsampling, pretrained_backbone, dropout)


fcn16s.from_fcn32s = FCN16s.from_fcn32s
fcn8s.from_fcn16s = FCN8s.from_fcn16s

#: The nets by the names the recipes and their checkpoints use.
CONSTRUCTORS = {"fcn32s": fcn32s, "fcn16s": fcn16s, "fcn8s": fcn8s, "fcn8s-atonce": fcn8s_atonce}
