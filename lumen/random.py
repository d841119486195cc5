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

import math
import os
import struct
import zlib

import numpy as np  # host bytes of states only

from . import backends, dtypes
from .device import as_device, placed
from .tensor import Tensor  # first: lumen.tensor loads the ops it delegates to
from .autograd.function import Function
from .ops.arith import broadcast_shapes
from .ops.inplace import copy_, records

__all__ = ["Generator", "default_generator", "default_generator_for", "default_generators", "manual_seed",
           "seed", "initial_seed", "get_rng_state", "set_rng_state", "array_generator", "uniform_array",
           "bernoulli", "binomial", "multinomial", "normal", "poisson"]

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
        with placed(self.device):  # a CUDA generator's state lives on the device current when it is made
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


def _fill(tensor, op, kind, generator, *params):
    if not tensor.dtype.is_floating_point:
        raise RuntimeError(f"{op}: needs a floating point tensor, got dtype {tensor.dtype}")
    gen = array_generator(tensor.device, generator, op)
    draw = getattr(tensor._backend.random, kind)
    if records(tensor):
        return tensor.copy_(tensor._like(draw(gen, tensor.shape, tensor._data.dtype, *params)))
    if not tensor._data.flags.writeable:
        raise RuntimeError(f"{op}: in-place operation on a read-only (expanded) tensor of shape "
                           f"{tuple(tensor.shape)}; clone() it first")
    # Straight into the tensor's memory in its own float width: a float64 draw and a cast cost seconds
    # on a VGG-sized layer.
    draw(gen, tensor.shape, tensor._data.dtype, *params, out=tensor._data)
    tensor._version_counter.value += 1
    return tensor


def uniform_(tensor, low=0.0, high=1.0, generator=None):
    """``tensor.uniform_(low, high, generator=generator)``: fill with U[low, high)."""
    if not low <= high:
        raise RuntimeError(f"uniform_: expects a range [from, to) with from <= to, got from={low} > to={high}")
    return _fill(tensor, "uniform_", "uniform", generator, low, high)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """``tensor.normal_(mean, std, generator=generator)``: fill with N(mean, std**2)."""
    if not std >= 0:
        raise RuntimeError(f"normal_: expects std >= 0.0, got std={std}")
    return _fill(tensor, "normal_", "normal", generator, mean, std)


def exponential_(tensor, lambd=1.0, generator=None):
    """``tensor.exponential_(lambd, generator=generator)``: fill with draws of density lambd * exp(-lambd x)."""
    if not tensor.dtype.is_floating_point:
        raise RuntimeError(f"exponential_: the exponential distribution is continuous; the tensor must be "
                           f"floating point, got dtype {tensor.dtype}")
    if not lambd > 0:
        raise RuntimeError(f"exponential_: expects lambd > 0.0, got lambd={lambd}")
    return _fill(tensor, "exponential_", "exponential", generator, lambd)


def random_(tensor, from_=None, to=None, generator=None):
    """``tensor.random_(from=0, to=None, generator=generator)``: integers uniform on [from, to - 1].

    ``random_(n)`` draws from [0, n - 1]. Without ``to`` the range is every integer the dtype holds
    exactly: [0, 2**mantissa] for floats (2**24 for float32), [0, max] for integer dtypes, {0, 1} for bool."""
    if to is None and from_ is not None:
        from_, to = 0, from_
    from_ = 0 if from_ is None else from_
    limits = dtypes.representable_integers(tensor.dtype)
    if to is None:
        to = limits[1] + 1
    elif not from_ < to:
        raise RuntimeError(f"random_: expects 'from' to be less than 'to', got from={from_} >= to={to}")
    if not limits[0] <= from_ or not to - 1 <= limits[1]:
        raise RuntimeError(f"random_: the range [{from_}, {to - 1}] is out of bounds for dtype {tensor.dtype} "
                           f"(which holds the integers {limits[0]} .. {limits[1]} exactly)")
    gen = array_generator(tensor.device, generator, "random_")
    draws = tensor._backend.random.integers(gen, from_, to, tensor.shape, dtypes.int64.np)
    return copy_(tensor, tensor._like(draws))


def _probabilities(p, op):
    if not p.numel():
        return
    low, high = float(p._data.min()), float(p._data.max())
    if not 0 <= low <= high <= 1:
        raise RuntimeError(f"{op}: expects every probability in [0, 1], got values from {low} to {high}")


