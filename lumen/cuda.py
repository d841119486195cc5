"""``lumen.cuda``: is a GPU usable, how many, wait for it, and the CUDA generators' seeds and states."""
from __future__ import annotations

from . import random
from .device import as_device


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


def synchronize() -> None:
    if is_available():
        from .backends.cuda import synchronize as wait
        wait()


# ---- random state: the default generator of each CUDA device (lumen.random) ---------------------
# Seeding without CUDA is recorded and applies when a device's default generator is first made, as in
# PyTorch; reading or restoring a state needs the device and raises the cuda backend's ImportError or
# RuntimeError without one.
def _device(device):
    dev = as_device(f"cuda:{device}" if isinstance(device, int) else device)
    if dev.type != "cuda":
        raise ValueError(f"lumen.cuda: expected a CUDA device, got {dev}")
    return dev


def manual_seed(seed) -> None:
    """Seed the default generator of the current CUDA device (cuda:0)."""
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
    return random.default_generator_for(_device("cuda")).initial_seed()


def get_rng_state(device="cuda"):
    """The state of ``device``'s default generator, a uint8 CPU tensor."""
    return random.default_generator_for(_device(device)).get_state()


def get_rng_state_all() -> list:
    return [get_rng_state(i) for i in range(device_count())]


def set_rng_state(new_state, device="cuda") -> None:
    """Restore ``device``'s default generator from ``get_rng_state(device)``."""
    random.default_generator_for(_device(device)).set_state(new_state)


def set_rng_state_all(new_states) -> None:
    for index, state in enumerate(new_states):
        set_rng_state(state, index)
