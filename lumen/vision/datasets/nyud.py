"""NYUDv2 semantic segmentation in the FCN reference's layout (40 classes of Gupta et al., CVPR 2013).

Layout read (``nyud_layers.py`` of shelhamer/fcn.berkeleyvision.org; ``dl.caffe.berkeleyvision.org/nyud.tar.gz``)::

    root/{train,val,trainval,test}.txt        ids, one per line (train 381 + val 414 = trainval 795, test 654)
    root/data/images/img_{id}.png             colour, RGB
    root/data/hha/img_{id}.png                HHA encoding of the depth (Gupta et al., ECCV 2014), 3 x uint8
    root/data/depth/img_{id}.png              depth, 16-bit, millimetres
    root/segmentation/img_{id}.mat            'segmentation': 0 void, 1..40 the classes

The reference rotates the labels by ``label - 1`` in uint8, so void becomes 255 and the classes 0..39.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lumen.data import DataError, Dataset
from lumen.vision.datasets.voc import VOID, _read_ids, read_image

NYUD_CLASSES = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf", "picture",
    "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror", "floor mat", "clothes",
    "ceiling", "books", "refridgerator", "television", "paper", "towel", "shower curtain", "box", "whiteboard",
    "person", "night stand", "toilet", "sink", "lamp", "bathtub", "bag", "otherstructure", "otherfurniture",
    "otherprop",
)
"""The 40 classes in model output order (the reference's ``data/nyud/classes.txt``, its spelling)."""

# Means the reference subtracts (nyud_layers.py): colour in BGR order, HHA in its stored channel order,
# and the mean of log(depth in mm).
NYUD_BGR_MEAN = (116.190, 97.203, 92.318)
NYUD_HHA_MEAN = (132.431, 94.076, 118.477)
NYUD_LOG_DEPTH_MEAN = 7.844

# The NYU Depth V2 toolbox's colour camera (camera_params.m), for depth_to_hha on the 640x480 frames.
NYUD_CAMERA = (518.857901, 519.469611, 325.582449, 253.736166)

MODALITIES = ("color", "hha", "depth")
# The net inputs of the paper's Table 4 rows: name -> (modalities read, early (one trunk) or late fusion).
INPUTS = {"color": ("color",), "hha": ("hha",), "depth": ("depth",), "color-d": ("color", "depth"),
          "color-hha": ("color", "hha")}
_FILES = {"color": ("data/images", "img_{}.png"), "hha": ("data/hha", "img_{}.png"),
          "depth": ("data/depth", "img_{}.png")}
_LABELS = ("segmentation", "img_{}.mat")


def check_files(dataset: str, ids, split_file, root: Path, places) -> None:
    """Every id of the split has its file in each (folder, name pattern) of ``places`` under ``root``;
    FileNotFoundError naming the first missing folder or file."""
    for folder, pattern in places:
        where = root / folder
        if not where.is_dir():
            raise FileNotFoundError(f"{dataset}: folder {where} not found (needed for {split_file.name})")
        present = set(os.listdir(where))
        missing = [i for i in ids if pattern.format(i) not in present]
        if missing:
            more = f" (and {len(missing) - 1} more of the {len(ids)} ids)" if len(missing) > 1 else ""
            raise FileNotFoundError(f"{dataset}: {where / pattern.format(missing[0])} not found for id "
                                    f"{missing[0]!r} listed in {split_file}{more}")


def read_split(dataset: str, split_file: Path, lists: Path) -> list[str]:
    """The ids of a split list; FileNotFoundError naming it and the lists that exist."""
    if not split_file.is_file():
        available = sorted(p.stem for p in lists.glob("*.txt")) if lists.is_dir() else []
        raise FileNotFoundError(f"{dataset}: split file {split_file} not found (available: {available})")
    return _read_ids(split_file, dataset)


def read_mat_array(path, key: str, dataset: str) -> np.ndarray:
    """The integer (H, W) array ``key`` of a MATLAB file; FileNotFoundError or DataError naming the file."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{dataset}: label file {path} not found") from None
    except Exception as e:  # scipy raises ValueError, TypeError, OSError... on broken files
        raise DataError(f"{dataset}: cannot read MATLAB label {path}: {type(e).__name__}: {e}") from e
    if key not in mat:
        raise DataError(f"{dataset}: label {path} has no {key!r} (keys: "
                        f"{sorted(k for k in mat if not k.startswith('__'))})")
    array = np.asarray(mat[key])
    if array.ndim != 2 or array.dtype.kind not in "iuf" or (array.dtype.kind == "f"
                                                            and not np.all(array == np.rint(array))):
        raise DataError(f"{dataset}: {path}: {key!r} must be an (H, W) array of class ids, got shape "
                        f"{array.shape} dtype {array.dtype}")
    return array.astype(np.int64)


def check_shape(dataset: str, label, label_path, array, path) -> None:
    if label.shape != array.shape[:2]:
        raise DataError(f"{dataset}: label {label_path} is {label.shape[0]}x{label.shape[1]} but {path} is "
                        f"{array.shape[0]}x{array.shape[1]}")


def read_depth_png(path) -> np.ndarray:
    """A 16-bit depth PNG -> (H, W) float32 of its stored values (millimetres in NYUDv2)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode not in ("I;16", "I;16B", "I;16L", "I", "L"):
                raise DataError(f"NYUDv2: depth {path} is a mode {img.mode!r} image; expected a 16-bit "
                                "greyscale PNG of millimetres")
            return np.asarray(img, dtype=np.float32).copy()
    except FileNotFoundError:
        raise FileNotFoundError(f"NYUDv2: depth file {path} not found") from None
    except DataError:
        raise
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
        raise DataError(f"NYUDv2: cannot decode depth {path}: {e}") from e


def rotate_labels(label, n_classes: int, path, dataset: str) -> np.ndarray:
    """The reference's ``label - 1`` in uint8: 0 (void) -> 255, 1..n -> 0..n-1; DataError on other values."""
    bad = (label < 0) | (label > n_classes)
    if bad.any():
        raise DataError(f"{dataset}: label {path} has values {np.unique(label[bad])[:8].tolist()} outside "
                        f"0 (void) and 1..{n_classes}")
    return (label.astype(np.uint8) - np.uint8(1)).astype(np.uint8)


class NYUDv2(Dataset):
    """NYUDv2 (the module docstring has the layout), one split, the ``inputs`` modalities of each image.

    ``inputs``: a tuple of "color", "hha", "depth" (only their folders are needed), or a name of
    ``INPUTS`` ("color-d", "color-hha" ...). A sample is ``({modality: array}, label)``: colour and HHA
    (H, W, 3) uint8 (colour RGB), depth (H, W) float32 millimetres, label (H, W) uint8 in 0..39 or 255;
    or ``transform(arrays, label)`` (``NYUDInput`` prepares them as the reference).
    """

    classes = NYUD_CLASSES

    def __init__(self, root, split: str = "train", inputs=("color",), transform=None):
        self.root, self.split, self.transform = Path(root), split, transform
        name = type(self).__name__
        if isinstance(inputs, str):
            if inputs not in INPUTS:
                raise ValueError(f"{name}: inputs {inputs!r} is none of {sorted(INPUTS)}")
            inputs = INPUTS[inputs]
        unknown = [m for m in inputs if m not in MODALITIES]
        if unknown or not inputs:
            raise ValueError(f"{name}: inputs must be some of {MODALITIES}, got {tuple(inputs)}")
        self.inputs = tuple(inputs)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{name}: root {self.root} not found; expected the reference's nyud folder "
                                    "with {train,val,test}.txt, data/images/, data/hha/, data/depth/ and segmentation/")
        self.split_file = self.root / f"{split}.txt"
        self.ids = read_split(name, self.split_file, self.root)
        check_files(name, self.ids, self.split_file, self.root, [_FILES[m] for m in self.inputs] + [_LABELS])

    def __len__(self) -> int:
        return len(self.ids)

    def path(self, index: int, what: str) -> Path:
        """The file of sample ``index`` for ``what`` ("color", "hha", "depth" or "label")."""
        folder, pattern = _LABELS if what == "label" else _FILES[what]
        return self.root / folder / pattern.format(self.ids[index])

    def __getitem__(self, index):
        name = type(self).__name__
        if not -len(self.ids) <= index < len(self.ids):
            raise IndexError(f"{name}: index {index} out of range for {len(self.ids)} images")
        label_path = self.path(index, "label")
        label = rotate_labels(read_mat_array(label_path, "segmentation", name), len(NYUD_CLASSES), label_path, name)
        arrays = {}
        for modality in self.inputs:
            path = self.path(index, modality)
            arrays[modality] = read_depth_png(path) if modality == "depth" else read_image(path)
            check_shape(name, label, label_path, arrays[modality], path)
        if self.transform is not None:
            return self.transform(arrays, label)
        return arrays, label

    def __repr__(self):
        return f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, inputs={self.inputs}, n={len(self)})"


