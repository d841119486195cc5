"""SIFT Flow (Liu, Yuen & Torralba; Tighe & Lazebnik's release) in the FCN reference's layout:
33 semantic and 3 geometric classes per pixel.

Layout read (``siftflow_layers.py``; ``SiftFlowDataset.zip`` unpacked, the reference's split lists beside it)::

    root/{trainval,test}.txt                   ids (trainval 2,488 listed by the paper, 2,486 annotated; test 200)
    root/Images/spatial_envelope_256x256_static_8outdoorcategories/{id}.jpg
    root/SemanticLabels/spatial_envelope_256x256_static_8outdoorcategories/{id}.mat    'S': 0 void, 1..33
    root/GeoLabels/spatial_envelope_256x256_static_8outdoorcategories/{id}.mat         'S': -1 void, 1..3

As the reference: geometric -1 becomes 0, then both are rotated by ``label - 1`` (void 255).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lumen.data import Dataset
from lumen.vision.datasets.nyud import check_files, check_shape, read_mat_array, read_split, rotate_labels
from lumen.vision.datasets.voc import VOID, read_image

SIFTFLOW_CLASSES = (
    "awning", "balcony", "bird", "boat", "bridge", "building", "bus", "car", "cow", "crosswalk", "desert", "door",
    "fence", "field", "grass", "moon", "mountain", "person", "plant", "pole", "river", "road", "rock", "sand",
    "sea", "sidewalk", "sign", "sky", "staircase", "streetlight", "sun", "tree", "window",
)
"""The 33 semantic classes in model output order (the reference's ``data/sift-flow/classes.txt``)."""
GEOMETRIC_CLASSES = ("sky", "horizontal", "vertical")
SIFTFLOW_BGR_MEAN = (114.578, 115.294, 108.353)
# The reference's classes.txt: cow, desert and moon never occur in the test set and are not scored.
SIFTFLOW_ABSENT_FROM_TEST = ("cow", "desert", "moon")

_SUB = "spatial_envelope_256x256_static_8outdoorcategories"
_FILES = {"image": (f"Images/{_SUB}", "{}.jpg"), "sem": (f"SemanticLabels/{_SUB}", "{}.mat"),
          "geo": (f"GeoLabels/{_SUB}", "{}.mat")}


class SIFTFlow(Dataset):
    """SIFT Flow, one split: ``(image (H, W, 3) uint8 RGB, {"sem": (H, W) uint8 0..32 or 255, "geo": (H, W)
    uint8 0..2 or 255})`` per sample, or ``transform(image, labels)`` (``SIFTFlowInput`` prepares them
    as the reference). The label keys are the two heads of the reference's ``siftflow-fcn*`` nets."""

    classes = SIFTFLOW_CLASSES
    geometric_classes = GEOMETRIC_CLASSES

    def __init__(self, root, split: str = "trainval", transform=None):
        self.root, self.split, self.transform = Path(root), split, transform
        name = type(self).__name__
        if not self.root.is_dir():
            raise FileNotFoundError(f"{name}: root {self.root} not found; expected the SIFT Flow folder with "
                                    "Images/, SemanticLabels/, GeoLabels/ and {trainval,test}.txt")
        self.split_file = self.root / f"{split}.txt"
        self.ids = read_split(name, self.split_file, self.root)
        check_files(name, self.ids, self.split_file, self.root, list(_FILES.values()))

    def __len__(self) -> int:
        return len(self.ids)

    def path(self, index: int, what: str) -> Path:
        """The file of sample ``index`` for ``what`` ("image", "sem" or "geo")."""
        folder, pattern = _FILES[what]
        return self.root / folder / pattern.format(self.ids[index])

    def __getitem__(self, index):
        name = type(self).__name__
        if not -len(self.ids) <= index < len(self.ids):
            raise IndexError(f"{name}: index {index} out of range for {len(self.ids)} images")
        image_path = self.path(index, "image")
        image = read_image(image_path)
        labels = {}
        for head, n in (("sem", len(SIFTFLOW_CLASSES)), ("geo", len(GEOMETRIC_CLASSES))):
            path = self.path(index, head)
            label = read_mat_array(path, "S", name)
            if head == "geo":
                label[label == -1] = 0
            labels[head] = rotate_labels(label, n, path, name)
            check_shape(name, labels[head], path, image, image_path)
        if self.transform is not None:
            return self.transform(image, labels)
        return image, labels

    def present_classes(self) -> list[int]:
        """The semantic class ids (0..32) that occur in this split's labels: the ones the paper scores
        when this is the test set."""
        seen = np.zeros(len(SIFTFLOW_CLASSES), dtype=bool)
        for i in range(len(self)):
            path = self.path(i, "sem")
            label = rotate_labels(read_mat_array(path, "S", type(self).__name__), len(SIFTFLOW_CLASSES), path,
                                  type(self).__name__)
            seen[np.unique(label[label != VOID])] = True
        return np.flatnonzero(seen).tolist()

    def __repr__(self):
        return f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, n={len(self)})"


class SIFTFlowInput:
    """The reference's preprocessing: RGB -> BGR minus ``mean`` (SIFT Flow's own), (3, H, W) float32;
    each label int64."""

    def __init__(self, mean=SIFTFLOW_BGR_MEAN):
        self.mean = np.asarray(mean, dtype=np.float32)

    def __call__(self, image, labels=None):
        x = (image[:, :, ::-1].astype(np.float32) - self.mean).transpose(2, 0, 1).copy()
        if labels is None:
            return x, None
        return x, {head: np.asarray(label, dtype=np.int64) for head, label in labels.items()}

    def __repr__(self):
        return f"SIFTFlowInput(mean={tuple(self.mean.tolist())})"


__all__ = ["SIFTFlow", "SIFTFlowInput", "SIFTFLOW_CLASSES", "GEOMETRIC_CLASSES", "SIFTFLOW_BGR_MEAN",
           "SIFTFLOW_ABSENT_FROM_TEST"]
