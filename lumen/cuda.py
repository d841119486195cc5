"""``lumen.cuda``: is a GPU usable, how many, which is current, wait for it, and the CUDA generators' seeds and
states (one default generator per device)."""
from __future__ import annotations

from . import random
from .device import as_device, current_cuda_index, placed


def is_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device. Never raises."""
    try:
        from .backends.cuda import available
    except Exception:
        return False
    return available()


def device_count() -> int:
    if not is_available():
        return 0
    from .backends.cuda import device_count as count
    return count()


def synchronize(device=None) -> None:
    """Wait for every kernel queued on ``device`` (the current device when None)."""
    if is_available():
        from .backends.cuda import synchronize as wait
        with placed(_device(device)):
            wait()


def _index(device, optional=False):
    """torch.cuda's device index of ``device``: an int, ``"cuda:N"`` or a CUDA ``lumen.device``; ``"cuda"``
    and (``optional``) None mean the current device."""
    if device is None and optional:
        return current_device()
    if isinstance(device, int) and not isinstance(device, bool):
        return device
    return _device(device).index


def current_device() -> int:
    """The index of the current CUDA device: where ``"cuda"`` and new CUDA tensors without an index go."""
    return current_cuda_index()


def set_device(device) -> None:
    """Make ``device`` (an index, ``"cuda:N"`` or a ``lumen.device``) the current CUDA device; a negative index
    does nothing, as in PyTorch. RuntimeError for an index past ``device_count()``."""
    index = _index(device)
    if index >= 0:
        from .backends.cuda import set_device as use
        use(index)


class device:
    """``with lumen.cuda.device(i):`` makes CUDA device ``i`` current inside the block and restores the previous
    one after; ``i`` is an index, ``"cuda:N"``, a ``lumen.device`` or None / a negative index (no change)."""

    def __init__(self, device):
        self.idx = -1 if device is None else _index(device)
        self.prev_idx = -1

    def __enter__(self):
        if self.idx >= 0:
            self.prev_idx = current_device()
            set_device(self.idx)
        return self

    def __exit__(self, *exc):
        if self.idx >= 0:
            set_device(self.prev_idx)
        return False


class device_of(device):
    """``with lumen.cuda.device_of(tensor):`` makes the tensor's CUDA device current; a CPU tensor changes
    nothing."""

    def __init__(self, obj):
        super().__init__(obj.get_device() if obj.is_cuda else -1)


# ---- random state: the default generator of each CUDA device (lumen.random) ---------------------
# Seeding without CUDA is recorded and applies when a device's default generator is first made, as in
# PyTorch; reading or restoring a state needs the device and raises the cuda backend's ImportError or
# RuntimeError without one.
def _device(device):
    dev = as_device("cuda" if device is None else f"cuda:{device}" if isinstance(device, int) else device)
    if dev.type != "cuda":
        raise ValueError(f"lumen.cuda: expected a CUDA device, got {dev}")
    return dev


def _default_generator(device):
    """The default generator of CUDA device ``device``, made on that device if it is new."""
    dev = _device(device)
    with placed(dev):
        return random.default_generator_for(dev)


def manual_seed(seed) -> None:
    """Seed the default generator of the current CUDA device."""
    random._seed_defaults(str(_device("cuda")), random._as_seed(seed, "lumen.cuda.manual_seed"))


def manual_seed_all(seed) -> None:
    """Seed the default generator of every CUDA device."""
    random._seed_defaults("cuda", random._as_seed(seed, "lumen.cuda.manual_seed_all"))


def seed() -> None:
    """Seed the current CUDA device's default generator with a fresh non-deterministic seed."""
    manual_seed(random._fresh_seed())


def seed_all() -> None:
    """Seed every CUDA device's default generator with one fresh non-deterministic seed."""
    manual_seed_all(random._fresh_seed())


def initial_seed() -> int:
    """The initial seed of the current CUDA device's default generator."""
    return _default_generator("cuda").initial_seed()


def get_rng_state(device="cuda"):
    """The state of ``device``'s default generator, a uint8 CPU tensor."""
    return _default_generator(device).get_state()


def get_rng_state_all() -> list:
    return [get_rng_state(i) for i in range(device_count())]


def set_rng_state(new_state, device="cuda") -> None:
    """Restore ``device``'s default generator from ``get_rng_state(device)``."""
    _default_generator(device).set_state(new_state)


def set_rng_state_all(new_states) -> None:
    for index, state in enumerate(new_states):
        set_rng_state(state, index)
