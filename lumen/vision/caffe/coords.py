"""Where one blob's pixels lie in another's: the coordinate maps that place a V1 ``CROP`` layer.

Upstream Caffe's V1 ``LayerType`` has no crop type. The FCN papers' nets were trained with
Jonathan Long's fork (``longjon/caffe``, branch ``future``), whose ``caffe.proto`` adds
``CROP = 40`` to the V1 enum and whose ``UpgradeV1LayerType`` turns it into ``"Crop"``. That
crop layer takes no parameters: it crops its first bottom to its second bottom's height and
width at the offset found by walking both bottoms back through their layers' first bottoms to a
blob they share and composing each layer's map from input to output coordinates. Upstream's
later Crop layer (``crop_param { axis offset }``) needs the offset written out; its
``python/caffe/coord_map.py`` computes it with the same per-layer maps, which are the ones used
here: ``load`` turns each V1 crop into a V2 Crop with the offsets found.

A map is one ``(scale, shift)`` pair per spatial axis: output coordinate = scale * input + shift,
with a pixel's coordinate at its centre, in exact fractions.
"""
from __future__ import annotations

from fractions import Fraction

from lumen.vision.caffe.layers import CaffeLayerError, _hw

__all__ = ["crop_offsets"]

# Layers whose top has the same spatial coordinates as their first bottom (coord_map.py's list).
_PASS_THROUGH = {"AbsVal", "BatchNorm", "Bias", "BNLL", "Dropout", "Eltwise", "ELU", "Exp", "Log", "LRN", "MVN",
                 "Power", "PReLU", "ReLU", "Scale", "Sigmoid", "Split", "TanH", "Threshold"}
_IDENTITY = ((Fraction(1), Fraction(0)),) * 2


def _filter(layer):
    """(kernel extent, stride, pad) per axis of a Convolution, Deconvolution or Pooling layer."""
    if layer.type == "Pooling":
        p = layer.pooling_param
        if p.global_pooling:
            return None
        kernel = _hw(p, "kernel", layer, repeated=False)
        return kernel, _hw(p, "stride", layer, default=1, repeated=False), _hw(p, "pad", layer, default=0,
                                                                                  repeated=False)
    p = layer.convolution_param
    dilation = tuple(p.dilation) * (2 if len(p.dilation) == 1 else 1) if p.dilation else (1, 1)
    kernel = [(k - 1) * d + 1 for k, d in zip(_hw(p, "kernel", layer), dilation)]
    return kernel, _hw(p, "stride", layer, default=1), _hw(p, "pad", layer, default=0)


def _layer_map(layer):
    """The layer's map from its first bottom's coordinates to its top's; None where it has none."""
    if layer.type in _PASS_THROUGH:
        return _IDENTITY
    if layer.type == "Crop":
        offsets = list(layer.crop_param.offset)
        if layer.crop_param.axis != 2 or len(offsets) not in (1, 2):
            return None
        return tuple((Fraction(1), -Fraction(o)) for o in offsets * (3 - len(offsets)))
    if layer.type in ("Convolution", "Pooling", "Deconvolution"):
        found = _filter(layer)
        if found is None:
            return None
        out = []
        for k, s, p in zip(*found):
            half = Fraction(k - 1, 2)
            # a filter's output pixel y is centred on input s*y - p + (k-1)/2; a deconvolution inverts it
            out.append((Fraction(s), half - p) if layer.type == "Deconvolution" else
                       (Fraction(1, s), (p - half) / s))
        return tuple(out)
    return None


def _then(first, second):
    return tuple((a2 * a1, a2 * b1 + b2) for (a1, b1), (a2, b2) in zip(first, second))


def _inverse(m):
    return tuple((1 / a, -b / a) for a, b in m)


def _walk(blob, producers):
    """{blob: map from that blob's coordinates to ``blob``'s} for ``blob`` and the blobs up its first-bottom
    chain, as far as the chain goes through layers with a map."""
    maps, current = {blob: _IDENTITY}, blob
    while current in producers:
        layer = producers[current]
        step = _layer_map(layer) if layer.bottom else None
        if step is None:
            break
        below = layer.bottom[0]
        maps[below] = _then(step, maps[current])
        current = below
    return maps


def crop_offsets(crop, earlier):
    """(offset_h, offset_w) at which the V1 crop layer ``crop`` crops its first bottom, as longjon/caffe's
    CropLayer finds it; ``earlier`` are the net's layers before it (V2 types). An in-place layer keeps
    the coordinates of its blob, so each blob is walked back through the layer that first wrote it."""
    producers = {}
    for layer in earlier:
        for top in layer.top:
            producers.setdefault(top, layer)
    if len(crop.bottom) != 2:
        raise CaffeLayerError(f"caffe: layer {crop.name!r} (Crop): takes 2 bottoms, got {len(crop.bottom)}")
    from_maps, to_maps = _walk(crop.bottom[0], producers), _walk(crop.bottom[1], producers)
    shared = next((blob for blob in to_maps if blob in from_maps), None)
    if shared is None:
        raise CaffeLayerError(f"caffe: layer {crop.name!r} (Crop, V1): cannot place {crop.bottom[0]!r} in "
                              f"{crop.bottom[1]!r}: no blob up both bottoms' chains through layers with a "
                              "coordinate map (convolution, pooling, deconvolution, crop, element-wise)")
    offsets = []
    for (a, b), axis in zip(_then(_inverse(from_maps[shared]), to_maps[shared]), ("height", "width")):
        if a != 1 or b > 0 or b.denominator != 1:
            raise CaffeLayerError(f"caffe: layer {crop.name!r} (Crop, V1): {crop.bottom[0]!r} maps to "
                                  f"{crop.bottom[1]!r} along {axis} as x * {a} + {b}; a crop needs scale 1 and a "
                                  "whole, non-positive shift")
        offsets.append(int(-b))
    return tuple(offsets)
