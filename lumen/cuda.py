"""``lumen.cuda``: is a GPU usable, how many, wait for it."""
from __future__ import annotations


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
    import cupy
    return cupy.cuda.runtime.getDeviceCount()


def synchronize() -> None:
    if is_available():
        import cupy
        cupy.cuda.get_current_stream().synchronize()


def manual_seed(seed: int) -> None:
    from . import backends
    backends.get("cuda").seed(seed)
