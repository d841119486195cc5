"""ONNX export of the models Lumen ships: ``lumen.onnx.export(model, example_input, path, dynamic_axes=...)``.

The graph is written from the modules' structure, not traced: each shipped net (the FCNs on every
backbone, VGG, AlexNet, CaffeNet, GoogLeNet, ``convolutionalize``'s nets, and ``nn.Sequential``
chains of the layers below) is walked in its ``forward``'s order and every layer becomes its ONNX
operator with the layer's weights as initializers: Conv, ConvTranspose, Relu, LeakyRelu, MaxPool /
AveragePool (``ceil_mode``, ``count_include_pad``), LRN, Gemm, BatchNormalization, Sigmoid, Tanh,
Softmax, Concat, Flatten; dropout is the identity (export is of the net in eval mode). An FCN's
crops are ``Slice`` ops whose ends are read from the reference's ``Shape``, so one export takes any
input size when height and width are dynamic. Built and checked with the ``onnx`` package
(``pip install 'lumen[onnx]'``); ``onnxruntime`` runs the files.
"""
from __future__ import annotations

import lumen
from lumen import nn
from lumen.vision.models.alexnet import AlexNet, CaffeNet
from lumen.vision.models.backbones import Backbone
from lumen.vision.models.fcn import FCN
from lumen.vision.models.googlenet import GoogLeNet, Inception
from lumen.vision.models.surgery import FullyConvNet
from lumen.vision.models.vgg import VGG

__all__ = ["export", "OPSET"]

#: The ONNX opset the graphs use.
OPSET = 17


class _Graph:
    def __init__(self, onnx):
        self.onnx, self.nodes, self.initializers, self._count = onnx, [], [], 0

    def name(self, hint):
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, tensor, hint, dtype=None):
        t = tensor.detach().cpu()
        t = t.to(lumen.float32) if dtype is None and t.is_floating_point() else t
        onnx_type = self.onnx.TensorProto.FLOAT if t.dtype == lumen.float32 else self.onnx.TensorProto.INT64
        name = self.name(hint)
        self.initializers.append(self.onnx.helper.make_tensor(
            name, onnx_type, tuple(t.shape), t.contiguous().numpy().tobytes(), raw=True))
        return name

    def ints(self, values, hint):
        return self.const(lumen.tensor(list(values), dtype=lumen.int64), hint)

    def op(self, kind, inputs, hint=None, **attrs):
        out = self.name(hint or kind.lower())
        self.nodes.append(self.onnx.helper.make_node(kind, list(inputs), [out], name=out, **attrs))
        return out


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _conv(g, m, x, name):
    inputs = [x, g.const(m.weight, f"{name}.weight")]
    if m.bias is not None:
        inputs.append(g.const(m.bias, f"{name}.bias"))
    if isinstance(m.padding, str):
        raise NotImplementedError(f"lumen.onnx.export: {name}: padding={m.padding!r} is not supported")
    ph, pw = _pair(m.padding)
    attrs = dict(kernel_shape=list(_pair(m.kernel_size)), strides=list(_pair(m.stride)), pads=[ph, pw, ph, pw],
                 dilations=list(_pair(m.dilation)), group=m.groups)
    if isinstance(m, nn.ConvTranspose2d):
        if any(_pair(m.output_padding)):
            attrs["output_padding"] = list(_pair(m.output_padding))
        return g.op("ConvTranspose", inputs, name, **attrs)
    return g.op("Conv", inputs, name, **attrs)


def _pool(g, m, x, name):
    k, s, p = _pair(m.kernel_size), _pair(m.stride if m.stride is not None else m.kernel_size), _pair(m.padding)
    attrs = dict(kernel_shape=list(k), strides=list(s), pads=[p[0], p[1], p[0], p[1]], ceil_mode=int(m.ceil_mode))
    if isinstance(m, nn.MaxPool2d):
        if _pair(m.dilation) != (1, 1):
            attrs["dilations"] = list(_pair(m.dilation))
        return g.op("MaxPool", [x], name, **attrs)
    if m.divisor_override is not None:
        raise NotImplementedError(f"lumen.onnx.export: {name}: AvgPool2d divisor_override is not supported")
    return g.op("AveragePool", [x], name, count_include_pad=int(m.count_include_pad), **attrs)


