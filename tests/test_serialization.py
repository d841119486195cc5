"""lumen.save / lumen.load: round trips, the documented format, atomic writes, clear errors."""
import io
import json
import os
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import lumen
import lumen.nn as nn
from lumen.serialization import CheckpointError, atomic_write


def _roundtrip(obj, path):
    lumen.save(obj, path)
    return lumen.load(path)


def test_nested_round_trip(tmp_path):
    t32 = lumen.randn(3, 4)
    obj = {
        "model": OrderedDict([("w", t32), ("b", lumen.tensor([1, 2], dtype=lumen.int64))]),
        "grad": lumen.ones(2, dtype=lumen.float64, requires_grad=True),
        "masks": [lumen.tensor([True, False]), lumen.zeros(0, 3, dtype=lumen.float16)],
        "array": np.arange(6, dtype=np.int32).reshape(2, 3),
        "np_scalar": np.float64(2.5),
        "meta": {"epoch": 7, "lr": 1e-10, "nan": float("nan"), "inf": -float("inf"), "name": "fcn8s",
                 "flag": True, "none": None, "shape": (1, 2), 3: "int key", (1, "a"): [None]},
        "big": 2 ** 70,
    }
    out = _roundtrip(obj, tmp_path / "ck.lumen")
    assert type(out["model"]) is OrderedDict and list(out["model"]) == ["w", "b"]
    np.testing.assert_array_equal(out["model"]["w"].numpy(), t32.numpy())
    assert out["model"]["w"].dtype == lumen.float32 and out["model"]["b"].dtype == lumen.int64
    assert out["grad"].requires_grad and out["grad"].dtype == lumen.float64 and out["grad"].is_leaf
    assert out["masks"][0].dtype == lumen.bool and out["masks"][0].tolist() == [True, False]
    assert out["masks"][1].shape == (0, 3) and out["masks"][1].dtype == lumen.float16
    assert isinstance(out["array"], np.ndarray) and out["array"].dtype == np.int32
    np.testing.assert_array_equal(out["array"], obj["array"])
    assert type(out["np_scalar"]) is np.float64 and out["np_scalar"] == 2.5
    meta = out["meta"]
    assert meta["epoch"] == 7 and type(meta["epoch"]) is int and meta["lr"] == 1e-10
    assert np.isnan(meta["nan"]) and meta["inf"] == -float("inf") and meta["flag"] is True
    assert meta["none"] is None and meta["shape"] == (1, 2) and meta[3] == "int key"
    assert meta[(1, "a")] == [None] and out["big"] == 2 ** 70


