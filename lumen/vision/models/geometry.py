"""Where a layer puts its input's pixels: Caffe's ``coord_map``, open to any module.

``coord_map(module)`` is the affine ``CoordMap`` from a module's input pixel coordinates
to its output's; an FCN composes them to find the crop offsets that align its upsampled
scores with the input. A module gets its map, in this order of precedence, from

- its own ``coord_map()`` method (no arguments), for classes that know their geometry;
- a function registered for its class or the nearest base class in its MRO:
  ``register_coord_map(cls, fn)``, or ``@register_coord_map(cls)`` on ``fn(module) ->
  CoordMap``, for classes one cannot (or would rather not) edit. A later registration for
  the same class replaces the earlier one.

Registered here: every ``lumen.nn`` layer that keeps each pixel in place (activations,
dropout, batch and local response normalisation, identity; softmax over channels),
convolutions, transposed convolutions, max and average pooling (ceil mode included: it
only adds output pixels at the far end), and ``Sequential`` / ``ModuleList``, which chain
their layers in order. Adaptive pooling, ``Flatten`` and ``Linear`` have no fixed map.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Callable, NamedTuple

from lumen import nn

__all__ = ["CoordMap", "coord_map", "register_coord_map", "chain_coord_map"]


class CoordMap(NamedTuple):
    """``y = scale * x + offset``: a pixel at coordinate x of a layer's input sits at y in its output.

    Exact rationals (``Fraction``), so composed maps compare exactly. This is
    Caffe's ``coord_map`` convention (pixel centres; a k x k / s convolution with
    padding p maps x to ``(x + p - (k-1)/2) / s``).
    """

    scale: Fraction = Fraction(1)
    offset: Fraction = Fraction(0)

    def then(self, nxt: "CoordMap") -> "CoordMap":
        """The map of ``self`` followed by ``nxt``."""
        return CoordMap(nxt.scale * self.scale, nxt.scale * self.offset + nxt.offset)

    def inverse(self) -> "CoordMap":
        return CoordMap(1 / self.scale, -self.offset / self.scale)


_REGISTRY: dict[type, Callable[[nn.Module], CoordMap]] = {}


def register_coord_map(module_type: type, fn: Callable | None = None):
    """Make ``fn(module) -> CoordMap`` the geometry of ``module_type`` and its subclasses.

    ``register_coord_map(MyLayer, fn)`` or, as a decorator, ``@register_coord_map(MyLayer)``
    over ``fn``; returns ``fn``. A ``coord_map()`` method on the module still comes first.
    """
    if not isinstance(module_type, type):
        raise TypeError(f"register_coord_map: module_type must be a class, got {module_type!r}")

    def register(f):
        if not callable(f):
            raise TypeError(f"register_coord_map({module_type.__name__}): expected a function "
                            f"module -> CoordMap, got {f!r}")
        _REGISTRY[module_type] = f
        return f

    return register if fn is None else register(fn)


def coord_map(module) -> CoordMap:
    """The ``CoordMap`` from ``module``'s input to its output (see the module docstring)."""
    method = getattr(module, "coord_map", None)
    if callable(method):
        m, source = method(), f"{type(module).__name__}.coord_map()"
    else:
        fn = next((_REGISTRY[cls] for cls in type(module).__mro__ if cls in _REGISTRY), None)
        if fn is None:
            name = type(module).__name__
            raise TypeError(
                f"coord_map: the geometry of {name} ({type(module).__module__}.{name}) is unknown; "
                f"register it with @lumen.vision.models.register_coord_map({name}) on a function "
                f"module -> CoordMap, or give {name} a coord_map() method (layers whose map depends "
                "on the input size, as adaptive pooling, or that mix positions, as Flatten and "
                "Linear, have none)")
        m, source = fn(module), f"the coord_map registered for {type(module).__name__}"
    if not isinstance(m, CoordMap):
        raise TypeError(f"coord_map: {source} returned a {type(m).__name__}, expected a CoordMap")
    return m


def chain_coord_map(modules) -> CoordMap:
    """The map of ``modules`` run one after another."""
    m = CoordMap()
    for module in modules:
        m = m.then(coord_map(module))
    return m


def _square(module, attr):
    v = getattr(module, attr)
    v = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if v[0] != v[1]:
        raise ValueError(f"coord_map: {type(module).__name__} has {attr}={v}; only square "
                         "geometry (same value on both axes) is mapped")
    return v[0]


def _window(module):
    """(kernel, stride, leading padding, dilation) of a convolution or pooling window."""
    k, s = _square(module, "kernel_size"), _square(module, "stride")
    d = _square(module, "dilation") if hasattr(module, "dilation") else 1
    if module.padding == "valid":
        p = 0
    elif module.padding == "same":
        # F.conv2d puts the odd row/column of 'same' padding at the bottom/right.
        p = d * (k - 1) // 2
    else:
        p = _square(module, "padding")
    return k, s, p, d


@register_coord_map(nn.Conv2d)
@register_coord_map(nn.MaxPool2d)
@register_coord_map(nn.AvgPool2d)
def _window_map(module) -> CoordMap:
    # Output pixel j's window centre is input pixel s*j - p + d(k-1)/2.
    k, s, p, d = _window(module)
    return CoordMap(Fraction(1, s), (p - Fraction(d * (k - 1), 2)) / s)


@register_coord_map(nn.ConvTranspose2d)
def _transposed_map(module) -> CoordMap:
    k, s, p, d = _window(module)
    return CoordMap(Fraction(s), Fraction(d * (k - 1), 2) - p)


def _in_place(module) -> CoordMap:
    return CoordMap()


for _type in (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.Dropout, nn.BatchNorm2d, nn.LocalResponseNorm, nn.Identity):
    register_coord_map(_type, _in_place)


@register_coord_map(nn.Softmax)
@register_coord_map(nn.LogSoftmax)
def _softmax_map(module) -> CoordMap:
    # dim=None means dim 1 on a 4-d input (PyTorch's legacy rule), the channels.
    if module.dim not in (None, 1, -3):
        raise ValueError(f"coord_map: {type(module).__name__}(dim={module.dim}) normalises across "
                         "pixels; only a softmax over the channels (dim 1) keeps each pixel in place")
    return CoordMap()


register_coord_map(nn.Sequential, chain_coord_map)
register_coord_map(nn.ModuleList, chain_coord_map)
