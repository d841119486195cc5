"""Small synthetic stand-ins for NYUDv2, SIFT Flow and PASCAL-Context, written in the real sets' layouts.

``synthetic_nyud``: rooms seen by an upright camera: a back wall, a floor, and on the wall pictures
(flat, saturated colours), whiteboards (flat, near white) and boxes (standing out of the wall by
0.6-1.5 m, coloured as the pictures). Colour alone cannot tell a box from a picture and depth alone
cannot tell a picture from a whiteboard; both together tell all four classes apart, so fusing
modalities visibly helps, as Table 4 of the paper. The depth is saved as a 16-bit millimetre PNG and
encoded to HHA with ``depth_to_hha``.

``synthetic_siftflow``: outdoor scenes: sky above a horizon, one or two ground classes below it and
up to three upright things (buildings, trees, mountains, cars ...) standing on it; the geometric
class (sky / horizontal / vertical) of every pixel follows from that layout.

``synthetic_context``: the same scenes with 1-3 VOC objects of ``synthetic.render_sample`` on them,
labelled in the source ids of a 459-entry ``labels.txt`` that the reader maps onto the 59 classes.

Each is deterministic in its seed, cached by a marker file, and refuses to write into a non-empty
folder it did not create (as ``synthetic_voc``).
"""
from __future__ import annotations

import colorsys
import json
from pathlib import Path

import numpy as np

from lumen.vision.datasets.nyud import NYUD_CLASSES
from lumen.vision.datasets.pascalcontext import CONTEXT_CLASSES, SOURCE_NAMES
from lumen.vision.datasets.siftflow import SIFTFLOW_CLASSES, _FILES as _SIFTFLOW_FILES
from lumen.vision.datasets.synthetic import _MARKER, render_sample
from lumen.vision.transforms import depth_to_hha

_VERSION = 1
SKY, HORIZONTAL, VERTICAL = 1, 2, 3  # SIFT Flow's geometric label values (before the -1 rotation)


def _check(layout, n_a, n_b, size):
    size = (int(size), int(size)) if np.isscalar(size) else tuple(int(s) for s in size)
    if len(size) != 2 or min(size) < 16:
        raise ValueError(f"synthetic_{layout}: size must be an int or (H, W) of at least 16, got {size}")
    if n_a < 1 or n_b < 1:
        raise ValueError(f"synthetic_{layout}: the image counts must be >= 1, got {n_a}, {n_b}")
    return size


def _boundary(label, width=1):
    from scipy import ndimage

    window = 2 * width + 1
    return ndimage.maximum_filter(label, window) != ndimage.minimum_filter(label, window)


def _texture(rng, h, w, kind, period):
    """Boolean pattern: 0 none, 1 rows, 2 columns, 3 checks."""
    yy, xx = np.mgrid[0:h, 0:w]
    py, px = rng.integers(0, period, size=2)
    on_y, on_x = (yy + py) % period < period / 2, (xx + px) % period < period / 2
    return (np.zeros((h, w), bool), on_y, on_x, on_y ^ on_x)[kind]


def _grey(rng, value=(0.3, 0.7)):
    return np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.0, 0.2), rng.uniform(*value)))


def _save_png(array, path):
    from PIL import Image

    Image.fromarray(array).save(path)


def _start(root, params):
    """(root, done): ``done`` when root holds this finished set; else it is marked as being written."""
    root = Path(root)
    marker = root / _MARKER
    if marker.is_file():
        try:
            if json.loads(marker.read_text()) == {**params, "complete": True}:
                return root, True
        except json.JSONDecodeError:
            pass  # a torn marker: write the set again
    elif root.exists() and any(root.iterdir()):
        raise FileExistsError(f"synthetic_{params['layout']}: {root} is not empty and holds no {_MARKER}; "
                              "refusing to write a synthetic data set over other files")
    root.mkdir(parents=True, exist_ok=True)
    (root / _MARKER).write_text(json.dumps({**params, "complete": False}))
    return root, False


def _finish(root, params, lists):
    for path, ids in lists.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(i + "\n" for i in ids))
    (root / _MARKER).write_text(json.dumps({**params, "complete": True}))
    return root