def bernoulli_(tensor, p=0.5, generator=None):
    """``tensor.bernoulli_(p=0.5, generator=generator)``: each element 1 with probability p (a float or a
    tensor broadcastable to ``tensor``), else 0, in ``tensor``'s dtype."""
    op = "bernoulli_"
    gen = array_generator(tensor.device, generator, op)
    u = tensor._backend.random.uniform(gen, tensor.shape, dtypes.float64.np)
    if isinstance(p, Tensor):
        _probabilities(p, op)
        threshold = p.to(tensor.device)._data
    else:
        if not 0 <= p <= 1:
            raise RuntimeError(f"{op}: expects p in [0, 1], got p={p}")
        threshold = p
    return copy_(tensor, tensor._like(tensor._backend.less(u, threshold)))


class RandomDraw(Function):
    """A random draw made from differentiable parameters (mean, std, probabilities, rates). PyTorch
    defines its gradient with respect to them as zero (no reparameterisation), and so does Lumen."""

    def __init__(self, values):
        self.values = values

    def forward(self, *params):
        self.param_shapes = [(a.shape, a.dtype) for a in params]
        return self.values

    def backward(self, g):
        return tuple(g._like(self.backend.zeros(shape, dtype)) if need else None
                     for (shape, dtype), need in zip(self.param_shapes, self.needs_input_grad))


def _drawn(values, params, device):
    params = [p for p in params if isinstance(p, Tensor)]
    if records(*params):
        return RandomDraw.apply(*params, values=values)
    return Tensor._wrap(values, device)


def bernoulli(input, p=None, *, generator=None):
    """``lumen.bernoulli(input)``: 0/1 draws with the probabilities in ``input``, of its dtype and shape;
    ``bernoulli(input, p)``: of ``input``'s shape and dtype with the one probability ``p``."""
    op = "bernoulli"
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"{op}: needs a floating point tensor of probabilities, got dtype "
                                  f"{input.dtype}")
    if p is not None:
        return bernoulli_(input._like(input._backend.empty(input.shape, input._data.dtype)), p, generator)
    _probabilities(input, op)
    gen = array_generator(input.device, generator, op)
    b = input._backend
    u = b.random.uniform(gen, input.shape, input._data.dtype)
    return _drawn(b.less(u, input._data).astype(input._data.dtype), (input,), input.device)


def poisson(input, generator=None):
    """``lumen.poisson(input)``: counts drawn from Poisson distributions with the rates in ``input``."""
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"poisson: needs a floating point tensor of rates, got dtype {input.dtype}")
    if input.numel() and float(input._data.min()) < 0:
        raise RuntimeError(f"poisson: invalid Poisson rate, expected every rate to be non-negative, got "
                           f"{float(input._data.min())}")
    gen = array_generator(input.device, generator, "poisson")
    return _drawn(input._backend.random.poisson(gen, input._data), (input,), input.device)


