"""Random numbers on the GPU: CuPy cuRAND (XORWOW) generators drawn in the caller's float width, state as bytes.

The random-number interface every backend implements (see ``Backend.random``). A generator's state is the
array of per-thread cuRAND states CuPy keeps on the device where the generator was made (the current device
then: the caller places it); it is copied to and from the host as bytes. Every draw runs on that device, so its
numbers land there whichever device is current.
"""
from __future__ import annotations

import functools

import cupy
import numpy

from ..cpu import random as host


def generator(seed: int):
    """A generator on the current device seeded with ``seed`` (0 <= seed < 2**64)."""
    return cupy.random.Generator(cupy.random.XORWOW(seed))


def _states(gen):
    # CuPy exposes no accessor for the per-thread cuRAND states; they live in this int8 device array.
    return gen.bit_generator._state


def device_of(gen):
    """The device holding ``gen``'s state, as a context manager making it current."""
    return _states(gen).device


def _on_generator_device(draw):
    @functools.wraps(draw)
    def on_generator_device(gen, *args, **kwargs):
        with device_of(gen):
            return draw(gen, *args, **kwargs)
    return on_generator_device


# numpy's Generator calls these make suit CuPy's
binomial, exponential, integers, normal, poisson, uniform = (
    _on_generator_device(draw) for draw in (host.binomial, host.exponential, host.integers, host.normal,
                                            host.poisson, host.uniform))
multinomial = _on_generator_device(functools.partial(host.multinomial, xp=cupy))


@_on_generator_device
def permutation(gen, n, dtype):
    """A random permutation of 0 .. n-1 of integer ``dtype`` (CuPy's Generator has no ``permutation``)."""
    return cupy.argsort(gen.random(int(n))).astype(dtype, copy=False)


def get_state(gen) -> bytes:
    """The generator's whole state as bytes (``set_state`` restores it bit for bit)."""
    return cupy.asnumpy(_states(gen)).tobytes()


def set_state(gen, data: bytes) -> None:
    """Restore a state from :func:`get_state`; ValueError when ``data`` is not one of this generator's size."""
    states = _states(gen)
    if len(data) != states.nbytes:
        raise ValueError(f"a cuda (XORWOW) random state of this device is {states.nbytes} bytes, "
                         f"got {len(data)} bytes")
    with states.device:
        states[...] = cupy.asarray(numpy.frombuffer(data, dtype=states.dtype))
