"""Small synthetic segmentation data sets in the VOC and SBD file layouts.

Each image holds 1-3 objects of the 20 VOC classes drawn as ellipses,
rectangles or polygons over a cluttered background. A class is recognisable
from its colour (one hue per class, saturated) and its texture (one of
stripes/columns/checks/dots at a class-specific period); the background uses
low-saturation colours only, with noise and blobs, some of them textured. As in
VOC, a band of void (255) pixels a few pixels wide runs along every object
boundary.

``synthetic_imagenet`` draws the classification counterpart in the ImageNet folder layout:
one dominant object of one of the 20 classes per image, with the same class styles on the
same clutter, so that a classifier trained on it learns features that transfer to the
segmentation sets (the FCN paper's premise).
"""
from __future__ import annotations

import colorsys
import json
from pathlib import Path

import numpy as np

from lumen.vision.datasets.voc import VOC_CLASSES, VOID

_MARKER = "synthetic.json"
# Part of every set's marker: a set written by another version of the generator is written again.
VERSION = 2
_N_CLASSES = len(VOC_CLASSES) - 1
# Object radii as fractions of the image's shorter side: the segmentation sets' default, and the
# classification set's dominant object (on a 104-px image as large as the largest objects of a 224-px
# segmentation image of radius 0.1-0.22, recipes.fcn_voc's).
OBJECT_RADIUS = (0.12, 0.32)
CLASSIFICATION_RADIUS = (0.2, 0.45)


def _class_style(k: int):
    """(RGB float colour in [0, 1], texture kind, period) of object class k in 1..20."""
    rgb = colorsys.hsv_to_rgb((k - 1) / _N_CLASSES, 0.85, 0.9)
    return np.array(rgb), (k - 1) % 4, 3 + (k - 1) // 4


def _texture(kind, period, yy, xx, rng):
    """Boolean pattern: 0 rows, 1 columns, 2 checks, 3 dots."""
    py, px = rng.integers(0, period, size=2)
    on_y = (yy + py) % period < period / 2
    on_x = (xx + px) % period < period / 2
    return (on_y, on_x, on_y ^ on_x, on_y & on_x)[kind]


def _grey(rng):
    """A low-saturation colour: never mistaken for a class colour (saturation 0.85)."""
    return np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.0, 0.25), rng.uniform(0.15, 0.95)))


def _shape_mask(rng, h, w, radius=(0.12, 0.32), centre=(0.15, 0.85)):
    """A random ellipse, rectangle or polygon of ``radius`` (fractions of the shorter side) centred
    within ``centre`` (fractions of each side)."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(img)
    r = min(h, w) * rng.uniform(*radius)
    cy, cx = rng.uniform(*centre) * h, rng.uniform(*centre) * w
    kind = rng.integers(3)
    if kind == 0:
        ry, rx = r * rng.uniform(0.6, 1.4), r * rng.uniform(0.6, 1.4)
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=1)
    elif kind == 1:
        ry, rx = r * rng.uniform(0.5, 1.3), r * rng.uniform(0.5, 1.3)
        draw.rectangle([cx - rx, cy - ry, cx + rx, cy + ry], fill=1)
    else:
        n = int(rng.integers(3, 7))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = r * rng.uniform(0.7, 1.4, n)
        draw.polygon([(cx + a * np.cos(t), cy + a * np.sin(t)) for t, a in zip(angles, radii)], fill=1)
    return np.asarray(img, dtype=bool)


def _clutter(rng, height, width):
    """The background: a low-saturation colour, uneven lighting, 3-8 blobs (half of them textured)."""
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.empty((height, width, 3))
    image[...] = _grey(rng)
    image += np.linspace(-0.1, 0.1, height)[:, None, None] * rng.uniform(-1, 1)  # uneven lighting
    for _ in range(int(rng.integers(3, 9))):
        blob = _shape_mask(rng, height, width)
        colour = _grey(rng)
        if rng.random() < 0.5:
            dark = _texture(int(rng.integers(4)), int(rng.integers(3, 8)), yy, xx, rng)
            image[blob] = np.where(dark[blob, None], 0.55 * colour, colour)
        else:
            image[blob] = colour
    return image, yy, xx


def _paint_object(rng, image, mask, k, yy, xx):
    colour, kind, period = _class_style(k)
    dark = _texture(kind, period, yy, xx, rng)
    image[mask] = np.where(dark[mask, None], 0.5 * colour, colour)


def _to_uint8(image, rng):
    image += rng.normal(0.0, 0.03, image.shape)
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


def render_sample(rng: np.random.Generator, height: int, width: int, object_radius=OBJECT_RADIUS):
    """One synthetic sample: (image (H, W, 3) uint8 RGB, label (H, W) uint8 in 0..20 or 255), with 1-3
    objects of ``object_radius`` (low, high fractions of the shorter side)."""
    from scipy import ndimage

    image, yy, xx = _clutter(rng, height, width)
    label = np.zeros((height, width), dtype=np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        k = int(rng.integers(1, _N_CLASSES + 1))
        mask = _shape_mask(rng, height, width, radius=object_radius)
        _paint_object(rng, image, mask, k, yy, xx)
        label[mask] = k
    image = _to_uint8(image, rng)
    r = max(1, round(min(height, width) / 160))  # VOC's void band is ~5 px on 500 px images
    window = 2 * r + 1
    boundary = ndimage.maximum_filter(label, window) != ndimage.minimum_filter(label, window)
    label[boundary] = VOID
    return image, label


def render_classification_sample(rng: np.random.Generator, height: int, width: int, k: int) -> np.ndarray:
    """One classification image (H, W, 3) uint8 RGB: a dominant object of class ``k`` (1..20), larger
    and nearer the centre than the segmentation sets' objects, on their clutter."""
    if not 1 <= k <= _N_CLASSES:
        raise ValueError(f"render_classification_sample: class must be in 1..{_N_CLASSES}, got {k}")
    image, yy, xx = _clutter(rng, height, width)
    mask = _shape_mask(rng, height, width, radius=CLASSIFICATION_RADIUS, centre=(0.3, 0.7))
    _paint_object(rng, image, mask, k, yy, xx)
    return _to_uint8(image, rng)


