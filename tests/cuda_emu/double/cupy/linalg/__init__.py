"""``cupy.linalg`` of the double: numpy.linalg's functions that CuPy also has, on device arrays only.

Not cuSOLVER's numerics; and numpy raises LinAlgError for singular or non-definite input where CuPy, outside
``cupyx.errstate(linalg="raise")``, may return NaN or inf instead.
"""
import numpy

import cupy

LinAlgError = numpy.linalg.LinAlgError

_NAMES = ("cholesky", "qr", "svd", "eigh", "eigvalsh", "norm", "det", "slogdet", "solve", "lstsq", "inv", "pinv",
          "matrix_power", "matrix_rank")
for _name in _NAMES:
    globals()[_name] = cupy._device_function(getattr(numpy.linalg, _name), f"linalg.{_name}")
del _name
