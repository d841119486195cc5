"""Caffe nets as Lumen modules: ``load(prototxt, caffemodel)``, the ``Net`` it returns, ``compare``.

A prototxt is parsed with protobuf's text parser and a caffemodel with its binary parser,
both against ``schema`` (Caffe's field numbers). Layers in either the V2 ``layer`` or the
legacy V1 ``layers`` format are accepted; V1 types are upgraded to their V2 names as Caffe
does, and a V1 crop (``CROP = 40``, longjon/caffe's, which upstream's V1 lacks) becomes a V2 Crop
at the offsets its coordinate maps give (``coords``). Layers are kept or dropped by their ``include``/``exclude`` rules for the phase
asked for (TEST by default, as ``caffe.Net(prototxt, weights, caffe.TEST)``), and
caffemodel blobs are copied into the layers of the same name, as Caffe's
``CopyTrainedLayersFrom`` does.
"""
from __future__ import annotations

import math
import os
import sys
from collections import OrderedDict

from google.protobuf import message as pb_message
from google.protobuf import text_format
from google.protobuf.internal import decoder, wire_format

import lumen
from lumen import nn
from lumen.vision.caffe import coords
from lumen.vision.caffe import layers as L
from lumen.vision.caffe import schema

__all__ = ["Net", "load", "read_prototxt", "read_caffemodel", "caffemodel_state_dict", "compare", "CaffeFormatError"]

_PHASES = {"TRAIN": 0, "TEST": 1}


class CaffeFormatError(ValueError):
    """A prototxt or caffemodel that cannot be read, or whose blobs do not fit the net."""


class _Layer:
    """One layer of either format, read through V2's field names (``type`` a V2 type string)."""

    def __init__(self, message, v1: bool, index: int):
        self._message = message
        self.v1 = v1
        if v1:
            enum_name = type(message).LayerType.Name(message.type)
            self.type = schema.V1_LAYER_TYPES.get(enum_name, enum_name)
        else:
            self.type = message.type
        self.name = message.name or f"layer{index}"

    def __getattr__(self, name):
        return getattr(self._message, name)


def _layers(net, where) -> list[_Layer]:
    if net.layer and net.layers:
        raise CaffeFormatError(f"{where}: has both V2 'layer' and V1 'layers' entries; use one format")
    v1 = bool(net.layers)
    return [_Layer(m, v1, i) for i, m in enumerate(net.layers if v1 else net.layer)]


