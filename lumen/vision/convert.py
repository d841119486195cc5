"""Convert a PyTorch checkpoint to a plain ``.npz`` of weights Lumen can load.

Usage::

    python -m lumen.vision.convert vgg16-397923af.pth vgg16.npz

The output holds one array per state-dict key (``features.0.weight`` ...): floating
tensors as float32, integer buffers (batch norm's ``num_batches_tracked``) as int64.
``numpy.load`` reads it; ``lumen.vision.models.load_npz(model, "vgg16.npz")`` loads it
into the matching Lumen model (torchvision's keys). PyTorch is needed only here, to
unpickle the ``.pth``; it is read with ``weights_only=True``, so no code in it runs.

A Caffe model converts with its net definition::

    python -m lumen.vision.convert --prototxt deploy.prototxt fcn8s-heavy-pascal.caffemodel fcn8s.npz

The net is built and its blobs checked against the prototxt (``lumen.vision.caffe.load``);
keys are the Caffe layer names (``conv1_1.weight`` ... ``score_fr.bias``), those of Lumen's FCNs.
"""
from __future__ import annotations

import argparse
import pickle
import sys

import numpy as np

from lumen.serialization import atomic_write

__all__ = ["convert", "convert_caffe", "main"]


def _state_dict_of(obj, source):
    # Training checkpoints often wrap the weights; DataParallel prefixes every key.
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj:
        raise ValueError(f"convert: {source} holds a {type(obj).__name__}, expected a non-empty "
                         "state dict (name -> tensor)")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def convert(src, dst) -> dict:
    """Read the PyTorch checkpoint ``src`` and write ``dst`` (.npz); returns {name: shape}.

    Raises ImportError when PyTorch is missing, ValueError when ``src`` holds no state dict,
    ``pickle.UnpicklingError`` when it pickles more than tensors (e.g. a whole ``nn.Module``).
    """
    try:
        import torch
    except ImportError as exc:
        raise ImportError("lumen.vision.convert needs PyTorch to read .pth files "
                          "(pip install torch; the CPU build is enough)") from exc
    obj = torch.load(src, map_location="cpu", weights_only=True)
    arrays = {}
    for name, value in _state_dict_of(obj, src).items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"convert: entry {name!r} of {src} is a {type(value).__name__}, not a tensor")
        value = value.detach().cpu()
        if value.is_floating_point():
            arrays[name] = value.to(torch.float32).numpy()
        elif value.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.bool):
            arrays[name] = value.to(torch.int64).numpy()
        else:
            raise ValueError(f"convert: entry {name!r} of {src} has unsupported dtype {value.dtype}")
    with atomic_write(dst) as f:
        np.savez(f, **arrays)
    return {name: a.shape for name, a in arrays.items()}


def convert_caffe(prototxt, caffemodel, dst) -> dict:
    """Load the Caffe net ``prototxt`` + ``caffemodel`` and write its state dict to ``dst`` (.npz);
    returns {name: shape}. Raises the errors of ``lumen.vision.caffe.load``."""
    from lumen.vision.caffe import load
    net = load(prototxt, caffemodel)
    arrays = {name: np.asarray(t.detach().cpu().numpy()) for name, t in net.state_dict().items()}
    with atomic_write(dst) as f:
        np.savez(f, **arrays)
    return {name: a.shape for name, a in arrays.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lumen.vision.convert",
        description="Convert a PyTorch .pth state dict to a plain name -> array .npz for Lumen.")
    parser.add_argument("src", help="PyTorch checkpoint (.pth), e.g. a torchvision model's weights, or a "
                                    ".caffemodel with --prototxt")
    parser.add_argument("dst", help="output .npz")
    parser.add_argument("--prototxt", help="the Caffe net definition of a .caffemodel src (deploy.prototxt)")
    args = parser.parse_args(argv)
    try:
        shapes = (convert_caffe(args.prototxt, args.src, args.dst) if args.prototxt
                  else convert(args.src, args.dst))
    except (ImportError, ValueError, OSError, pickle.UnpicklingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    total = sum(int(np.prod(s)) for s in shapes.values())
    print(f"wrote {args.dst}: {len(shapes)} arrays, {total:,} values")
    return 0


if __name__ == "__main__":
    sys.exit(main())
