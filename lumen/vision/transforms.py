"""Joint image/label transforms for segmentation.

Every transform is called as ``t(image, label)`` and returns ``(image, label)``;
``label`` may be None (inference) and then stays None. Geometric transforms take
the dataset's (H, W, 3) images and (H, W) labels, so they go before
``ToCaffeInput``, which ends the chain with the reference's preprocessing.

Random transforms draw from, in order of preference: the ``rng`` they were
given (a ``numpy.random.Generator`` or an int seed); inside a ``DataLoader``,
the per-sample generator of ``lumen.data.sample_rng()`` (reproducible whatever
the worker count); otherwise a generator seeded from fresh entropy.
"""
from __future__ import annotations

import numbers

import numpy as np

import lumen
from lumen.data.loader import sample_rng

VOC_BGR_MEAN = (104.00698793, 116.66876762, 122.67891434)
"""Per-channel BGR mean of the ILSVRC training images that the reference subtracts."""


def _check_pair(op, image, label):
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise ValueError(f"{op}: expected an image of shape (H, W, C) with C in (1, 3), got {image.shape}"
                         " (apply geometric transforms before ToCaffeInput)")
    if label is not None:
        label = np.asarray(label)
        if label.shape != image.shape[:2]:
            raise ValueError(f"{op}: label shape {label.shape} does not match image shape {image.shape}")
    return image, label


class Compose:
    """Apply joint transforms in order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, image, label=None):
        for t in self.transforms:
            image, label = t(image, label)
        return image, label

    def __repr__(self):
        return f"Compose({self.transforms!r})"


class ToCaffeInput:
    """The reference's preprocessing: RGB (H, W, 3) uint8 -> BGR, minus ``mean``, times ``scale``,
    (3, H, W) float32.

    ``scale`` is Caffe's ``transform_param { scale }`` (applied after the mean, as Caffe does; 1 in the
    FCN reference, e.g. 0.017 in MobileNet's Caffe models). The label becomes int64 (H, W), class ids
    unchanged (255 stays void).
    """

    def __init__(self, mean=VOC_BGR_MEAN, scale: float = 1.0):
        self.mean = np.asarray(mean, dtype=np.float32).reshape(3, 1, 1)
        if not (isinstance(scale, (int, float)) and not isinstance(scale, bool) and np.isfinite(scale) and scale > 0):
            raise ValueError(f"ToCaffeInput: scale must be a positive finite number, got {scale!r}")
        self.scale = float(scale)

    def __call__(self, image, label=None):
        image, label = _check_pair("ToCaffeInput", image, label)
        if image.shape[2] != 3:
            raise ValueError(f"ToCaffeInput: expected an RGB image (H, W, 3), got {image.shape}")
        out = np.ascontiguousarray(image[:, :, ::-1].transpose(2, 0, 1), dtype=np.float32)
        out -= self.mean
        if self.scale != 1.0:
            out *= np.float32(self.scale)
        if label is not None:
            label = label.astype(np.int64)
        return out, label

    def __repr__(self):
        scale = f", scale={self.scale:g}" if self.scale != 1.0 else ""
        return f"ToCaffeInput(mean={tuple(self.mean.ravel().tolist())}{scale})"


def from_caffe_input(image, mean=VOC_BGR_MEAN, scale: float = 1.0) -> np.ndarray:
    """Undo ``ToCaffeInput``: (3, H, W) BGR, minus mean, times scale -> (H, W, 3) uint8 RGB, for display."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"from_caffe_input: expected a (3, H, W) image, got {image.shape}")
    rgb = (image / np.float32(scale) + np.asarray(mean, dtype=np.float32).reshape(3, 1, 1))[::-1].transpose(1, 2, 0)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _window(op, size) -> tuple[int, int]:
    """A crop size given as an int or (h, w), checked."""
    if isinstance(size, numbers.Integral):
        size = (int(size), int(size))
    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"{op}: size must be a positive int or (h, w), got {size}")
    return size


class _Random:
    def __init__(self, rng):
        if rng is None or isinstance(rng, np.random.Generator):
            self._rng = rng
        elif isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
            self._rng = np.random.default_rng(int(rng))
        else:
            raise TypeError(f"{type(self).__name__}: rng must be a numpy Generator, an int seed or None, "
                            f"got {type(rng).__name__}")

    def _generator(self):
        if self._rng is not None:
            return self._rng
        rng = sample_rng()
        if rng is not None:
            return rng
        self._rng = np.random.default_rng()
        return self._rng


