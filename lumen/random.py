"""Random state with an owner, as PyTorch's ``torch.Generator``.

A :class:`Generator` owns one device's array-level generator, which the backend's ``random`` module makes,
draws from and serialises. Each device has a default generator, created on first use; ``manual_seed``
seeds those that exist and records the seed, so a default generator created later (a backend loaded
afterwards) starts from it as well.

``get_state`` returns a uint8 CPU tensor (PyTorch's ByteTensor), which goes through ``lumen.save``:
a header (b"LUMENRNG", format version, device type, initial seed, CRC-32 of the rest) and then the
backend's own state bytes.
"""
from __future__ import annotations

import os
import struct
import zlib

import numpy as np  # host bytes of states only

from . import backends, dtypes
from .device import as_device
from .tensor import Tensor  # first: lumen.tensor loads the ops it delegates to
from .ops.inplace import records

__all__ = ["Generator", "default_generator", "default_generator_for", "default_generators", "manual_seed",
           "seed", "initial_seed", "get_rng_state", "set_rng_state", "array_generator", "uniform_array"]

_NEW_GENERATOR_SEED = 67280421310721  # PyTorch's seed of a fresh torch.Generator()
_MAGIC, _VERSION = b"LUMENRNG", 1
_HEADER = struct.Struct("<8sB8sQI")  # magic, version, device type, initial seed, crc32 of the backend bytes


def _as_seed(seed, op):
    # PyTorch takes any int in [-2**63, 2**64) and wraps negatives to 64 unsigned bits.
    try:
        value = int(seed)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: seed must be an int, got {seed!r}") from None
    if not -2 ** 63 <= value < 2 ** 64:
        raise ValueError(f"{op}: seed {value} is outside [-2**63, 2**64)")
    return value % 2 ** 64


def _fresh_seed():
    return int.from_bytes(os.urandom(8), "little")


class Generator:
    """The random state of one device: ``lumen.Generator(device="cpu")``, as ``torch.Generator``.

    Pass it as ``generator=`` to ``lumen.rand``, ``randn``, ``randint``, ``randperm``, ``rand_like``,
    ``randn_like``, ``Tensor.uniform_``/``normal_``, the ``nn.init`` functions and ``DataLoader``.
    A new generator starts from PyTorch's fixed seed 67280421310721.
    """

    def __init__(self, device="cpu"):
        self.device = as_device(device)
        self._random = backends.get(self.device.type).random
        self.manual_seed(_NEW_GENERATOR_SEED)

    def manual_seed(self, seed) -> "Generator":
        """Restart from ``seed``; returns this generator."""
        seed = _as_seed(seed, "Generator.manual_seed")
        self._array_generator = self._random.generator(seed)
        self._initial_seed = seed
        return self

    def seed(self) -> int:
        """Restart from a fresh non-deterministic seed, and return it."""
        seed = _fresh_seed()
        self.manual_seed(seed)
        return seed

    def initial_seed(self) -> int:
        """The seed this generator last started from."""
        return self._initial_seed

    def get_state(self) -> Tensor:
        """The whole state as a uint8 CPU tensor; ``set_state`` restores it bit for bit."""
        payload = self._random.get_state(self._array_generator)
        header = _HEADER.pack(_MAGIC, _VERSION, self.device.type.encode(), self._initial_seed,
                              zlib.crc32(payload))
        return Tensor._wrap(np.frombuffer(header + payload, dtype=np.uint8).copy(), as_device("cpu"))

    def set_state(self, new_state) -> "Generator":
        """Restore a state from ``get_state`` of a generator of this device type; returns this generator."""
        op = "Generator.set_state"
        if not isinstance(new_state, Tensor) or new_state.dtype is not dtypes.uint8:
            got = f"a {new_state.dtype} tensor" if isinstance(new_state, Tensor) else type(new_state).__name__
            raise TypeError(f"{op}: the state must be a uint8 lumen.Tensor from get_state(), got {got}")
        if new_state.device.type != "cpu":
            raise RuntimeError(f"{op}: the state must be a CPU tensor (as get_state() returns it), "
                               f"got one on {new_state.device}")
        data = new_state.detach().numpy().tobytes()
        if len(data) < _HEADER.size:
            raise RuntimeError(f"{op}: a state of {len(data)} bytes is too short to come from get_state() "
                               f"(its header alone is {_HEADER.size} bytes)")
        magic, version, kind, seed, crc = _HEADER.unpack_from(data)
        if magic != _MAGIC or version != _VERSION:
            raise RuntimeError(f"{op}: not a lumen generator state: it starts {data[:9]!r}, "
                               f"expected {_MAGIC!r} and format version {_VERSION}")
        kind = kind.rstrip(b"\0").decode("ascii", "replace")
        if kind != self.device.type:
            raise RuntimeError(f"{op}: the state is of a {kind} generator, this generator is on {self.device}")
        payload = data[_HEADER.size:]
        if zlib.crc32(payload) != crc:
            raise RuntimeError(f"{op}: the state is corrupt: the checksum of its {len(payload)} bytes after "
                               f"the header does not match")
        try:
            self._random.set_state(self._array_generator, payload)
        except ValueError as e:
            raise RuntimeError(f"{op}: {e}") from None
        self._initial_seed = seed
        return self

    def __repr__(self):
        return f"lumen.Generator(device='{self.device}')"