def test_module_state_dict_round_trip(tmp_path):
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2))
    lumen.save(net.state_dict(), tmp_path / "net.npz")
    other = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2))
    other.load_state_dict(lumen.load(tmp_path / "net.npz"))
    for (k, a), (_, b) in zip(net.state_dict().items(), other.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    loaded = lumen.load(tmp_path / "net.npz")
    assert type(loaded["0.weight"]) is lumen.Tensor  # Parameters come back as plain tensors


def test_shared_tensor_stored_once_and_loaded_as_one_object(tmp_path):
    t = lumen.ones(1000)
    out = _roundtrip({"a": t, "b": [t]}, tmp_path / "s.npz")
    assert out["a"] is out["b"][0]
    with zipfile.ZipFile(tmp_path / "s.npz") as z:
        assert sorted(z.namelist()) == ["__lumen_manifest__.npy", "arr_0.npy"]


def test_format_is_a_plain_npz_with_json_manifest(tmp_path):
    path = tmp_path / "f.npz"
    lumen.save({"w": lumen.tensor([1.5, 2.5]), "step": 3}, path)
    with np.load(path, allow_pickle=False) as z:
        manifest = json.loads(z["__lumen_manifest__"].tobytes().decode())
        assert manifest["format"] == "lumen-checkpoint" and manifest["version"] == 1
        root = manifest["root"]
        assert root["t"] == "dict"
        (kw, w), (ks, s) = root["items"]
        assert kw == {"t": "str", "v": "w"} and s == {"t": "int", "v": 3}
        assert w == {"t": "tensor", "k": "arr_0", "dtype": "float32", "device": "cpu",
                     "requires_grad": False}
        np.testing.assert_array_equal(z["arr_0"], [1.5, 2.5])


def test_file_objects(tmp_path):
    buf = io.BytesIO()
    lumen.save([lumen.arange(3)], buf)
    buf.seek(0)
    assert lumen.load(buf)[0].tolist() == [0, 1, 2]


def test_map_location(tmp_path):
    path = tmp_path / "m.npz"
    lumen.save({"x": lumen.ones(2)}, path)
    for loc in ("cpu", lumen.device("cpu")):
        assert lumen.load(path, map_location=loc)["x"].device == lumen.device("cpu")
    with pytest.raises(TypeError, match="map_location"):
        lumen.load(path, map_location=3)


def test_map_location_as_torch_takes_it(tmp_path):
    path = tmp_path / "m.npz"
    lumen.save({"x": lumen.ones(2), "y": [lumen.zeros(1)]}, path)
    seen = []

    def keep(storage, location):
        seen.append((type(storage), location))
        return storage

    out = lumen.load(path, map_location=keep)
    assert seen == [(lumen.Tensor, "cpu")] * 2 and out["x"].tolist() == [1.0, 1.0]
    assert lumen.load(path, map_location=lambda storage, loc: None)["x"].device == lumen.device("cpu")
    assert lumen.load(path, map_location={"cuda:1": "cuda:0"})["y"][0].device == lumen.device("cpu")
    assert lumen.load(path, map_location={"cpu": lumen.device("cpu")})["x"].device == lumen.device("cpu")


def test_weights_only_and_torch_arguments_are_accepted(tmp_path):
    buf = io.BytesIO()
    lumen.save({"w": lumen.arange(4.0)}, buf, pickle_protocol=4, _use_new_zipfile_serialization=True)
    for weights_only in (True, False, None):
        buf.seek(0)
        assert lumen.load(buf, map_location="cpu", weights_only=weights_only)["w"].tolist() == [0, 1, 2, 3]
    buf.seek(0)
    assert lumen.load(buf, mmap=False, encoding="latin1")["w"].shape == (4,)


def test_saving_a_module_points_to_its_state_dict(tmp_path):
    with pytest.raises(TypeError, match=r"cannot save an object of type Linear at obj \(save its state_dict"):
        lumen.save(lumen.nn.Linear(2, 2), tmp_path / "m.pt")


@pytest.mark.cuda
def test_map_location_cuda(tmp_path):
    if not lumen.cuda.is_available():
        pytest.skip("needs a CUDA GPU and CuPy")
    path = tmp_path / "g.npz"
    lumen.save({"x": lumen.ones(2).cuda()}, path)
    assert lumen.load(path)["x"].device.type == "cuda"
    assert lumen.load(path, map_location="cpu")["x"].device == lumen.device("cpu")
    assert lumen.load(path, map_location="cuda")["x"].device.type == "cuda"


def test_unsupported_objects_are_rejected_before_writing(tmp_path):
    path = tmp_path / "bad.npz"
    with pytest.raises(TypeError, match=r"cannot save an object of type set at obj\['a'\]\[1\]"):
        lumen.save({"a": [1, {2}]}, path)
    with pytest.raises(TypeError, match="dtype object"):
        lumen.save(np.array([None, 1]), path)
    with pytest.raises(TypeError, match="unsupported dict key type"):
        lumen.save({frozenset(): 1}, path)
    assert os.listdir(tmp_path) == []


def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "ck.npz"
    lumen.save({"v": 1}, path)
    before = path.read_bytes()

    real_savez = np.savez

    def crash(file, **arrays):
        real_savez(file, **arrays)  # the bytes hit the temp file, then the "disk" fails
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        lumen.save({"v": lumen.ones(100)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ck.npz"]
    new = tmp_path / "new.npz"
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError("rename failed")))
    with pytest.raises(OSError, match="rename failed"):
        lumen.save({"v": 2}, new)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["ck.npz"]


def test_atomic_write_renames_a_synced_temp_file_from_the_same_folder(tmp_path, monkeypatch):
    path = tmp_path / "notes.txt"
    path.write_text("old")
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    with atomic_write(str(path)) as f:
        f.write(b"new ")
        f.write(b"text")
        (tmp,) = [n for n in os.listdir(tmp_path) if n != "notes.txt"]
        assert tmp.startswith(".notes.txt.") and tmp.endswith(".tmp")
        assert path.read_text() == "old"  # nothing under the final name until the block ends
    assert path.read_text() == "new text"
    assert os.listdir(tmp_path) == ["notes.txt"]
    assert synced  # the data reached the disk before the rename


def test_atomic_write_error_keeps_the_old_file_and_removes_the_temp(tmp_path):
    path = tmp_path / "plot.png"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="renderer crashed"):
        with atomic_write(path) as f:
            f.write(b"half a pic")
            raise RuntimeError("renderer crashed")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["plot.png"]
    with pytest.raises(FileNotFoundError):
        with atomic_write(tmp_path / "no_such_folder" / "x.png"):
            pass


