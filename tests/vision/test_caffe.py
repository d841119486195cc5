"""lumen.vision.caffe: Caffe nets written here with the protobuf package (V2 ``layer`` and V1
``layers`` formats) load and compute what the native Lumen modules compute with the same
weights; malformed or unsupported inputs give one-line errors naming what is wrong."""
from collections import OrderedDict

import numpy as np
import pytest

pytest.importorskip("google.protobuf")
from google.protobuf import text_format  # noqa: E402
from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import lumen  # noqa: E402
from lumen import nn  # noqa: E402
from lumen.vision import caffe  # noqa: E402
from lumen.vision.caffe import schema  # noqa: E402
from lumen.vision.models import Inception, caffenet, fcn8s  # noqa: E402
from lumen.vision.models.alexnet import caffenet_trunk  # noqa: E402
from lumen.vision.models.layers import fc_head  # noqa: E402

V1_TYPES = {v2: v1 for v1, v2 in schema.V1_LAYER_TYPES.items()}


class Spec:
    """A net written layer by layer as Caffe's NetSpec writes it (V2 or V1 messages)."""

    def __init__(self, name, v1=False):
        self.net = schema.NetParameter(name=name)
        self.v1 = v1

    def input(self, top, shape):
        if self.v1:  # V1 nets declare inputs at the net level
            self.net.input.append(top)
            self.net.input_dim.extend(shape)
        else:
            self.add("input", "Input", [], [top], input_param={"shape": [{"dim": list(shape)}]})

    def add(self, name, kind, bottoms, tops, **params):
        layer = self.net.layers.add() if self.v1 else self.net.layer.add()
        layer.name = name
        if self.v1:
            layer.type = getattr(type(layer), V1_TYPES[kind])
        else:
            layer.type = kind
        layer.bottom.extend(bottoms)
        layer.top.extend(tops)
        for field, value in params.items():
            _set(layer, field, value)
        return layer

    def text(self):
        return text_format.MessageToString(self.net)


def _set(msg, field, value):
    if isinstance(value, dict):
        for k, v in value.items():
            _set(getattr(msg, field), k, v)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for item in value:
            sub = getattr(msg, field).add()
            for k, v in item.items():
                _set(sub, k, v)
    elif isinstance(value, list):
        getattr(msg, field).extend(value)
    else:
        setattr(msg, field, value)


def _blob(tensor):
    a = np.ascontiguousarray(tensor.detach().numpy(), dtype="<f4")
    blob = schema.message("BlobProto")()
    blob.shape.dim.extend(a.shape)
    blob.data.append(a.tobytes())
    return blob


def write_pair(tmp_path, spec, weights):
    """prototxt + caffemodel of ``spec``; ``weights`` {layer: [tensors]} become the layers' blobs."""
    proto = tmp_path / f"{spec.net.name}.prototxt"
    proto.write_text(spec.text())
    model = schema.NetParameter()
    model.CopyFrom(spec.net)
    for layer in (model.layers if spec.v1 else model.layer):
        for t in weights.get(layer.name, []):
            layer.blobs.append(_blob(t))
    path = tmp_path / f"{spec.net.name}.caffemodel"
    path.write_bytes(model.SerializeToString())
    return proto, path


def conv_relu(spec, bottom, name, conv, relu_name=None):
    spec.add(name, "Convolution", [bottom], [name], convolution_param=conv)
    spec.add(relu_name or "relu" + name[len("conv"):], "ReLU", [name], [name])
    return name


# ---- FCN-8s: the reference voc-fcn8s net.py, layer for layer ------------------------------

def fcn8s_spec(model, n_classes, with_loss=False, v1=False):
    """V1 nets (longjon/caffe's, which trained the FCNs) have parameterless crops placed by coordinate maps."""
    s = Spec("fcn8s", v1)

    def crop(name, bottoms, offset):
        s.add(name, "Crop", bottoms, [name], **({} if v1 else {"crop_param": {"axis": 2, "offset": [offset]}}))
    s.input("data", (1, 3, 40, 44))
    if with_loss:
        s.input("label", (1, 1, 40, 44))
    x = "data"
    for block, convs in enumerate((2, 2, 3, 3, 3), start=1):
        for i in range(1, convs + 1):
            name = f"conv{block}_{i}"
            x = conv_relu(s, x, name, {"num_output": getattr(model, name).out_channels, "kernel_size": [3],
                                       "pad": [100 if name == "conv1_1" else 1]}, f"relu{block}_{i}")
        s.add(f"pool{block}", "Pooling", [x], [f"pool{block}"], pooling_param={"pool": 0, "kernel_size": 2, "stride": 2})
        x = f"pool{block}"
    conv_relu(s, x, "fc6", {"num_output": model.fc6.out_channels, "kernel_size": [7]}, "relu6")
    s.add("drop6", "Dropout", ["fc6"], ["fc6"], dropout_param={"dropout_ratio": 0.5})
    conv_relu(s, "fc6", "fc7", {"num_output": model.fc7.out_channels, "kernel_size": [1]}, "relu7")
    s.add("drop7", "Dropout", ["fc7"], ["fc7"], dropout_param={"dropout_ratio": 0.5})
    s.add("score_fr", "Convolution", ["fc7"], ["score_fr"], convolution_param={"num_output": n_classes, "kernel_size": [1]})
    up = {"num_output": n_classes, "kernel_size": [4], "stride": [2], "bias_term": False}
    s.add("upscore2", "Deconvolution", ["score_fr"], ["upscore2"], convolution_param=up)
    s.add("score_pool4", "Convolution", ["pool4"], ["score_pool4"], convolution_param={"num_output": n_classes, "kernel_size": [1]})
    crop("score_pool4c", ["score_pool4", "upscore2"], 5)
    s.add("fuse_pool4", "Eltwise", ["upscore2", "score_pool4c"], ["fuse_pool4"], eltwise_param={"operation": 1})
    s.add("upscore_pool4", "Deconvolution", ["fuse_pool4"], ["upscore_pool4"], convolution_param=up)
    s.add("score_pool3", "Convolution", ["pool3"], ["score_pool3"], convolution_param={"num_output": n_classes, "kernel_size": [1]})
    crop("score_pool3c", ["score_pool3", "upscore_pool4"], 9)
    s.add("fuse_pool3", "Eltwise", ["upscore_pool4", "score_pool3c"], ["fuse_pool3"], eltwise_param={"operation": 1})
    s.add("upscore8", "Deconvolution", ["fuse_pool3"], ["upscore8"],
          convolution_param={"num_output": n_classes, "kernel_size": [16], "stride": [8], "bias_term": False})
    crop("score", ["upscore8", "data"], 31)
    if with_loss:
        s.add("loss", "SoftmaxWithLoss", ["score", "label"], ["loss"],
              loss_param={"normalize": False, "ignore_label": 255})
    return s