class NYUDInput:
    """The reference's preprocessing (``nyud_layers.py``) for the net of ``kind`` (a name of ``INPUTS``).

    colour: RGB -> BGR minus ``NYUD_BGR_MEAN``; HHA: minus ``NYUD_HHA_MEAN`` (channels as stored); depth:
    ``log(mm) - 7.844`` (depth floored at 1 mm: the reference's files have no zeros, raw Kinect depth does);
    each (C, H, W) float32. "color-d" stacks colour and depth into one (4, H, W) input (early fusion);
    "color-hha" gives the tuple (colour, HHA), one per trunk (late fusion). The label becomes int64.
    """

    def __init__(self, kind: str):
        if kind not in INPUTS:
            raise ValueError(f"NYUDInput: kind must be one of {sorted(INPUTS)}, got {kind!r}")
        self.kind = kind

    @staticmethod
    def prepare(modality: str, array) -> np.ndarray:
        if modality == "color":
            return (array[:, :, ::-1].astype(np.float32) - np.float32(NYUD_BGR_MEAN)).transpose(2, 0, 1).copy()
        if modality == "hha":
            return (array.astype(np.float32) - np.float32(NYUD_HHA_MEAN)).transpose(2, 0, 1).copy()
        return (np.log(np.maximum(array, 1.0)) - NYUD_LOG_DEPTH_MEAN).astype(np.float32)[None]

    def __call__(self, arrays, label=None):
        missing = [m for m in INPUTS[self.kind] if m not in arrays]
        if missing:
            raise KeyError(f"NYUDInput({self.kind!r}): the sample has no {missing} (read with inputs="
                           f"{self.kind!r})")
        parts = [self.prepare(m, arrays[m]) for m in INPUTS[self.kind]]
        x = parts[0] if len(parts) == 1 else tuple(parts) if self.kind == "color-hha" else np.concatenate(parts)
        return x, None if label is None else np.asarray(label, dtype=np.int64)

    def __repr__(self):
        return f"NYUDInput({self.kind!r})"


__all__ = ["NYUDv2", "NYUDInput", "NYUD_CLASSES", "NYUD_BGR_MEAN", "NYUD_HHA_MEAN", "NYUD_LOG_DEPTH_MEAN",
           "NYUD_CAMERA", "INPUTS", "VOID"]