def read_prototxt(path):
    """The ``NetParameter`` in the text file ``path``; ``CaffeFormatError`` names the line of a syntax error."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise CaffeFormatError(f"caffe: {path}: not a text prototxt (a binary file: a caffemodel goes in the "
                               "second argument)") from None
    net = schema.NetParameter()
    try:
        text_format.Parse(text, net, allow_unknown_field=True)
    except text_format.ParseError as e:
        raise CaffeFormatError(f"caffe: {path}: prototxt syntax error at line {e.GetLine()}, column "
                               f"{e.GetColumn()}: {str(e).split(' : ', 1)[-1]}") from None
    return net


def read_caffemodel(path):
    """The whole ``NetParameter`` in the binary caffemodel ``path``, for inspection: it holds every blob
    (``load`` and ``caffemodel_state_dict`` read one layer at a time instead, see ``_trained_layers``)."""
    with open(path, "rb") as fh:
        data = fh.read()
    if not data:
        raise CaffeFormatError(f"caffe: {path}: empty caffemodel")
    try:
        return schema.NetParameter.FromString(data)
    except pb_message.DecodeError as e:
        raise CaffeFormatError(f"caffe: {path}: corrupt or truncated caffemodel ({e})") from None


# NetParameter's layer fields: V2 ``layer`` and V1 ``layers``.
_LAYER_FIELDS = {100: False, 2: True}
_FIXED_SIZES = {wire_format.WIRETYPE_FIXED64: 8, wire_format.WIRETYPE_FIXED32: 4}


def _layer_spans(fh, path):
    """Yield (V1?, offset, length) of each layer field of the caffemodel open in ``fh``, in file order.

    Only the top level's framing is read here, with protobuf's own varint decoder: every field's
    tag and, for a length-delimited one, its length, so that each layer can be parsed by protobuf
    on its own. protobuf's Python parser copies its input into the message (upb does not alias it)
    and has no streaming parse, so parsing the file whole holds every blob until the last one is
    converted; a layer at a time holds the parameters made so far and one layer.
    """
    size = os.fstat(fh.fileno()).st_size
    if size == 0:
        raise CaffeFormatError(f"caffe: {path}: empty caffemodel")
    pos, formats = 0, set()
    while pos < size:
        fh.seek(pos)
        head = fh.read(20)  # a tag and a length: two varints of at most 10 bytes
        try:
            tag, used = decoder._DecodeVarint(head, 0)
            number, wire_type = wire_format.UnpackTag(tag)
            if wire_type == wire_format.WIRETYPE_LENGTH_DELIMITED:
                length, used = decoder._DecodeVarint(head, used)
            elif wire_type == wire_format.WIRETYPE_VARINT:
                _, used = decoder._DecodeVarint(head, used)
                length = 0
            elif wire_type in _FIXED_SIZES:
                length = _FIXED_SIZES[wire_type]
            else:
                raise CaffeFormatError(f"caffe: {path}: corrupt caffemodel (field {number} at byte {pos} has "
                                       f"wire type {wire_type}, which NetParameter does not use)")
        except (IndexError, pb_message.DecodeError):
            raise CaffeFormatError(f"caffe: {path}: corrupt or truncated caffemodel (the field at byte {pos} "
                                   "ends past the end of the file)") from None
        start, pos = pos + used, pos + used + length
        if pos > size:
            raise CaffeFormatError(f"caffe: {path}: corrupt or truncated caffemodel (a field of {length} bytes "
                                   f"at byte {start} ends past its end, {size} bytes)")
        if number in _LAYER_FIELDS and wire_type == wire_format.WIRETYPE_LENGTH_DELIMITED:
            formats.add(_LAYER_FIELDS[number])
            if len(formats) == 2:
                raise CaffeFormatError(f"caffe: {path}: has both V2 'layer' and V1 'layers' entries; use one "
                                       "format")
            yield _LAYER_FIELDS[number], start, length


def _trained_layers(path, wanted=None):
    """Yield (name, V2 type, [(Tensor, legacy 4-d shape?)]) of each caffemodel layer with blobs, in file
    order (``wanted``: only the layers of these names). Each layer is read, parsed and turned into
    tensors on its own, its message dropped before its tensors are made: at most two copies of one
    layer's blobs exist at a time."""
    with open(path, "rb") as fh:
        for index, (v1, start, length) in enumerate(_layer_spans(fh, path)):
            fh.seek(start)
            payload = fh.read(length)
            message_type = schema.message("V1LayerParameter" if v1 else "LayerParameter")
            try:
                layer = _Layer(message_type.FromString(payload), v1, index)
            except pb_message.DecodeError as e:
                raise CaffeFormatError(f"caffe: {path}: corrupt or truncated caffemodel (layer {index}: "
                                       f"{e})") from None
            del payload
            if not layer.blobs or (wanted is not None and layer.name not in wanted):
                continue
            name, kind = layer.name, layer.type
            values = [_blob_values(blob, f"{path}: layer {name!r} blob {i}") for i, blob in enumerate(layer.blobs)]
            del layer  # the parsed layer's arena; its blobs' bytes live on in ``values`` only
            blobs = []
            while values:
                data, dtype, shape, legacy = values.pop(0)
                blobs.append((_blob_tensor(data, dtype, shape), legacy))
                del data
            yield name, kind, _unlegacy(kind, blobs)