def _adaptive_matrix(g, x, axis, out, name):
    """(out, L) averaging matrix of adaptive pooling over x's ``axis`` of dynamic length L:
    row i averages [floor(i L / out), ceil((i + 1) L / out)), PyTorch's windows."""
    length = g.op("Slice", [g.op("Shape", [x]), g.ints([axis], "start"), g.ints([axis + 1], "end")], f"{name}.len")
    positions = g.op("Range", [g.const(lumen.tensor(0, dtype=lumen.int64), "zero"),
                               g.op("Squeeze", [length, g.ints([0], "axes")]),
                               g.const(lumen.tensor(1, dtype=lumen.int64), "one")], f"{name}.pos")
    rows = g.ints(list(range(out)), f"{name}.rows")
    n_out = g.ints([out], f"{name}.out")
    start = g.op("Div", [g.op("Mul", [rows, length]), n_out], f"{name}.start")
    end = g.op("Div", [g.op("Add", [g.op("Mul", [g.op("Add", [rows, g.ints([1], "one")]), length]),
                                    g.ints([out - 1], "round_up")]), n_out], f"{name}.end")
    start_col = g.op("Unsqueeze", [start, g.ints([1], "axes")])
    end_col = g.op("Unsqueeze", [end, g.ints([1], "axes")])
    inside = g.op("And", [g.op("GreaterOrEqual", [positions, start_col]), g.op("Less", [positions, end_col])])
    counts = g.op("Cast", [g.op("Sub", [end_col, start_col])], to=g.onnx.TensorProto.FLOAT)
    return g.op("Div", [g.op("Cast", [inside], to=g.onnx.TensorProto.FLOAT), counts], f"{name}.matrix")


def _adaptive_avg(g, m, x, name):
    out_h, out_w = _pair(m.output_size)
    if (out_h, out_w) == (1, 1):
        return g.op("GlobalAveragePool", [x], name)
    if out_h is None or out_w is None:
        raise NotImplementedError(f"lumen.onnx.export: {name}: AdaptiveAvgPool2d with a None output size")
    # Adaptive pooling is linear and separable: rows then columns, by matrices built from x's shape.
    rows = g.op("MatMul", [_adaptive_matrix(g, x, 2, out_h, f"{name}.h"), x], f"{name}.rows")
    cols = g.op("Transpose", [_adaptive_matrix(g, x, 3, out_w, f"{name}.w")], perm=[1, 0])
    return g.op("MatMul", [rows, cols], name)


