"""PASCAL-Context (Mottaghi et al., CVPR 2014): the 59-class task on PASCAL VOC 2010, as the FCN
reference reads it (``pascalcontext_layers.py``).

Layout read::

    voc_root/ (the VOC2010 folder)  JPEGImages/{id}.jpg, ImageSets/Main/{train,val}.txt
    context_root/                   labels.txt ("k: name", the 459 source labels), 59_labels.txt
                                    ("k: name", the task's classes), trainval/{id}.mat ('LabelMap': source ids)

A source label becomes its class's number (1..59) when its name is one of the 59, else 0
(background). Three task names are spelt differently in the source list and are matched as the
reference does: diningtable = table, bedcloth = bedclothes, clothes = cloth. Names are compared
with spaces removed, as the reference.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lumen.data import DataError, Dataset
from lumen.vision.datasets.nyud import check_files, check_shape, read_mat_array, read_split
from lumen.vision.datasets.voc import VOC_CLASSES, read_image
from lumen.vision.transforms import VOC_BGR_MEAN

CONTEXT_CLASSES = VOC_CLASSES + (
    "bag", "bed", "bench", "book", "building", "cabinet", "ceiling", "clothes", "computer", "cup", "door", "fence",
    "floor", "flower", "food", "grass", "ground", "keyboard", "light", "mountain", "mouse", "curtain", "platform",
    "sign", "plate", "road", "rock", "shelves", "sidewalk", "sky", "snow", "bedcloth", "track", "tree", "truck",
    "wall", "water", "window", "wood",
)
"""Background and the 59 classes in model output order (the reference's ``classes-59.txt``)."""
# pascalcontext_layers.py's mean (the ILSVRC BGR mean to three decimals).
CONTEXT_BGR_MEAN = tuple(round(m, 3) for m in VOC_BGR_MEAN)
# Task name -> its name in the source labels.txt.
SOURCE_NAMES = {"diningtable": "table", "bedcloth": "bedclothes", "clothes": "cloth"}


def read_label_list(path, dataset: str) -> dict[str, int]:
    """{name without spaces: number} from a "k: name" list; FileNotFoundError or DataError naming the file."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{dataset}: label list {path} not found")
    names = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        key, sep, name = line.partition(":")
        if not sep or not key.strip().isdigit() or not name.strip():
            raise DataError(f"{dataset}: {path}:{number}: expected 'k: name', got {line!r}")
        names[name.replace(" ", "")] = int(key)
    return names


class PASCALContext(Dataset):
    """PASCAL-Context, one split of VOC2010's ``ImageSets/Main`` ("train" 4,998 images, "val" 5,105):
    ``(image (H, W, 3) uint8 RGB, label (H, W) uint8 in 0..59)`` per sample (0 is background, scored),
    or ``transform(image, label)`` (``ToCaffeInput(CONTEXT_BGR_MEAN)`` prepares them as the reference)."""

    classes = CONTEXT_CLASSES

    def __init__(self, voc_root, context_root, split: str = "train", transform=None):
        name = type(self).__name__
        self.root, self.context_root = Path(voc_root), Path(context_root)
        self.split, self.transform = split, transform
        if not self.root.is_dir():
            raise FileNotFoundError(f"{name}: VOC2010 folder {self.root} not found")
        if not (self.root / "JPEGImages").is_dir() and (self.root / "VOC2010").is_dir():
            raise FileNotFoundError(f"{name}: folder {self.root / 'JPEGImages'} not found (did you mean "
                                    f"voc_root={str(self.root / 'VOC2010')!r}?)")
        if not self.context_root.is_dir():
            raise FileNotFoundError(f"{name}: PASCAL-Context folder {self.context_root} not found; expected "
                                    "labels.txt, 59_labels.txt and trainval/")
        source = read_label_list(self.context_root / "labels.txt", name)
        task = read_label_list(self.context_root / "59_labels.txt", name)
        lookup = np.zeros(max(source.values()) + 1, dtype=np.uint8)
        for task_name, k in task.items():
            if k == 0:  # a listed background is every unlisted source label already
                continue
            source_name = SOURCE_NAMES.get(task_name, task_name)
            if source_name not in source:
                raise DataError(f"{name}: class {task_name!r} of {self.context_root / '59_labels.txt'} is not in "
                                f"{self.context_root / 'labels.txt'}")
            lookup[source[source_name]] = k
        self._lookup = lookup
        lists = self.root / "ImageSets" / "Main"
        self.split_file = lists / f"{split}.txt"
        self.ids = read_split(name, self.split_file, lists)
        check_files(name, self.ids, self.split_file, self.root, [("JPEGImages", "{}.jpg")])
        check_files(name, self.ids, self.split_file, self.context_root, [("trainval", "{}.mat")])

    def __len__(self) -> int:
        return len(self.ids)

    def image_path(self, index: int) -> Path:
        return self.root / "JPEGImages" / f"{self.ids[index]}.jpg"

    def label_path(self, index: int) -> Path:
        return self.context_root / "trainval" / f"{self.ids[index]}.mat"

    def __getitem__(self, index):
        name = type(self).__name__
        if not -len(self.ids) <= index < len(self.ids):
            raise IndexError(f"{name}: index {index} out of range for {len(self.ids)} images")
        image_path, label_path = self.image_path(index), self.label_path(index)
        image = read_image(image_path)
        source = read_mat_array(label_path, "LabelMap", name)
        bad = (source < 0) | (source >= len(self._lookup))
        if bad.any():
            raise DataError(f"{name}: label {label_path} has source ids {np.unique(source[bad])[:8].tolist()} "
                            f"not in {self.context_root / 'labels.txt'}")
        label = self._lookup[source]
        check_shape(name, label, label_path, image, image_path)
        if self.transform is not None:
            return self.transform(image, label)
        return image, label

    def __repr__(self):
        return (f"{type(self).__name__}(voc_root={str(self.root)!r}, context_root={str(self.context_root)!r}, "
                f"split={self.split!r}, n={len(self)})")


__all__ = ["PASCALContext", "CONTEXT_CLASSES", "CONTEXT_BGR_MEAN", "read_label_list"]