def _v2_message(layer):
    """The layer as a V2 ``LayerParameter`` without blobs (a V1 layer's parameters carried over by name)."""
    if not layer.v1:
        out = schema.message("LayerParameter")()
        out.CopyFrom(layer._message)
        out.ClearField("blobs")
        out.name = layer.name
        return out
    out = schema.message("LayerParameter")(name=layer.name, type=layer.type)
    out.bottom.extend(layer.bottom)
    out.top.extend(layer.top)
    out.loss_weight.extend(layer.loss_weight)
    for field, value in layer._message.ListFields():
        if field.name.endswith("_param"):
            getattr(out, field.name).CopyFrom(value)
    return out


def _placed_v1_crops(layers):
    """The layers with each V1 crop (longjon/caffe's parameterless ``CROP``) made a V2 Crop at the
    offsets its coordinate maps give (``coords``), as it would crop in that fork."""
    out = []
    for layer in layers:
        if layer.v1 and layer.type == "Crop":
            message = schema.message("LayerParameter")(name=layer.name, type="Crop", bottom=layer.bottom,
                                                       top=layer.top)
            message.crop_param.axis = 2
            message.crop_param.offset.extend(coords.crop_offsets(layer, out))
            layer = _Layer(message, False, len(out))
        out.append(layer)
    return out


def _rule_met(rule, phase) -> bool:
    # Caffe's StateMeetsRule for a NetState of this phase, level 0 and no stages.
    if rule.HasField("phase") and rule.phase != phase:
        return False
    if rule.HasField("min_level") and rule.min_level > 0:
        return False
    if rule.HasField("max_level") and rule.max_level < 0:
        return False
    return not rule.stage


def _included(layer, phase) -> bool:
    if layer.include:
        return any(_rule_met(r, phase) for r in layer.include)
    return not any(_rule_met(r, phase) for r in layer.exclude)


def _blob_shape(blob):
    if blob.HasField("shape"):
        return tuple(blob.shape.dim), False
    return (blob.num, blob.channels, blob.height, blob.width), True


class _BlobReader:
    """A caffemodel's layers' blobs by layer name, read from the file as they are asked for.

    A caffemodel lists its layers in its net's order (Caffe writes them so), so ``load`` asking
    for each layer's blobs just before building its module reads one layer at a time, and the
    blocks freed by one layer's copies are the ones the next layer reuses. A layer asked for out
    of the file's order reads the layers before it ahead and keeps them until asked for.
    """

    def __init__(self, path, wanted):
        self._stream = _trained_layers(path, wanted) if path is not None else iter(())
        self._ahead = {}

    def take(self, name):
        """The blobs of layer ``name`` (None: the caffemodel has no blobs for it)."""
        while name not in self._ahead:
            found = next(self._stream, None)
            if found is None:
                return None
            self._ahead[found[0]] = found[2]
        return self._ahead.pop(name)

    def rest(self):
        """Yield (name, blobs) of the layers not taken, in the file's order (later layers of a name
        already taken: Caffe copies every layer it finds, so the last of a name wins)."""
        for name in list(self._ahead):
            yield name, self._ahead.pop(name)
        for name, _, blobs in self._stream:
            yield name, blobs


def _blob_values(blob, where):
    """(values, dtype, shape, legacy 4-d shape?) of a blob, its values a float32/float64 memoryview over
    one copy of its packed data (or, for a blob written unpacked, a list read through ``BlobValues``)."""
    shape, legacy = _blob_shape(blob)
    count = math.prod(shape)
    if sys.byteorder != "little":
        raise CaffeFormatError("caffe: caffemodel blobs are little-endian; this machine is big-endian")
    if blob.data or blob.double_data:
        # one packed field is one bytes object, which join returns as it is
        double = not blob.data
        raw = b"".join(blob.double_data if double else blob.data)
        itemsize = 8 if double else 4
        if len(raw) % itemsize:
            raise CaffeFormatError(f"caffe: {where} has {len(raw)} bytes of data, not a whole number of "
                                   f"{itemsize}-byte values")
        values = memoryview(raw).cast("d" if double else "f")
    else:
        unpacked = schema.message("BlobValues").FromString(blob.SerializeToString())
        double = not unpacked.data
        values = list(unpacked.double_data if double else unpacked.data)
        if not values and count:
            raise CaffeFormatError(f"caffe: {where} has shape {shape} but no data")
    if len(values) != count:
        raise CaffeFormatError(f"caffe: {where} has {len(values)} values, its shape {shape} needs {count}")
    return values, lumen.float64 if double else lumen.float32, shape, legacy