class RandomHorizontalFlip(_Random):
    """Mirror image and label left-right with probability ``p``."""

    def __init__(self, p: float = 0.5, rng=None):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must lie in [0, 1], got {p}")
        super().__init__(rng)
        self.p = p

    def __call__(self, image, label=None):
        image, label = _check_pair("RandomHorizontalFlip", image, label)
        if self._generator().random() < self.p:
            image = np.ascontiguousarray(image[:, ::-1])
            if label is not None:
                label = np.ascontiguousarray(label[:, ::-1])
        return image, label


class RandomCrop(_Random):
    """A random (h, w) window; an image smaller than the window is padded around it at a random place.

    ``fill`` pads the image: "mean" (the RGB mean, so zero after ``ToCaffeInput``),
    "zero", or a number / per-channel tuple. The label is padded with
    ``label_fill`` (255, void: padding is not scored or learned).
    """

    def __init__(self, size, fill="mean", label_fill: int = 255, rng=None):
        super().__init__(rng)
        self.size = _window("RandomCrop", size)
        if isinstance(fill, str):
            if fill not in ("mean", "zero"):
                raise ValueError(f"RandomCrop: fill must be 'mean', 'zero' or a number/tuple, got {fill!r}")
            fill = VOC_BGR_MEAN[::-1] if fill == "mean" else 0.0
        self.fill = fill
        self.label_fill = label_fill

    def __call__(self, image, label=None):
        image, label = _check_pair("RandomCrop", image, label)
        rng = self._generator()
        h, w = self.size
        H, W = image.shape[:2]
        fill = np.broadcast_to(np.asarray(self.fill, dtype=np.float64), (image.shape[2],))
        if np.issubdtype(image.dtype, np.integer):
            fill = np.rint(fill)
        out = np.empty((h, w, image.shape[2]), dtype=image.dtype)
        out[...] = fill.astype(image.dtype)
        out_label = None
        if label is not None:
            out_label = np.full((h, w), self.label_fill, dtype=label.dtype)
        # per axis: source offset when cropping, destination offset when padding
        (sy, dy, ny), (sx, dx, nx) = [
            (int(rng.integers(0, n - m + 1)), 0, m) if n >= m else (0, int(rng.integers(0, m - n + 1)), n)
            for n, m in ((H, h), (W, w))]
        out[dy:dy + ny, dx:dx + nx] = image[sy:sy + ny, sx:sx + nx]
        if label is not None:
            out_label[dy:dy + ny, dx:dx + nx] = label[sy:sy + ny, sx:sx + nx]
        return out, out_label

    def __repr__(self):
        return f"RandomCrop(size={self.size}, fill={self.fill}, label_fill={self.label_fill})"


class CenterCrop:
    """The central (h, w) window of image and label (the classification recipes' validation crop); an image
    smaller than the window is an error, as there is nothing to fill a classification crop with."""

    def __init__(self, size):
        self.size = _window("CenterCrop", size)

    def __call__(self, image, label=None):
        image, label = _check_pair("CenterCrop", image, label)
        (h, w), (H, W) = self.size, image.shape[:2]
        if H < h or W < w:
            raise ValueError(f"CenterCrop: image of size {(H, W)} is smaller than the crop {self.size}")
        y, x = (H - h) // 2, (W - w) // 2
        return image[y:y + h, x:x + w], None if label is None else label[y:y + h, x:x + w]

    def __repr__(self):
        return f"CenterCrop(size={self.size})"


class Resize:
    """Resize so that the shorter side is ``size`` (the ImageNet recipes' isotropic rescaling to 256),
    the image bilinearly, the label by nearest neighbour (class ids stay class ids)."""

    def __init__(self, size: int):
        if not isinstance(size, numbers.Integral) or size < 1:
            raise ValueError(f"Resize: size must be a positive int (the shorter side), got {size!r}")
        self.size = int(size)

    def __call__(self, image, label=None):
        from PIL import Image

        image, label = _check_pair("Resize", image, label)
        H, W = image.shape[:2]
        scale = self.size / min(H, W)
        shape = (max(1, round(W * scale)), max(1, round(H * scale)))
        if shape == (W, H):
            return image, label
        image = np.asarray(Image.fromarray(image.squeeze(2) if image.shape[2] == 1 else image)
                           .resize(shape, Image.BILINEAR)).reshape(shape[1], shape[0], image.shape[2])
        if label is not None:
            label = np.asarray(Image.fromarray(label).resize(shape, Image.NEAREST))
        return image, label

    def __repr__(self):
        return f"Resize(size={self.size})"


