"""``cupyx.scipy.special`` of the double: scipy.special's ufuncs on device arrays only (a device array's
``__array_ufunc__`` returns device arrays; a host array is refused here as CuPy would)."""
import numpy
import scipy.special

import cupy


def _device_ufunc(ufunc):
    def function(x, out=None):
        if not isinstance(x, cupy.ndarray) or (out is not None and not isinstance(out, cupy.ndarray)):
            raise TypeError(f"cupyx.scipy.special.{ufunc.__name__}: Unsupported type {type(x)} (device arrays only)")
        return ufunc(x, out=out)

    function.__name__ = ufunc.__name__
    return function


erf, erfc, erfinv, gammaln, digamma = (_device_ufunc(getattr(scipy.special, n))
                                       for n in ("erf", "erfc", "erfinv", "gammaln", "digamma"))


def polygamma(n, x):
    """scipy.special.polygamma on device arrays (``n`` an int or a device array)."""
    if not isinstance(x, cupy.ndarray) or (isinstance(n, numpy.ndarray) and not isinstance(n, cupy.ndarray)):
        raise TypeError(f"cupyx.scipy.special.polygamma: Unsupported type {type(x)} (device arrays only)")
    return cupy.asarray(scipy.special.polygamma(*cupy._to_host_views((n, x), "polygamma")))
