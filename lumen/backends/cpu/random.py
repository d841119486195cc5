"""Random numbers on the host: numpy PCG64 generators drawn in the caller's float width, state as bytes.

The random-number interface every backend implements (see ``Backend.random``). ``uniform``, ``normal``
and ``integers`` call only methods CuPy's Generator shares with numpy's, so the cuda backend reuses them.
"""
from __future__ import annotations

import numpy as np

_NATIVE = (np.dtype(np.float32), np.dtype(np.float64))  # the widths numpy draws in; float16 draws float32
_STATE_BYTES = 16 + 16 + 1 + 4  # PCG64: 128-bit state and increment, the buffered uint32 and its flag


def generator(seed: int) -> np.random.Generator:
    """A generator seeded with ``seed`` (0 <= seed < 2**64), the stream of ``numpy.random.default_rng(seed)``."""
    return np.random.Generator(np.random.PCG64(seed))


def _draw(method, shape, dtype, scale, shift, out):
    width = np.dtype(dtype if out is None else out.dtype)
    # CuPy arrays have no writeable flag (they are always writable)
    direct = (out is not None and width in _NATIVE and out.flags.c_contiguous
              and getattr(out.flags, "writeable", True))
    values = method(tuple(shape), dtype=width if width in _NATIVE else np.float32, out=out if direct else None)
    if scale != 1:
        values *= scale
    if shift != 0:
        values += shift
    if out is None:
        return values.astype(width, copy=False)
    if not direct:
        out[...] = values
    return out


def uniform(gen, shape, dtype, low=0.0, high=1.0, out=None):
    """U[low, high) of float ``dtype``; with ``out`` (float, of ``shape``) fills and returns it, drawing straight
    into its memory when it is C-contiguous float32/float64 (no float64 draw, cast or temporary)."""
    return _draw(gen.random, shape, dtype, high - low, low, out)


def normal(gen, shape, dtype, mean=0.0, std=1.0, out=None):
    """N(mean, std**2) of float ``dtype``; ``out`` as in :func:`uniform`."""
    return _draw(gen.standard_normal, shape, dtype, std, mean, out)


def exponential(gen, shape, dtype, rate=1.0, out=None):
    """Exponential with ``rate`` (PyTorch's lambd) of float ``dtype``; ``out`` as in :func:`uniform`."""
    return _draw(gen.standard_exponential, shape, dtype, 1.0 / rate, 0.0, out)


def poisson(gen, rates):
    """Poisson counts with the (non-negative) float array ``rates`` as rates, in the dtype of ``rates``."""
    return gen.poisson(rates).astype(rates.dtype, copy=False)


def binomial(gen, counts, probs):
    """Binomial draws of ``counts`` trials (non-negative whole floats) with success ``probs``, in their dtype."""
    return gen.binomial(counts.astype(np.int64), probs).astype(counts.dtype, copy=False)


def multinomial(gen, weights, num_samples, replacement, xp=np):
    """For each row of the 2-d non-negative ``weights`` (each row with a positive sum), ``num_samples``
    category indices (int64, shape (rows, num_samples)) drawn with probabilities proportional to the row.

    With replacement: inverse-CDF lookups of uniforms. Without: the ``num_samples`` smallest of the
    exponential race ``E / w``, which draws categories one after another in proportion to the weights
    left, as successive draws without replacement do; zero-weight categories come last."""
    rows, categories = weights.shape
    if replacement:
        cdf = xp.cumsum(weights, axis=1, dtype=xp.float64)
        cdf /= cdf[:, -1:]
        draws = gen.random((rows, num_samples), dtype=xp.float64)
        out = xp.empty((rows, num_samples), dtype=xp.int64)
        for r in range(rows):
            out[r] = xp.searchsorted(cdf[r], draws[r], side="right")
        return xp.minimum(out, categories - 1, out=out)  # a draw within rounding of 1 stays in range
    race = gen.standard_exponential((rows, categories), dtype=xp.float64)
    positive = weights > 0
    race = xp.where(positive, race / xp.where(positive, weights, 1), xp.inf)
    return xp.argsort(race, axis=1, kind="stable")[:, :num_samples].astype(xp.int64, copy=False)


def integers(gen, low, high, shape, dtype):
    """Integers uniform in [low, high) of integer ``dtype``."""
    return gen.integers(low, high, tuple(shape), dtype=np.int64).astype(dtype, copy=False)


def permutation(gen, n, dtype):
    """A random permutation of 0 .. n-1 of integer ``dtype``."""
    return gen.permutation(n).astype(dtype, copy=False)


def get_state(gen) -> bytes:
    """The generator's whole state as bytes (``set_state`` restores it bit for bit)."""
    state = gen.bit_generator.state
    return (state["state"]["state"].to_bytes(16, "little") + state["state"]["inc"].to_bytes(16, "little")
            + bytes([state["has_uint32"]]) + state["uinteger"].to_bytes(4, "little"))


def set_state(gen, data: bytes) -> None:
    """Restore a state from :func:`get_state`; ValueError when ``data`` is not one."""
    if len(data) != _STATE_BYTES or data[32] not in (0, 1):
        raise ValueError(f"a cpu (PCG64) random state is {_STATE_BYTES} bytes with a 0/1 flag at byte 32, "
                         f"got {len(data)} bytes")
    gen.bit_generator.state = {"bit_generator": "PCG64",
                               "state": {"state": int.from_bytes(data[:16], "little"),
                                         "inc": int.from_bytes(data[16:32], "little")},
                               "has_uint32": data[32], "uinteger": int.from_bytes(data[33:], "little")}