def _weights_of(model, rename=lambda key: key):
    """{caffe layer: [weight, bias]} from a module's state dict (keys ``<layer>.weight``)."""
    out = OrderedDict()
    for key, value in model.state_dict().items():
        layer, _, kind = key.rpartition(".")
        if kind in ("weight", "bias"):
            out.setdefault(rename(layer), []).append(value)
    return out


def _randomize(model, seed=0):
    gen = np.random.default_rng(seed)
    with lumen.no_grad():
        for p in model.parameters():
            p.copy_(lumen.tensor(gen.normal(0, 0.3, p.shape).astype(np.float32)))
    return model.eval()


@pytest.fixture(scope="module")
def small_fcn8s():
    return _randomize(fcn8s(num_classes=5, width=1 / 16))


@pytest.mark.parametrize("v1", [False, True], ids=["V2", "V1"])
def test_fcn8s_equals_native(tmp_path, small_fcn8s, v1):
    proto, weights = write_pair(tmp_path, fcn8s_spec(small_fcn8s, 5, v1=v1), _weights_of(small_fcn8s))
    net = caffe.load(proto, weights)
    assert not net.training and net.input_names == ["data"] and net.output_names == ["score"]
    assert set(net.state_dict()) == set(small_fcn8s.state_dict())
    x = lumen.tensor(np.random.default_rng(1).normal(size=(1, 3, 40, 44)).astype(np.float32))
    with lumen.no_grad():
        ours, native = net(x), small_fcn8s(x)
    assert ours.shape == (1, 5, 40, 44)
    np.testing.assert_allclose(ours.detach().numpy(), native.detach().numpy(), rtol=1e-5, atol=1e-5 * float(native.abs().max()))
    diffs = caffe.compare(net, small_fcn8s, x, print_fn=None)
    assert {"conv1_1", "fc7", "score_fr", "upscore2", "score_pool4", "upscore8"} <= set(diffs)
    assert max(diffs.values()) <= 1e-5 * float(native.abs().max())
    caffe.save(net, tmp_path / "saved.prototxt", tmp_path / "saved.caffemodel")
    saved = caffe.read_prototxt(tmp_path / "saved.prototxt")
    assert not saved.layers and [(layer.name, list(layer.crop_param.offset)) for layer in saved.layer
                                 if layer.type == "Crop"] == [("score_pool4c", [5] * (1 + v1)),
                                                              ("score_pool3c", [9] * (1 + v1)), ("score", [31] * (1 + v1))]


def test_fcn8s_softmax_with_loss_ignore_label_and_normalize_false(tmp_path, small_fcn8s):
    proto, weights = write_pair(tmp_path, fcn8s_spec(small_fcn8s, 5, with_loss=True), _weights_of(small_fcn8s))
    net = caffe.load(proto, weights)
    x = lumen.tensor(np.random.default_rng(2).normal(size=(1, 3, 40, 44)).astype(np.float32))
    label = np.random.default_rng(3).integers(0, 5, size=(1, 1, 40, 44)).astype(np.float32)
    label[0, 0, :7] = 255
    loss = net(x, lumen.tensor(label))
    with lumen.no_grad():
        score = small_fcn8s(x)
    # normalize: false is BATCH_SIZE: the summed loss over the kept pixels divided by N = 1
    expected = nn.functional.cross_entropy(score, lumen.tensor(label[:, 0]).long(), ignore_index=255,
                                           reduction="sum")
    np.testing.assert_allclose(float(loss), float(expected), rtol=1e-5)


def test_train_phase_keeps_train_only_layers_and_dry_run_without_caffemodel(tmp_path):
    s = Spec("phases")
    s.input("data", (2, 3, 5, 5))
    s.add("conv", "Convolution", ["data"], ["conv"],
          convolution_param={"num_output": 4, "kernel_size": [3], "weight_filler": {"type": "constant", "value": 0.5},
                             "bias_filler": {"type": "constant", "value": 1.0}})
    s.add("drop", "Dropout", ["conv"], ["conv"], include=[{"phase": 0}])
    s.add("ip", "InnerProduct", ["conv"], ["ip"], inner_product_param={"num_output": 3})
    proto = tmp_path / "phases.prototxt"
    proto.write_text(s.text())
    test_net, train_net = caffe.load(proto), caffe.load(proto, phase="TRAIN")
    assert "drop" not in test_net.layer_names and "drop" in train_net.layer_names and train_net.training
    assert tuple(test_net.ip.weight.shape) == (3, 36)  # K inferred from the input shape
    out = test_net(lumen.ones(2, 3, 5, 5))
    assert out.shape == (2, 3) and float(out.abs().max()) == 0.0  # Caffe's default filler: constant 0
    conv = test_net.blobs(lumen.ones(2, 3, 5, 5))["conv"]
    np.testing.assert_allclose(conv.detach().numpy(), 0.5 * 27 + 1.0)