def _blob_tensor(values, dtype, shape):
    """A float32 Tensor of ``shape`` holding a copy of ``values``."""
    tensor = lumen.tensor(values, dtype=dtype) if len(values) else lumen.zeros(0, dtype=dtype)
    return tensor.reshape(shape).to(lumen.float32)


def _unlegacy(kind, blobs):
    """A layer's blobs with legacy 4-d InnerProduct shapes (1, 1, N, K) / (1, 1, 1, N) made 2-d / 1-d
    (other legacy shapes are left for the shape check to report)."""
    if kind != "InnerProduct":
        return blobs
    out = []
    for i, (value, legacy) in enumerate(blobs):
        lead = 2 if i == 0 else 3
        if legacy and tuple(value.shape[:lead]) == (1,) * lead:
            value, legacy = value.reshape(tuple(value.shape[lead:])), False
        out.append((value, legacy))
    return out


def caffemodel_state_dict(path) -> "OrderedDict":
    """The caffemodel's blobs as a state dict, no prototxt needed: ``<layer>.weight`` / ``<layer>.bias``
    (BatchNorm: ``running_mean`` / ``running_var``, divided by its stored count), the keys of ``load``'s
    ``Net`` and of Lumen's FCN and CaffeNet modules. Legacy 4-d InnerProduct blobs become 2-d / 1-d."""
    out = OrderedDict()
    for name, kind, blobs in _trained_layers(path):
        key = _module_name(name)
        if kind == "BatchNorm":
            total = float(blobs[2][0].reshape(-1)[0]) if len(blobs) == 3 else 1.0
            factor = 0.0 if total == 0 else 1.0 / total
            out[f"{key}.running_mean"], out[f"{key}.running_var"] = blobs[0][0] * factor, blobs[1][0] * factor
            continue
        for (value, _), kind_key in zip(blobs, ("weight", "bias")):
            out[f"{key}.{kind_key}"] = value
    return out


def _net_inputs(net, layers, where):
    """[(blob name, shape or None)] of the net's inputs: the deprecated net-level ``input`` fields
    and the tops of data layers (Input / DummyData shapes known, data sources' not)."""
    inputs = []
    shapes = [tuple(s.dim) for s in net.input_shape]
    if net.input_dim:
        if len(net.input_dim) != 4 * len(net.input):
            raise CaffeFormatError(f"{where}: input_dim needs 4 values per input, got {len(net.input_dim)}")
        shapes = [tuple(net.input_dim[4 * i:4 * i + 4]) for i in range(len(net.input))]
    for i, name in enumerate(net.input):
        inputs.append((name, shapes[i] if i < len(shapes) else None))
    for layer in layers:
        if layer.type not in L.DATA_LAYERS:
            continue
        if layer.bottom:
            L.build(layer)  # raises: a layer with bottoms is not a data source
        if layer.type == "Input":
            shapes = [tuple(s.dim) for s in layer.input_param.shape]
        elif layer.type == "DummyData":
            p = layer.dummy_data_param
            if not p.shape and not len(p.num) == len(p.channels) == len(p.height) == len(p.width):
                raise CaffeFormatError(f"{where}: layer {layer.name!r} (DummyData): num, channels, height and "
                                       "width need one value each per top")
            shapes = [tuple(s.dim) for s in p.shape] or [
                (p.num[i], p.channels[i], p.height[i], p.width[i]) for i in range(len(p.num))]
        else:
            shapes = []
        for i, top in enumerate(layer.top):
            shape = shapes[0] if len(shapes) == 1 else (shapes[i] if i < len(shapes) else None)
            inputs.append((top, shape))
    return inputs


