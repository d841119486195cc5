import numpy as np
import pytest

from lumen.vision.palette import VOC_PALETTE, colorize, make_palette, overlay, to_pil

# The reference colours (fcn.berkeleyvision.org vis.py make_palette).
KNOWN = {0: (0, 0, 0), 1: (128, 0, 0), 2: (0, 128, 0), 3: (128, 128, 0), 4: (0, 0, 128), 5: (128, 0, 128),
         6: (0, 128, 128), 7: (128, 128, 128), 8: (64, 0, 0), 9: (192, 0, 0), 10: (64, 128, 0),
         11: (192, 128, 0), 12: (64, 0, 128), 13: (192, 0, 128), 14: (64, 128, 128), 15: (192, 128, 128),
         16: (0, 64, 0), 17: (128, 64, 0), 18: (0, 192, 0), 19: (128, 192, 0), 20: (0, 64, 128),
         255: (224, 224, 192)}


def bitget_palette(n):
    """The reference's loop, label by label."""
    palette = np.zeros((n, 3), dtype=np.uint8)
    for k in range(n):
        label, i = k, 0
        while label:
            palette[k, 0] |= ((label >> 0) & 1) << (7 - i)
            palette[k, 1] |= ((label >> 1) & 1) << (7 - i)
            palette[k, 2] |= ((label >> 2) & 1) << (7 - i)
            label >>= 3
            i += 1
    return palette


def test_palette_matches_reference():
    assert VOC_PALETTE.shape == (256, 3) and VOC_PALETTE.dtype == np.uint8
    np.testing.assert_array_equal(VOC_PALETTE, bitget_palette(256))
    for k, rgb in KNOWN.items():
        assert tuple(VOC_PALETTE[k]) == rgb
    np.testing.assert_array_equal(make_palette(21), VOC_PALETTE[:21])
    assert len({tuple(c) for c in VOC_PALETTE}) == 256


def test_colorize_and_pil_round_trip(tmp_path):
    label = np.array([[0, 1, 255], [20, 15, 0]], dtype=np.uint8)
    rgb = colorize(label)
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 2]) == (224, 224, 192) and tuple(rgb[1, 0]) == (0, 64, 128)
    path = tmp_path / "l.png"
    to_pil(label).save(path)
    from PIL import Image

    with Image.open(path) as img:
        assert img.mode == "P"
        np.testing.assert_array_equal(np.asarray(img), label)
        np.testing.assert_array_equal(np.asarray(img.convert("RGB")), rgb)


def test_overlay_blends_only_foreground():
    image = np.full((2, 2, 3), 100, np.uint8)
    label = np.array([[0, 1], [255, 0]])
    out = overlay(image, label, alpha=0.5)
    assert tuple(out[0, 0]) == (100, 100, 100)
    assert tuple(out[0, 1]) == (114, 50, 50)  # (100 + 128) / 2, (100 + 0) / 2
    assert tuple(out[1, 0]) == (162, 162, 146)
    np.testing.assert_array_equal(overlay(image, label, alpha=0.0), image)


def test_errors():
    with pytest.raises(ValueError, match=r"colorize: label values must lie in 0..255, got -1..3"):
        colorize(np.array([[-1, 3]]))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        colorize(np.zeros(3, int))
    with pytest.raises(TypeError, match="integer"):
        colorize(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"overlay: expected an image \(H, W, 3\) matching the label \(2, 2\)"):
        overlay(np.zeros((3, 2, 3), np.uint8), np.zeros((2, 2), int))
