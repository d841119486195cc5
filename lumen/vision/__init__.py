"""Vision: reference models, VOC data sets and transforms, segmentation metrics and plots.

Its submodules load on first use (``lumen.vision.models.fcn8s(...)`` works after ``import lumen``),
so ``import lumen`` does not pay for Pillow, SciPy or Matplotlib."""
import importlib

_SUBMODULES = ("convert", "datasets", "metrics", "models", "palette", "plot", "transforms")
__all__ = list(_SUBMODULES)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))