def _as_tops(out):
    # nn.Conv2d / nn.ConvTranspose2d serve as Caffe's layers as they are and return one Tensor.
    return (out,) if isinstance(out, lumen.Tensor) else out


def _module_name(layer_name):
    # Module names cannot hold dots; Caffe names seldom do.
    return layer_name.replace(".", "_")


def _copy_blobs(layer, module, blobs, where):
    """Copy a layer's caffemodel blobs into its module's parameters, checking count and shapes."""
    if layer.type == "BatchNorm":
        targets = [module.running_mean, module.running_var, None]
    else:
        targets = [t for t in (getattr(module, "weight", None), getattr(module, "bias", None)) if t is not None]
    if len(blobs) != len(targets):
        raise CaffeFormatError(f"caffe: {where}: layer {layer.name!r} ({layer.type}) has {len(blobs)} "
                               f"blob(s), the net needs {len(targets)}")
    factor = 1.0
    if layer.type == "BatchNorm":
        stored = blobs[2][0]
        if stored.numel() != 1:
            raise CaffeFormatError(f"caffe: {where}: layer {layer.name!r} (BatchNorm) blob 2 has shape "
                                   f"{tuple(stored.shape)}, expected (1,)")
        total = float(stored.reshape(-1)[0])
        factor = 0.0 if total == 0 else 1.0 / total
    for i, (target, (value, legacy)) in enumerate(zip(targets, blobs)):
        if target is None:
            continue
        expected = tuple(target.shape)
        got = tuple(value.shape)
        # Caffe's legacy 4-d shapes (num, channels, height, width) pad fewer axes with leading 1s.
        fits = got == expected or (legacy and len(expected) <= 4 and got == (1,) * (4 - len(expected)) + expected)
        if not fits:
            raise CaffeFormatError(f"caffe: {where}: layer {layer.name!r} ({layer.type}) blob {i} has shape "
                                   f"{got}, the net expects {expected}")
        with lumen.no_grad():
            target.copy_(value.reshape(expected) * factor if factor != 1.0 else value.reshape(expected))


