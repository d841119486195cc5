"""ONNX export: ``lumen.onnx.export(model, example_input, path, dynamic_axes=...)``.

The graph is written from the modules' structure, not traced: the model is walked in its
``forward``'s order and every module becomes ONNX operators through the export rule registered
for its type (``register_export``), its weights becoming initializers. Rules here cover
``nn``'s layers and chains: Conv, ConvTranspose, Relu, LeakyRelu, MaxPool / AveragePool
(``ceil_mode``, ``count_include_pad``), adaptive average pooling, LRN, Gemm,
BatchNormalization, Sigmoid, Tanh, Softmax, Flatten, and ``nn.Sequential`` as the chain of its
children; dropout is the identity (export is of the net in eval mode). Packages above ``nn``
register rules for their own models: ``lumen.vision.models`` registers the FCNs on every
backbone (their crops ``Slice`` ops whose ends are read from the reference's ``Shape``, so one
export takes any input size when height and width are dynamic), VGG, AlexNet, CaffeNet,
GoogLeNet and ``convolutionalize``'s nets. Built and checked with the ``onnx`` package
(``pip install 'lumen[onnx]'``); ``onnxruntime`` runs the files.
"""
from __future__ import annotations

from typing import Callable

import lumen
from lumen import nn

__all__ = ["export", "register_export", "convert", "chain", "scoped", "Graph", "OPSET"]

#: The ONNX opset the graphs use.
OPSET = 17


class Graph:
    """The ONNX graph being written, for export rules: ``op`` adds a node and returns its output's
    name, ``const`` / ``ints`` add an initializer (a Tensor, a list of ints) and return its name."""

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


_RULES: dict[type, Callable] = {}


def register_export(module_type: type, fn: Callable | None = None):
    """Make ``fn(graph, module, x, name) -> output name`` the ONNX export of ``module_type`` and its
    subclasses: it adds ``module``'s operators to ``graph`` (a ``Graph``) reading the value named
    ``x`` and returns the name of its output. ``name`` is the module's qualified name in the model
    ("" for the model itself), to prefix its nodes and weights with. ``register_export(MyNet, fn)``
    or, as a decorator, ``@register_export(MyNet)`` over ``fn``; returns ``fn``.
    """
    if not isinstance(module_type, type):
        raise TypeError(f"register_export: module_type must be a class, got {module_type!r}")
    if fn is None:
        return lambda f: register_export(module_type, f)
    if not callable(fn):
        raise TypeError(f"register_export({module_type.__name__}): expected a function "
                        f"(graph, module, x, name) -> output name, got {fn!r}")
    _RULES[module_type] = fn
    return fn


def convert(g, m, x, name):
    """The output of module ``m`` applied to the value ``x``, written by the rule of ``m``'s type."""
    rule = next((_RULES[cls] for cls in type(m).__mro__ if cls in _RULES), None)
    if rule is None:
        raise NotImplementedError(f"lumen.onnx.export: layer {name or '(the model)'} ({type(m).__name__}) has no "
                                  f"ONNX conversion; register one with @lumen.onnx.register_export("
                                  f"{type(m).__name__})")
    return rule(g, m, x, name)


def scoped(prefix, name):
    """The qualified name of ``prefix``'s child ``name`` (``named_modules``' names)."""
    return f"{prefix}.{name}" if prefix else name


def chain(g, named, x, prefix):
    """``x`` through the (name, module) pairs ``named`` in turn, each named under ``prefix``."""
    for child_name, child in named:
        x = convert(g, child, x, scoped(prefix, child_name))
    return x


def _op_rule(kind):
    return lambda g, m, x, name: g.op(kind, [x], name or kind.lower())


register_export(nn.Conv2d, _conv)
register_export(nn.ConvTranspose2d, _conv)
register_export(nn.MaxPool2d, _pool)
register_export(nn.AvgPool2d, _pool)
register_export(nn.AdaptiveAvgPool2d, _adaptive_avg)
register_export(nn.ReLU, _op_rule("Relu"))
register_export(nn.Sigmoid, _op_rule("Sigmoid"))
register_export(nn.Tanh, _op_rule("Tanh"))
register_export(nn.Dropout, lambda g, m, x, name: x)
register_export(nn.Identity, lambda g, m, x, name: x)
register_export(nn.Sequential, lambda g, m, x, name: chain(g, m.named_children(), x, name))


@register_export(nn.LeakyReLU)
def _leaky_relu(g, m, x, name):
    return g.op("LeakyRelu", [x], name, alpha=float(m.negative_slope))


@register_export(nn.LocalResponseNorm)
def _lrn(g, m, x, name):
    return g.op("LRN", [x], name, size=m.size, alpha=float(m.alpha), beta=float(m.beta), bias=float(m.k))


@register_export(nn.Linear)
def _linear(g, m, x, name):
    inputs = [x, g.const(m.weight, f"{name}.weight")] + ([g.const(m.bias, f"{name}.bias")] if m.bias is not None else [])
    return g.op("Gemm", inputs, name, transB=1)


@register_export(nn.Flatten)
def _flatten(g, m, x, name):
    return g.op("Flatten", [x], name, axis=m.start_dim)


@register_export(nn.BatchNorm2d)
def _batch_norm(g, m, x, name):
    mean, var = m.running_mean, m.running_var
    weight = m.weight if m.weight is not None else lumen.ones(mean.shape)
    bias = m.bias if m.bias is not None else lumen.zeros(mean.shape)
    return g.op("BatchNormalization", [x, g.const(weight, f"{name}.weight"), g.const(bias, f"{name}.bias"),
                                      g.const(mean, f"{name}.running_mean"), g.const(var, f"{name}.running_var")],
                name, epsilon=float(m.eps))


@register_export(nn.Softmax)
def _softmax(g, m, x, name):
    return g.op("Softmax", [x], name, axis=m.dim if m.dim is not None else 1)


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
        g = Graph(onnx)
        result = convert(g, model, in_name, "")
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