def _is_complete(root: Path, params: dict) -> bool:
    """Whether ``root`` holds the finished set of ``params``; refuses a non-empty folder it did not write."""
    marker = root / _MARKER
    if marker.is_file():
        try:
            return json.loads(marker.read_text()) == {**params, "complete": True}
        except json.JSONDecodeError:
            return False
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"synthetic_{params['layout']}: {root} is not empty and holds no {_MARKER}; "
                              "refusing to write a synthetic data set over other files")
    return False


def _generate(root, layout, n_train, n_val, size, size_jitter, seed, object_radius):
    from PIL import Image

    from lumen.vision.palette import to_pil

    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) - size_jitter < 8:
        raise ValueError(f"synthetic_{layout}: size must be an int or (H, W) of at least 8 + size_jitter, "
                         f"got {size} with size_jitter={size_jitter}")
    if n_train < 1 or n_val < 1:
        raise ValueError(f"synthetic_{layout}: n_train and n_val must be >= 1, got {n_train}, {n_val}")
    object_radius = [float(r) for r in np.atleast_1d(object_radius)]
    if len(object_radius) != 2 or not 0 < object_radius[0] <= object_radius[1] <= 1:
        raise ValueError(f"synthetic_{layout}: object_radius must be (low, high) with 0 < low <= high <= 1, "
                         f"got {tuple(object_radius)}")
    root = Path(root)
    params = {"layout": layout, "version": VERSION, "n_train": int(n_train), "n_val": int(n_val),
              "size": list(size), "size_jitter": int(size_jitter), "seed": int(seed), "object_radius": object_radius}
    if _is_complete(root, params):
        return root
    if layout == "voc":
        image_dir, label_dir, list_dir, label_ext = "JPEGImages", "SegmentationClass", "ImageSets/Segmentation", ".png"
    else:
        image_dir, label_dir, list_dir, label_ext = "img", "cls", ".", ".mat"
    for sub in (image_dir, label_dir, list_dir):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for sub, ext in ((image_dir, ".jpg"), (label_dir, label_ext)):  # a previous, different synthetic set
        for old in (root / sub).glob(f"synth_*{ext}"):
            old.unlink()
    marker = root / _MARKER
    marker.write_text(json.dumps({**params, "complete": False}))

    splits = {}
    for code, (split, n) in enumerate((("train", n_train), ("val", n_val))):
        ids = []
        for i in range(n):
            rng = np.random.default_rng([seed, code, i])
            h = size[0] + int(rng.integers(-size_jitter, size_jitter + 1))
            w = size[1] + int(rng.integers(-size_jitter, size_jitter + 1))
            image, label = render_sample(rng, h, w, object_radius)
            name = f"synth_{split}_{i:05d}"
            Image.fromarray(image).save(root / image_dir / f"{name}.jpg", quality=90)
            if layout == "voc":
                to_pil(label).save(root / label_dir / f"{name}.png")
            else:
                import scipy.io

                scipy.io.savemat(root / label_dir / f"{name}.mat",
                                 {"GTcls": {"Segmentation": label,
                                            "CategoriesPresent": np.setdiff1d(label, [0, VOID]).astype(np.uint8)}})
            ids.append(name)
        splits[split] = ids
    splits["trainval"] = splits["train"] + splits["val"]
    if layout == "voc":
        splits["seg11valid"] = splits["val"]
    else:
        del splits["trainval"]
    for split, ids in splits.items():
        (root / list_dir / f"{split}.txt").write_text("".join(i + "\n" for i in ids))
    marker.write_text(json.dumps({**params, "complete": True}))
    return root