class Net(nn.Module):
    """A Caffe net: its layers run in the prototxt's order, each a submodule named by its layer.

    ``forward(*inputs, **named_inputs)`` takes the net's inputs (``input_names``, in order, or
    by blob name) and returns its output blob (the tops no later layer consumes) when it
    has one, else an ``OrderedDict`` {blob name: Tensor}. ``blobs(...)`` returns every blob and
    ``layer_outputs(...)`` each layer's first top, by layer name, for layer-by-layer checks.
    """

    def __init__(self, name, inputs, steps):
        super().__init__()
        self.name = name
        self.input_names = [n for n, _ in inputs]
        self.input_shapes = dict(inputs)
        self._steps = []  # (layer name, module name, type, bottoms, tops)
        self._definitions = []  # each layer's V2 LayerParameter, for caffe.save
        for definition, module in steps:
            module_name = _module_name(definition.name)
            self.add_module(module_name, module)
            self._steps.append((definition.name, module_name, definition.type, tuple(definition.bottom),
                                tuple(definition.top)))
            self._definitions.append(definition)
        available = OrderedDict((n, None) for n in self.input_names)
        for _, _, _, bottoms, tops in self._steps:
            for b in bottoms:
                available.pop(b, None)
            for t in tops:
                available[t] = None
        self.output_names = list(available)

    @property
    def layer_names(self):
        return [s[0] for s in self._steps]

    def layer_type(self, name):
        return {s[0]: s[2] for s in self._steps}[name]

    def _bind(self, args, kwargs):
        if len(args) > len(self.input_names):
            raise TypeError(f"caffe.Net {self.name!r}: takes {len(self.input_names)} inputs "
                            f"{self.input_names}, got {len(args)}")
        env = dict(zip(self.input_names, args))
        for key, value in kwargs.items():
            if key not in self.input_names:
                raise TypeError(f"caffe.Net {self.name!r}: unknown input {key!r}; inputs: {self.input_names}")
            if key in env:
                raise TypeError(f"caffe.Net {self.name!r}: input {key!r} given twice")
            env[key] = value
        return env

    def _run(self, args, kwargs, record=None):
        env = self._bind(args, kwargs)
        for layer_name, module_name, layer_type, bottoms, tops in self._steps:
            missing = [b for b in bottoms if b not in env]
            if missing:
                raise ValueError(f"caffe.Net {self.name!r}: layer {layer_name!r} ({layer_type}) needs input "
                                 f"blob(s) {missing}, not given; inputs: {self.input_names}")
            outs = _as_tops(self._modules[module_name](*(env[b] for b in bottoms)))
            for top, value in zip(tops, outs):
                env[top] = value
            if record is not None and outs:
                record[layer_name] = outs[0]
        return env

    def forward(self, *inputs, **named_inputs):
        env = self._run(inputs, named_inputs)
        if len(self.output_names) == 1:
            return env[self.output_names[0]]
        return OrderedDict((n, env[n]) for n in self.output_names)

    def blobs(self, *inputs, **named_inputs) -> "OrderedDict":
        """Every blob after a forward pass, {blob name: Tensor} (an in-place top keeps its last value)."""
        return OrderedDict(self._run(inputs, named_inputs))

    def layer_outputs(self, *inputs, **named_inputs) -> "OrderedDict":
        """{layer name: the layer's first top} after a forward pass, in the layers' order."""
        record = OrderedDict()
        self._run(inputs, named_inputs, record)
        return record

    def extra_repr(self):
        return f"name={self.name!r}, inputs={self.input_names}, outputs={self.output_names}"


def _dry_inputs(inputs):
    if not inputs or any(shape is None for _, shape in inputs):
        return None
    return {name: lumen.zeros(shape) for name, shape in inputs}


