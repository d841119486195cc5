"""Reading and writing plain ``name -> array`` ``.npz`` weight files (``python -m lumen.vision.convert`` output)."""
from __future__ import annotations

import numpy as np

import lumen
from lumen import nn

__all__ = ["load_npz", "read_npz", "save_npz"]

_LUMEN_MANIFEST = "__lumen_manifest__"


def _c_order(a: np.ndarray) -> np.ndarray:
    # Not np.ascontiguousarray: it turns 0-d arrays (num_batches_tracked) into shape (1,).
    return a if a.flags.c_contiguous else a.copy(order="C")


def read_npz(path) -> dict:
    """The state dict (name -> Tensor) in ``path``: a plain ``numpy.savez`` file with one array per
    key (``python -m lumen.vision.convert`` writes these) or a ``lumen.save``d state dict."""
    with np.load(path, allow_pickle=False) as archive:
        if _LUMEN_MANIFEST not in archive.files:
            return {key: lumen.from_numpy(_c_order(archive[key])) for key in archive.files}
    from lumen.serialization import load
    state = load(path)
    if not isinstance(state, dict):
        raise TypeError(f"read_npz: {path} holds a {type(state).__name__}, expected a state dict")
    return state


def save_npz(state_dict, path) -> None:
    """Write a state dict as a plain ``numpy.savez`` file of name -> array (what :func:`read_npz` and
    ``python -m recipes.fcn_voc --init`` read), atomically."""
    from lumen.serialization import atomic_write
    arrays = {key: np.asarray(value.detach().cpu().numpy()) for key, value in state_dict.items()}
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def load_npz(model: nn.Module, path, strict: bool = True):
    """Load the weights in ``path`` into ``model`` in place; returns ``(missing_keys, unexpected_keys)``.

    ``path`` is read by :func:`read_npz` (e.g. keys ``features.0.weight``). Arrays are copied
    into the existing parameters, cast to their dtype and moved to their device
    (``Module.load_state_dict``); ``strict`` as there.
    """
    return model.load_state_dict(read_npz(path), strict=strict)
