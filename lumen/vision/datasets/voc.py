"""PASCAL VOC and Berkeley SBD semantic segmentation data sets."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lumen.data import DataError, Dataset

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)
VOID = 255

_VALID = np.zeros(256, dtype=bool)
_VALID[:len(VOC_CLASSES)] = True
_VALID[VOID] = True

# The paper's validation set: the 736 VOC2011 segmentation-val images that are not in SBD train
# (data/pascal/seg11valid.txt of the FCN reference), shipped so that real VOC trees need no extra file.
BUNDLED_SEG11VALID = Path(__file__).with_name("seg11valid.txt")


def read_image(path) -> np.ndarray:
    """Decode an image file -> (H, W, 3) uint8 RGB, as it is meant to be seen: EXIF orientation applied,
    greyscale and palette images expanded, alpha dropped, 16-bit greyscale scaled to 8 bits. DataError
    naming the file if it is corrupt."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit greyscale (PNG, TIFF)
                grey = np.asarray(img, dtype=np.float64) * (255.0 / 65535.0)
                grey = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
                return np.repeat(grey[:, :, None], 3, axis=2)
            rgb = img.convert("RGB") if img.mode != "RGB" else img
            return np.asarray(rgb, dtype=np.uint8).copy()
    except FileNotFoundError:
        raise FileNotFoundError(f"image file {path} not found") from None
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
        raise DataError(f"cannot decode image {path}: {e}") from e


