"""``default_collate`` (samples -> one batch) and ``default_convert`` (numpy -> tensors), with
torch's rules: numbers and numpy arrays become tensors, containers are collated per field
(tuples come back as lists, namedtuples and mappings keep their type), strings stay lists."""
from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy as np


def _lumen():
    import lumen  # the core sits above this module's import time dependencies

    return lumen


def _where(path):
    return f" (field {path})" if path else ""


def _not_collatable(kind, path):
    return TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                     f"found {kind}{_where(path)}; pass a collate_fn")


def _shape_error(shapes, path):
    return RuntimeError(
        f"default_collate: stack expects each tensor to be equal size, but got shapes {shapes[:4]}{_where(path)}; "
        "use batch_size=1 (VOC images differ in size), crop to a fixed size, or pass a collate_fn")


def _is_text_or_object(array):
    return array.dtype == object or array.dtype.kind in "USV"


def _rebuild(elem, fields):
    """``fields`` in ``elem``'s container type: namedtuples and mappings keep theirs, tuples
    become lists (torch's backwards-compatible rule), other sequences keep theirs when they can."""
    if isinstance(elem, Mapping):
        try:
            return type(elem)(fields)
        except TypeError:
            return dict(fields)
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*fields)
    if isinstance(elem, tuple):
        return list(fields)
    try:
        return type(elem)(fields)
    except TypeError:
        return list(fields)


def default_collate(batch, _path=""):
    """Stack a list of samples into a batch, field by field, as torch's ``default_collate``.

    Tensors and numpy arrays of shape S -> a Tensor of shape (N, *S) (same dtype); Python
    ints/bools/floats -> int64/bool/float64 Tensor (N,); numpy scalars keep their dtype;
    str/bytes -> as given; mappings, namedtuples, tuples (as lists) and lists are collated per field.
    """
    lumen = _lumen()
    elem = batch[0]
    if isinstance(elem, lumen.Tensor):
        if any(x.shape != elem.shape for x in batch):
            raise _shape_error(sorted({tuple(x.shape) for x in batch}), _path)
        return lumen.stack(list(batch), 0)
    if isinstance(elem, np.ndarray):
        if _is_text_or_object(elem):
            raise _not_collatable(elem.dtype, _path)
        if any(not isinstance(x, np.ndarray) or x.shape != elem.shape for x in batch):
            raise _shape_error(sorted({tuple(np.shape(x)) for x in batch}), _path)
        return lumen.from_numpy(np.stack(batch))
    if isinstance(elem, np.generic) and not isinstance(elem, (np.str_, np.bytes_)):
        return lumen.from_numpy(np.array(batch))
    if isinstance(elem, bool):
        return lumen.from_numpy(np.array(batch, dtype=np.bool_))
    if isinstance(elem, numbers.Integral):
        return lumen.from_numpy(np.array(batch, dtype=np.int64))
    if isinstance(elem, numbers.Real):
        return lumen.from_numpy(np.array(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return batch  # as torch: a list at the top, a tuple inside a sequence field
    if isinstance(elem, Mapping):
        return _rebuild(elem, {k: default_collate([d[k] for d in batch], f"{_path}.{k}" if _path else str(k))
                               for k in elem})
    if isinstance(elem, Sequence):
        if any(len(x) != len(elem) for x in batch):
            raise RuntimeError(f"default_collate: each element in list of batch should be of equal size, got "
                               f"lengths {sorted({len(x) for x in batch})}{_where(_path)}")
        return _rebuild(elem, [default_collate(field, f"{_path}.{i}" if _path else str(i))
                               for i, field in enumerate(zip(*batch))])
    raise _not_collatable(type(elem), _path)


def default_convert(data):
    """numpy arrays and scalars in ``data`` -> Tensors, through containers (tuples as lists);
    everything else unchanged. The collate function of a DataLoader without batching."""
    lumen = _lumen()
    if isinstance(data, np.ndarray):
        return data if _is_text_or_object(data) else lumen.from_numpy(data)
    if isinstance(data, np.generic) and not isinstance(data, (np.str_, np.bytes_)):
        return lumen.from_numpy(np.array(data))
    if isinstance(data, Mapping):
        return _rebuild(data, {k: default_convert(v) for k, v in data.items()})
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild(data, [default_convert(d) for d in data])
    return data