def test_truncated_file_error_names_the_file(tmp_path):
    path = tmp_path / "trunc.npz"
    lumen.save({"w": lumen.randn(64, 64)}, path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 30, 10):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=str(path)):
            lumen.load(path)
    # a flipped byte inside an array: the zip CRC check catches it
    corrupt = bytearray(data)
    corrupt[200] ^= 0xFF
    path.write_bytes(bytes(corrupt))
    with pytest.raises(CheckpointError, match="trunc.npz"):
        lumen.load(path)


def test_foreign_files_are_rejected_clearly(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="notes.txt: not a Lumen checkpoint"):
        lumen.load(text)
    npz = tmp_path / "other.npz"
    np.savez(npz, a=np.ones(2))
    with pytest.raises(CheckpointError, match="without the '__lumen_manifest__' manifest"):
        lumen.load(npz)
    npy = tmp_path / "arr.npy"
    np.save(npy, np.ones(2))
    with pytest.raises(CheckpointError, match="arr.npy"):
        lumen.load(npy)
    future = tmp_path / "future.npz"
    manifest = json.dumps({"format": "lumen-checkpoint", "version": 99, "root": {"t": "none"}}).encode()
    np.savez(future, __lumen_manifest__=np.frombuffer(manifest, np.uint8))
    with pytest.raises(CheckpointError, match="version 99 is not supported"):
        lumen.load(future)
    dangling = tmp_path / "dangling.npz"
    manifest = json.dumps({"format": "lumen-checkpoint", "version": 1,
                           "root": {"t": "ndarray", "k": "arr_5"}}).encode()
    np.savez(dangling, __lumen_manifest__=np.frombuffer(manifest, np.uint8))
    with pytest.raises(CheckpointError, match="dangling.npz.*arr_5"):
        lumen.load(dangling)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        lumen.load(tmp_path / "missing.npz")


def test_pickled_payloads_never_run(tmp_path):
    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    payload = io.BytesIO()
    np.save(payload, np.array([Boom()], dtype=object), allow_pickle=True)  # a valid .npy holding a pickle
    evil = tmp_path / "evil.npz"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("__lumen_manifest__.npy", payload.getvalue())
    with pytest.raises(CheckpointError, match="evil.npz"):
        lumen.load(evil)
    assert not (tmp_path / "pwned").exists()


def test_checkpoint_error_is_value_and_os_error():
    assert issubclass(CheckpointError, ValueError) and issubclass(CheckpointError, OSError)