# ---- NYUDv2 ------------------------------------------------------------------------------------
_WALL, _FLOOR, _PICTURE, _WHITEBOARD, _BOX = (NYUD_CLASSES.index(c) + 1 for c in
                                              ("wall", "floor", "picture", "whiteboard", "box"))


def render_room(rng, height, width):
    """One synthetic NYUDv2 view: (RGB (H, W, 3) uint8, depth (H, W) float32 metres, label (H, W) uint8 in
    the source coding: 0 void, 1..40, camera intrinsics (fx, fy, cx, cy))."""
    f = 0.6 * width
    camera = (f, f, width / 2, height / 2)
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    ray_y = (v - camera[3]) / f
    wall_z, camera_height = rng.uniform(3.0, 4.5), rng.uniform(1.0, 1.4)
    floor_z = np.where(ray_y > 0, camera_height / np.maximum(ray_y, 1e-9), np.inf)
    depth = np.minimum(wall_z, floor_z)
    label = np.where(floor_z < wall_z, _FLOOR, _WALL).astype(np.uint8)
    image = np.empty((height, width, 3))
    image[label == _WALL] = _grey(rng)
    image[label == _FLOOR] = _grey(rng)
    horizon = int(np.argmax((label == _FLOOR).any(axis=1))) or height
    for _ in range(int(rng.integers(1, 3))):
        kind = (_PICTURE, _WHITEBOARD, _BOX)[int(rng.integers(3))]
        h, w = int(rng.integers(height // 4, height // 2)), int(rng.integers(width // 4, width // 2))
        y = int(rng.integers(0, max(1, horizon - h)))
        x = int(rng.integers(0, width - w))
        patch = (slice(y, y + h), slice(x, x + w))
        label[patch] = kind
        if kind == _WHITEBOARD:
            image[patch] = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.0, 0.08), rng.uniform(0.85, 1.0))
        else:  # pictures and boxes share their colours and textures
            colour = np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.6, 0.9), rng.uniform(0.5, 0.9)))
            dark = _texture(rng, h, w, int(rng.integers(4)), int(rng.integers(3, 6)))
            image[patch] = np.where(dark[:, :, None], 0.6 * colour, colour)
        depth[patch] = wall_z - (rng.uniform(0.6, 1.5) if kind == _BOX else 0.0)
    image = np.clip(np.rint((image + rng.normal(0, 0.03, image.shape)) * 255), 0, 255).astype(np.uint8)
    depth = (depth * (1 + rng.normal(0, 0.003, depth.shape))).astype(np.float32)
    label[_boundary(label)] = 0
    return image, depth, label, camera