def binomial(count, prob, generator=None):
    """``lumen.binomial(count, prob)``: successes in ``count`` trials of success probability ``prob`` (float
    tensors of one shape, as torch.binomial), in ``count``'s dtype."""
    op = "binomial"
    if not (isinstance(count, Tensor) and isinstance(prob, Tensor)):
        raise TypeError(f"{op}: count and prob must be tensors, got {type(count).__name__} and {type(prob).__name__}")
    if not count.dtype.is_floating_point or not prob.dtype.is_floating_point:
        raise RuntimeError(f"{op}: count and prob must be floating point, got {count.dtype} and {prob.dtype}")
    if count.shape != prob.shape:
        raise RuntimeError(f"{op}: count of shape {tuple(count.shape)} and prob of shape {tuple(prob.shape)} differ")
    _probabilities(prob, op)
    if count.numel() and float(count._data.min()) < 0:
        raise RuntimeError(f"{op}: count must be non-negative, got {float(count._data.min())}")
    gen = array_generator(count.device, generator, op)
    drawn = count._backend.random.binomial(gen, count.detach()._data, prob.detach().to(count.dtype)._data)
    return _drawn(drawn, (count, prob), count.device)


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """``lumen.multinomial(input, num_samples, replacement=False)``: for each row of ``input`` (1-d or 2-d
    non-negative weights, not necessarily normalised), ``num_samples`` category indices (int64)."""
    op = "multinomial"
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"{op}: only floating point weights are supported, got dtype {input.dtype}")
    if input.dim() not in (1, 2):
        raise RuntimeError(f"{op}: the weights must be 1-d or 2-d, got shape {tuple(input.shape)}")
    categories = input.shape[-1]
    if num_samples <= 0:
        raise RuntimeError(f"{op}: cannot draw num_samples={num_samples} <= 0 samples")
    if not replacement and num_samples > categories:
        raise RuntimeError(f"{op}: cannot draw num_samples={num_samples} > {categories} categories "
                           f"without replacement")
    b = input._backend
    weights = input.detach()._data.reshape(-1, categories)
    if not bool(b.isfinite(weights).all()) or bool((weights < 0).any()):
        raise RuntimeError(f"{op}: the weights of shape {tuple(input.shape)} contain inf, nan or an element < 0")
    if bool((weights.sum(axis=1) <= 0).any()):
        raise RuntimeError(f"{op}: invalid distribution: a row of the weights of shape {tuple(input.shape)} "
                           f"sums to 0")
    gen = array_generator(input.device, generator, op)
    drawn = b.random.multinomial(gen, weights, int(num_samples), bool(replacement))
    return Tensor._wrap(drawn.reshape(input.shape[:-1] + (int(num_samples),)), input.device)


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None, requires_grad=False):
    """``lumen.normal`` as ``torch.normal``: ``normal(mean, std)`` with either or both tensors (of the
    broadcast shape, the tensor's dtype), or ``normal(mean: float, std: float, size)`` a new tensor of
    ``size`` (the default float dtype unless ``dtype``)."""
    op = "normal"
    tensors = [x for x in (mean, std) if isinstance(x, Tensor)]
    if not tensors:
        if size is None:
            raise TypeError("normal: with a float mean and a float std, size is required "
                            "(normal(mean, std, size))")
        if not std >= 0:
            raise RuntimeError(f"normal: expects std >= 0.0, got std={std}")
        from .creation import empty  # lumen.creation builds on lumen.random
        out = empty(size, dtype=dtype, device=device)
        normal_(out, mean, std, generator)
        return out.requires_grad_(requires_grad)
    if size is not None:
        raise TypeError("normal: size is only taken with a float mean and a float std")
    first = tensors[0]
    if isinstance(std, Tensor):
        if std.numel() and float(std._data.min()) < 0:
            raise RuntimeError(f"normal: expects all elements of std >= 0.0, got {float(std._data.min())}")
    elif not std >= 0:
        raise RuntimeError(f"normal: expects std >= 0.0, got std={std}")
    if not first.dtype.is_floating_point:
        raise RuntimeError(f"normal: needs floating point mean and std, got dtype {first.dtype}")
    shape = broadcast_shapes(*(t.shape for t in tensors))
    b = first._backend
    gen = array_generator(first.device, generator, op)
    dtype_np = first._data.dtype
    values = b.random.normal(gen, shape, dtype_np)
    values = b.add(b.multiply(values, std._data if isinstance(std, Tensor) else std),
                   mean._data if isinstance(mean, Tensor) else mean).astype(dtype_np, copy=False)
    return _drawn(values, tensors, first.device)


def _uniform_like(tensor, generator, op):
    """U[0, 1) draws of the tensor's shape, in its dtype (float64 for integer tensors), from ``generator``."""
    dtype = tensor.dtype if tensor.dtype.is_floating_point else dtypes.float64
    gen = array_generator(tensor.device, generator, op)
    return tensor._like(tensor._backend.random.uniform(gen, tuple(tensor.shape), dtype.np, 0.0, 1.0))


def cauchy_(tensor, median=0.0, sigma=1.0, generator=None):
    """``tensor.cauchy_(median, sigma, generator=generator)``: ``median + sigma * tan(pi (u - 1/2))``."""
    if not tensor.dtype.is_floating_point:
        raise RuntimeError(f"cauchy_: needs a floating point tensor, got dtype {tensor.dtype}")
    if not sigma > 0:
        raise RuntimeError(f"cauchy_: expects sigma > 0.0, but found sigma={sigma}")
    u = _uniform_like(tensor, generator, "cauchy_")
    return tensor.copy_(((u - 0.5) * math.pi).tan() * sigma + median)


def log_normal_(tensor, mean=1.0, std=2.0, generator=None):
    """``tensor.log_normal_(mean, std, generator=generator)``: ``exp`` of N(mean, std^2) draws."""
    if not std > 0:
        raise RuntimeError(f"log_normal_: expects std > 0.0, but found std={std}")
    return normal_(tensor, mean, std, generator).exp_()


def geometric_(tensor, p, generator=None):
    """``tensor.geometric_(p, generator=generator)``: the trial of the first success, ``ceil(log(u) / log(1 - p))``
    for u in (0, 1] (at least 1); integer tensors too."""
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_: expects p to be in (0, 1), but got p={p}")
    u = 1 - _uniform_like(tensor, generator, "geometric_")
    return tensor.copy_((u.log() / math.log1p(-p)).ceil().clamp_min(1))
