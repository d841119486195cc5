"""Checkpoints: ``lumen.save(obj, f)`` and ``lumen.load(f, map_location=None)``.

``obj`` is any nesting of dicts (keys: str, int, float, bool, None or tuples of
those), lists and tuples whose leaves are Tensors, numpy arrays, numpy scalars,
Python numbers, strings, bools and None: model and optimizer state dicts,
epoch counters, metrics.

File format (an ordinary ``.npz``; any name or extension may be used):
a zip archive, written with ``numpy.savez``, holding

- ``arr_<i>.npy``: one numpy array per distinct Tensor/array/numpy scalar in
  ``obj`` (a Tensor referenced twice is stored once and loads as one object);
- ``__lumen_manifest__.npy``: a uint8 array with the UTF-8 bytes of a JSON document
  ``{"format": "lumen-checkpoint", "version": 1, "root": NODE}``, where NODE is one of
  ``{"t": "none"}``, ``{"t": "bool"|"int"|"str", "v": value}``,
  ``{"t": "float", "v": repr(value)}`` (exact, and nan/inf safe),
  ``{"t": "list"|"tuple", "items": [NODE, ...]}``,
  ``{"t": "dict"|"odict", "items": [[KEY_NODE, NODE], ...]}`` (key types and order kept),
  ``{"t": "tensor", "k": "arr_<i>", "dtype": "float32", "device": "cuda:0", "requires_grad": false}``,
  ``{"t": "ndarray", "k": "arr_<i>"}`` or ``{"t": "npscalar", "k": "arr_<i>"}``.

Loading uses ``allow_pickle=False`` and ``json``: no code in a file ever runs.
Tensors load as plain Tensors (Parameters become Tensors) with their dtype and
``requires_grad`` flag; ``map_location`` (a device, a dict of devices or a callable,
as ``torch.load``) overrides the stored device. Saving is atomic: the archive is written to a
temporary file in the destination folder, flushed and fsynced, then renamed
over the destination with ``os.replace``, so a crash never leaves a partial
checkpoint under the final name (``atomic_write``, for any file written so).
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

import lumen
from lumen.dtypes import as_dtype

__all__ = ["save", "load", "atomic_write", "CheckpointError"]

_FORMAT = "lumen-checkpoint"
_VERSION = 1
_MANIFEST = "__lumen_manifest__"


class CheckpointError(ValueError, OSError):
    """A file is not a readable Lumen checkpoint (truncated, corrupt, or another format)."""


def _name_of(f):
    return os.fspath(f) if isinstance(f, (str, os.PathLike)) else getattr(f, "name", repr(f))


class _Encoder:
    def __init__(self):
        self.arrays = {}
        self.by_id = {}
        self._keep = []  # objects whose id() is a key of by_id must stay alive while encoding

    def _store(self, obj, array):
        key = self.by_id.get(id(obj))
        if key is None:
            if array.dtype.hasobject:
                raise TypeError(f"lumen.save: cannot save a numpy array of dtype object "
                                f"(shape {array.shape}): only numeric and bool arrays are supported")
            key = f"arr_{len(self.arrays)}"
            self.arrays[key] = array
            self.by_id[id(obj)] = key
            self._keep.append(obj)
        return key

    def encode(self, obj, path="obj"):
        if obj is None:
            return {"t": "none"}
        if isinstance(obj, np.generic):  # before float: np.float64 subclasses float
            return {"t": "npscalar", "k": self._store(obj, np.asarray(obj))}
        if isinstance(obj, bool):
            return {"t": "bool", "v": obj}
        if isinstance(obj, int):
            return {"t": "int", "v": int(obj)}
        if isinstance(obj, float):
            return {"t": "float", "v": repr(float(obj))}
        if isinstance(obj, str):
            return {"t": "str", "v": obj}
        if isinstance(obj, lumen.Tensor):
            array = obj.detach().numpy()
            return {"t": "tensor", "k": self._store(obj, np.asarray(array)), "dtype": obj.dtype.name,
                    "device": str(obj.device), "requires_grad": bool(obj.requires_grad)}
        if isinstance(obj, np.ndarray):
            return {"t": "ndarray", "k": self._store(obj, obj)}
        if isinstance(obj, (list, tuple)):
            return {"t": "list" if isinstance(obj, list) else "tuple",
                    "items": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(obj)]}
        if isinstance(obj, dict):
            items = []
            for k, v in obj.items():
                if not isinstance(k, (str, int, float, bool, type(None), tuple)):
                    raise TypeError(f"lumen.save: unsupported dict key type {type(k).__name__} at "
                                    f"{path}; keys must be str, int, float, bool, None or tuples")
                items.append([self.encode(k, f"{path} key"), self.encode(v, f"{path}[{k!r}]")])
            return {"t": "odict" if isinstance(obj, OrderedDict) else "dict", "items": items}
        hint = " (save its state_dict() instead: files hold data, never code)" if hasattr(obj, "state_dict") else ""
        raise TypeError(f"lumen.save: cannot save an object of type {type(obj).__name__} at {path}{hint}; "
                        f"supported: Tensors, numpy arrays, numbers, strings, None, bools, and "
                        f"dicts/lists/tuples of these")


@contextlib.contextmanager
def atomic_write(path):
    """Write ``path`` all at once or not at all: ``with atomic_write(path) as f: f.write(...)``.

    Yields a binary file open on a temporary file in ``path``'s folder. When the block ends
    cleanly the file is flushed, fsynced and renamed over ``path`` (``os.replace``), and the
    rename itself is made durable; when it raises, the temporary file is removed and
    ``path`` keeps its old content, so a crash never leaves a partial file under that name.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if hasattr(os, "O_DIRECTORY"):
        # Some filesystems refuse to fsync a directory; the rename has happened either way.
        try:
            dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass


