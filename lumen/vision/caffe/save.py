"""``save(module, prototxt_path, caffemodel_path)``: Lumen's shipped nets as a Caffe net definition and caffemodel.

The net is written with an ``Input`` layer and the layers of the module's ``forward``, named as
Caffe's reference nets name them: the FCNs as ``voc-fcn*/net.py`` (``conv1_1`` ... ``score_fr``,
``upscore2``, ``score_pool4c`` crops, ``fuse_pool4`` sums; the at-once net's ``scale_pool4`` /
``scale_pool3`` as fixed Scale layers), CaffeNet as ``bvlc_reference_caffenet``, GoogLeNet as
``bvlc_googlenet`` (``conv1/7x7_s2``, ``inception_3a/1x1`` ..., ``loss3/classifier``), VGG as
``VGG_ILSVRC_16_layers`` (``conv1_1`` ... ``fc8``). Pooling keeps its rounding (``round_mode``).
Fixed (frozen) weights get ``lr_mult: 0``. Blobs are float32, with ``shape``.
"""
from __future__ import annotations

from google.protobuf import text_format

import lumen
from lumen import nn
from lumen.serialization import atomic_write
from lumen.vision.caffe import schema
from lumen.vision.caffe.net import Net
from lumen.vision.models.alexnet import AlexNet, CaffeNet
from lumen.vision.models.fcn import FCN
from lumen.vision.models.googlenet import GoogLeNet, Inception
from lumen.vision.models.surgery import FullyConvNet
from lumen.vision.models.vgg import VGG

__all__ = ["save", "lumen_keys", "GOOGLENET_NAMES", "INCEPTION_NAMES"]