def synthetic_voc(root, n_train: int = 200, n_val: int = 50, size=64, seed: int = 0,
                  size_jitter: int = 0, object_radius=OBJECT_RADIUS) -> Path:
    """Write a synthetic data set into ``root`` in the VOC2012 folder layout; returns ``root``.

    ``root`` gets JPEGImages/*.jpg, SegmentationClass/*.png (VOC palette PNGs)
    and ImageSets/Segmentation/{train,val,trainval,seg11valid}.txt (seg11valid
    = val), so ``VOCSegmentation(root, split)`` reads it. Images are ``size``
    (int or (H, W)) plus a uniform per-image jitter of +-``size_jitter`` per
    side, with 1-3 objects each of ``object_radius`` (fractions of the shorter side). Deterministic in
    ``seed``; a second call with the same parameters
    finds the marker file ``synthetic.json`` and returns at once. Refuses to write
    into a non-empty folder it did not create.
    """
    return _generate(root, "voc", n_train, n_val, size, size_jitter, seed, object_radius)


def synthetic_sbd(root, n_train: int = 200, n_val: int = 50, size=64, seed: int = 0,
                  size_jitter: int = 0, object_radius=OBJECT_RADIUS) -> Path:
    """As ``synthetic_voc`` in the SBD ``dataset`` layout: img/*.jpg, cls/*.mat, train.txt, val.txt."""
    return _generate(root, "sbd", n_train, n_val, size, size_jitter, seed, object_radius)


def synthetic_imagenet(root, n_train: int = 50, n_val: int = 10, size: int = 72, seed: int = 0) -> Path:
    """Write a synthetic classification set into ``root`` in the ImageNet folder layout; returns ``root``.

    ``root/train/<class>/*.JPEG`` holds ``n_train`` and ``root/val/<class>/*.JPEG`` ``n_val``
    size x size images per class, the classes being the 20 VOC object classes
    (``aeroplane`` ... ``tvmonitor``, whose alphabetical order is VOC's), each image one
    dominant object (``render_classification_sample``). ``ImageFolder(root / "train")``
    reads it. Deterministic in ``seed``, cached and guarded as ``synthetic_voc``.
    """
    from PIL import Image

    size = int(size)
    if size < 8 or n_train < 1 or n_val < 1:
        raise ValueError(f"synthetic_imagenet: size must be >= 8 and n_train, n_val >= 1, got size={size}, "
                         f"n_train={n_train}, n_val={n_val}")
    root = Path(root)
    params = {"layout": "imagenet", "version": VERSION, "n_train": int(n_train), "n_val": int(n_val),
              "size": size, "seed": int(seed)}
    if _is_complete(root, params):
        return root
    root.mkdir(parents=True, exist_ok=True)
    marker = root / _MARKER
    marker.write_text(json.dumps({**params, "complete": False}))
    for code, (split, n) in enumerate((("train", n_train), ("val", n_val))):
        for k, name in enumerate(VOC_CLASSES[1:], 1):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.glob("synth_*.JPEG"):  # a previous, different synthetic set
                old.unlink()
            for i in range(n):
                rng = np.random.default_rng([seed, 2 + code, k, i])
                image = render_classification_sample(rng, size, size, k)
                Image.fromarray(image).save(folder / f"synth_{split}_{k:02d}_{i:05d}.JPEG", format="JPEG",
                                            quality=90)
    marker.write_text(json.dumps({**params, "complete": True}))
    return root
