"""Your own segmentation data: a folder of images and masks, checked before anything trains on it.

Layout::

    root/images/<stem>.jpg|.png|...    the images
    root/masks/<stem>.png              their masks, same stems: palette or greyscale PNGs whose pixel
                                       values are class ids, or RGB colour masks with colors.txt
    root/classes.txt                   optional: one class name per line, line 0 the background
    root/colors.txt                    optional: "r g b name" per line, class k on line k (RGB masks need it)
    root/train.txt, root/val.txt       optional: the stems of each split (else a seeded 90/10 split)

The ignore label (255 by default, as VOC's void) is neither learned nor scored.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from lumen.data import DataError, Dataset
from lumen.serialization import atomic_write
from lumen.vision.datasets.voc import read_image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
MASK_EXTENSIONS = (".png", ".bmp", ".tif", ".tiff", ".gif", ".ppm", ".pgm")

__all__ = ["SegmentationFolder", "IMAGE_EXTENSIONS", "read_colors", "split_stems", "median_frequency_weights"]


def read_colors(path) -> tuple[list[str], np.ndarray]:
    """(class names, (n, 3) uint8 colours) from a ``colors.txt`` of "r g b name" lines (class k on line k)."""
    names, colors = [], []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=3)
        try:
            rgb = [int(v) for v in parts[:3]]
            if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
                raise ValueError
        except ValueError:
            raise DataError(f"{path}:{number}: expected 'r g b name' with r, g, b in 0..255, got {line!r}") from None
        colors.append(rgb)
        names.append(parts[3].strip() if len(parts) > 3 else f"class {len(names)}")
    if not colors:
        raise DataError(f"{path} lists no colours")
    if len({tuple(c) for c in colors}) != len(colors):
        raise DataError(f"{path}: two classes share a colour")
    return names, np.asarray(colors, dtype=np.uint8)


def split_stems(stems, seed: int = 0, val_fraction: float = 0.1) -> dict:
    """{"train": [...], "val": [...]}: a seeded split of ``stems`` (at least one of each when there are two)."""
    stems = sorted(stems)
    order = np.random.default_rng(seed).permutation(len(stems))
    n_val = max(1, round(val_fraction * len(stems))) if len(stems) > 1 else 0
    val = sorted(stems[i] for i in order[:n_val])
    return {"train": sorted(set(stems) - set(val)), "val": val}


class SegmentationFolder(Dataset):
    """``root`` as the module docstring lays it out, one split: ``(image (H, W, 3) uint8 RGB, label (H, W)
    int64)`` per sample, or ``transform(image, label)``. ``num_classes`` is needed unless ``classes.txt`` or
    ``colors.txt`` names the classes. Every sample read is checked (``check_label``); :meth:`scan` checks
    the whole split at once."""

    def __init__(self, root, split: str = "train", transform=None, num_classes: int | None = None,
                 ignore_index: int = 255, seed: int = 0):
        self.root, self.split, self.transform, self.ignore_index = Path(root), split, transform, ignore_index
        name = type(self).__name__
        for folder in ("images", "masks"):
            if not (self.root / folder).is_dir():
                raise FileNotFoundError(f"{name}: folder {self.root / folder} not found; expected {self.root}/images/ "
                                        f"and {self.root}/masks/ with the same file stems")
        self.classes, self.palette, self._color_table = self._read_classes(num_classes)
        images = _by_stem(self.root / "images", IMAGE_EXTENSIONS)
        masks = _by_stem(self.root / "masks", MASK_EXTENSIONS)
        without = sorted(set(images) - set(masks))
        if without:
            more = f" (and {len(without) - 1} more)" if len(without) > 1 else ""
            raise DataError(f"{name}: image {images[without[0]]} has no mask in {self.root / 'masks'} "
                            f"(expected {without[0]}.png){more}")
        self.stems = self._split_stems(split, sorted(images), seed)
        missing = [s for s in self.stems if s not in images]
        if missing:
            raise DataError(f"{name}: {self.root / (split + '.txt')} lists {missing[0]!r}, which has no image "
                            f"in {self.root / 'images'}")
        self._images, self._masks = images, masks

    def _read_classes(self, num_classes):
        colors_file, classes_file = self.root / "colors.txt", self.root / "classes.txt"
        table = None
        if colors_file.is_file():
            names, palette = read_colors(colors_file)
            table = {tuple(int(v) for v in c): k for k, c in enumerate(palette)}
        elif classes_file.is_file():
            names = [line.strip() for line in classes_file.read_text().splitlines() if line.strip()]
            palette = None
        elif num_classes is not None:
            names = ["background"] + [f"class {k}" for k in range(1, num_classes)]
            palette = None
        else:
            raise DataError(f"{type(self).__name__}: how many classes? put their names in {classes_file} (one "
                            f"per line, line 0 the background), colours in {colors_file}, or pass num_classes")
        if num_classes is not None and num_classes != len(names):
            raise DataError(f"{type(self).__name__}: num_classes={num_classes} but "
                            f"{colors_file if table else classes_file} names {len(names)} classes")
        if len(names) < 2:
            raise DataError(f"{type(self).__name__}: at least 2 classes are needed (background and one more), "
                            f"got {len(names)}")
        if palette is None:
            from lumen.vision.palette import VOC_PALETTE
            palette = VOC_PALETTE
        return names, palette, table

    def _split_stems(self, split, stems, seed):
        listed = self.root / f"{split}.txt"
        if listed.is_file():
            return [line.split()[0] for line in listed.read_text().splitlines() if line.strip()]
        if split not in ("train", "val"):
            raise FileNotFoundError(f"{type(self).__name__}: split file {listed} not found")
        return split_stems(stems, seed)[split]

    def write_split(self, seed: int = 0) -> list[Path]:
        """Write the seeded split as ``root/train.txt`` and ``root/val.txt`` when they do not exist, so the
        split is on disk for the next run and for other tools; returns the files written."""
        written = []
        for split, stems in split_stems(self._images, seed).items():
            path = self.root / f"{split}.txt"
            if not path.exists():
                with atomic_write(path) as f:
                    f.write("".join(s + "\n" for s in stems).encode())
                written.append(path)
        return written

    def __len__(self):
        return len(self.stems)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def image_path(self, index):
        return self._images[self.stems[index]]

    def label_path(self, index):
        return self._masks[self.stems[index]]

    def read_label(self, path) -> np.ndarray:
        """A mask file -> (H, W) int64 class ids (colours mapped through colors.txt)."""
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as img:
                img.load()
                mode = img.mode
                if mode in ("RGBA", "RGBX", "CMYK"):
                    img = img.convert("RGB")
                elif mode == "LA":
                    img = img.convert("L")
                array = np.asarray(img)
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
            raise DataError(f"cannot decode mask {path}: {e}") from e
        if array.ndim == 2:
            return array.astype(np.int64)
        if self._color_table is None:
            raise DataError(f"mask {path} is an {mode} colour image: write {self.root / 'colors.txt'} ('r g b name' "
                            f"per class, class k on line k) or store class ids as a palette/greyscale PNG")
        codes = (array[..., 0].astype(np.int64) << 16) | (array[..., 1].astype(np.int64) << 8) | array[..., 2]
        known = np.array([(r << 16) | (g << 8) | b for r, g, b in self._color_table], dtype=np.int64)
        order = np.argsort(known)
        position = np.clip(np.searchsorted(known[order], codes), 0, len(known) - 1)
        found = known[order][position] == codes
        if not found.all():
            code = int(codes[~found][0])
            y, x = map(int, np.argwhere(~found)[0])
            raise DataError(f"mask {path}: colour ({code >> 16}, {(code >> 8) & 255}, {code & 255}) at row {y}, "
                            f"column {x} is not in {self.root / 'colors.txt'}")
        return order[position].astype(np.int64)

    def check_label(self, label, label_path, image_shape, image_path):
        if label.shape != tuple(image_shape[:2]):
            raise DataError(f"mask {label_path} is {label.shape[0]}x{label.shape[1]} but image {image_path} is "
                            f"{image_shape[0]}x{image_shape[1]}")
        bad = (label >= self.num_classes) & (label != self.ignore_index) | (label < 0)
        if bad.any():
            values = np.unique(label[bad])[:8].tolist()
            raise DataError(f"mask {label_path} holds {values}, outside the classes 0..{self.num_classes - 1} and "
                            f"the ignore label {self.ignore_index}")

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"{type(self).__name__}: index {index} out of range for {len(self)} images")
        image_path, label_path = self.image_path(index), self.label_path(index)
        image, label = read_image(image_path), self.read_label(label_path)
        self.check_label(label, label_path, image.shape, image_path)
        return self.transform(image, label) if self.transform is not None else (image, label)

    def fingerprint(self) -> str:
        """A key of everything the scan's verdict depends on: names, sizes and times of the files, classes."""
        digest = hashlib.sha256(json.dumps([self.classes, self.ignore_index, self.split]).encode())
        for stem in self.stems:
            for path in (self._images[stem], self._masks[stem]):
                st = path.stat()
                digest.update(f"{path.name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
        return digest.hexdigest()[:20]

    def scan(self, cache_dir=None, progress: bool = True) -> dict:
        """Check every mask of the split (its values, its size against its image's) and count the pixels of
        each class: ``{"pixels": [per class], "image_pixels": [pixels of the images holding each class]}``.
        The first bad file raises a one-line DataError naming it. With ``cache_dir`` the result is kept
        under the data set's :meth:`fingerprint`, so an unchanged data set is scanned once."""
        cache = Path(cache_dir) / f"label-scan-{self.fingerprint()}.json" if cache_dir is not None else None
        if cache is not None and cache.is_file():
            return json.loads(cache.read_text())
        from PIL import Image
        from tqdm import tqdm

        pixels = np.zeros(self.num_classes, dtype=np.int64)
        image_pixels = np.zeros(self.num_classes, dtype=np.int64)
        for index in tqdm(range(len(self)), desc=f"checking {self.split} masks", unit="mask",
                          disable=None if progress else True):
            image_path, label_path = self.image_path(index), self.label_path(index)
            try:
                with Image.open(image_path) as img:  # the header only: the size as read_image will turn it
                    width, height = img.size
                    if img.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF orientations that swap the axes
                        width, height = height, width
            except (OSError, SyntaxError, ValueError) as e:
                raise DataError(f"cannot decode image {image_path}: {e}") from e
            label = self.read_label(label_path)
            self.check_label(label, label_path, (height, width), image_path)
            counts = np.bincount(label[label != self.ignore_index].ravel(), minlength=self.num_classes)
            pixels += counts
            image_pixels[counts > 0] += label.size
        if len(self) and not pixels[1:].any():
            raise DataError(f"{type(self).__name__}: every mask of {self.root} ({self.split}) holds only class 0 "
                            f"and the ignore label {self.ignore_index}: nothing but background would be learned. "
                            f"If {self.ignore_index} marks your objects, map it to a class id (e.g. mask[mask == 255] "
                            f"= 1) or choose another ignore label")
        result = {"pixels": pixels.tolist(), "image_pixels": image_pixels.tolist()}
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(cache) as f:
                f.write(json.dumps(result).encode())
        return result


def median_frequency_weights(scan: dict) -> list[float]:
    """Class weights by median frequency balancing (Eigen and Fergus): ``median(freq) / freq_c`` with
    ``freq_c`` the pixels of class c over the pixels of the images where c appears; 0 for absent classes."""
    pixels = np.asarray(scan["pixels"], dtype=np.float64)
    image_pixels = np.asarray(scan["image_pixels"], dtype=np.float64)
    present = pixels > 0
    freq = np.where(present, pixels / np.where(present, image_pixels, 1), 0)
    weights = np.where(present, np.median(freq[present]) / np.where(present, freq, 1), 0)
    return weights.tolist()


def _by_stem(folder: Path, extensions) -> dict:
    found = {}
    for name in sorted(os.listdir(folder)):
        path = folder / name
        if path.suffix.lower() in extensions and path.is_file():
            if path.stem in found:
                raise DataError(f"{folder}: two files share the stem {path.stem!r} ({found[path.stem].name}, {name})")
            found[path.stem] = path
    return found