# ---- CaffeNet and a GoogLeNet inception block, V2 and V1 ----------------------------------

def small_caffenet():
    model = caffenet(num_classes=7, init_weights=False)
    for name, layer in caffenet_trunk(width=1 / 16) + fc_head(2 * round(128 / 16), 6, 32, 0.5, 7):
        setattr(model, name, layer)
    return _randomize(model, seed=4)


def caffenet_spec(model, v1):
    s = Spec("caffenet", v1)
    s.input("data", (2, 3, 227, 227))
    x = "data"
    for name in model.FEATURES:
        layer = getattr(model, name)
        if name.startswith("conv"):
            s.add(name, "Convolution", [x], [name], convolution_param={
                "num_output": layer.out_channels, "kernel_size": [layer.kernel_size[0]], "stride": [layer.stride[0]],
                "pad": [layer.padding[0]], "group": layer.groups})
            x = name
        elif name.startswith("relu"):
            s.add(name, "ReLU", [x], [x])
        elif name.startswith("pool"):
            s.add(name, "Pooling", [x], [name], pooling_param={"pool": 0, "kernel_size": 3, "stride": 2})
            x = name
        else:
            s.add(name, "LRN", [x], [name], lrn_param={"local_size": 5, "alpha": 1e-4, "beta": 0.75})
            x = name
    for name in model.CLASSIFIER:
        layer = getattr(model, name)
        if name.startswith("fc"):
            s.add(name, "InnerProduct", [x], [name], inner_product_param={"num_output": layer.out_features})
            x = name
        elif name.startswith("relu"):
            s.add(name, "ReLU", [x], [x])
        else:
            s.add(name, "Dropout", [x], [x], dropout_param={"dropout_ratio": 0.5})
    s.add("prob", "Softmax", [x], ["prob"])
    return s


@pytest.mark.parametrize("v1", [False, True], ids=["V2", "V1"])
def test_caffenet_equals_native(tmp_path, v1):
    model = small_caffenet()
    proto, weights = write_pair(tmp_path, caffenet_spec(model, v1), _weights_of(model))
    net = caffe.load(proto, weights)
    x = lumen.tensor(np.random.default_rng(5).normal(size=(2, 3, 227, 227)).astype(np.float32))
    with lumen.no_grad():
        prob, native = net(x), nn.functional.softmax(model(x), dim=1)
    np.testing.assert_allclose(prob.detach().numpy(), native.detach().numpy(), rtol=1e-5, atol=1e-6)
    diffs = caffe.compare(net, model, x, print_fn=None)
    assert {"conv1", "norm1", "conv5", "fc6", "fc8"} <= set(diffs)
    assert all(d <= 1e-4 for d in diffs.values())


BVLC_INCEPTION = {"conv1x1": "1x1", "conv3x3_reduce": "3x3_reduce", "conv3x3": "3x3",
                  "conv5x5_reduce": "5x5_reduce", "conv5x5": "5x5", "pool_proj": "pool_proj"}


def inception_spec(block, v1):
    s = Spec("inception", v1)
    s.input("data", (2, 8, 9, 9))
    p = "inception_3a/"
    for ours, k, pad, bottom in (("conv1x1", 1, 0, "data"), ("conv3x3_reduce", 1, 0, "data"),
                                 ("conv3x3", 3, 1, p + "3x3_reduce"), ("conv5x5_reduce", 1, 0, "data"),
                                 ("conv5x5", 5, 2, p + "5x5_reduce")):
        name = p + BVLC_INCEPTION[ours]
        s.add(name, "Convolution", [bottom], [name], convolution_param={
            "num_output": getattr(block, ours).out_channels, "kernel_size": [k], "pad": [pad]})
        s.add(p + "relu_" + BVLC_INCEPTION[ours], "ReLU", [name], [name])
    s.add(p + "pool", "Pooling", ["data"], [p + "pool"], pooling_param={"pool": 0, "kernel_size": 3, "stride": 1, "pad": 1})
    s.add(p + "pool_proj", "Convolution", [p + "pool"], [p + "pool_proj"],
          convolution_param={"num_output": block.pool_proj.out_channels, "kernel_size": [1]})
    s.add(p + "relu_pool_proj", "ReLU", [p + "pool_proj"], [p + "pool_proj"])
    s.add(p + "output", "Concat", [p + n for n in ("1x1", "3x3", "5x5", "pool_proj")], [p + "output"])
    return s


@pytest.mark.parametrize("v1", [False, True], ids=["V2", "V1"])
def test_inception_block_equals_native(tmp_path, v1):
    block = _randomize(Inception(8, 4, 4, 6, 2, 4, 3), seed=6)
    weights = _weights_of(block, rename=lambda layer: "inception_3a/" + BVLC_INCEPTION[layer])
    proto, path = write_pair(tmp_path, inception_spec(block, v1), weights)
    net = caffe.load(proto, path)
    x = lumen.tensor(np.random.default_rng(7).normal(size=(2, 8, 9, 9)).astype(np.float32))
    with lumen.no_grad():
        ours, native = net(x), block(x)
    assert ours.shape == (2, 17, 9, 9)
    np.testing.assert_allclose(ours.detach().numpy(), native.detach().numpy(), rtol=1e-5, atol=1e-5)