# ---- default generators ----------------------------------------------------------------------
_defaults: dict = {}  # device -> its default Generator, created on first use
# Seeds for default generators not created yet: "*" (every device), "cuda" (every CUDA device) or "cuda:N".
_pending: dict = {}


def _covers(key, name):
    return key == "*" or name == key or name.startswith(key + ":")


def _seed_defaults(key, seed):
    """Seed the default generators ``key`` covers: those created now, and the others when they are created."""
    for name in [name for name in _pending if _covers(key, name)]:
        del _pending[name]
    _pending[key] = seed
    for dev, generator in _defaults.items():
        if _covers(key, str(dev)):
            generator.manual_seed(seed)


def default_generator_for(device) -> Generator:
    """The default generator of ``device`` (what random functions draw from without ``generator=``)."""
    dev = as_device(device)
    generator = _defaults.get(dev)
    if generator is None:
        generator = Generator(dev)
        seed = _pending.get(str(dev), _pending.get(dev.type, _pending.get("*")))
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(seed)
        _defaults[dev] = generator
    return generator


def default_generators() -> dict:
    """{device name: Generator} of the default generators created so far (what a checkpoint must keep)."""
    return {str(dev): generator for dev, generator in _defaults.items()}


default_generator = default_generator_for("cpu")


def manual_seed(seed) -> Generator:
    """Seed the default generator of every device, including those created later; returns the CPU one."""
    _seed_defaults("*", _as_seed(seed, "manual_seed"))
    return default_generator_for("cpu")


def seed() -> int:
    """Seed every device's default generator with one fresh non-deterministic seed, and return it."""
    fresh = _fresh_seed()
    _seed_defaults("*", fresh)
    return fresh


def initial_seed() -> int:
    """The initial seed of the CPU default generator."""
    return default_generator_for("cpu").initial_seed()


def get_rng_state() -> Tensor:
    """The CPU default generator's state (a uint8 tensor)."""
    return default_generator_for("cpu").get_state()


def set_rng_state(new_state) -> None:
    """Restore the CPU default generator from ``get_rng_state()``."""
    default_generator_for("cpu").set_state(new_state)


# ---- drawing ---------------------------------------------------------------------------------
def array_generator(device, generator=None, op="random"):
    """The backend generator ``generator`` owns (the default one of ``device`` when None), checked to be
    on ``device``; ``op`` names the caller in errors."""
    dev = as_device(device)
    if generator is None:
        return default_generator_for(dev)._array_generator
    if not isinstance(generator, Generator):
        raise TypeError(f"{op}: generator must be a lumen.Generator, got {type(generator).__name__}")
    if generator.device != dev:
        raise RuntimeError(f"{op}: the generator is on {generator.device} but the output is on {dev}; "
                           f"pass a lumen.Generator(device='{dev}')")
    return generator._array_generator


def uniform_array(shape, dtype, device, generator=None):
    """A new backend array of ``shape`` and float ``dtype`` on ``device`` with values in [0, 1) drawn from
    ``generator`` (the device's default generator when None), e.g. for a dropout keep-mask."""
    dev = as_device(device)
    gen = array_generator(dev, generator, "uniform_array")
    return backends.get(dev.type).random.uniform(gen, tuple(shape), dtypes.as_dtype(dtype).np)


def _fill(tensor, op, kind, a, b, generator):
    if not tensor.dtype.is_floating_point:
        raise RuntimeError(f"{op}: needs a floating point tensor, got dtype {tensor.dtype}")
    gen = array_generator(tensor.device, generator, op)
    draw = getattr(tensor._backend.random, kind)
    if records(tensor):
        return tensor.copy_(tensor._like(draw(gen, tensor.shape, tensor._data.dtype, a, b)))
    if not tensor._data.flags.writeable:
        raise RuntimeError(f"{op}: in-place operation on a read-only (expanded) tensor of shape "
                           f"{tuple(tensor.shape)}; clone() it first")
    # Straight into the tensor's memory in its own float width: a float64 draw and a cast cost seconds
    # on a VGG-sized layer.
    draw(gen, tensor.shape, tensor._data.dtype, a, b, out=tensor._data)
    tensor._version_counter.value += 1
    return tensor


def uniform_(tensor, low=0.0, high=1.0, generator=None):
    """``tensor.uniform_(low, high, generator=generator)``: fill with U[low, high)."""
    if not low <= high:
        raise RuntimeError(f"uniform_: expects a range [from, to) with from <= to, got from={low} > to={high}")
    return _fill(tensor, "uniform_", "uniform", low, high, generator)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """``tensor.normal_(mean, std, generator=generator)``: fill with N(mean, std**2)."""
    if not std >= 0:
        raise RuntimeError(f"normal_: expects std >= 0.0, got std={std}")
    return _fill(tensor, "normal_", "normal", mean, std, generator)
