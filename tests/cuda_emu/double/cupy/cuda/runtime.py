"""``cupy.cuda.runtime`` of the double: a configurable number of emulated devices and a current device per host
thread, as ``cudaGetDeviceCount``/``cudaGetDevice``/``cudaSetDevice`` keep it.

The count is ``LUMEN_CUDA_EMU_DEVICES`` (default 2, so that multi-device placement is exercised by default) or
what :func:`set_device_count` last set.
"""
import os
import threading


class CUDARuntimeError(RuntimeError):
    pass


_count = int(os.environ.get("LUMEN_CUDA_EMU_DEVICES", "2"))
_current = threading.local()


def set_device_count(count: int) -> None:
    """Emulate ``count`` devices (test support; not a CuPy name). The current device falls back to 0."""
    global _count
    if count < 1:
        raise ValueError(f"the emulator needs at least one device, got {count}")
    _count = count
    _current.__dict__.clear()


def getDeviceCount():
    return _count


def getDevice():
    return getattr(_current, "id", 0)


def setDevice(device):
    device = int(device)
    if not 0 <= device < _count:
        raise CUDARuntimeError(f"cudaErrorInvalidDevice: invalid device ordinal {device} (the emulator has "
                               f"{_count} device(s))")
    _current.id = device