# ---- layer semantics against direct computations ------------------------------------------

def _run_single(tmp_path, shape, kind, blobs=(), bottoms=1, **params):
    s = Spec("one")
    names = [f"in{i}" for i in range(bottoms)]
    for n in names:
        s.input(n, shape)
    s.add("layer", kind, names, ["out"], **params)
    proto, path = write_pair(tmp_path, s, {"layer": list(blobs)} if blobs else {})
    return caffe.load(proto, path if blobs else None)


def test_eltwise_sum_coeff_prod_max(tmp_path):
    a, b = lumen.randn(2, 3, 4), lumen.randn(2, 3, 4)
    net = _run_single(tmp_path, (2, 3, 4), "Eltwise", bottoms=2, eltwise_param={"operation": 1, "coeff": [2.0, -0.5]})
    np.testing.assert_allclose(net(a, b).detach().numpy(), (2 * a - 0.5 * b).detach().numpy(), rtol=1e-6)
    net = _run_single(tmp_path, (2, 3, 4), "Eltwise", bottoms=2, eltwise_param={"operation": 0})
    np.testing.assert_allclose(net(a, b).detach().numpy(), (a * b).detach().numpy(), rtol=1e-6)
    net = _run_single(tmp_path, (2, 3, 4), "Eltwise", bottoms=2, eltwise_param={"operation": 2})
    np.testing.assert_allclose(net(a, b).detach().numpy(), np.maximum(a.detach().numpy(), b.detach().numpy()))


def test_pooling_rounds_up_and_average_divides_by_the_padded_window(tmp_path):
    x = lumen.randn(1, 2, 6, 6)
    net = _run_single(tmp_path, (1, 2, 6, 6), "Pooling", pooling_param={"pool": 1, "kernel_size": 3, "stride": 2, "pad": 1})
    out = net(x).detach().numpy()
    assert out.shape == (1, 2, 4, 4)  # ceil((6 + 2 - 3) / 2) + 1
    padded = np.pad(x.detach().numpy(), ((0, 0), (0, 0), (1, 1), (1, 1)))
    # The last window starts at padded row 6 and is clipped at the padded input's end (row 8):
    # Caffe divides by the 2 x 2 values left, one of them padding.
    np.testing.assert_allclose(out[0, 0, 3, 3], padded[0, 0, 6:8, 6:8].sum() / 4, rtol=1e-5)
    np.testing.assert_allclose(out[0, 0, 0, 0], padded[0, 0, 0:3, 0:3].sum() / 9, rtol=1e-5)
    x = lumen.randn(1, 2, 7, 7)
    floor = _run_single(tmp_path, (1, 2, 7, 7), "Pooling",
                        pooling_param={"pool": 0, "kernel_size": 2, "stride": 2, "round_mode": 1})
    assert floor(x).shape == (1, 2, 3, 3)
    glob = _run_single(tmp_path, (1, 2, 7, 7), "Pooling", pooling_param={"pool": 1, "global_pooling": True})
    np.testing.assert_allclose(glob(x).detach().numpy()[..., 0, 0], x.detach().numpy().mean(axis=(2, 3)), rtol=1e-5)


def test_lrn_within_channel(tmp_path):
    x = lumen.randn(1, 2, 5, 5)
    net = _run_single(tmp_path, (1, 2, 5, 5), "LRN",
                      lrn_param={"local_size": 3, "alpha": 0.5, "beta": 0.75, "norm_region": 1})
    sq = np.pad(x.detach().numpy() ** 2, ((0, 0), (0, 0), (1, 1), (1, 1)))
    mean = np.stack([[sq[0, c, i:i + 3, j:j + 3].mean() for j in range(5)] for c in range(2) for i in range(5)])
    expected = x.detach().numpy() * (1 + 0.5 * mean.reshape(1, 2, 5, 5)) ** -0.75
    np.testing.assert_allclose(net(x).detach().numpy(), expected, rtol=1e-5)


def test_scale_bias_batchnorm_power_and_inner_product_axis(tmp_path):
    x = lumen.randn(2, 3, 4, 5)
    scale, bias = lumen.randn(3), lumen.randn(3)
    net = _run_single(tmp_path, (2, 3, 4, 5), "Scale", blobs=[scale, bias], scale_param={"bias_term": True})
    np.testing.assert_allclose(net(x).detach().numpy(), (x * scale.reshape(3, 1, 1) + bias.reshape(3, 1, 1)).detach().numpy(), rtol=1e-6)
    mean, var = lumen.randn(3), lumen.rand(3) + 0.5
    net = _run_single(tmp_path, (2, 3, 4, 5), "BatchNorm", blobs=[mean * 4, var * 4, lumen.tensor([4.0])])
    expected = (x - mean.reshape(3, 1, 1)) / (var.reshape(3, 1, 1) + 1e-5).sqrt()
    np.testing.assert_allclose(net(x).detach().numpy(), expected.detach().numpy(), rtol=1e-4, atol=1e-5)
    net = _run_single(tmp_path, (2, 3, 4, 5), "Power", power_param={"power": 2.0, "scale": 0.5, "shift": 1.0})
    np.testing.assert_allclose(net(x).detach().numpy(), ((1 + 0.5 * x) ** 2).detach().numpy(), rtol=1e-5)
    w = lumen.randn(6, 20)
    net = _run_single(tmp_path, (2, 3, 4, 5), "InnerProduct", blobs=[w],
                      inner_product_param={"num_output": 6, "axis": 2, "bias_term": False})
    np.testing.assert_allclose(net(x).detach().numpy(), (x.reshape(2, 3, 20) @ w.t()).detach().numpy(), rtol=1e-5, atol=1e-5)
    net = _run_single(tmp_path, (2, 3, 4, 5), "ReLU", relu_param={"negative_slope": 0.1})
    np.testing.assert_allclose(net(x).detach().numpy(), np.where(x.detach().numpy() > 0, x.detach().numpy(), 0.1 * x.detach().numpy()), rtol=1e-6)