#: Lumen's GoogLeNet trunk names -> bvlc_googlenet's layer names (inception blocks: INCEPTION_NAMES).
GOOGLENET_NAMES = {
    "conv1": "conv1/7x7_s2", "relu1": "conv1/relu_7x7", "pool1": "pool1/3x3_s2", "norm1": "pool1/norm1",
    "conv2_reduce": "conv2/3x3_reduce", "relu2_reduce": "conv2/relu_3x3_reduce", "conv2": "conv2/3x3",
    "relu2": "conv2/relu_3x3", "norm2": "conv2/norm2", "pool2": "pool2/3x3_s2", "pool3": "pool3/3x3_s2",
    "pool4": "pool4/3x3_s2", "avgpool": "pool5/7x7_s1", "dropout": "pool5/drop_7x7_s1", "fc": "loss3/classifier",
    **{f"inception{b}": f"inception_{b}" for b in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")},
}
#: An ``Inception`` block's submodules -> the suffixes of bvlc_googlenet's ``inception_3a/<suffix>`` layers.
INCEPTION_NAMES = {"conv1x1": "1x1", "conv3x3_reduce": "3x3_reduce", "conv3x3": "3x3",
                   "conv5x5_reduce": "5x5_reduce", "conv5x5": "5x5", "pool": "pool", "pool_proj": "pool_proj"}


def lumen_keys(state_dict) -> dict:
    """``state_dict`` with bvlc_googlenet's layer names (``inception_3a/1x1.weight``, ``conv1/7x7_s2.bias``,
    ``loss3/classifier.weight`` ...) renamed to Lumen's GoogLeNet keys (``inception3a.conv1x1.weight`` ...);
    other keys as they are. ``googlenet().load_state_dict(lumen_keys(caffemodel_state_dict(path)))``."""
    layers = {caffe: ours for ours, caffe in GOOGLENET_NAMES.items()}
    layers.update({f"{caffe}/{sub}": f"{ours}.{mine}" for ours, caffe in GOOGLENET_NAMES.items()
                   if ours.startswith("inception") for mine, sub in INCEPTION_NAMES.items()})
    out = {}
    for key, value in state_dict.items():
        layer, _, kind = key.rpartition(".")
        out[f"{layers.get(layer, layer)}.{kind}" if layer else key] = value
    return out


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class _Writer:
    def __init__(self, name):
        self.net = schema.NetParameter(name=name)
        self.blobs = {}  # layer name -> [Tensor]

    def layer(self, name, kind, bottoms, tops, blobs=(), frozen=()):
        layer = self.net.layer.add(name=name, type=kind)
        layer.bottom.extend(bottoms)
        layer.top.extend(tops)
        for is_frozen in frozen:
            layer.param.add(lr_mult=0.0 if is_frozen else 1.0)
        if blobs:
            self.blobs[name] = list(blobs)
        return layer

    def input(self, name, shape):
        self.layer(name, "Input", [], [name]).input_param.shape.add(dim=list(shape))
        return name

    def conv(self, name, m, bottom):
        transposed = isinstance(m, nn.ConvTranspose2d)
        if isinstance(m.padding, str) or (transposed and any(_pair(m.output_padding))):
            raise ValueError(f"caffe.save: layer {name}: padding {m.padding!r} / output_padding has no Caffe form")
        params = [m.weight] + ([m.bias] if m.bias is not None else [])
        layer = self.layer(name, "Deconvolution" if transposed else "Convolution", [bottom], [name], params,
                           frozen=[not p.requires_grad for p in params] if any(not p.requires_grad for p in params)
                           else ())
        p = layer.convolution_param
        p.num_output, p.bias_term, p.group = m.out_channels, m.bias is not None, m.groups
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (_pair(m.kernel_size), _pair(m.stride), _pair(m.padding),
                                                  _pair(m.dilation))
        if kh == kw:
            p.kernel_size.append(kh)
        else:
            p.kernel_h, p.kernel_w = kh, kw
        if (sh, sw) != (1, 1):
            p.stride.extend([sh] if sh == sw else [sh, sw])
        if (ph, pw) != (0, 0):
            p.pad.extend([ph] if ph == pw else [ph, pw])
        if (dh, dw) != (1, 1):
            p.dilation.extend([dh] if dh == dw else [dh, dw])
        return name

    def inner_product(self, name, m, bottom):
        params = [m.weight] + ([m.bias] if m.bias is not None else [])
        layer = self.layer(name, "InnerProduct", [bottom], [name], params)
        layer.inner_product_param.num_output, layer.inner_product_param.bias_term = m.out_features, m.bias is not None
        return name

    def pool(self, name, m, bottom, global_pooling=False):
        layer = self.layer(name, "Pooling", [bottom], [name])
        p = layer.pooling_param
        if global_pooling:
            p.pool, p.global_pooling = type(p).AVE, True
            return name
        if isinstance(m, nn.AvgPool2d) and (not m.count_include_pad or m.divisor_override is not None):
            raise ValueError(f"caffe.save: layer {name}: Caffe's average pooling counts the padding "
                             "(count_include_pad=True, no divisor_override)")
        if isinstance(m, nn.MaxPool2d) and _pair(m.dilation) != (1, 1):
            raise ValueError(f"caffe.save: layer {name}: Caffe's pooling has no dilation")
        p.pool = type(p).MAX if isinstance(m, nn.MaxPool2d) else type(p).AVE
        (kh, kw), (ph, pw) = _pair(m.kernel_size), _pair(m.padding)
        sh, sw = _pair(m.stride if m.stride is not None else m.kernel_size)
        if kh == kw:
            p.kernel_size = kh
        else:
            p.kernel_h, p.kernel_w = kh, kw
        if sh == sw:
            p.stride = sh
        else:
            p.stride_h, p.stride_w = sh, sw
        if ph == pw:
            p.pad = ph
        else:
            p.pad_h, p.pad_w = ph, pw
        p.round_mode = type(p).CEIL if m.ceil_mode else type(p).FLOOR
        return name

    def leaf(self, name, m, bottom):
        """One layer; returns the blob holding its output (in place for ReLU and Dropout, as Caffe's nets)."""
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            return self.conv(name, m, bottom)
        if isinstance(m, nn.Linear):
            return self.inner_product(name, m, bottom)
        if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            return self.pool(name, m, bottom)
        if isinstance(m, nn.ReLU):
            self.layer(name, "ReLU", [bottom], [bottom])
            return bottom
        if isinstance(m, nn.LeakyReLU):
            self.layer(name, "ReLU", [bottom], [bottom]).relu_param.negative_slope = m.negative_slope
            return bottom
        if isinstance(m, nn.Dropout):
            self.layer(name, "Dropout", [bottom], [bottom]).dropout_param.dropout_ratio = m.p
            return bottom
        if isinstance(m, nn.LocalResponseNorm):
            p = self.layer(name, "LRN", [bottom], [name]).lrn_param
            p.local_size, p.alpha, p.beta, p.k = m.size, m.alpha, m.beta, m.k
            return name
        if isinstance(m, Inception):
            return self.inception(name, m, bottom)
        raise ValueError(f"caffe.save: layer {name} ({type(m).__name__}) has no Caffe layer here")

    def inception(self, prefix, m, bottom):
        def conv_relu(ours, x):
            top = self.conv(f"{prefix}/{INCEPTION_NAMES[ours]}", getattr(m, ours), x)
            self.layer(f"{prefix}/relu_{INCEPTION_NAMES[ours]}", "ReLU", [top], [top])
            return top
        branches = [conv_relu("conv1x1", bottom),
                    conv_relu("conv3x3", conv_relu("conv3x3_reduce", bottom)),
                    conv_relu("conv5x5", conv_relu("conv5x5_reduce", bottom)),
                    conv_relu("pool_proj", self.pool(f"{prefix}/pool", m.pool, bottom))]
        self.layer(f"{prefix}/output", "Concat", branches, [f"{prefix}/output"])
        return f"{prefix}/output"

    def crop(self, name, bottom, ref, offset):
        p = self.layer(name, "Crop", [bottom, ref], [name]).crop_param
        p.axis = 2
        p.offset.append(offset)
        return name

    def sum(self, name, a, b):
        self.layer(name, "Eltwise", [a, b], [name]).eltwise_param.operation = schema.message("EltwiseParameter").SUM
        return name

    def write(self, prototxt_path, caffemodel_path):
        with atomic_write(prototxt_path) as f:
            f.write(text_format.MessageToString(self.net).encode("utf-8"))
        model = schema.NetParameter()
        model.CopyFrom(self.net)
        for layer in model.layer:
            for tensor in self.blobs.get(layer.name, ()):
                blob = layer.blobs.add()
                t = tensor.detach().cpu().to(lumen.float32).contiguous()
                blob.shape.dim.extend(t.shape)
                blob.data.append(t.numpy().astype("<f4", copy=False).tobytes())
        with atomic_write(caffemodel_path) as f:
            f.write(model.SerializeToString())


def _net(w, net):
    """A loaded Caffe ``Net`` back out: its layers' definitions, its parameters' current values as blobs."""
    for name in net.input_names:
        shape = net.input_shapes.get(name)
        layer = w.layer(name, "Input", [], [name])
        if shape is not None:
            layer.input_param.shape.add(dim=list(shape))
    for definition, (layer_name, module_name, kind, _, _) in zip(net._definitions, net._steps):
        w.net.layer.add().CopyFrom(definition)
        module = net._modules[module_name]
        if kind == "BatchNorm":
            blobs = [module.running_mean, module.running_var, lumen.ones(1)]
        else:
            blobs = [t for t in (getattr(module, "weight", None), getattr(module, "bias", None)) if t is not None]
        if blobs:
            w.blobs[layer_name] = blobs


def _googlenet_trunk(w, model, names, x):
    for name in names:
        x = w.leaf(GOOGLENET_NAMES.get(name, name), getattr(model, name), x)
    return x


def _fcn(w, model, x):
    trunk = model.backbone
    wanted = {layer: feature for feature, layer in trunk.FEATURES.items()}
    feats, blob = {}, x
    is_googlenet = type(trunk).__name__ == "GoogLeNetBackbone"
    for name, layer in trunk.named_children():
        blob = w.leaf(GOOGLENET_NAMES.get(name, name) if is_googlenet else name, layer, blob)
        if name in wanted:
            feats[wanted[name]] = blob
            if len(feats) == len(wanted):
                break
    score = w.conv("score_fr", model.score_fr, feats[trunk.out_feature])
    for up_name, skip in zip(model._intermediate_ups, model.SKIPS):
        score = w.conv(up_name, getattr(model, up_name), score)
        scorer, cropped = model._SKIP_NAMES[skip]
        skip_in = feats[trunk.skip_features[skip]]
        if skip in model.SKIP_SCALES:
            scale_name = f"scale_{skip_in}"
            channels = getattr(model, scorer).in_channels
            scale = lumen.full((channels,), model.SKIP_SCALES[skip])
            w.layer(scale_name, "Scale", [skip_in], [scale_name], [scale], frozen=[True])
            skip_in = scale_name
        skip_score = w.crop(cropped, w.conv(scorer, getattr(model, scorer), skip_in), score,
                            model.crop_offsets[cropped])
        score = w.sum(f"fuse_{skip_in.replace('scale_', '')}", score, skip_score)
    score = w.conv(model._final_up, getattr(model, model._final_up), score)
    return w.crop("score", score, x, model.crop_offsets["score"])


def _chain(w, named, x):
    for name, m in named:
        x = w.leaf(name, m, x)
    return x


def _caffe_names(features, classifier):
    """VGG / torchvision AlexNet layers under Caffe's names (conv1_1 or conv1 ..., fc6 ...), in order."""
    out, block, conv_in_block, convs = [], 1, 0, 0
    vgg = sum(isinstance(m, nn.MaxPool2d) for m in features) == 5 and sum(
        isinstance(m, nn.Conv2d) for m in features) > 5
    for m in features:
        if isinstance(m, nn.Conv2d):
            conv_in_block, convs = conv_in_block + 1, convs + 1
            tag = f"{block}_{conv_in_block}" if vgg else f"{convs}"
            out.append((f"conv{tag}", m))
        elif isinstance(m, nn.ReLU):
            out.append((f"relu{tag}", m))
        elif isinstance(m, nn.MaxPool2d):
            out.append((f"pool{block if vgg else convs}", m))
            block, conv_in_block = block + 1, 0
        else:
            raise ValueError(f"caffe.save: {type(m).__name__} in the features has no Caffe layer here")
    fc, drops = 6, 6
    for m in classifier:
        if isinstance(m, (nn.Linear, nn.Conv2d)):  # Conv2d: convolutionalize's fc layers
            out.append((f"fc{fc}", m))
            fc += 1
        elif isinstance(m, nn.ReLU):
            out.append((f"relu{fc - 1}", m))
        elif isinstance(m, nn.Dropout):
            out.append((f"drop{drops}", m))
            drops += 1
        else:
            raise ValueError(f"caffe.save: {type(m).__name__} in the classifier has no Caffe layer here")
    return out


def save(module, prototxt_path, caffemodel_path, input_shape=None) -> None:
    """Write ``module`` as ``prototxt_path`` (net definition) and ``caffemodel_path`` (its weights).

    ``module``: a ``Net`` from ``load`` (written back with its layers' definitions and the current
    values of its parameters; ``input_shape`` unused), an FCN (any variant and backbone), CaffeNet, GoogLeNet (its inference path: the
    auxiliary heads are not written), VGG or torchvision AlexNet (their adaptive pooling is left out,
    as in Caffe's nets: the net then takes 224x224 inputs only), or ``convolutionalize``'s net of
    one of those. ``input_shape``: the Input layer's (N, C, H, W); default (1, 3, 500, 500) for an FCN
    (the reference's deploy size), (1, 3, 227, 227) for CaffeNet, (1, 3, 224, 224) otherwise.
    ``lumen.vision.caffe.load`` reads the pair back to the same outputs with bit-identical weights.
    """
    if isinstance(module, Net):
        w = _Writer(module.name)
        _net(w, module)
        w.write(prototxt_path, caffemodel_path)
        return
    w = _Writer(type(module).__name__)
    default = (1, 3, 500, 500) if isinstance(module, FCN) else (1, 3, 227, 227) if isinstance(module, CaffeNet) \
        else (1, 3, 224, 224)
    x = w.input("data", tuple(input_shape) if input_shape is not None else default)
    if isinstance(module, FCN):
        _fcn(w, module, x)
    elif isinstance(module, CaffeNet):
        _chain(w, ((n, getattr(module, n)) for n in module.FEATURES + module.CLASSIFIER), x)
    elif isinstance(module, GoogLeNet):
        y = _googlenet_trunk(w, module, module.TRUNK, x)
        y = w.pool(GOOGLENET_NAMES["avgpool"], module.avgpool, y, global_pooling=True)
        y = w.leaf(GOOGLENET_NAMES["dropout"], module.dropout, y)
        w.leaf(GOOGLENET_NAMES["fc"], module.fc, y)
    elif isinstance(module, (VGG, AlexNet)):
        _chain(w, _caffe_names(list(module.features), list(module.classifier)), x)
    elif isinstance(module, FullyConvNet) and all(n.isdigit() for n, _ in module.features.named_children()):
        # of a VGG or torchvision AlexNet (features.N, classifier.N)
        _chain(w, _caffe_names(list(module.features), list(module.classifier)), x)
    elif isinstance(module, FullyConvNet):  # of a CaffeNet: Caffe's names already
        _chain(w, list(module.features.named_children()) + list(module.classifier.named_children()), x)
    else:
        raise TypeError(f"caffe.save: expected one of Lumen's FCNs or classifiers (FCN, CaffeNet, GoogLeNet, VGG, "
                        f"AlexNet, FullyConvNet), got {type(module).__name__}")
    w.write(prototxt_path, caffemodel_path)
