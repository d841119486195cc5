"""``cupy.random`` of the double: a Generator over an :class:`XORWOW` whose whole state is the device int8 array
``_state`` (as CuPy keeps its cuRAND states), here a seed and a draw counter: every draw seeds numpy's PCG64 from
(seed, counter) and advances the counter, so restoring ``_state`` repeats the following draws. Not cuRAND's
numbers (a GPU draws other values for one seed)."""
from __future__ import annotations

import numpy

import cupy


class XORWOW:
    def __init__(self, seed=None, *, size=None):
        seed = numpy.random.SeedSequence().entropy % 2**64 if seed is None else int(seed)
        self._state = cupy.asarray(numpy.array([seed, 0], dtype=numpy.uint64).view(numpy.int8))

    def _next_numpy_generator(self):
        seed, counter = (int(v) for v in cupy.asnumpy(self._state).view(numpy.uint64))
        self._state[...] = cupy.asarray(numpy.array([seed, counter + 1], dtype=numpy.uint64).view(numpy.int8))
        return numpy.random.Generator(numpy.random.PCG64([seed, counter]))


class Generator:
    def __init__(self, bit_generator):
        self.bit_generator = bit_generator

    def _draw(self, method, out, *args, **kwargs):
        args = cupy._to_host_views(args, f"cupy.random.Generator.{method}")
        values = getattr(self.bit_generator._next_numpy_generator(), method)(*args, **kwargs)
        if out is None:
            return cupy.asarray(values)
        if not isinstance(out, cupy.ndarray):
            raise TypeError(f"cupy.random.Generator.{method}: out must be a device array, got {type(out)}")
        out[...] = cupy.asarray(values)
        return out

    def random(self, size=None, dtype=numpy.float64, out=None):
        return self._draw("random", out, size if out is None else out.shape, dtype=dtype)

    def standard_normal(self, size=None, dtype=numpy.float64, out=None):
        return self._draw("standard_normal", out, size if out is None else out.shape, dtype=dtype)

    def standard_exponential(self, size=None, dtype=numpy.float64, method="zig", out=None):
        return self._draw("standard_exponential", out, size if out is None else out.shape, dtype=dtype)

    def poisson(self, lam=1.0, size=None):
        return self._draw("poisson", None, lam, size)

    def binomial(self, n, p, size=None):
        return self._draw("binomial", None, n, p, size)

    def integers(self, low, high=None, size=None, dtype=numpy.int64, endpoint=False):
        return self._draw("integers", None, low, high, size, dtype=dtype, endpoint=endpoint)