def test_reshape_flatten_crop_axis_split_silence(tmp_path):
    x = lumen.randn(2, 3, 4, 5)
    net = _run_single(tmp_path, (2, 3, 4, 5), "Reshape", reshape_param={"shape": {"dim": [0, -1, 5]}})
    assert net(x).shape == (2, 12, 5)
    net = _run_single(tmp_path, (2, 3, 4, 5), "Flatten", flatten_param={"axis": 2})
    assert net(x).shape == (2, 3, 20)
    s = Spec("crop")
    s.input("a", (2, 3, 4, 5))
    s.input("ref", (2, 2, 2, 3))
    s.add("crop", "Crop", ["a", "ref"], ["c"], crop_param={"axis": 1, "offset": [1, 2, 1]})
    s.add("split", "Split", ["c"], ["c1", "c2"])
    s.add("silence", "Silence", ["c2"], [])
    proto, _ = write_pair(tmp_path, s, {})
    net = caffe.load(proto)
    assert net.output_names == ["c1"]
    np.testing.assert_array_equal(net(x, lumen.zeros(2, 2, 2, 3)).detach().numpy(), x.detach().numpy()[:, 1:3, 2:4, 1:4])


# ---- errors ---------------------------------------------------------------------------------

def _one_line(excinfo, *needles):
    message = str(excinfo.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message


def test_unknown_layer_type_names_layer_and_type(tmp_path):
    s = Spec("bad")
    s.input("data", (1, 3, 4, 4))
    s.add("warp", "SpatialTransformer", ["data"], ["warp"])
    proto, _ = write_pair(tmp_path, s, {})
    with pytest.raises(caffe.CaffeLayerError) as e:
        caffe.load(proto)
    _one_line(e, "'warp'", "SpatialTransformer", "not supported")


def test_missing_blob_wrong_shape_and_missing_layer(tmp_path):
    s = Spec("conv")
    s.input("data", (1, 3, 4, 4))
    s.add("conv", "Convolution", ["data"], ["conv"], convolution_param={"num_output": 2, "kernel_size": [3]})
    proto, path = write_pair(tmp_path, s, {"conv": [lumen.zeros(2, 3, 3, 3)]})
    with pytest.raises(caffe.CaffeFormatError) as e:
        caffe.load(proto, path)
    _one_line(e, "'conv'", "1 blob", "needs 2")
    proto, path = write_pair(tmp_path, s, {"conv": [lumen.zeros(2, 3, 3, 3), lumen.zeros(3)]})
    with pytest.raises(caffe.CaffeFormatError) as e:
        caffe.load(proto, path)
    _one_line(e, "'conv'", "blob 1", "(3,)", "(2,)")
    proto, path = write_pair(tmp_path, s, {})
    with pytest.raises(caffe.CaffeFormatError) as e:
        caffe.load(proto, path)
    _one_line(e, "no blobs", "'conv'")
    assert caffe.load(proto, path, strict=False).conv.weight.abs().max().item() == 0


def test_truncated_caffemodel(tmp_path):
    s = Spec("conv")
    s.input("data", (1, 3, 4, 4))
    s.add("conv", "Convolution", ["data"], ["conv"], convolution_param={"num_output": 2, "kernel_size": [3]})
    proto, path = write_pair(tmp_path, s, {"conv": [lumen.ones(2, 3, 3, 3), lumen.ones(2)]})
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(caffe.CaffeFormatError) as e:
        caffe.load(proto, path)
    _one_line(e, str(path))


def test_arguments_swapped(tmp_path):
    s = Spec("conv")
    s.input("data", (1, 3, 4, 4))
    s.add("conv", "Convolution", ["data"], ["conv"], convolution_param={"num_output": 2, "kernel_size": [3]})
    proto, path = write_pair(tmp_path, s, {"conv": [lumen.ones(2, 3, 3, 3) * 0.37, lumen.ones(2)]})
    with pytest.raises(caffe.CaffeFormatError) as e:
        caffe.load(path, proto)
    _one_line(e, str(path))


def test_prototxt_syntax_error_names_its_line(tmp_path):
    proto = tmp_path / "broken.prototxt"
    proto.write_text('name: "x"\nlayer {\n  name: "conv"\n  type: "Convolution"\n  bottom "data"\n}\n')
    with pytest.raises(caffe.CaffeFormatError) as e:
        caffe.load(proto)
    _one_line(e, "line 5", str(proto))


# ---- weights without the net: convert --prototxt, recipes ------------------------------------

def test_convert_prototxt_and_caffemodel_state_dict(tmp_path, small_fcn8s):
    from lumen.vision.convert import main
    from lumen.vision.models import read_npz
    proto, weights = write_pair(tmp_path, fcn8s_spec(small_fcn8s, 5), _weights_of(small_fcn8s))
    assert main(["--prototxt", str(proto), str(weights), str(tmp_path / "fcn.npz")]) == 0
    for state in (read_npz(tmp_path / "fcn.npz"), caffe.caffemodel_state_dict(weights)):
        other = fcn8s(num_classes=5, width=1 / 16)
        other.load_state_dict(state)
        for key, value in small_fcn8s.state_dict().items():
            np.testing.assert_array_equal(other.state_dict()[key].detach().numpy(), value.detach().numpy())


def test_caffemodel_state_dict_reshapes_legacy_inner_product_blobs(tmp_path):
    s = Spec("legacy", v1=True)
    s.input("data", (1, 6, 1, 1))
    s.add("fc", "InnerProduct", ["data"], ["fc"], inner_product_param={"num_output": 2})
    proto = tmp_path / "legacy.prototxt"
    proto.write_text(s.text())
    model = schema.NetParameter()
    model.CopyFrom(s.net)
    w, b = np.arange(12, dtype="<f4").reshape(2, 6), np.array([1, 2], dtype="<f4")
    for value in (w, b):
        blob = model.layers[0].blobs.add()
        blob.num, blob.channels, blob.height, blob.width = (1, 1) + ((2, 6) if value.ndim == 2 else (1, 2))
        blob.data.append(value.tobytes())
    path = tmp_path / "legacy.caffemodel"
    path.write_bytes(model.SerializeToString())
    state = caffe.caffemodel_state_dict(path)
    assert tuple(state["fc.weight"].shape) == (2, 6) and tuple(state["fc.bias"].shape) == (2,)
    net = caffe.load(proto, path)
    np.testing.assert_allclose(net(lumen.ones(1, 6, 1, 1)).detach().numpy(), w.sum(1, keepdims=True).T + b)


@pytest.mark.slow  # a full-width FCN-8s caffemodel (540 MB), as the reference publishes
def test_predict_loads_a_reference_fcn_caffemodel(tmp_path):
    from recipes import predict
    full = fcn8s(num_classes=3)  # predict builds the paper's full-width net
    _, weights = write_pair(tmp_path, fcn8s_spec(full, 3), _weights_of(full))
    model, classes, mean, palette, _ = predict.load_model(weights)
    assert type(model).__name__ == "FCN8s" and len(classes) == 3 and palette is None
    np.testing.assert_array_equal(model.score_fr.weight.detach().numpy(), full.score_fr.weight.detach().numpy())


# ---- save -> load round trips ---------------------------------------------------------------

def _round_trip(tmp_path, model, x, rename=lambda key: key):
    caffe.save(model, tmp_path / "m.prototxt", tmp_path / "m.caffemodel", input_shape=tuple(x.shape))
    net = caffe.load(tmp_path / "m.prototxt", tmp_path / "m.caffemodel")
    ours = caffe.lumen_keys(net.state_dict())
    for key, value in model.state_dict().items():
        if key.endswith(("weight", "bias")):
            np.testing.assert_array_equal(ours[rename(key)].detach().numpy(), value.detach().numpy(), err_msg=key)
    with lumen.no_grad():
        got, expected = net(x), model(x)
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=1e-5,
                               atol=1e-5 * max(1.0, float(expected.abs().max())))
    return net


