"""Segmenting images with a trained net: ``segment(model, image)`` for one, ``Predictor`` for many.

Images are preprocessed as training preprocessed them (``ToCaffeInput``: RGB to BGR, minus the mean, times the
scale),
whatever their size; a net of ``lumen.vision.models.fcn`` returns scores of the input's size, so the
label map has exactly the image's height and width.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import lumen
from lumen.data import DataError
from lumen.vision.datasets.folder import IMAGE_EXTENSIONS
from lumen.vision.datasets.voc import read_image
from lumen.vision.transforms import VOC_BGR_MEAN, ToCaffeInput


def _as_rgb(image) -> np.ndarray:
    """A path, a Pillow image or an (H, W, 3) / (H, W) uint8 array -> (H, W, 3) uint8 RGB."""
    if isinstance(image, (str, os.PathLike)):
        return read_image(image)
    if hasattr(image, "convert") and hasattr(image, "mode"):  # a Pillow image
        from PIL import ImageOps
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"), dtype=np.uint8)
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"segment: expected an image path, a Pillow image or an (H, W, 3) uint8 RGB array, "
                         f"got an array of shape {array.shape} and dtype {array.dtype}")
    return array


@dataclass
class Prediction:
    """One image's result: ``labels`` (H, W) int64 class ids, ``scores`` (C, H, W) float32 class
    probabilities when asked for, the RGB ``image`` it came from, and ``source`` (what was passed)."""
    source: object
    image: np.ndarray
    labels: np.ndarray
    scores: np.ndarray | None = None

    def save(self, base, palette=None, class_names=(), overlay: bool = False, scores: bool = False) -> None:
        """Write ``base.png``, the label map as a palette PNG (``palette``: (n, 3) colours, VOC's by default);
        with ``overlay`` also ``base_overlay.jpg`` (the image blended with the colours, a legend naming the
        classes found), with ``scores`` ``base.npy`` (the (C, H, W) float32 probabilities). Each file is
        written atomically."""
        from PIL import Image

        from lumen.serialization import atomic_write
        from lumen.vision import palette as palettes

        colors = palettes.VOC_PALETTE if palette is None else np.asarray(palette, dtype=np.uint8)
        base = Path(base)
        base.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(base.with_suffix(".png")) as f:
            palettes.to_pil(self.labels.astype(np.uint8), colors).save(f, format="PNG")
        if overlay:
            blended = palettes.with_legend(palettes.overlay(self.image, self.labels, palette=colors),
                                           self.labels, class_names, colors)
            with atomic_write(base.with_name(base.name + "_overlay.jpg")) as f:
                Image.fromarray(blended).save(f, format="JPEG", quality=90)
        if scores:
            if self.scores is None:
                raise ValueError("Prediction.save: scores=True, but the prediction was made without scores")
            with atomic_write(base.with_suffix(".npy")) as f:
                np.save(f, self.scores.astype(np.float32))


class Predictor:
    """Segments many images with ``model``: ``for p in Predictor(model).predict(paths): ...``.

    Consecutive images of one size go through the net together, ``batch_size`` at a time; images of
    other sizes are never padded, so each result is what ``segment`` gives for that image alone.
    ``mean`` is the BGR mean training subtracted and ``scale`` what it then multiplied by; ``device`` where the
    net runs (the model is moved there).
    """

    def __init__(self, model, mean=VOC_BGR_MEAN, device="cpu", batch_size: int = 1, scale: float = 1.0):
        if batch_size < 1:
            raise ValueError(f"Predictor: batch_size must be at least 1, got {batch_size}")
        self.model = model.to(device).eval()
        self.device = lumen.device(device)
        self.batch_size = batch_size
        self.to_input = ToCaffeInput(mean, scale)

    def _run(self, batch, with_scores):
        inputs = np.stack([self.to_input(image)[0] for _, image in batch])
        with lumen.no_grad():
            scores = self.model(lumen.from_numpy(inputs).to(self.device))
            labels = scores.argmax(1).cpu().numpy()
            probabilities = lumen.softmax(scores, 1).cpu().numpy() if with_scores else [None] * len(batch)
        return [Prediction(source, image, labels[i], probabilities[i]) for i, (source, image) in enumerate(batch)]

    def predict(self, images, scores: bool = False):
        """Yield, in order, a ``Prediction`` for each of ``images`` (paths, Pillow images or arrays), or the
        exception (``DataError``, ``FileNotFoundError``, ``ValueError``) that reading it raised, paired with
        the source, as ``(source, error)``: one broken file does not stop the others."""
        batch = []
        for source in images:
            try:
                image = _as_rgb(source)
            except (DataError, FileNotFoundError, ValueError) as error:
                yield from self._run(batch, scores) if batch else ()
                batch = []
                yield source, error
                continue
            if batch and (image.shape != batch[0][1].shape or len(batch) == self.batch_size):
                yield from self._run(batch, scores)
                batch = []
            batch.append((source, image))
        if batch:
            yield from self._run(batch, scores)


def segment(model, image, mean=VOC_BGR_MEAN, device="cpu", scale: float = 1.0) -> np.ndarray:
    """The label map (H, W) int64 of one image (a path, a Pillow image or an (H, W, 3) uint8 RGB array)."""
    (result,) = Predictor(model, mean, device, scale=scale).predict([image])
    if isinstance(result, tuple):
        raise result[1]
    return result.labels


def find_images(inputs) -> list[tuple[Path, Path]]:
    """(image path, path of its output relative to the output folder, without extension) for each input:
    an image file, a folder (searched recursively for :data:`IMAGE_EXTENSIONS`, the folder's layout kept)
    or a text file listing image paths one per line (relative ones taken from the list's folder)."""
    found = []
    for item in map(Path, inputs):
        if item.is_dir():
            for path in sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()):
                found.append((path, path.relative_to(item).with_suffix("")))
        elif item.suffix.lower() == ".txt":
            try:
                lines = item.read_text().splitlines()
            except (OSError, UnicodeDecodeError) as e:
                raise FileNotFoundError(f"cannot read the list of images {item}: {e}") from None
            for line in filter(None, (line.strip() for line in lines)):
                path = Path(line) if Path(line).is_absolute() else item.parent / line
                found.append((path, Path(line).with_suffix("") if not Path(line).is_absolute()
                              else Path(Path(line).stem)))
        elif item.exists():
            found.append((item, Path(item.stem)))
        else:
            raise FileNotFoundError(f"no such image, folder or list: {item}")
    return _unique_outputs(found)


def _unique_outputs(found):
    # a.jpg and a.png in one folder would both write a.png: the later ones keep their extension in the name
    seen, out = set(), []
    for path, stem in found:
        if stem in seen:
            stem = stem.with_name(f"{stem.name}_{path.suffix.lstrip('.').lower()}")
        seen.add(stem)
        out.append((path, stem))
    return out