def read_label_png(path) -> np.ndarray:
    """Decode a VOC label PNG (palette 'P' or grayscale 'L', pixel value = class id) -> (H, W) uint8."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode not in ("P", "L"):
                raise DataError(f"label {path} is a mode {img.mode!r} image; expected a palette ('P') or "
                                "grayscale ('L') PNG whose pixel values are class ids (not colours)")
            return np.asarray(img, dtype=np.uint8).copy()
    except FileNotFoundError:
        raise FileNotFoundError(f"label file {path} not found") from None
    except DataError:
        raise
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
        raise DataError(f"cannot decode label {path}: {e}") from e


def read_label_mat(path) -> np.ndarray:
    """Read an SBD ``cls/*.mat`` label (``GTcls.Segmentation``) -> (H, W) uint8."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"label file {path} not found") from None
    except Exception as e:  # scipy raises ValueError, TypeError, OSError... on broken files
        raise DataError(f"cannot read MATLAB label {path}: {type(e).__name__}: {e}") from e
    gt = mat.get("GTcls")
    seg = getattr(gt, "Segmentation", None)
    if seg is None:
        raise DataError(f"label {path} has no GTcls.Segmentation (keys: {sorted(k for k in mat if not k.startswith('__'))})")
    seg = np.asarray(seg)
    if seg.ndim != 2 or seg.dtype.kind not in "iuf" or (seg.dtype.kind == "f" and not np.all(seg == np.rint(seg))):
        raise DataError(f"label {path}: GTcls.Segmentation must be an (H, W) array of class ids, "
                        f"got shape {seg.shape} dtype {seg.dtype}")
    if seg.size and (seg.min() < 0 or seg.max() > 255):
        raise DataError(f"label {path} has values {seg.min()}..{seg.max()} outside 0..20 and 255")
    return seg.astype(np.uint8)


def _check_label(label, label_path, image, image_path):
    if label.shape != image.shape[:2]:
        raise DataError(f"label {label_path} is {label.shape[0]}x{label.shape[1]} but image {image_path} is "
                        f"{image.shape[0]}x{image.shape[1]}")
    bad = ~_VALID[label]
    if bad.any():
        values = np.unique(label[bad])
        raise DataError(f"label {label_path} has values {values[:8].tolist()} outside 0..20 and 255")


def _read_ids(path: Path, dataset: str) -> list[str]:
    ids = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    if not ids:
        raise DataError(f"{dataset}: split file {path} lists no images")
    return ids


def _require_dir(path: Path, dataset: str, layout: str):
    if not path.is_dir():
        raise FileNotFoundError(f"{dataset}: folder {path} not found; expected {layout}")


def _check_files(dataset, ids, split_file, folders):
    """Every id of the split needs its file in each (folder, suffix); name the first missing one."""
    for folder, suffix in folders:
        present = set(os.listdir(folder))
        missing = [i for i in ids if i + suffix not in present]
        if missing:
            more = f" (and {len(missing) - 1} more of the {len(ids)} ids)" if len(missing) > 1 else ""
            raise FileNotFoundError(f"{dataset}: {folder / (missing[0] + suffix)} not found for id "
                                    f"{missing[0]!r} listed in {split_file}{more}")


class _SegmentationDataset(Dataset):
    """A folder of ``{images}/{id}.jpg`` and ``{labels}/{id}{label_suffix}`` with split lists in
    ``{lists}/{split}.txt``; a subclass names those places and reads its label format."""

    classes = VOC_CLASSES
    _images = _labels = _lists = _label_suffix = _LAYOUT = ""

    def __init__(self, root, split: str = "train", transform=None):
        name = type(self).__name__
        self.root, self.split, self.transform = Path(root), split, transform
        if not self.root.is_dir():
            raise FileNotFoundError(f"{name}: root {self.root} not found; expected {self._LAYOUT}")
        self._image_dir, self._label_dir = self.root / self._images, self.root / self._labels
        lists = self.root / self._lists
        for folder in (self._image_dir, self._label_dir, lists):
            _require_dir(folder, name, self._LAYOUT)
        split_file = self._split_file(lists, split)
        if not split_file.is_file():
            available = sorted(p.stem for p in lists.glob("*.txt"))
            raise FileNotFoundError(f"{name}: split file {split_file} not found (available: {available})")
        self.ids = _read_ids(split_file, name)
        _check_files(name, self.ids, split_file, [(self._image_dir, ".jpg"), (self._label_dir, self._label_suffix)])

    def _split_file(self, lists: Path, split: str) -> Path:
        return lists / f"{split}.txt"

    def __len__(self) -> int:
        return len(self.ids)

    def image_path(self, index: int) -> Path:
        return self._image_dir / (self.ids[index] + ".jpg")

    def label_path(self, index: int) -> Path:
        return self._label_dir / (self.ids[index] + self._label_suffix)

    def _read_label(self, path) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement _read_label (abstract)")

    def __getitem__(self, index):
        """(image (H, W, 3) uint8 RGB, label (H, W) uint8 in 0..20 or 255), or ``transform(image, label)``."""
        if not -len(self.ids) <= index < len(self.ids):
            raise IndexError(f"{type(self).__name__}: index {index} out of range for {len(self.ids)} images")
        image_path, label_path = self.image_path(index), self.label_path(index)
        image = read_image(image_path)
        label = self._read_label(label_path)
        _check_label(label, label_path, image, image_path)
        if self.transform is not None:
            return self.transform(image, label)
        return image, label

    def __repr__(self):
        return f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, n={len(self)})"


class VOCSegmentation(_SegmentationDataset):
    """PASCAL VOC segmentation from a VOCdevkit/VOC20xx-style folder ``root``.

    Reads ``ImageSets/Segmentation/{split}.txt``, ``JPEGImages/{id}.jpg`` and the
    palette PNGs ``SegmentationClass/{id}.png`` (pixel value = class id, 255 = void).
    ``split`` is "train", "val", "trainval" or any list in that folder, e.g.
    "seg11valid" (the paper's 736-image validation set; Lumen ships the list and uses it when the
    folder has none).
    ``transform(image, label)`` is applied to every sample.
    """

    _images, _labels, _lists, _label_suffix = "JPEGImages", "SegmentationClass", "ImageSets/Segmentation", ".png"
    _LAYOUT = "a VOCdevkit/VOC2012-style folder with JPEGImages/, SegmentationClass/ and ImageSets/Segmentation/"

    def __init__(self, root, split: str = "train", transform=None):
        images = Path(root) / self._images
        if Path(root).is_dir() and not images.is_dir():  # the VOCdevkit folder instead of VOC2012?
            nested = sorted(p.parent for p in Path(root).glob("*/JPEGImages"))
            if nested:
                raise FileNotFoundError(f"{type(self).__name__}: folder {images} not found; expected "
                                        f"{self._LAYOUT} (did you mean root={str(nested[-1])!r}?)")
        super().__init__(root, split, transform)

    def _split_file(self, lists, split):
        own = lists / f"{split}.txt"
        # a tree's own list wins; else the paper's seg11valid, shipped with Lumen
        return BUNDLED_SEG11VALID if split == "seg11valid" and not own.is_file() else own

    def _read_label(self, path):
        return read_label_png(path)


class SBDSegmentation(_SegmentationDataset):
    """Berkeley SBD (Hariharan et al.) segmentation from its ``dataset`` folder ``root``.

    Reads ``{split}.txt`` ("train": 8498 images, the reference's training set;
    "val"), ``img/{id}.jpg`` and ``cls/{id}.mat`` (``GTcls.Segmentation``, same
    0..20/255 coding as VOC).
    """

    _images, _labels, _lists, _label_suffix = "img", "cls", ".", ".mat"
    _LAYOUT = "the SBD benchmark_RELEASE/dataset folder with img/, cls/ and train.txt/val.txt"

    def _read_label(self, path):
        return read_label_mat(path)