def synthetic_nyud(root, n_train: int = 60, n_test: int = 20, size=64, seed: int = 0) -> Path:
    """Write a synthetic NYUDv2 (see the module docstring) into ``root`` in the reference's layout; returns
    ``root``. ``n_train`` images are split in half into train.txt and val.txt (trainval.txt: both);
    ``n_test`` go to test.txt. ``NYUDv2(root, split, inputs)`` reads it."""
    import scipy.io

    size = _check("nyud", n_train, n_test, size)
    params = {"layout": "nyud", "version": _VERSION, "n_train": int(n_train), "n_test": int(n_test),
              "size": list(size), "seed": int(seed)}
    root, done = _start(root, params)
    if done:
        return root
    for folder in ("data/images", "data/hha", "data/depth", "segmentation"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    splits = {"train": [], "val": [], "test": []}
    for i in range(n_train + n_test):
        rng = np.random.default_rng([seed, 7, i])
        image, depth, label, camera = render_room(rng, *size)
        name = f"{i + 1:04d}"
        _save_png(image, root / "data/images" / f"img_{name}.png")
        _save_png(depth_to_hha(depth, camera), root / "data/hha" / f"img_{name}.png")
        _save_png(np.rint(depth * 1000).astype(np.uint16), root / "data/depth" / f"img_{name}.png")
        scipy.io.savemat(root / "segmentation" / f"img_{name}.mat", {"segmentation": label})
        splits["test" if i >= n_train else "train" if i < max(1, n_train // 2) else "val"].append(name)
    lists = {root / f"{s}.txt": ids for s, ids in splits.items()}
    lists[root / "trainval.txt"] = splits["train"] + splits["val"]
    return _finish(root, params, lists)


# ---- outdoor scenes (SIFT Flow, PASCAL-Context) --------------------------------------------------
def _class_colour(k):
    """A fixed colour per class id, spread over hue, saturation and value."""
    return np.array(colorsys.hsv_to_rgb((k * 0.61803) % 1.0, 0.35 + 0.2 * (k % 3), 0.45 + 0.15 * (k % 4)))


def render_scene(rng, height, width, sky, grounds, uprights):
    """An outdoor scene: (image (H, W, 3) float in [0, 1], class ids (H, W) int, geometric classes (H, W)
    int in {SKY, HORIZONTAL, VERTICAL}). ``sky`` is the sky's class id, ``grounds`` and ``uprights``
    the ids drawn for ground regions and for the things standing on them."""
    from PIL import Image, ImageDraw

    horizon = int(rng.uniform(0.35, 0.6) * height)
    label = np.full((height, width), sky, dtype=np.int64)
    geo = np.full((height, width), SKY, dtype=np.int64)
    label[horizon:] = grounds[int(rng.integers(len(grounds)))]
    if rng.random() < 0.5:  # a second ground class nearer the camera
        label[int(rng.uniform(horizon + 1, height)):] = grounds[int(rng.integers(len(grounds)))]
    geo[horizon:] = HORIZONTAL
    for _ in range(int(rng.integers(1, 4))):
        mask = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(mask)
        bottom = rng.uniform(horizon, horizon + 0.3 * (height - horizon))
        h, w = rng.uniform(0.15, 0.5) * height, rng.uniform(0.1, 0.4) * width
        x = rng.uniform(0, width - w)
        shape = int(rng.integers(3))
        if shape == 0:
            draw.rectangle([x, bottom - h, x + w, bottom], fill=1)
        elif shape == 1:
            draw.polygon([(x, bottom), (x + w, bottom), (x + w * rng.uniform(0.3, 0.7), bottom - h)], fill=1)
        else:
            draw.ellipse([x, bottom - h, x + w, bottom], fill=1)
        inside = np.asarray(mask, dtype=bool)
        label[inside] = uprights[int(rng.integers(len(uprights)))]
        geo[inside] = VERTICAL
    image = np.empty((height, width, 3))
    for k in np.unique(label):
        region = label == k
        colour = _class_colour(int(k)) * rng.uniform(0.85, 1.15)
        dark = _texture(rng, height, width, int(k) % 4, 3 + int(k) % 3)
        image[region] = np.where(dark[region, None], 0.7 * colour, colour)
    return image, label, geo


def _to_uint8(image, rng):
    return np.clip(np.rint((image + rng.normal(0, 0.03, image.shape)) * 255), 0, 255).astype(np.uint8)


_SIFT = {name: SIFTFLOW_CLASSES.index(name) + 1 for name in SIFTFLOW_CLASSES}
SIFTFLOW_SCENE = dict(sky=_SIFT["sky"], grounds=[_SIFT[c] for c in ("road", "grass", "sea", "sand", "field")],
                      uprights=[_SIFT[c] for c in ("building", "tree", "mountain", "car", "pole", "fence")])


def synthetic_siftflow(root, n_train: int = 60, n_test: int = 20, size=64, seed: int = 0) -> Path:
    """Write synthetic SIFT Flow scenes (see the module docstring) into ``root`` in the reference's layout
    (trainval.txt, test.txt, Images/, SemanticLabels/ and GeoLabels/ with their .mat 'S' arrays: semantic 0
    void and 1..33, geometric -1 void and 1..3); returns ``root``."""
    import scipy.io
    from PIL import Image

    size = _check("siftflow", n_train, n_test, size)
    params = {"layout": "siftflow", "version": _VERSION, "n_train": int(n_train), "n_test": int(n_test),
              "size": list(size), "seed": int(seed)}
    root, done = _start(root, params)
    if done:
        return root
    for folder, _ in _SIFTFLOW_FILES.values():
        (root / folder).mkdir(parents=True, exist_ok=True)
    splits = {"trainval": [], "test": []}
    for i in range(n_train + n_test):
        rng = np.random.default_rng([seed, 8, i])
        image, sem, geo = render_scene(rng, *size, **SIFTFLOW_SCENE)
        void = _boundary(sem)
        sem[void], geo[void] = 0, -1
        name = f"synth_{i:05d}"
        Image.fromarray(_to_uint8(image, rng)).save(root / _SIFTFLOW_FILES["image"][0] / f"{name}.jpg", quality=92)
        scipy.io.savemat(root / _SIFTFLOW_FILES["sem"][0] / f"{name}.mat", {"S": sem.astype(np.int16)})
        scipy.io.savemat(root / _SIFTFLOW_FILES["geo"][0] / f"{name}.mat", {"S": geo.astype(np.int16)})
        splits["test" if i >= n_train else "trainval"].append(name)
    return _finish(root, params, {root / f"{s}.txt": ids for s, ids in splits.items()})


_CTX = {name: k for k, name in enumerate(CONTEXT_CLASSES)}
CONTEXT_SCENE = dict(sky=_CTX["sky"], grounds=[_CTX[c] for c in ("grass", "road", "water", "ground", "snow")],
                     uprights=[_CTX[c] for c in ("building", "tree", "mountain", "wall", "fence")])
_N_SOURCE = 459


def _source_ids():
    """Task class (1..59) -> its id in the synthetic 459-entry labels.txt (a fixed scatter)."""
    order = np.random.default_rng(459).permutation(np.arange(1, _N_SOURCE + 1))
    return {k: int(order[k]) for k in range(1, len(CONTEXT_CLASSES))}


def synthetic_context(root, n_train: int = 60, n_val: int = 20, size=64, seed: int = 0) -> Path:
    """Write synthetic PASCAL-Context scenes into ``root``: ``root/VOC2010`` (JPEGImages/,
    ImageSets/Main/{train,val}.txt) and ``root/context`` (labels.txt of 459 source labels, 59_labels.txt,
    trainval/*.mat 'LabelMap' in source ids); returns ``root``. ``PASCALContext(root / "VOC2010",
    root / "context", split)`` reads it."""
    import scipy.io
    from PIL import Image

    size = _check("context", n_train, n_val, size)
    params = {"layout": "context", "version": _VERSION, "n_train": int(n_train), "n_val": int(n_val),
              "size": list(size), "seed": int(seed)}
    root, done = _start(root, params)
    if done:
        return root
    voc, context = root / "VOC2010", root / "context"
    for folder in (voc / "JPEGImages", voc / "ImageSets" / "Main", context / "trainval"):
        folder.mkdir(parents=True, exist_ok=True)
    to_source = _source_ids()
    names = {source: f"synthetic source label {source}" for source in range(1, _N_SOURCE + 1)}
    for k, source in to_source.items():
        names[source] = SOURCE_NAMES.get(CONTEXT_CLASSES[k], CONTEXT_CLASSES[k])
    (context / "labels.txt").write_text("".join(f"{s}: {names[s]}\n" for s in range(1, _N_SOURCE + 1)))
    (context / "59_labels.txt").write_text("".join(f"{k}: {CONTEXT_CLASSES[k]}\n" for k in to_source))
    lookup = np.zeros(len(CONTEXT_CLASSES), dtype=np.int64)
    for k, source in to_source.items():
        lookup[k] = source
    splits = {"train": [], "val": []}
    for i in range(n_train + n_val):
        rng = np.random.default_rng([seed, 9, i])
        image, label, _ = render_scene(rng, *size, **CONTEXT_SCENE)
        objects, object_label = render_sample(rng, *size)  # VOC classes 1..20 are Context's 1..20
        on_object = object_label != 0
        image[on_object] = objects[on_object] / 255.0
        label[on_object] = np.where(object_label[on_object] == 255, 0, object_label[on_object])
        name = f"2010_{i:06d}"
        Image.fromarray(_to_uint8(image, rng)).save(voc / "JPEGImages" / f"{name}.jpg", quality=92)
        scipy.io.savemat(context / "trainval" / f"{name}.mat", {"LabelMap": lookup[label].astype(np.uint16)})
        splits["val" if i >= n_train else "train"].append(name)
    return _finish(root, params, {voc / "ImageSets" / "Main" / f"{s}.txt": ids for s, ids in splits.items()})


__all__ = ["synthetic_nyud", "synthetic_siftflow", "synthetic_context", "render_room", "render_scene"]
