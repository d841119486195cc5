"""The ONNX export rules of the shipped models, registered with ``lumen.onnx.register_export``.

Each rule walks its model in its ``forward``'s order. An FCN's crops are ``Slice`` ops whose ends
are read from the reference's ``Shape``, so one export takes any input size when height and
width are dynamic; a Backbone (a dict of maps) is refused, its FCN is what exports.
"""
from __future__ import annotations

import lumen
from lumen.onnx import chain, convert, register_export, scoped
from lumen.vision.models.alexnet import AlexNet, CaffeNet
from lumen.vision.models.backbones import Backbone
from lumen.vision.models.fcn import FCN
from lumen.vision.models.googlenet import GoogLeNet, Inception
from lumen.vision.models.surgery import FullyConvNet
from lumen.vision.models.vgg import VGG

__all__ = []


def _crop(g, x, ref, offset, name):
    """Caffe's crop of x's spatial dims to ref's, at ``offset``: a Slice whose ends come from ref's Shape."""
    sizes = g.op("Slice", [g.op("Shape", [ref]), g.ints([2], "start"), g.ints([4], "end")], f"{name}.size")
    starts = g.ints([offset, offset], f"{name}.offset")
    ends = g.op("Add", [sizes, starts], f"{name}.ends")
    return g.op("Slice", [x, starts, ends, g.ints([2, 3], f"{name}.axes")], name)


@register_export(FCN)
def _fcn(g, model, x, name):
    trunk = model.backbone
    wanted = {layer: feature for feature, layer in trunk.FEATURES.items()}
    feats, y = {}, x
    for layer_name, layer in trunk.named_children():
        y = convert(g, layer, y, scoped(name, layer_name))
        if layer_name in wanted:
            feats[wanted[layer_name]] = y
            if len(feats) == len(wanted):
                break

    def conv(module_name, value):
        return convert(g, getattr(model, module_name), value, scoped(name, module_name))

    score = conv("score_fr", feats[trunk.out_feature])
    for up_name, skip in zip(model._intermediate_ups, model.SKIPS):
        score = conv(up_name, score)
        scorer, cropped = model._SKIP_NAMES[skip]
        skip_in = feats[trunk.skip_features[skip]]
        if skip in model.SKIP_SCALES:
            skip_in = g.op("Mul", [skip_in, g.const(lumen.tensor(model.SKIP_SCALES[skip]), f"scale_{scorer}")])
        skip_score = _crop(g, conv(scorer, skip_in), score, model.crop_offsets[cropped], scoped(name, cropped))
        score = g.op("Add", [score, skip_score], f"fuse_{scorer}")
    score = conv(model._final_up, score)
    return _crop(g, score, x, model.crop_offsets["score"], scoped(name, "score"))


@register_export(VGG)
@register_export(AlexNet)
def _pooled_classifier(g, model, x, name):
    y = chain(g, model.features.named_children(), x, scoped(name, "features"))
    y = convert(g, model.avgpool, y, scoped(name, "avgpool"))
    y = g.op("Flatten", [y], scoped(name, "flatten"), axis=1)
    return chain(g, model.classifier.named_children(), y, scoped(name, "classifier"))


@register_export(CaffeNet)
def _caffenet(g, model, x, name):
    y = chain(g, ((n, getattr(model, n)) for n in model.FEATURES), x, name)
    y = g.op("Flatten", [y], scoped(name, "flatten"), axis=1)
    return chain(g, ((n, getattr(model, n)) for n in model.CLASSIFIER), y, name)


@register_export(GoogLeNet)
def _googlenet(g, model, x, name):
    y = chain(g, ((n, getattr(model, n)) for n in model.TRUNK), x, name)
    y = g.op("Flatten", [g.op("GlobalAveragePool", [y], scoped(name, "avgpool"))], scoped(name, "flatten"), axis=1)
    return convert(g, model.fc, y, scoped(name, "fc"))


@register_export(Inception)
def _inception(g, m, x, name):
    def relu_conv(branch, value):
        return g.op("Relu", [convert(g, getattr(m, branch), value, scoped(name, branch))])

    branches = [
        relu_conv("conv1x1", x),
        relu_conv("conv3x3", relu_conv("conv3x3_reduce", x)),
        relu_conv("conv5x5", relu_conv("conv5x5_reduce", x)),
        relu_conv("pool_proj", convert(g, m.pool, x, scoped(name, "pool"))),
    ]
    return g.op("Concat", branches, scoped(name, "concat"), axis=1)


@register_export(FullyConvNet)
def _fully_conv(g, model, x, name):
    y = chain(g, model.features.named_children(), x, scoped(name, "features"))
    return chain(g, model.classifier.named_children(), y, scoped(name, "classifier"))


@register_export(Backbone)
def _backbone(g, model, x, name):
    raise NotImplementedError("lumen.onnx.export: a Backbone returns a dict of maps; export the FCN")