def load(prototxt, caffemodel=None, phase: str = "TEST", strict: bool = True) -> Net:
    """The net defined in ``prototxt``, with the blobs of ``caffemodel`` loaded by layer name.

    ``phase``: "TEST" (default) or "TRAIN", for the layers' include/exclude rules; the net is
    returned in eval mode for TEST and training mode for TRAIN. Without a caffemodel (or for a
    layer the caffemodel lacks, with ``strict=False``) parameters start from the prototxt's
    fillers, Caffe's default being constant 0. ``strict``: every layer with parameters must find
    its blobs in the caffemodel. Layers of the caffemodel that the net lacks are ignored, as Caffe
    does; a caffemodel holding a layer twice loads the last one. Memory: the caffemodel is read
    and parsed one layer at a time (each packed blob one buffer, see ``schema``), just before that
    layer's module is built, so loading peaks near the weights plus two copies of the largest
    layer, not at twice the weights: a VGG16-shaped 528 MiB caffemodel peaks 979 MiB above the
    starting memory (it was 1516 MiB when the file was parsed whole).
    Raises ``CaffeFormatError`` (unreadable file, wrong blob count or shape, missing blobs) or
    ``layers.CaffeLayerError`` (unsupported layer type or malformed layer), each naming the layer.
    """
    if phase not in _PHASES:
        raise ValueError(f"caffe.load: phase must be 'TRAIN' or 'TEST', got {phase!r}")
    net_param = read_prototxt(prototxt)
    where = f"caffe: {prototxt}"
    layers = _placed_v1_crops([layer for layer in _layers(net_param, where) if _included(layer, _PHASES[phase])])
    inputs = _net_inputs(net_param, layers, where)
    trained = _BlobReader(caffemodel, {layer.name for layer in layers if layer.type in L.LEARNED_TYPES})
    env = _dry_inputs(inputs)
    steps, names, built, missing = [], set(), {}, []
    known = {name for name, _ in inputs}
    for layer in layers:
        if layer.type in L.DATA_LAYERS:
            continue
        if _module_name(layer.name) in names:
            raise CaffeFormatError(f"{where}: two layers are named {layer.name!r}")
        names.add(_module_name(layer.name))
        blobs = trained.take(layer.name) if layer.type in L.LEARNED_TYPES else None  # else it would read ahead
        unknown = [b for b in layer.bottom if b not in known]
        if unknown:
            raise CaffeFormatError(f"{where}: layer {layer.name!r} reads blob(s) {unknown} that no earlier "
                                   "layer produces and that are not inputs")
        known.update(layer.top)
        bottoms = [env[b] for b in layer.bottom] if env is not None else None
        module = L.build(layer, bottoms, [b for b, _ in blobs] if blobs else None)
        if blobs:
            _copy_blobs(layer, module, blobs, caffemodel)
            blobs = None  # the module's parameters hold the values now
        elif caffemodel is not None and strict and (layer.type == "BatchNorm" or any(
                True for _ in module.parameters())):
            missing.append(layer.name)
        if env is not None:
            module.eval()
            with lumen.no_grad():
                outs = _as_tops(module(*bottoms))
            env.update(zip(layer.top, outs))
        steps.append((_v2_message(layer), module))
        built[layer.name] = layer, module
    for name, blobs in trained.rest():
        _copy_blobs(*built[name], blobs, caffemodel)
    if missing:
        raise CaffeFormatError(f"caffe: {caffemodel}: no blobs for layer(s) {missing} of {prototxt} "
                               "(strict=False keeps their fillers' values)")
    return Net(net_param.name, inputs, steps).train(phase == "TRAIN")


def _layer_outputs(net, x):
    if isinstance(net, Net):
        return net.layer_outputs(x)
    record, handles = OrderedDict(), []
    for name, module in net.named_modules():
        if not name:
            continue
        def hook(module, args, output, name=name):
            first = output[0] if isinstance(output, (tuple, list)) else output
            if isinstance(first, lumen.Tensor):
                record.setdefault(name, first.detach().clone())
        handles.append(module.register_forward_hook(hook))
    try:
        net(x)
    finally:
        for handle in handles:
            handle.remove()
    return record


def compare(net_a, net_b, input, print_fn=print) -> "OrderedDict":
    """Run both nets on ``input`` and report, for every layer name they share, the largest absolute
    difference of that layer's output; returns {layer name: max |a - b|} in ``net_a``'s order.

    Either net may be a ``Net`` (its layers' first tops) or any module (its submodules' outputs,
    caught with forward hooks, named as ``named_modules``: a native FCN's ``conv1_1``,
    ``score_fr``, ``upscore2`` ...). Layers whose outputs differ in shape are reported as such.
    ``print_fn`` gets one line per layer (None: print nothing).
    """
    with lumen.no_grad():
        a, b = _layer_outputs(net_a, input), _layer_outputs(net_b, input)
    diffs = OrderedDict()
    for name, value in a.items():
        other = b.get(name, b.get(_module_name(name)))
        if other is None:
            continue
        if tuple(value.shape) != tuple(other.shape):
            diffs[name] = math.inf
            line = f"{name:<24} shape {tuple(value.shape)} vs {tuple(other.shape)}"
        else:
            d = (value.float() - other.float()).abs().max().item() if value.numel() else 0.0
            diffs[name] = d
            line = f"{name:<24} max |diff| {d:.3g}"
        if print_fn is not None:
            print_fn(line)
    if not diffs:
        raise ValueError("caffe.compare: the nets share no layer names")
    return diffs
