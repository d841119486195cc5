"""Vision: reference models, VOC data sets and transforms, segmentation metrics and plots.

Its submodules load on first use (``lumen.vision.models.fcn8s(...)`` works after ``import lumen``),
so ``import lumen`` does not pay for Pillow, SciPy or Matplotlib."""
import importlib

_SUBMODULES = ("convert", "datasets", "inference", "metrics", "models", "palette", "plot", "transforms")
_FROM_SUBMODULES = {"segment": "inference", "Predictor": "inference"}
__all__ = [*_SUBMODULES, *_FROM_SUBMODULES]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _FROM_SUBMODULES:
        return getattr(importlib.import_module(f"{__name__}.{_FROM_SUBMODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
