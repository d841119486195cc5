"""Fully convolutional networks for semantic segmentation (Long, Shelhamer & Darrell, CVPR 2015).

``fcn32s``, ``fcn16s``, ``fcn8s`` and ``fcn8s_atonce`` rebuild the Caffe reference nets
(shelhamer/fcn.berkeleyvision.org ``voc-fcn*/net.py``) with the reference's layer names,
so ``state_dict`` keys (``conv1_1.weight`` ... ``score_fr.weight``, ``upscore2.weight``,
``score_pool4.weight`` ...) map one to one onto converted reference weights.

Every net maps (N, 3, H, W) float -> class scores (N, num_classes, H, W) for any H, W >= 1.
``in_channels`` gives a net of another input (RGB-D early fusion: 4, the reference's
``nyud-fcn32s-color-d``, whose first layer is then ``conv1_1_bgrd``); ``num_classes`` as a mapping
{head: classes} gives one trunk with several heads, each with its own scorers and upsamplings
named with the head as suffix (``score_fr_sem``, ``upscore2_sem`` ... as ``siftflow-fcn16s``), and
the net returns {head: scores}. Late fusion of two trunks is ``fusion.LateFusionFCN``.
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
from lumen.vision.models.backbones import Backbone, build_backbone, classifier_output_layer
from lumen.vision.models.layers import as_tensor, copy_into_conv
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
        in_channels: input channels. The first convolution is built for 3 (and transplanted), then
            widened: its first 3 input channels keep their weights and each further channel gets
            their mean, as the reference initialises RGB-D's depth channel; fewer than 3 channels
            take that mean too. With 4 channels the first layer takes the reference's ``_bgrd``
            suffix (``conv1_1_bgrd``).

    ``num_classes``: an int (one head), or {head name: classes} for several heads on one trunk.

    Init: trunk transplanted from ``pretrained_backbone``, else He-normal (fan_out) as
    torchvision's classifiers; ``score_fr`` and skip scorers zero
    (the paper: "zero-initialize the class scoring layer"; ``init_score_from_classifier_`` takes a
    classifier's fc8 instead where its classes are the net's), deconvolutions bilinear
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
                 upsampling: str = "paper", pretrained_backbone=None, dropout: float = 0.5, in_channels: int = 3):
        super().__init__()
        name = type(self).__name__
        self.heads = _heads(num_classes, name)
        if not isinstance(in_channels, int) or isinstance(in_channels, bool) or in_channels < 1:
            raise ValueError(f"{name}: in_channels must be a positive int, got {in_channels!r}")
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
        # Unregistered on purpose: its layers are registered below under their own names.
        object.__setattr__(self, "backbone", trunk)
        if pretrained_backbone is not None:
            if isinstance(pretrained_backbone, nn.Module):
                pretrained_backbone = pretrained_backbone.state_dict()
            trunk.transplant(pretrained_backbone)
        elif isinstance(backbone, str):  # no classifier to start from (a given trunk keeps its weights)
            trunk.init_weights()
        _widen_first_conv(trunk, in_channels, name)
        self.in_channels = in_channels
        for layer_name, layer in trunk.named_children():
            self.add_module(layer_name, layer)

        self.crop_offsets: dict[str, int] = {}
        # Strides of the maps in the chain: the trunk's output, then each skip.
        strides = [trunk.stride(trunk.out_feature), *self.SKIPS]
        for suffix, n in self.heads.items():
            self.add_module("score_fr" + suffix, nn.Conv2d(trunk.channels(trunk.out_feature), n, 1))
            score_map = trunk.coord_map(trunk.out_feature)
            for i, skip in enumerate(self.SKIPS):
                feature = trunk.skip_features[skip]
                scorer, cropped = self._SKIP_NAMES[skip]
                skip_map = trunk.coord_map(feature)
                up = self._deconv(strides[i] // skip, score_map, skip_map, cropped, n)
                self.add_module(self._INTERMEDIATE_UP[i] + suffix, up)
                score_map = score_map.then(coord_map(up))
                self.add_module(scorer + suffix, nn.Conv2d(trunk.channels(feature), n, 1))
                self.crop_offsets[cropped] = _crop_offset(skip_map, score_map, f"{name} {cropped}")
            final = self._deconv(strides[-1], score_map, CoordMap(), "score", n)
            self.add_module(self._FINAL_UP[strides[-1]] + suffix, final)
            self.crop_offsets["score"] = _crop_offset(score_map.then(coord_map(final)), CoordMap(),
                                                      f"{name} score")
        self._final_up = self._FINAL_UP[strides[-1]]
        self._intermediate_ups = self._INTERMEDIATE_UP[:len(self.SKIPS)]
        self._init_head()

    def _deconv(self, factor: int, in_map: CoordMap, ref_map: CoordMap, what: str, n: int):
        """A factor-x upsampling deconvolution, kernel 2*factor, or 2*factor - 1 where only
        the odd kernel puts its output on the reference's pixel grid (FCN-AlexNet's 63/32)."""
        for k in (2 * factor, 2 * factor - 1):
            off = in_map.then(CoordMap(Fraction(factor), Fraction(k - 1, 2))).offset - ref_map.offset
            if off.denominator == 1:
                return nn.ConvTranspose2d(n, n, k, stride=factor, bias=False)
        raise ValueError(f"{type(self).__name__}: no {factor}x upsampling kernel aligns {what} "
                         f"with its reference (offset {off})")

    def _init_head(self) -> None:
        scorers = {base + suffix for base in ("score_fr", "score_pool4", "score_pool3") for suffix in self.heads}
        final_ups = {self._final_up + suffix for suffix in self.heads}
        for name, module in self.named_children():
            if name in scorers:
                nn.init.zeros_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.ConvTranspose2d):
                learned = self.upsampling == "learned" or (
                    self.upsampling == "paper" and name not in final_ups)
                if learned:
                    nn.init.bilinear_(module.weight)
                else:  # frozen bilinear: forward takes the separable upsampling while it stays so
                    module.fix_bilinear_()

    def init_score_from_classifier_(self, state_dict) -> None:
        """``score_fr`` from a classifier's last layer (fc8) whose outputs are this net's classes but the
        first (background): class k takes fc8's row k - 1, background zero weights and bias.

        The paper zero-initialises ``score_fr`` because ImageNet's classes are not VOC's; where they are
        the same, fc8 already scores them on every window (Sec. 3.1), and the net segments before any
        training. ``calibrate_background_`` then gives background its bias. ``state_dict``: Caffe names
        (``fc8``) or torchvision's last ``classifier.N``.
        """
        name = type(self).__name__
        if set(self.heads) != {""}:
            raise ValueError(f"{name}.init_score_from_classifier_: a net of several heads has no single score_fr")
        found = classifier_output_layer(state_dict)
        if found is None:
            raise KeyError(f"{name}.init_score_from_classifier_: the state_dict has no fc8 or classifier.N layer")
        key, weight, bias = found
        weight, bias = as_tensor(weight), as_tensor(bias)
        weight = weight.reshape(weight.shape[0], -1)  # a Linear's, or a convolutionalised fc8's 1x1 kernel
        scorer = self.score_fr
        if tuple(weight.shape) != (scorer.out_channels - 1, scorer.in_channels):
            raise ValueError(f"{name}.init_score_from_classifier_: {key} is {tuple(weight.shape)}; score_fr needs "
                             f"({scorer.out_channels - 1}, {scorer.in_channels}): one row per class after "
                             f"background, in order, over the trunk's {scorer.in_channels} fc7 channels")
        zero = lumen.zeros(1, scorer.in_channels, dtype=weight.dtype)
        copy_into_conv(scorer, lumen.cat([zero, weight]),
                       lumen.cat([lumen.zeros(1, dtype=bias.dtype), bias]), f"{name}: {key} into score_fr")

    def calibrate_background_(self, samples, ignore_index: int = 255) -> tuple[float, float]:
        """Shift class 0's (background's) ``score_fr`` bias so that over ``samples`` the fraction of pixels
        predicted background is the labelled one; returns (the new bias, that fraction).

        ``samples``: (image (3, H, W), label (H, W)) pairs, e.g. training images; pixels labelled
        ``ignore_index`` are left out. Everything after ``score_fr`` is linear, so a shift of the bias by
        d moves a pixel's background score by d times that pixel's response to a unit shift (below 1
        where the upsampling's kernels overlap the border); the shift is the labelled fraction's (lower)
        quantile of (best other score - background score) / response.
        """
        bias = self.score_fr.bias
        training, start = self.training, bias[0].item()
        shift = 0.0
        self.eval()
        try:
            with lumen.no_grad():
                ratios, background, scored, responses = [], 0, 0, {}
                for image, label in samples:
                    x = lumen.tensor(image, dtype=bias.dtype, device=bias.device)[None]
                    scores = self(x)[0]
                    if x.shape not in responses:  # it depends on the image's size only
                        bias[0] = start + 1.0
                        responses[x.shape] = self(x)[0, 0] - scores[0]
                        bias[0] = start
                    label = lumen.tensor(label, device=bias.device)
                    keep = label != ignore_index
                    margin, response = scores[1:].amax(0) - scores[0], responses[x.shape]
                    # a pixel the bias cannot move keeps its class (ties go to class 0)
                    unmoved = lumen.where(margin > 0, float("inf"), float("-inf"))
                    ratio = lumen.where(response > 0, margin / response.clamp(min=1e-30), unmoved)
                    ratios.append(ratio[keep])
                    background += int((label[keep] == 0).sum().item())
                    scored += int(keep.sum().item())
                if scored == 0:
                    raise ValueError(f"{type(self).__name__}.calibrate_background_: no scored pixel in the samples")
                fraction = background / scored
                shift = float(lumen.cat(ratios).quantile(fraction, interpolation="lower").item())
        finally:
            with lumen.no_grad():
                bias[0] = start + shift
            self.train(training)
        return float(bias[0].item()), fraction

    def trainable_parameters(self):
        """The parameters an optimiser should see (fixed deconvolutions left out)."""
        return (p for p in self.parameters() if p.requires_grad)

    def check_input(self, x) -> None:
        if not isinstance(x, lumen.Tensor) or x.ndim != 4 or x.shape[1] != self.in_channels:
            shape = tuple(x.shape) if isinstance(x, lumen.Tensor) else type(x).__name__
            raise ValueError(f"{type(self).__name__}: expected a 4-d (N, {self.in_channels}, H, W) Tensor, "
                             f"got {shape}")

    def coarse_scores(self, x) -> dict:
        """{head suffix: the fused scores before the final upsampling} (what late fusion sums)."""
        self.check_input(x)
        feats = self.backbone(x)
        out = {}
        for suffix in self.heads:
            score = getattr(self, "score_fr" + suffix)(feats[self.backbone.out_feature])
            for up_name, skip in zip(self._intermediate_ups, self.SKIPS):
                score = getattr(self, up_name + suffix)(score)
                scorer, cropped = self._SKIP_NAMES[skip]
                skip_in = feats[self.backbone.skip_features[skip]]
                if skip in self.SKIP_SCALES:
                    skip_in = skip_in * self.SKIP_SCALES[skip]
                score = score + F.crop(getattr(self, scorer + suffix)(skip_in), score, self.crop_offsets[cropped])
            out[suffix] = score
        return out

    def upsample(self, coarse: dict, x):
        """The final upsampling of ``coarse_scores`` cropped onto ``x``: scores, or {head: scores}."""
        scores = {suffix: F.crop(getattr(self, self._final_up + suffix)(score), x, self.crop_offsets["score"])
                  for suffix, score in coarse.items()}
        return scores[""] if "" in scores else {suffix[1:]: score for suffix, score in scores.items()}

    def forward(self, x):
        """(N, in_channels, H, W) float -> scores (N, num_classes, H, W), or {head: scores} for a
        net of several heads."""
        return self.upsample(self.coarse_scores(x), x)

    def extra_repr(self) -> str:
        channels = f"in_channels={self.in_channels}, " if self.in_channels != 3 else ""
        return (f"backbone={self.backbone_name}, {channels}num_classes={self.num_classes}, width={self.width:g}, "
                f"upsampling={self.upsampling!r}, crop_offsets={self.crop_offsets}")

    # ---- staged training ---------------------------------------------------------------
    @classmethod
    def _from_stage(cls, model, expected, upsampling):
        if not isinstance(model, expected):
            raise TypeError(f"{cls.__name__}: expected a {expected.__name__}, got {type(model).__name__}")
        # A copy of the trained trunk (weights, devices, frozen flags), then the shared head layers.
        new = cls(num_classes=model.num_classes, backbone=copy.deepcopy(model.backbone),
                  width=model.width, upsampling=model.upsampling if upsampling is None else upsampling,
                  in_channels=model.in_channels)
        new.backbone_name = model.backbone_name
        return carry_weights(new, model)


def carry_weights(new: nn.Module, trained: nn.Module) -> nn.Module:
    """``new`` moved to ``trained``'s device and dtype, given every weight of ``trained`` whose key it has, and
    put in its training mode: how staged training carries one stage into the next."""
    ref = next(trained.parameters())
    new.to(device=ref.device, dtype=ref.dtype)
    mine = new.state_dict()
    new.load_state_dict({k: v for k, v in trained.state_dict().items() if k in mine}, strict=False)
    new.train(trained.training)
    return new


def _heads(num_classes, name) -> dict[str, int]:
    """{layer-name suffix: classes}: "" for one head, "_<head>" for each of several."""
    def positive(n):
        return isinstance(n, int) and not isinstance(n, bool) and n >= 1

    if positive(num_classes):
        return {"": num_classes}
    if isinstance(num_classes, dict) and num_classes and all(
            isinstance(k, str) and k.isidentifier() and positive(n) for k, n in num_classes.items()):
        return {f"_{head}": n for head, n in num_classes.items()}
    raise ValueError(f"{name}: num_classes must be a positive int or a non-empty dict {{head name: positive "
                     f"int}}, got {num_classes!r}")


def _widen_first_conv(trunk: Backbone, in_channels: int, name: str) -> None:
    """Give the trunk's first convolution ``in_channels`` inputs (see ``FCN``'s ``in_channels``)."""
    first = next((n for n, m in trunk.named_children() if isinstance(m, nn.Conv2d)), None)
    if first is None:
        raise ValueError(f"{name}: the trunk starts with no convolution to take {in_channels} input channels")
    old = getattr(trunk, first)
    if old.in_channels == in_channels:
        return
    if old.groups != 1 or old.in_channels != 3:
        raise ValueError(f"{name}: cannot widen {first} ({old.in_channels} inputs, groups {old.groups}) to "
                         f"{in_channels} input channels")
    new = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, stride=old.stride, padding=old.padding,
                    dilation=old.dilation, bias=old.bias is not None)
    with lumen.no_grad():
        kept = min(3, in_channels)
        mean = old.weight.mean(1, keepdim=True)
        parts = [old.weight[:, :kept]] + [mean] * (in_channels - kept) if in_channels >= 3 else [mean] * in_channels
        new.weight.copy_(lumen.cat(parts, 1))
        if old.bias is not None:
            new.bias.copy_(old.bias)
    renamed = f"{first}_bgrd" if in_channels == 4 else first  # the reference's name for its RGB-D net
    layers = list(trunk._modules.items())
    trunk._modules.clear()  # in place, keeping the order the trunk runs its layers in
    for n, m in layers:
        trunk._modules[renamed if n == first else n] = new if n == first else m


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
           upsampling: str = "paper", pretrained_backbone=None, dropout: float = 0.5,
           in_channels: int = 3) -> FCN32s:
    """FCN-32s (see ``FCN`` for the arguments). ``fcn16s.from_fcn32s`` continues from it."""
    return FCN32s(num_classes, backbone, width, upsampling, pretrained_backbone, dropout, in_channels)


def fcn16s(num_classes: int = 21, backbone: str | Backbone = "vgg16", width: float = 1.0,
           upsampling: str = "paper", pretrained_backbone=None, dropout: float = 0.5,
           in_channels: int = 3) -> FCN16s:
    """FCN-16s (VGG16 only: the skip needs a stride-16 feature that aligns)."""
    return FCN16s(num_classes, backbone, width, upsampling, pretrained_backbone, dropout, in_channels)


def fcn8s(num_classes: int = 21, backbone: str | Backbone = "vgg16", width: float = 1.0,
          upsampling: str = "paper", pretrained_backbone=None, dropout: float = 0.5,
          in_channels: int = 3) -> FCN8s:
    """FCN-8s (VGG16 only)."""
    return FCN8s(num_classes, backbone, width, upsampling, pretrained_backbone, dropout, in_channels)


def fcn8s_atonce(num_classes: int = 21, backbone: str | Backbone = "vgg16", width: float = 1.0,
                 upsampling: str = "paper", pretrained_backbone=None,
                 dropout: float = 0.5, in_channels: int = 3) -> FCN8sAtOnce:
    """FCN-8s at-once (VGG16 only): all skips trained together from the classifier."""
    return FCN8sAtOnce(num_classes, backbone, width, upsampling, pretrained_backbone, dropout, in_channels)


fcn16s.from_fcn32s = FCN16s.from_fcn32s
fcn8s.from_fcn16s = FCN8s.from_fcn16s

#: The nets by the names the recipes and their checkpoints use.
CONSTRUCTORS = {"fcn32s": fcn32s, "fcn16s": fcn16s, "fcn8s": fcn8s, "fcn8s-atonce": fcn8s_atonce}
