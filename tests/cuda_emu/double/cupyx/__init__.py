"""``cupyx`` of the double."""
import numpy

import cupy


def scatter_add(a, slices, value):
    """``a[slices] += value`` with repeated indices accumulated, on device arrays only."""
    a, slices, value = cupy._to_host_views((a, slices, value), "cupyx.scatter_add")
    numpy.add.at(a, slices, value)
