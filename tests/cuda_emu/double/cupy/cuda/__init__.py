"""``cupy.cuda`` of the double: emulated devices (``runtime``: how many, and the current one), events timed on
the host clock, a stream that is always idle (launches run to completion before they return)."""
from __future__ import annotations

import time

from . import driver, runtime  # noqa: F401

#: What the host code reads from ``Device().attributes`` (an H100's values).
ATTRIBUTES = {"MultiProcessorCount": 132, "MaxThreadsPerBlock": 1024, "MaxSharedMemoryPerBlock": 49152,
              "WarpSize": 32}


class Device:
    """A device; ``Device()`` is the current one. As a context manager it makes itself current and restores the
    previous device on exit, as CuPy's."""

    def __init__(self, device=None):
        self.id = runtime.getDevice() if device is None else int(device)
        if not 0 <= self.id < runtime.getDeviceCount():
            raise runtime.CUDARuntimeError(f"cudaErrorInvalidDevice: invalid device ordinal {self.id}")
        self._previous = []

    @property
    def attributes(self):
        return dict(ATTRIBUTES)

    def use(self):
        runtime.setDevice(self.id)

    def synchronize(self):
        pass

    def __enter__(self):
        self._previous.append(runtime.getDevice())
        runtime.setDevice(self.id)
        return self

    def __exit__(self, *exc):
        runtime.setDevice(self._previous.pop())
        return False

    def __int__(self):
        return self.id

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"<CUDA Device {self.id} (emulated)>"


class Memory:
    """An allocation: ``ptr`` its start, ``size`` its bytes."""

    def __init__(self, ptr, size):
        self.ptr, self.size = ptr, size


class MemoryPointer:
    """An address inside an allocation on device ``device_id``, as ``ndarray.data`` gives it."""

    def __init__(self, mem, ptr, device_id=0):
        self.mem, self.ptr, self.device_id = mem, ptr, device_id

    @property
    def device(self):
        return Device(self.device_id)


class Stream:
    def synchronize(self):
        pass


_STREAM = Stream()


def get_current_stream(device_id=-1):
    return _STREAM


class Event:
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self._time = None

    def record(self, stream=None):
        self._time = time.perf_counter()

    def synchronize(self):
        if self._time is None:
            raise driver.CUDADriverError("CUDA_ERROR_INVALID_HANDLE: the event was never recorded")

    def query(self):
        return self._time is not None


def get_elapsed_time(start_event, end_event):
    """Milliseconds between two recorded events (host time of an emulated run: says nothing about a GPU)."""
    start_event.synchronize()
    end_event.synchronize()
    return (end_event._time - start_event._time) * 1e3