def _leaf(g, m, x, name):
    """One layer of a chain."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        return _conv(g, m, x, name)
    if isinstance(m, nn.ReLU):
        return g.op("Relu", [x], name)
    if isinstance(m, nn.LeakyReLU):
        return g.op("LeakyRelu", [x], name, alpha=float(m.negative_slope))
    if isinstance(m, nn.Sigmoid):
        return g.op("Sigmoid", [x], name)
    if isinstance(m, nn.Tanh):
        return g.op("Tanh", [x], name)
    if isinstance(m, (nn.Dropout, nn.Identity)):
        return x
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        return _pool(g, m, x, name)
    if isinstance(m, nn.AdaptiveAvgPool2d):
        return _adaptive_avg(g, m, x, name)
    if isinstance(m, nn.LocalResponseNorm):
        return g.op("LRN", [x], name, size=m.size, alpha=float(m.alpha), beta=float(m.beta), bias=float(m.k))
    if isinstance(m, nn.Linear):
        inputs = [x, g.const(m.weight, f"{name}.weight")] + ([g.const(m.bias, f"{name}.bias")] if m.bias is not None else [])
        return g.op("Gemm", inputs, name, transB=1)
    if isinstance(m, nn.Flatten):
        return g.op("Flatten", [x], name, axis=m.start_dim)
    if isinstance(m, nn.BatchNorm2d):
        mean, var = m.running_mean, m.running_var
        weight = m.weight if m.weight is not None else lumen.ones(mean.shape)
        bias = m.bias if m.bias is not None else lumen.zeros(mean.shape)
        return g.op("BatchNormalization", [x, g.const(weight, f"{name}.weight"), g.const(bias, f"{name}.bias"),
                                          g.const(mean, f"{name}.running_mean"), g.const(var, f"{name}.running_var")],
                    name, epsilon=float(m.eps))
    if isinstance(m, nn.Softmax):
        return g.op("Softmax", [x], name, axis=m.dim if m.dim is not None else 1)
    if isinstance(m, Inception):
        branches = [
            g.op("Relu", [_conv(g, m.conv1x1, x, f"{name}.conv1x1")]),
            g.op("Relu", [_conv(g, m.conv3x3, g.op("Relu", [_conv(g, m.conv3x3_reduce, x, f"{name}.conv3x3_reduce")]),
                                f"{name}.conv3x3")]),
            g.op("Relu", [_conv(g, m.conv5x5, g.op("Relu", [_conv(g, m.conv5x5_reduce, x, f"{name}.conv5x5_reduce")]),
                                f"{name}.conv5x5")]),
            g.op("Relu", [_conv(g, m.pool_proj, _pool(g, m.pool, x, f"{name}.pool"), f"{name}.pool_proj")]),
        ]
        return g.op("Concat", branches, f"{name}.concat", axis=1)
    if isinstance(m, nn.Sequential):
        return _chain(g, m.named_children(), x, name)
    raise NotImplementedError(f"lumen.onnx.export: layer {name} ({type(m).__name__}) has no ONNX conversion")


def _chain(g, named, x, prefix):
    for child_name, child in named:
        x = _leaf(g, child, x, f"{prefix}.{child_name}" if prefix else child_name)
    return x


def _crop(g, x, ref, offset, name):
    """Caffe's crop of x's spatial dims to ref's, at ``offset``: a Slice whose ends come from ref's Shape."""
    sizes = g.op("Slice", [g.op("Shape", [ref]), g.ints([2], "start"), g.ints([4], "end")], f"{name}.size")
    starts = g.ints([offset, offset], f"{name}.offset")
    ends = g.op("Add", [sizes, starts], f"{name}.ends")
    return g.op("Slice", [x, starts, ends, g.ints([2, 3], f"{name}.axes")], name)


def _fcn(g, model, x):
    trunk = model.backbone
    wanted = {layer: feature for feature, layer in trunk.FEATURES.items()}
    feats, y = {}, x
    for name, layer in trunk.named_children():
        y = _leaf(g, layer, y, name)
        if name in wanted:
            feats[wanted[name]] = y
            if len(feats) == len(wanted):
                break
    score = _conv(g, model.score_fr, feats[trunk.out_feature], "score_fr")
    for up_name, skip in zip(model._intermediate_ups, model.SKIPS):
        score = _conv(g, getattr(model, up_name), score, up_name)
        scorer, cropped = model._SKIP_NAMES[skip]
        skip_in = feats[trunk.skip_features[skip]]
        if skip in model.SKIP_SCALES:
            skip_in = g.op("Mul", [skip_in, g.const(lumen.tensor(model.SKIP_SCALES[skip]), f"scale_{scorer}")])
        skip_score = _crop(g, _conv(g, getattr(model, scorer), skip_in, scorer), score,
                           model.crop_offsets[cropped], cropped)
        score = g.op("Add", [score, skip_score], f"fuse_{scorer}")
    score = _conv(g, getattr(model, model._final_up), score, model._final_up)
    return _crop(g, score, x, model.crop_offsets["score"], "score")


def _graph_output(g, model, x):
    if isinstance(model, FCN):
        return _fcn(g, model, x)
    if isinstance(model, (VGG, AlexNet)):
        y = _leaf(g, model.avgpool, _chain(g, model.features.named_children(), x, "features"), "avgpool")
        return _chain(g, model.classifier.named_children(), g.op("Flatten", [y], "flatten", axis=1), "classifier")
    if isinstance(model, CaffeNet):
        y = _chain(g, ((n, getattr(model, n)) for n in model.FEATURES), x, "")
        y = g.op("Flatten", [y], "flatten", axis=1)
        return _chain(g, ((n, getattr(model, n)) for n in model.CLASSIFIER), y, "")
    if isinstance(model, GoogLeNet):
        y = _chain(g, ((n, getattr(model, n)) for n in model.TRUNK), x, "")
        y = g.op("Flatten", [g.op("GlobalAveragePool", [y], "avgpool")], "flatten", axis=1)
        return _leaf(g, model.fc, y, "fc")
    if isinstance(model, FullyConvNet):
        y = _chain(g, model.features.named_children(), x, "features")
        return _chain(g, model.classifier.named_children(), y, "classifier")
    if isinstance(model, Backbone):
        raise NotImplementedError("lumen.onnx.export: a Backbone returns a dict of maps; export the FCN")
    return _leaf(g, model, x, type(model).__name__.lower())


def _value_info(onnx, name, shape, axes):
    dims = [axes.get(i, d) for i, d in enumerate(shape)]
    return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, dims)


def export(model, example_input, path, dynamic_axes=None, input_names=("input",), output_names=("output",),
           opset_version: int = OPSET, check: bool = True):
    """Write ``model`` (in eval mode) as an ONNX file at ``path``; returns the ``onnx.ModelProto``.

    ``example_input``: an (N, 3, H, W) Tensor; the output's shape is read from running the model on
    it. ``dynamic_axes``: as ``torch.onnx.export``'s, {input or output name: {axis: symbolic name}}
    (or a list of axes), e.g. ``{"input": {0: "N", 2: "H", 3: "W"}, "output": {0: "N", 2: "H", 3: "W"}}``
    for an FCN that takes any size; other axes are fixed to the example's. Adaptive average pooling
    (VGG's, AlexNet's) becomes two averaging matrices built from the map's shape, so the classifiers
    too take any size their trunk does. ``check``: run ``onnx.checker`` on the result. The model's
    mode is restored afterwards.
    """
    import onnx

    if not isinstance(example_input, lumen.Tensor) or example_input.ndim != 4:
        raise ValueError(f"lumen.onnx.export: example_input must be an (N, C, H, W) Tensor, got "
                         f"{tuple(example_input.shape) if isinstance(example_input, lumen.Tensor) else type(example_input).__name__}")
    if opset_version < 13:
        raise ValueError(f"lumen.onnx.export: opset_version must be >= 13 (Slice with inputs), got {opset_version}")
    (in_name,), (out_name,) = tuple(input_names), tuple(output_names)
    axes = {}
    for key, value in (dynamic_axes or {}).items():
        if key not in (in_name, out_name):
            raise ValueError(f"lumen.onnx.export: dynamic_axes names {key!r}, not the input {in_name!r} or "
                             f"output {out_name!r}")
        axes[key] = dict(value) if isinstance(value, dict) else {i: f"{key}_dim{i}" for i in value}
    was_training = model.training
    model.eval()
    try:
        with lumen.no_grad():
            out = model(example_input)
        g = _Graph(onnx)
        result = _graph_output(g, model, in_name)
        g.nodes.append(onnx.helper.make_node("Identity", [result], [out_name], name=out_name))
    finally:
        model.train(was_training)
    graph = onnx.helper.make_graph(
        g.nodes, type(model).__name__,
        [_value_info(onnx, in_name, tuple(example_input.shape), axes.get(in_name, {}))],
        [_value_info(onnx, out_name, tuple(out.shape), axes.get(out_name, {}))], g.initializers)
    proto = onnx.helper.make_model(graph, producer_name="lumen",
                                   opset_imports=[onnx.helper.make_opsetid("", opset_version)])
    if check:
        onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return proto