@pytest.mark.parametrize("name", ["fcn32s", "fcn16s", "fcn8s", "fcn8s_atonce", "fcn32s_alexnet",
                                  "fcn32s_googlenet"])
def test_fcn_round_trip(tmp_path, name):
    from lumen.vision.models import fcn8s_atonce, fcn16s, fcn32s
    make = {"fcn32s": fcn32s, "fcn16s": fcn16s, "fcn8s": fcn8s, "fcn8s_atonce": fcn8s_atonce,
            "fcn32s_alexnet": lambda **kw: fcn32s(backbone="alexnet", **kw),
            "fcn32s_googlenet": lambda **kw: fcn32s(backbone="googlenet", **kw)}[name]
    model = _randomize(make(num_classes=3, width=1 / 16))
    x = lumen.tensor(np.random.default_rng(8).normal(size=(1, 3, 37, 41)).astype(np.float32))
    net = _round_trip(tmp_path, model, x)
    if name == "fcn8s_atonce":
        assert net.layer_type("scale_pool4") == "Scale"
        np.testing.assert_allclose(net.scale_pool3.weight.detach().numpy(), 1e-4)
    prototxt = (tmp_path / "m.prototxt").read_text()
    assert "lr_mult: 0" in prototxt  # the fixed final deconvolution


def test_classifier_round_trips(tmp_path):
    from lumen.vision.models import GoogLeNet, convolutionalize
    from lumen.vision.models.googlenet import googlenet_trunk
    model = small_caffenet()
    x = lumen.tensor(np.random.default_rng(9).normal(size=(2, 3, 227, 227)).astype(np.float32))
    _round_trip(tmp_path, model, x)
    _round_trip(tmp_path, convolutionalize(model).eval(), x, rename=lambda key: key.split(".", 1)[1])
    g = GoogLeNet(num_classes=5, aux_logits=False, init_weights=False)
    for layer_name, layer in googlenet_trunk(width=1 / 16):
        setattr(g, layer_name, layer)
    g.fc = nn.Linear(g.inception5b.out_channels, 5)
    _randomize(g)
    net = _round_trip(tmp_path, g, lumen.tensor(np.random.default_rng(10).normal(size=(1, 3, 64, 72)).astype(np.float32)))
    assert "inception_4e/5x5_reduce" in net.layer_names and "loss3/classifier" in net.layer_names


def test_save_rejects_modules_it_cannot_write(tmp_path):
    with pytest.raises(TypeError, match="Sequential"):
        caffe.save(nn.Sequential(nn.Conv2d(3, 2, 1)), tmp_path / "a.prototxt", tmp_path / "a.caffemodel")


