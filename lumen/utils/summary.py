"""``lumen.utils.summary(model, input_size)``: a model layer by layer, as torchinfo prints it (name, type,
output shape, parameters, trainable, multiply-adds, totals), and with ``time=True`` each layer's forward
and backward milliseconds on the model's device, as Caffe's ``caffe time`` reports them.

    python -m lumen.utils.summary fcn8s --input 1,3,500,500 --time

A row is a module that holds parameters of its own or has no children (the layers that compute);
containers are summed in the totals, not listed. Each layer is timed alone on the input it received in
the forward pass, the median of ``repeat`` runs (``lumen.cuda.synchronize`` around each on a GPU).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time as clock
import types
from dataclasses import dataclass

import lumen
from lumen import nn
from lumen.nn.modules.conv import _ConvNd

__all__ = ["summary", "ModelSummary", "LayerSummary"]


@dataclass
class LayerSummary:
    name: str
    type: str
    output_shape: tuple
    params: int
    trainable_params: int
    mult_adds: int
    forward_ms: float | None = None
    backward_ms: float | None = None


@dataclass
class ModelSummary:
    layers: list
    input_shapes: list
    total_params: int
    trainable_params: int

    @property
    def total_mult_adds(self) -> int:
        return sum(layer.mult_adds for layer in self.layers)

    def __str__(self):
        timed = any(layer.forward_ms is not None for layer in self.layers)
        head = ["Layer (type)", "Output Shape", "Param #", "Trainable", "Mult-Adds"]
        if timed:
            head += ["Forward ms", "Backward ms"]
        rows = []
        for layer in self.layers:
            row = [f"{layer.name or '(model)'} ({layer.type})", str(list(layer.output_shape)), f"{layer.params:,}",
                   _trainable(layer), f"{layer.mult_adds:,}"]
            if timed:
                row += [_ms(layer.forward_ms), _ms(layer.backward_ms)]
            rows.append(row)
        widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]

        def line(cells):
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

        rule = "=" * len(line(head))
        out = [rule, line(head), rule, *map(line, rows), rule,
               f"Input shape: {', '.join(str(list(s)) for s in self.input_shapes)}",
               f"Total params: {self.total_params:,}", f"Trainable params: {self.trainable_params:,}",
               f"Non-trainable params: {self.total_params - self.trainable_params:,}",
               f"Total mult-adds (G): {self.total_mult_adds / 1e9:.3f}"]
        if timed:
            forward = sum(layer.forward_ms or 0 for layer in self.layers)
            backward = sum(layer.backward_ms or 0 for layer in self.layers)
            out.append(f"Forward pass (ms): {forward:.2f}   Backward pass (ms): {backward:.2f}")
        out.append(rule)
        return "\n".join(out)


def _trainable(layer):
    if not layer.params:
        return "--"
    return {layer.params: "True", 0: "False"}.get(layer.trainable_params, "Partial")


def _ms(value):
    return "--" if value is None else f"{value:.2f}"


def _shape(output):
    if isinstance(output, lumen.Tensor):
        return tuple(output.shape)
    if isinstance(output, (tuple, list)):
        shapes = [_shape(o) for o in output if isinstance(o, (lumen.Tensor, tuple, list))]
        return shapes[0] if len(shapes) == 1 else tuple(shapes)
    if hasattr(output, "_fields"):  # a namedtuple of outputs, e.g. GoogLeNet's
        return _shape(tuple(output))
    return ()


def _mult_adds(module, inputs, output):
    """Multiply-adds of the layers whose cost is their products (convolutions, linear layers)."""
    if isinstance(module, _ConvNd) and isinstance(output, lumen.Tensor):
        # weight is (C_out, C_in / groups, *kernel), transposed (C_in, C_out / groups, *kernel): each output
        # element of a convolution, each input element of a transposed one, meets one row of it
        per_element = module.weight.numel() // module.weight.shape[0]
        return (inputs[0].numel() if module.transposed else output.numel()) * per_element
    if isinstance(module, nn.Linear) and isinstance(output, lumen.Tensor):
        return output.numel() * module.in_features
    if isinstance(module, nn.Bilinear) and isinstance(output, lumen.Tensor):
        return output.numel() * module.in1_features * module.in2_features
    return 0


def _sync(device):
    if device.type == "cuda":
        lumen.cuda.synchronize()


def _time_layer(module, inputs, repeat, device):
    """(forward ms, backward ms) of ``module`` alone on copies of the ``inputs`` it saw, medians of ``repeat``."""
    forward, backward = [], []
    params = list(module.parameters())
    kept_grads = [p.grad for p in params]
    for _ in range(repeat):
        # non-leaf copies, so that an in-place layer may write into them; their clone's backward is a pass-through
        args = [x.detach().requires_grad_(x.dtype.is_floating_point).clone() if isinstance(x, lumen.Tensor) else x
                for x in inputs]
        _sync(device)
        start = clock.perf_counter()
        out = module(*args)
        _sync(device)
        forward.append(clock.perf_counter() - start)
        tensors = [o for o in (out if isinstance(out, (tuple, list)) else (out,))
                   if isinstance(o, lumen.Tensor) and o.requires_grad]
        if not tensors:
            continue
        seeds = [lumen.ones_like(o) for o in tensors]
        _sync(device)
        start = clock.perf_counter()
        lumen.autograd.backward(tensors, seeds)
        _sync(device)
        backward.append(clock.perf_counter() - start)
    for p, grad in zip(params, kept_grads):
        p.grad = grad
    return (1000 * statistics.median(forward),
            1000 * statistics.median(backward) if backward else None)


def summary(model, input_size=None, *, input_data=None, dtype=None, device=None, time: bool = False,
            repeat: int = 3, verbose: int = 1) -> ModelSummary:
    """Run ``model`` once on zeros of ``input_size`` (a shape with the batch dimension, or a list of shapes
    for several inputs) or on ``input_data`` (a tensor or a list of them), and return (and print, unless
    ``verbose=0``) its :class:`ModelSummary`. ``device`` defaults to the model's, ``dtype`` to its
    parameters'; ``time=True`` adds each layer's forward and backward milliseconds."""
    params = list(model.parameters())
    if device is None:
        device = params[0].device if params else lumen.device("cpu")
    device = lumen.device(device) if isinstance(device, str) else device
    if input_data is None:
        if input_size is None:
            raise ValueError("summary: pass input_size (e.g. (1, 3, 224, 224)) or input_data")
        sizes = [input_size] if isinstance(input_size[0], int) else list(input_size)
        dtype = dtype or (params[0].dtype if params else lumen.get_default_dtype())
        inputs = [lumen.zeros(tuple(s), dtype=dtype, device=device) for s in sizes]
    else:
        inputs = [input_data] if isinstance(input_data, lumen.Tensor) else list(input_data)
    layers, seen, handles = [], {}, []

    def record(name, module):
        def before(mod, args):
            # in-place layers (ReLU(inplace=True)) overwrite their input: time them on a copy of it
            seen[name] = [a.detach().clone() if isinstance(a, lumen.Tensor) else a for a in args] if time else args

        def after(mod, args, output):
            own = list(mod.parameters(recurse=False))
            layers.append(LayerSummary(name, type(mod).__name__, _shape(output), sum(p.numel() for p in own),
                                       sum(p.numel() for p in own if p.requires_grad), _mult_adds(mod, args, output)))
        return before, after

    for name, module in model.named_modules():
        if list(module.parameters(recurse=False)) or not list(module.children()):
            before, after = record(name, module)
            handles += [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
    was_training = model.training
    try:
        with lumen.no_grad():
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    if time:
        modules = dict(model.named_modules())
        for layer in layers:
            layer.forward_ms, layer.backward_ms = _time_layer(modules[layer.name], seen[layer.name], repeat, device)
        model.train(was_training)
    result = ModelSummary(layers, [tuple(x.shape) for x in inputs if isinstance(x, lumen.Tensor)],
                          sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad))
    if verbose:
        print(result)
    return result


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lumen.utils.summary",
                                     description="Print a model of lumen.vision.models layer by layer.")
    parser.add_argument("model", help="a constructor of lumen.vision.models, e.g. vgg16, fcn8s, googlenet")
    parser.add_argument("--input", default="1,3,224,224", help="input shape with the batch, e.g. 1,3,500,500")
    parser.add_argument("--time", action="store_true", help="time each layer's forward and backward")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--width", type=float, help="channel multiplier, for the constructors that take one")
    return parser.parse_args(argv)


def main(argv=None):
    from lumen.vision import models

    args = parse_args(argv)
    constructor = getattr(models, args.model, None)
    if not callable(constructor) or isinstance(constructor, type):
        names = sorted(n for n in dir(models) if n.islower() and callable(getattr(models, n)))
        print(f"summary: error: unknown model {args.model!r}; one of {', '.join(names)}", file=sys.stderr)
        return 2
    try:
        shape = tuple(int(d) for d in args.input.split(","))
    except ValueError:
        print(f"summary: error: --input {args.input!r} is not a comma-separated shape such as 1,3,224,224",
              file=sys.stderr)
        return 2
    model = constructor(**({"width": args.width} if args.width else {})).to(args.device)
    summary(model, shape, time=args.time, device=args.device)
    return 0


class _CallableModule(types.ModuleType):
    # Importing this module binds it as lumen.utils.summary, where the package otherwise puts the function:
    # calling the module calls the function, so lumen.utils.summary(model, input_size) works either way.
    def __call__(self, *args, **kwargs):
        return summary(*args, **kwargs)


if __name__ == "__main__":
    sys.exit(main())
else:
    sys.modules[__name__].__class__ = _CallableModule
