"""The PASCAL VOC colour palette, label colouring and overlays."""
from __future__ import annotations

import numpy as np


def make_palette(n: int = 256) -> np.ndarray:
    """The VOC bit-interleaving palette: (n, 3) uint8, colour of label k in row k.

    Bits 0, 1, 2 of k go to the top bits of R, G, B; bits 3, 4, 5 to the next
    ones; and so on (the reference's ``make_palette``/``bitget``).
    """
    k = np.arange(n)
    palette = np.zeros((n, 3), dtype=np.uint8)
    shift = 7
    while k.any():
        for channel in range(3):
            palette[:, channel] |= (((k >> channel) & 1) << shift).astype(np.uint8)
        k = k >> 3
        shift -= 1
    return palette


VOC_PALETTE = make_palette(256)
VOC_PALETTE.setflags(write=False)


def _label_array(label, op):
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f"{op}: expected a label map of shape (H, W), got shape {label.shape}")
    if label.dtype.kind not in "iub":
        raise TypeError(f"{op}: expected an integer label map, got dtype {label.dtype}")
    if label.size and (label.min() < 0 or label.max() > 255):
        raise ValueError(f"{op}: label values must lie in 0..255, got {label.min()}..{label.max()}")
    return label


def colorize(label, palette: np.ndarray = VOC_PALETTE) -> np.ndarray:
    """Colour a label map (H, W) of ints in 0..255 -> (H, W, 3) uint8; 255 (void) -> (224, 224, 192)."""
    return palette[_label_array(label, "colorize")]


def overlay(image, label, alpha: float = 0.5, palette: np.ndarray = VOC_PALETTE) -> np.ndarray:
    """Blend label colours over an RGB image (H, W, 3) uint8 where label > 0 (the reference's vis_seg).

    Returns (H, W, 3) uint8; background pixels keep the image.
    """
    image = np.asarray(image)
    label = _label_array(label, "overlay")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[:2] != label.shape:
        raise ValueError(f"overlay: expected an image (H, W, 3) matching the label {label.shape}, "
                         f"got image shape {image.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"overlay: alpha must lie in [0, 1], got {alpha}")
    out = image.astype(np.float32)
    mask = label > 0
    out[mask] = (1.0 - alpha) * out[mask] + alpha * palette[label[mask]].astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def to_pil(label, palette: np.ndarray = VOC_PALETTE):
    """A Pillow palette ('P') image of a label map (H, W) in 0..255, as VOC stores SegmentationClass PNGs."""
    from PIL import Image

    label = _label_array(label, "to_pil")
    img = Image.fromarray(label.astype(np.uint8))
    img.putpalette(np.asarray(palette, dtype=np.uint8).reshape(-1).tolist())  # 'L' becomes 'P'
    return img


def with_legend(image, label, class_names, palette: np.ndarray = VOC_PALETTE) -> np.ndarray:
    """``image`` (H, W, 3) uint8 with a legend in its top-left corner: a colour swatch and the name of each
    class present in ``label`` (void left out), in class order. Returns a new (H, W, 3) uint8 array."""
    from PIL import Image, ImageDraw

    label = _label_array(label, "with_legend")
    present = [int(k) for k in np.unique(label) if k != 255]
    canvas = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
    draw = ImageDraw.Draw(canvas)
    row = 12
    for i, k in enumerate(present):
        name = class_names[k] if k < len(class_names) else f"class {k}"
        top = 2 + i * row
        width = 14 + 6 * len(name)
        draw.rectangle([2, top, 2 + width, top + row - 1], fill=(0, 0, 0))
        draw.rectangle([4, top + 2, 11, top + row - 3], fill=tuple(int(c) for c in palette[k]))
        draw.text((14, top), name, fill=(255, 255, 255))
    return np.asarray(canvas, dtype=np.uint8).copy()