def test_vgg_round_trip_under_caffe_names(tmp_path):
    from lumen.vision.models.vgg import CFGS, VGG, make_layers
    model = VGG(make_layers([c if c == "M" else max(2, c // 32) for c in CFGS["D"]]), init_weights=False)
    channels = model.features[-3].out_channels
    model.classifier = nn.Sequential(nn.Linear(channels * 49, 16), nn.ReLU(), nn.Dropout(), nn.Linear(16, 16),
                                     nn.ReLU(), nn.Dropout(), nn.Linear(16, 4))
    _randomize(model)
    x = lumen.tensor(np.random.default_rng(11).normal(size=(1, 3, 224, 224)).astype(np.float32))
    names = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv4_1", "conv4_2",
             "conv4_3", "conv5_1", "conv5_2", "conv5_3", "fc6", "fc7", "fc8"]
    torchvision_keys = [k.rpartition(".")[0] for k in model.state_dict() if k.endswith("weight")]
    net = _round_trip(tmp_path, model, x, rename=lambda key: dict(zip(torchvision_keys, names))[key.rpartition(".")[0]]
                      + "." + key.rpartition(".")[2])
    assert [n for n in net.layer_names if n.startswith(("conv", "fc"))] == names
    assert "drop7" in net.layer_names and "pool5" in net.layer_names


# ---- more layer types, data layers as inputs, V1 text ----------------------------------------

def test_data_layers_are_inputs_and_activation_softmax_accuracy_bias_concat(tmp_path):
    s = Spec("misc")
    s.add("data", "Python", [], ["data", "label"], python_param={"module": "voc_layers", "layer": "VOCSegDataLayer"})
    s.add("dummy", "DummyData", [], ["extra"], dummy_data_param={"shape": [{"dim": [2, 3]}]})
    s.add("sig", "Sigmoid", ["data"], ["sig"])
    s.add("tanh", "TanH", ["data"], ["tanh"])
    s.add("cat", "Concat", ["sig", "tanh"], ["cat"], concat_param={"axis": 0})
    s.add("bias", "Bias", ["data", "extra"], ["biased"], bias_param={"axis": 0})
    s.add("prob", "Softmax", ["data"], ["prob"])
    s.add("accuracy", "Accuracy", ["data", "label"], ["accuracy"], accuracy_param={"top_k": 2})
    proto, _ = write_pair(tmp_path, s, {})
    net = caffe.load(proto)
    assert net.input_names == ["data", "label", "extra"] and net.input_shapes["extra"] == (2, 3)
    x, label, extra = lumen.randn(2, 3), lumen.tensor([0.0, 2.0]), lumen.randn(2, 3)
    out = net(x, label, extra=extra)
    assert list(out) == ["cat", "biased", "prob", "accuracy"]
    np.testing.assert_allclose(out["cat"].detach().numpy(),
                               np.concatenate([1 / (1 + np.exp(-x.detach().numpy())), np.tanh(x.detach().numpy())]),
                               rtol=1e-5)
    np.testing.assert_allclose(out["biased"].detach().numpy(), (x + extra).detach().numpy())
    np.testing.assert_allclose(out["prob"].detach().numpy().sum(1), 1, rtol=1e-6)
    top2 = np.argsort(-x.detach().numpy(), axis=1)[:, :2]
    expected = np.mean([lab in row for lab, row in zip([0, 2], top2)])
    assert float(out["accuracy"]) == pytest.approx(expected)
    with pytest.raises(ValueError, match="'accuracy'.*'label'"):
        net(x, extra=extra)


def test_v1_text_prototxt_with_enum_types_and_net_level_inputs(tmp_path):
    proto = tmp_path / "v1.prototxt"
    proto.write_text('name: "old"\ninput: "data"\ninput_dim: 1\ninput_dim: 2\ninput_dim: 4\ninput_dim: 4\n'
                     'layers { name: "pool" type: POOLING bottom: "data" top: "pool"\n'
                     '  pooling_param { pool: AVE kernel_size: 2 stride: 2 } }\n'
                     'layers { name: "relu" type: RELU bottom: "pool" top: "pool" blobs_lr: 1 }\n')
    net = caffe.load(proto)
    x = lumen.randn(1, 2, 4, 4)
    expected = np.maximum(x.detach().numpy().reshape(1, 2, 2, 2, 2, 2).mean(axis=(3, 5)), 0)
    np.testing.assert_allclose(net(x).detach().numpy(), expected, rtol=1e-5, atol=1e-7)
    proto.write_text('name: "old"\ninput: "data"\ninput_dim: 1\ninput_dim: 2\ninput_dim: 4\ninput_dim: 4\n'
                     'layers { name: "abs" type: ABSVAL bottom: "data" top: "abs" }\n')
    with pytest.raises(caffe.CaffeLayerError) as e:
        caffe.load(proto)
    _one_line(e, "'abs'", "AbsVal")


@pytest.mark.parametrize("bottom, needle", [("fc", "no blob up both"), ("pool", "scale 1")], ids=["unmapped", "scaled"])
def test_a_v1_crop_its_coordinates_cannot_place_names_the_layer(tmp_path, bottom, needle):
    s = Spec("crops", v1=True)
    s.input("data", (1, 1, 6, 6))
    s.add("pool", "Pooling", ["data"], ["pool"], pooling_param={"pool": 0, "kernel_size": 2, "stride": 2})
    s.add("fc", "InnerProduct", ["data"], ["fc"], inner_product_param={"num_output": 2})
    s.add("crop", "Crop", [bottom, "data"], ["crop"])
    proto = tmp_path / "crops.prototxt"
    proto.write_text(s.text())
    with pytest.raises(caffe.CaffeLayerError) as e:
        caffe.load(proto)
    _one_line(e, "'crop'", needle)


def test_malformed_layers(tmp_path):
    s = Spec("bad")
    s.input("a", (1, 2))
    s.input("b", (1, 2))
    s.add("sum", "Eltwise", ["a", "b"], ["sum"], eltwise_param={"operation": 1, "coeff": [1.0]})
    proto, _ = write_pair(tmp_path, s, {})
    with pytest.raises(caffe.CaffeLayerError) as e:
        caffe.load(proto)
    _one_line(e, "'sum'", "coeff")
    s = Spec("bad")
    s.input("a", (1, 2, 3, 3))
    s.add("conv", "Convolution", ["a"], ["conv"], convolution_param={"kernel_size": [3]})
    proto, _ = write_pair(tmp_path, s, {})
    with pytest.raises(caffe.CaffeLayerError) as e:
        caffe.load(proto)
    _one_line(e, "'conv'", "num_output")
    s = Spec("bad")
    s.input("a", (1, 2, 3, 3))
    s.add("relu", "ReLU", ["nothing"], ["relu"])
    proto, _ = write_pair(tmp_path, s, {})
    with pytest.raises(caffe.CaffeFormatError) as e:
        caffe.load(proto)
    _one_line(e, "'relu'", "nothing")


def test_compare_prints_one_line_per_shared_layer(tmp_path, small_fcn8s):
    proto, weights = write_pair(tmp_path, fcn8s_spec(small_fcn8s, 5), _weights_of(small_fcn8s))
    net = caffe.load(proto, weights)
    with lumen.no_grad():
        net.score_fr.bias.add_(1.0)  # a conversion error in one layer shows from that layer on
    lines = []
    diffs = caffe.compare(net, small_fcn8s, lumen.randn(1, 3, 40, 44), print_fn=lines.append)
    assert len(lines) == len(diffs) and lines[0].startswith("conv1_1")
    assert diffs["fc7"] < 1e-4 and diffs["score_fr"] == pytest.approx(1.0, rel=1e-4)


def test_fcn_voc_init_takes_a_classifier_caffemodel(tmp_path):
    import types
    from recipes import fcn_voc
    from lumen.vision.models.backbones import VGG16Backbone
    trunk = _randomize(VGG16Backbone(width=1 / 16), seed=12)
    s = Spec("vgg16", v1=True)  # the zoo's VGG_ILSVRC_16_layers is a V1 net
    s.input("data", (1, 3, 224, 224))
    for name in VGG16Backbone.CONVS:
        s.add(name, "Convolution", ["data"], [name], convolution_param={"num_output": getattr(trunk, name).out_channels,
                                                                      "kernel_size": [3]})
    _, path = write_pair(tmp_path, s, _weights_of(trunk))
    args = types.SimpleNamespace(init=path, width=1 / 16, classes=["a", "b"], backbone="vgg16", dropout=0.5,
                                 trunk=fcn_voc.PAPER["trunk"], score_init="zero")
    model = fcn_voc.build_model("fcn32s", args)
    for name in VGG16Backbone.CONVS:
        np.testing.assert_array_equal(getattr(model, name).weight.detach().numpy(),
                                      getattr(trunk, name).weight.detach().numpy())


@pytest.mark.parametrize("v1", [False, True], ids=["V2", "V1"])
def test_a_loaded_net_saves_back_as_v2(tmp_path, v1):
    model = small_caffenet()
    proto, weights = write_pair(tmp_path, caffenet_spec(model, v1), _weights_of(model))
    net = caffe.load(proto, weights)
    with lumen.no_grad():
        net.fc8.bias.add_(1.0)  # e.g. fine-tuned in Lumen
    caffe.save(net, tmp_path / "out.prototxt", tmp_path / "out.caffemodel")
    again = caffe.load(tmp_path / "out.prototxt", tmp_path / "out.caffemodel")
    assert "layer {" in (tmp_path / "out.prototxt").read_text() and again.layer_names == net.layer_names
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[key].detach().numpy(), value.detach().numpy())
    x = lumen.randn(1, 3, 227, 227)
    np.testing.assert_array_equal(again(x).detach().numpy(), net(x).detach().numpy())


def _caffe_pool(x, method, k, s, p):
    """Caffe's PoolingLayer::Forward_cpu loops, written out (one plane)."""
    h, w = x.shape
    out_h = int(np.ceil((h + 2 * p - k) / s)) + 1
    out_w = int(np.ceil((w + 2 * p - k) / s)) + 1
    if p > 0:
        out_h -= (out_h - 1) * s >= h + p
        out_w -= (out_w - 1) * s >= w + p
    out = np.empty((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            hs, ws = i * s - p, j * s - p
            he, we = min(hs + k, h + p), min(ws + k, w + p)
            size = (he - hs) * (we - ws)
            window = x[max(hs, 0):min(he, h), max(ws, 0):min(we, w)]
            out[i, j] = window.max() if method == "MAX" else window.sum() / size
    return out


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 12), w=st.integers(1, 12), k=st.integers(1, 5), s=st.integers(1, 4),
       p=st.integers(0, 2), method=st.sampled_from(["MAX", "AVE"]))
def test_pooling_equals_caffes_loops(h, w, k, s, p, method):
    assume(k >= s and 2 * p <= k and h + 2 * p >= k and w + 2 * p >= k)
    x = np.random.default_rng(h * 100 + w).normal(size=(h, w)).astype(np.float32)
    layer = caffe.layers.build(caffe.net._Layer(schema.message("LayerParameter")(
        name="pool", type="Pooling", bottom=["x"], top=["y"], pooling_param=dict(
            pool=0 if method == "MAX" else 1, kernel_size=k, stride=s, pad=p)), False, 0))
    (got,) = layer(lumen.tensor(x[None, None]))
    np.testing.assert_allclose(got.detach().numpy()[0, 0], _caffe_pool(x, method, k, s, p), rtol=1e-5, atol=1e-6)
