"""``cupyx`` of the double: the scatter functions on device arrays only."""
import numpy

import cupy

from . import scipy  # noqa: F401


def _scatter(ufunc, name):
    def scatter(a, slices, value):
        a, slices, value = cupy._to_host_views((a, slices, value), f"cupyx.{name}")
        ufunc.at(a, slices, value)

    scatter.__name__ = name
    scatter.__doc__ = f"``a[slices] = {ufunc.__name__}(a[slices], value)`` with repeated indices all combined."
    return scatter


scatter_add = _scatter(numpy.add, "scatter_add")
scatter_max = _scatter(numpy.maximum, "scatter_max")
scatter_min = _scatter(numpy.minimum, "scatter_min")