_SAFETENSORS_FORMATS = ("lumen", "safetensors")


def _is_safetensors(f, format) -> bool:
    """Whether ``f`` is to be read or written as safetensors: ``format=`` if given, else a path ending
    in ``.safetensors``."""
    if format is not None:
        if format not in _SAFETENSORS_FORMATS:
            raise ValueError(f"lumen.save/load: format must be one of {_SAFETENSORS_FORMATS} or None, "
                             f"got {format!r}")
        return format == "safetensors"
    return isinstance(f, (str, os.PathLike)) and os.fspath(f).endswith(".safetensors")


def _save_safetensors(obj, f) -> None:
    # safetensors holds a flat {str: array} map, so only a state dict fits.
    from safetensors.numpy import save as to_bytes
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, lumen.Tensor)
                                            for k, v in obj.items()):
        raise TypeError(f"lumen.save: a .safetensors file holds a flat {{str: Tensor}} dict (a state_dict), "
                        f"got {type(obj).__name__}")
    arrays = {}
    for key, value in obj.items():
        a = np.asarray(value.detach().cpu().numpy())
        arrays[key] = a if a.flags.c_contiguous else a.copy(order="C")
    data = to_bytes(arrays, metadata={"format": "pt"})
    if hasattr(f, "write"):
        f.write(data)
        return
    with atomic_write(f) as fh:
        fh.write(data)


def _load_safetensors(f, name, place) -> dict:
    from safetensors import SafetensorError
    from safetensors.numpy import load as from_bytes
    if hasattr(f, "read"):
        data = f.read()
    else:
        with open(os.fspath(f), "rb") as fh:
            data = fh.read()
    try:
        arrays = from_bytes(data)
    except (SafetensorError, ValueError) as e:
        raise CheckpointError(f"{name}: corrupt or truncated safetensors file ({e})") from e
    return {key: place(lumen.from_numpy(a if a.flags.c_contiguous else a.copy(order="C")), "cpu")
            for key, a in arrays.items()}


def save(obj, f, pickle_module=None, pickle_protocol=2, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False, *, format=None) -> None:
    """Write ``obj`` (nested dicts/lists/tuples of Tensors, arrays and plain values) to ``f``.

    ``f`` is a path (written atomically) or a writable binary file object (``io.BytesIO``). The
    pickle and zipfile arguments of ``torch.save`` are accepted and have no effect: nothing is pickled.
    ``format="safetensors"`` (the default for a path ending in ``.safetensors``) writes a flat
    ``{str: Tensor}`` dict in the safetensors format (``pip install safetensors``), which
    ``safetensors.torch.load_file`` reads; ``format="lumen"`` forces this module's npz format.
    """
    if _is_safetensors(f, format):
        _save_safetensors(obj, f)
        return
    encoder = _Encoder()
    root = encoder.encode(obj)
    manifest = json.dumps({"format": _FORMAT, "version": _VERSION, "root": root},
                          allow_nan=False).encode("utf-8")
    arrays = dict(encoder.arrays)
    arrays[_MANIFEST] = np.frombuffer(manifest, dtype=np.uint8)
    if hasattr(f, "write"):
        np.savez(f, **arrays)
        return
    with atomic_write(f) as fh:
        np.savez(fh, **arrays)


