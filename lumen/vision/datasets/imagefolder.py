"""Classification data in the ImageNet layouts: class folders (torchvision's ``ImageFolder``) or a
flat folder with a label file (the ILSVRC validation set as Caffe's ``examples/imagenet`` lists it).

    root/train/<class>/<image>.JPEG        ImageFolder(root / "train")
    root/val/<class>/<image>.JPEG          ImageFolder(root / "val", classes=train.classes)
    root/val/<image>.JPEG + val.txt        ImageList(root / "val", root / "val.txt", classes=train.classes)

Images are read as (H, W, 3) uint8 RGB arrays (``voc.read_image``: EXIF orientation applied,
greyscale expanded), not PIL images, since ``lumen.vision.transforms`` works on arrays.
"""
from __future__ import annotations

import os
from pathlib import Path

from lumen.data import DataError, Dataset
from lumen.vision.datasets.voc import read_image

__all__ = ["IMG_EXTENSIONS", "ImageFolder", "ImageList", "find_classes"]

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def find_classes(directory) -> tuple[list[str], dict[str, int]]:
    """(sorted class folder names, {name: index}) of ``directory``, as torchvision's."""
    classes = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
    if not classes:
        raise FileNotFoundError(f"Couldn't find any class folder in {directory}.")
    return classes, {name: i for i, name in enumerate(classes)}


class _Classification(Dataset):
    def __init__(self, transform, target_transform, loader):
        self.transform, self.target_transform = transform, target_transform
        self.loader = read_image if loader is None else loader

    @property
    def targets(self) -> list[int]:
        return [target for _, target in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index):
        path, target = self.samples[index]
        image = self.loader(path)
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def __repr__(self):
        return f"{type(self).__name__}({self.root}, {len(self)} images, {len(self.classes)} classes)"


class ImageFolder(_Classification):
    """Images in one folder per class: ``samples`` [(path, class index)], sorted by class then file name.

    torchvision's names and arguments: ``classes`` (sorted folder names), ``class_to_idx``,
    ``samples`` (also ``imgs``), ``targets``; ``transform(image)`` and ``target_transform(index)``;
    ``loader(path)`` (default: an (H, W, 3) uint8 RGB array); ``is_valid_file(path)`` (default: the
    extension is one of ``IMG_EXTENSIONS``); ``allow_empty``. One extension: ``classes`` fixes the
    class list (a validation set read with the training set's classes, so that a class missing
    from it keeps its index); a folder not in it is an error.
    """

    def __init__(self, root, transform=None, target_transform=None, loader=None, is_valid_file=None,
                 allow_empty: bool = False, classes=None):
        super().__init__(transform, target_transform, loader)
        self.root = Path(root)
        found, _ = find_classes(self.root)
        if classes is None:
            classes = found
        else:
            classes = list(classes)
            extra = sorted(set(found) - set(classes))
            if extra:
                raise DataError(f"ImageFolder: {self.root} has class folders {extra[:3]} that the given "
                                f"classes ({len(classes)}: {classes[:3]}...) do not name")
        self.classes = classes
        self.class_to_idx = {name: i for i, name in enumerate(classes)}
        valid = is_valid_file or (lambda path: str(path).lower().endswith(IMG_EXTENSIONS))
        self.samples = []
        empty = []
        for name in classes:
            folder = self.root / name
            files = sorted(p for p in folder.rglob("*") if p.is_file() and valid(str(p))) if folder.is_dir() else []
            if not files:
                empty.append(name)
            self.samples.extend((str(p), self.class_to_idx[name]) for p in files)
        if empty and not allow_empty and len(empty) == len(found):
            raise FileNotFoundError(f"Found no valid file for the classes {', '.join(empty[:5])}. Supported "
                                    f"extensions are: {', '.join(IMG_EXTENSIONS)}")
        self.imgs = self.samples


class ImageList(_Classification):
    """Images listed with their labels in ``list_file``: one ``<path relative to root> <label>`` per line
    (Caffe's ImageData lists, the ILSVRC ``val.txt``); ``label`` an index into ``classes`` or a class
    name. Same attributes and arguments as ``ImageFolder``."""

    def __init__(self, root, list_file, classes, transform=None, target_transform=None, loader=None):
        super().__init__(transform, target_transform, loader)
        self.root, self.classes = Path(root), list(classes)
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.samples = []
        for number, line in enumerate(Path(list_file).read_text().splitlines(), 1):
            if not line.strip():
                continue
            parts = line.rsplit(maxsplit=1)
            label = parts[-1] if len(parts) == 2 else None
            if label is not None and label.isdigit() and int(label) < len(self.classes):
                target = int(label)
            elif label in self.class_to_idx:
                target = self.class_to_idx[label]
            else:
                raise DataError(f"{list_file}:{number}: expected '<image> <label>' with a label in "
                                f"0..{len(self.classes) - 1} or a class name, got {line!r}")
            self.samples.append((str(self.root / parts[0]), target))
        if not self.samples:
            raise DataError(f"{list_file} lists no images")
        self.imgs = self.samples
