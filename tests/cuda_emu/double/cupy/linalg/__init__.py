"""``cupy.linalg`` of the double: numpy.linalg's functions on device arrays only (not cuSOLVER's numerics)."""
import numpy

import cupy

svd = cupy._device_function(numpy.linalg.svd, "linalg.svd")