class _Decoder:
    def __init__(self, arrays, name, place):
        self.arrays = arrays
        self.name = name
        self.place = place  # (CPU tensor, saved device name) -> the tensor where it is to live
        self.made = {}

    def fail(self, what):
        raise CheckpointError(f"{self.name}: corrupt Lumen checkpoint: {what}")

    def array(self, node):
        key = node.get("k")
        if key not in self.arrays:
            self.fail(f"the manifest refers to array {key!r}, which the archive lacks")
        return self.arrays[key]

    def decode(self, node):
        if not isinstance(node, dict) or "t" not in node:
            self.fail(f"malformed manifest node {node!r:.80}")
        t = node["t"]
        if t == "none":
            return None
        if t in ("bool", "int", "str"):
            return node["v"]
        if t == "float":
            return float(node["v"])
        if t == "list":
            return [self.decode(v) for v in node["items"]]
        if t == "tuple":
            return tuple(self.decode(v) for v in node["items"])
        if t in ("dict", "odict"):
            out = OrderedDict() if t == "odict" else {}
            for k, v in node["items"]:
                out[self.decode(k)] = self.decode(v)
            return out
        if t in ("tensor", "ndarray", "npscalar"):
            key = node.get("k")
            if key in self.made:
                return self.made[key]
            array = self.array(node)
            if t == "ndarray":
                value = array
            elif t == "npscalar":
                value = array[()]
            else:
                dtype = as_dtype(node["dtype"])
                if array.dtype != dtype.np:
                    self.fail(f"tensor {key} is stored as {array.dtype} but the manifest says {dtype.name}")
                value = self.place(lumen.from_numpy(array), node["device"])
                if node.get("requires_grad"):
                    value.requires_grad_(True)
            self.made[key] = value
            return value
        self.fail(f"unknown node type {t!r}")


def _placement(map_location):
    """``map_location`` as a function (CPU tensor, saved device name) -> tensor, as ``torch.load`` reads it."""
    def to(device):
        return lambda tensor, saved: tensor.to(device)

    if map_location is None:
        return lambda tensor, saved: tensor.to(saved)
    if isinstance(map_location, (str, lumen.device)):
        return to(lumen.device(map_location))
    if isinstance(map_location, dict):
        def remap(tensor, saved):
            return tensor.to(map_location.get(saved, saved))
        return remap
    if callable(map_location):
        # torch calls it with (storage, location) and takes its result, or the saved location when it
        # returns None; a Lumen tensor stands in for the storage
        def call(tensor, saved):
            placed = map_location(tensor, saved)
            return tensor.to(saved) if placed is None else placed
        return call
    raise TypeError(f"lumen.load: map_location must be None, a device string, a lumen.device, a dict "
                    f"{{saved device: device}} or a callable (tensor, location), got {map_location!r}")


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, format=None,
         **pickle_load_args):
    """Read an object written by ``save``.

    ``f`` is a path or a readable binary file object. ``map_location`` None keeps each tensor's saved
    device; "cpu", "cuda", "cuda:N" or a ``lumen.device`` moves every tensor there; a dict maps saved
    device names to devices ({"cuda:1": "cuda:0"}); a callable gets (tensor, saved device name) and
    returns the tensor to use, or None to keep the saved device (``lambda storage, loc: storage``
    keeps everything on the CPU). Raises ``CheckpointError`` (a ValueError and OSError) naming the
    file when it is truncated, corrupt or not a Lumen checkpoint.

    Loading never runs code (the format is JSON plus numpy arrays read without pickle), so
    ``weights_only=True`` and ``False`` are equally safe and give the same result; ``pickle_module``,
    ``mmap`` and further pickle arguments are accepted for ``torch.load`` compatibility and unused.
    ``format="safetensors"`` (the default for a path ending in ``.safetensors``) reads a safetensors
    file into a {str: Tensor} dict (its tensors saved on the CPU, so ``map_location`` sees "cpu").
    """
    name = _name_of(f)
    place = _placement(map_location)
    if not hasattr(f, "read") and not os.path.exists(os.fspath(f)):
        raise FileNotFoundError(f"lumen.load: no such file: {name}")
    if _is_safetensors(f, format):
        return _load_safetensors(f, name, place)
    if not zipfile.is_zipfile(f):
        raise CheckpointError(f"{name}: not a Lumen checkpoint (not a zip/npz archive; the file may "
                              f"be truncated or of another format)")
    if hasattr(f, "seek"):
        f.seek(0)
    try:
        with np.load(f, allow_pickle=False) as npz:
            if _MANIFEST not in npz.files:
                raise CheckpointError(f"{name}: not a Lumen checkpoint (an npz archive without "
                                      f"the '{_MANIFEST}' manifest)")
            manifest = json.loads(npz[_MANIFEST].tobytes().decode("utf-8"))
            arrays = {k: npz[k] for k in npz.files if k != _MANIFEST}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, KeyError,
            UnicodeDecodeError) as e:
        raise CheckpointError(f"{name}: corrupt or truncated Lumen checkpoint "
                              f"({type(e).__name__}: {e})") from e
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
        raise CheckpointError(f"{name}: not a Lumen checkpoint (manifest format "
                              f"{manifest.get('format') if isinstance(manifest, dict) else None!r})")
    if manifest.get("version") != _VERSION:
        raise CheckpointError(f"{name}: Lumen checkpoint version {manifest.get('version')!r} is not "
                              f"supported (this Lumen reads version {_VERSION})")
    try:
        return _Decoder(arrays, name, place).decode(manifest["root"])
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{name}: corrupt Lumen checkpoint manifest "
                              f"({type(e).__name__}: {e})") from e
