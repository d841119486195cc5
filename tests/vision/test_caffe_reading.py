"""lumen.vision.caffe reads a caffemodel a layer at a time: loading peaks near the weights plus
one layer (not at twice the weights), every truncation or framing fault is a one-line error, and
blobs written unpacked (one field per value) read like Caffe's packed ones."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("google.protobuf")
from google.protobuf import text_format  # noqa: E402

from lumen.vision import caffe  # noqa: E402
from lumen.vision.caffe import schema  # noqa: E402


def _inner_products(n_layers, width, v1=False):
    """A chain of ``n_layers`` InnerProduct layers of ``width`` outputs, fed a (1, width) input."""
    net = schema.NetParameter(name="chain")
    net.input.append("data")
    net.input_dim.extend([1, width, 1, 1])
    for i in range(n_layers):
        layer = (net.layers if v1 else net.layer).add(name=f"fc{i}", bottom=["data" if i == 0 else f"fc{i - 1}"],
                                                      top=[f"fc{i}"])
        layer.type = type(layer).INNER_PRODUCT if v1 else "InnerProduct"
        layer.inner_product_param.num_output = width
    return net


def _weights(n_layers, width):
    rng = np.random.default_rng(0)
    return [(rng.standard_normal((width, width), dtype=np.float32), rng.standard_normal(width, dtype=np.float32))
            for _ in range(n_layers)]


def _packed(array):
    blob = schema.message("BlobProto")()
    blob.shape.dim.extend(array.shape)
    blob.data.append(np.ascontiguousarray(array, dtype="<f4").tobytes())
    return blob


def _write(tmp_path, net, weights, blob=_packed):
    """prototxt + caffemodel; the caffemodel written one layer at a time (serialized NetParameters
    concatenate into one, by protobuf's merge rule), so the writer never holds the whole file."""
    tmp_path.mkdir(exist_ok=True)
    proto, model = tmp_path / "chain.prototxt", tmp_path / "chain.caffemodel"
    proto.write_text(text_format.MessageToString(net))
    v1 = bool(net.layers)
    with open(model, "wb") as fh:
        for layer, arrays in zip(net.layers if v1 else net.layer, weights):
            one = schema.NetParameter()
            trained = (one.layers if v1 else one.layer).add()
            trained.CopyFrom(layer)
            for array in arrays:
                trained.blobs.append(blob(array))
            fh.write(one.SerializeToString())
    return proto, model


_MEASURE = textwrap.dedent("""
    import json, sys
    from lumen.vision import caffe

    def status_mb(key):  # VmHWM, unlike ru_maxrss, is not inherited from the forking pytest process
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith(key)) / 1024

    before = status_mb("VmRSS")
    net = caffe.load(sys.argv[1], sys.argv[2])
    peak = status_mb("VmHWM")
    sums = [float(p.double().sum().item()) for p in net.parameters()]
    print(json.dumps({"growth_mb": peak - before, "sums": sums}))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads VmRSS and VmHWM from /proc/self/status")
def test_load_peaks_near_the_weights_not_twice(tmp_path):
    # 16 layers of 4 MiB: 64 MiB of float32 blobs. Reading a layer at a time peaks at 1.11x of
    # them (the parameters plus copies of one layer); parsing the file whole peaked at 2.12x.
    n_layers, width = 16, 1024
    weights = _weights(n_layers, width)
    proto, model = _write(tmp_path, _inner_products(n_layers, width), weights)
    blob_mb = sum(w.nbytes + b.nbytes for w, b in weights) / 2**20
    out = subprocess.run([sys.executable, "-c", _MEASURE, str(proto), str(model)], capture_output=True, text=True,
                         check=True, timeout=120, env={**os.environ, "PYTHONWARNINGS": "error"})
    result = json.loads(out.stdout)
    assert result["growth_mb"] < 1.5 * blob_mb, (result["growth_mb"], blob_mb)
    expected = [float(a.astype(np.float64).sum()) for pair in weights for a in pair]
    np.testing.assert_allclose(result["sums"], expected, rtol=1e-9)


def _unpacked(array):
    """A BlobProto whose values are written one field per value (proto2's unpacked encoding)."""
    blob = schema.message("BlobProto")()
    blob.shape.dim.extend(array.shape)
    values = schema.message("BlobValues")()
    if array.dtype == np.float64:
        values.double_data.extend(array.reshape(-1).tolist())
    else:
        values.data.extend(array.reshape(-1).tolist())
    blob.MergeFromString(values.SerializeToString())  # unknown fields of BlobProto, kept as they are
    return blob


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("v1", [False, True], ids=["V2", "V1"])
def test_unpacked_blobs_read_like_packed_ones(tmp_path, v1, dtype):
    weights = [tuple(a.astype(dtype) for a in pair) for pair in _weights(2, 3)]
    proto, model = _write(tmp_path, _inner_products(2, 3, v1), weights, blob=_unpacked)
    stored = schema.NetParameter.FromString(model.read_bytes())
    first = (stored.layers if v1 else stored.layer)[0].blobs[0]
    assert not first.data and not first.double_data  # not the packed encoding BlobProto declares
    net = caffe.load(proto, model)
    for i, (w, b) in enumerate(weights):
        np.testing.assert_array_equal(getattr(net, f"fc{i}").weight.detach().numpy(), w.astype(np.float32))
        np.testing.assert_array_equal(getattr(net, f"fc{i}").bias.detach().numpy(), b.astype(np.float32))
    state = caffe.caffemodel_state_dict(model)
    np.testing.assert_array_equal(state["fc1.weight"].numpy(), weights[1][0].astype(np.float32))


def test_every_truncation_is_a_one_line_error(tmp_path):
    proto, model = _write(tmp_path, _inner_products(2, 3), _weights(2, 3))
    data = model.read_bytes()
    for cut in range(len(data)):
        model.write_bytes(data[:cut])
        with pytest.raises(caffe.CaffeFormatError) as e:
            caffe.load(proto, model)
        message = str(e.value)
        assert "\n" not in message and str(model) in message, (cut, message)


@pytest.mark.parametrize("junk, needle", [(b"\x0f", "wire type 7"), (b"\xa2\x06\x05ab", "truncated"),
                                          (b"\xa2\x06\x03\xff\xff\xff", "layer 2")],
                         ids=["wire-type", "length-past-end", "layer-not-a-message"])
def test_framing_faults_after_good_layers(tmp_path, junk, needle):
    proto, model = _write(tmp_path, _inner_products(2, 3), _weights(2, 3))
    model.write_bytes(model.read_bytes() + junk)
    with pytest.raises(caffe.CaffeFormatError) as e:
        caffe.load(proto, model)
    assert "\n" not in str(e.value) and needle in str(e.value), str(e.value)


def test_a_caffemodel_in_both_formats_is_refused(tmp_path):
    proto, model = _write(tmp_path, _inner_products(1, 3), _weights(1, 3))
    _, v1_model = _write(tmp_path / "v1", _inner_products(1, 3, v1=True), _weights(1, 3))
    model.write_bytes(model.read_bytes() + v1_model.read_bytes())
    with pytest.raises(caffe.CaffeFormatError, match="both V2 'layer' and V1 'layers'"):
        caffe.load(proto, model)


def test_layers_the_net_lacks_are_skipped_and_the_last_of_a_name_wins(tmp_path):
    proto, model = _write(tmp_path, _inner_products(1, 3), _weights(1, 3))
    _, other = _write(tmp_path / "other", _inner_products(2, 3), [(w * 2, b * 2) for w, b in _weights(2, 3)])
    model.write_bytes(model.read_bytes() + other.read_bytes())  # fc0 twice, then an fc1 the net lacks
    net = caffe.load(proto, model)
    np.testing.assert_array_equal(net.fc0.weight.detach().numpy(), _weights(1, 3)[0][0] * 2)
    assert [n for n, _ in net.named_children()] == ["fc0"]


def test_a_caffemodel_in_another_order_than_the_net_loads(tmp_path):
    net = _inner_products(3, 3)
    weights = _weights(3, 3)
    order = [2, 0, 1]
    reordered = schema.NetParameter()
    reordered.layer.extend(net.layer[i] for i in order)
    proto, model = _write(tmp_path, reordered, [weights[i] for i in order])
    proto.write_text(text_format.MessageToString(net))
    loaded = caffe.load(proto, model)
    for i, (w, b) in enumerate(weights):
        np.testing.assert_array_equal(getattr(loaded, f"fc{i}").weight.detach().numpy(), w)
        np.testing.assert_array_equal(getattr(loaded, f"fc{i}").bias.detach().numpy(), b)


def test_layers_without_blobs_do_not_read_the_caffemodel_ahead(tmp_path, monkeypatch):
    net = _inner_products(3, 4)
    for i in (2, 1):  # fc0, relu0, fc1, relu1, fc2: ReLUs in place, absent from the caffemodel
        relu = schema.message("LayerParameter")(name=f"relu{i - 1}", type="ReLU", bottom=[f"fc{i - 1}"],
                                                top=[f"fc{i - 1}"])
        net.layer.insert(i, relu)
    fcs = schema.NetParameter()
    fcs.layer.extend(layer for layer in net.layer if layer.type == "InnerProduct")
    proto, model = _write(tmp_path, fcs, _weights(3, 4))
    proto.write_text(text_format.MessageToString(net))
    from lumen.vision.caffe import net as net_module
    held, take = [], net_module._BlobReader.take
    monkeypatch.setattr(net_module._BlobReader, "take",
                        lambda self, name: (take(self, name), held.append(len(self._ahead)))[0])
    loaded = caffe.load(proto, model)
    assert held == [0, 0, 0]  # one take per learned layer, nothing read ahead of it
    np.testing.assert_array_equal(loaded.fc2.weight.detach().numpy(), _weights(3, 4)[2][0])