class PadCollate:
    """A ``collate_fn`` for images of different sizes: pads each (C, H, W) image (with ``image_fill``: 0 is
    the mean once ``ToCaffeInput`` subtracted it) and each (H, W) label (with ``label_fill``, the ignore
    label, so padding is neither learned nor scored) at the bottom and right to the batch's largest size.
    Returns ``(images (N, C, H, W), labels (N, H, W))`` tensors; labels are never resized."""

    def __init__(self, image_fill: float = 0.0, label_fill: int = 255):
        self.image_fill, self.label_fill = image_fill, label_fill

    def __call__(self, samples):
        images, labels = zip(*samples)
        height = max(image.shape[1] for image in images)
        width = max(image.shape[2] for image in images)
        batch = np.full((len(images), images[0].shape[0], height, width), self.image_fill, dtype=images[0].dtype)
        targets = np.full((len(labels), height, width), self.label_fill, dtype=np.int64)
        for i, (image, label) in enumerate(samples):
            if image.shape[1:] != label.shape:
                raise ValueError(f"PadCollate: sample {i} has an image of shape {image.shape} and a label of "
                                 f"shape {label.shape}")
            batch[i, :, :image.shape[1], :image.shape[2]] = image
            targets[i, :label.shape[0], :label.shape[1]] = label
        return lumen.from_numpy(batch), lumen.from_numpy(targets)

    def __repr__(self):
        return f"PadCollate(image_fill={self.image_fill}, label_fill={self.label_fill})"


def depth_to_hha(depth, camera_intrinsics, up=(0.0, -1.0, 0.0), min_depth=1.0) -> np.ndarray:
    """Encode a depth map as HHA (Gupta, Girshick, Arbelaez & Malik, ECCV 2014): (H, W, 3) uint8 of
    horizontal disparity, height above ground and angle with gravity, the channels the FCN reference's
    ``nyud-*-hha`` nets read from precomputed PNGs.

    ``depth``: (H, W) metres, 0 (or not finite) where the sensor saw nothing; those pixels encode as 0.
    ``camera_intrinsics``: the 3x3 matrix K or (fx, fy, cx, cy), in pixels of ``depth``.
    ``up``: the direction against gravity in camera coordinates (x right, y down, z forward); the
    default is an upright camera's. The scaling follows Gupta's ``saveHHA.m``:
    disparity ``31000 / depth_cm`` with depth floored at ``min_depth`` metres, height in cm above the
    lowest seen point, angle in degrees ``+ 38``, each rounded and clipped to 0..255.

    What it approximates: Gupta et al. estimate gravity by iteratively aligning the normals to the
    room's dominant horizontal and vertical surfaces and fit normals by local plane fits over a
    neighbourhood, after filling the holes of the raw depth; here gravity is ``up`` as given, normals
    are the cross product of the point cloud's central differences, and holes stay 0. On upright
    indoor views the three channels are close to Gupta's; the reference's models were trained on his.
    """
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim != 2 or min(depth.shape) < 2:
        raise ValueError(f"depth_to_hha: depth must be an (H, W) map with H, W >= 2, got shape {depth.shape}")
    k = np.asarray(camera_intrinsics, dtype=np.float64)
    if k.shape == (3, 3):
        fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    elif k.shape == (4,):
        fx, fy, cx, cy = k
    else:
        raise ValueError(f"depth_to_hha: camera_intrinsics must be a 3x3 matrix K or (fx, fy, cx, cy), "
                         f"got shape {k.shape}")
    if not (fx > 0 and fy > 0):
        raise ValueError(f"depth_to_hha: focal lengths must be positive, got fx={fx}, fy={fy}")
    up = np.asarray(up, dtype=np.float64)
    if up.shape != (3,) or not np.linalg.norm(up) > 0:
        raise ValueError(f"depth_to_hha: up must be a non-zero 3-vector, got {up.tolist()}")
    up = up / np.linalg.norm(up)
    seen = np.isfinite(depth) & (depth > 0)
    z = np.where(seen, depth, 0.0) * 100.0  # centimetres, as saveHHA.m
    v, u = np.mgrid[0:depth.shape[0], 0:depth.shape[1]].astype(np.float64)
    cloud = np.stack([(u - cx) * z / fx, (v - cy) * z / fy, z], axis=-1)
    d_dv, d_du = np.gradient(cloud, axis=(0, 1))
    normal = np.cross(d_du, d_dv)
    length = np.linalg.norm(normal, axis=-1, keepdims=True)
    normal = np.divide(normal, length, out=np.zeros_like(normal), where=length > 0)
    facing_away = np.sum(normal * cloud, axis=-1) > 0
    normal[facing_away] *= -1  # every normal points back at the camera
    angle = np.degrees(np.arccos(np.clip(normal @ up, -1.0, 1.0)))
    height = cloud @ up
    height = height - (height[seen].min() if seen.any() else 0.0)
    disparity = 31000.0 / np.maximum(z, 100.0 * min_depth)
    hha = np.stack([disparity, height, angle + 128.0 - 90.0], axis=-1)
    hha[~seen] = 0.0
    return np.clip(np.rint(hha), 0, 255).astype(np.uint8)
