"""Anomaly detection: ``detect_anomaly`` / ``set_detect_anomaly``, as ``torch.autograd``'s.

While it is on, every graph node records where its forward ran, an error raised by a backward
carries that traceback (as a note on the exception), and, with ``check_nan``, a backward that
returns NaN raises a RuntimeError naming the node and its forward's place. The state is global
(not per thread), as PyTorch's.
"""
from __future__ import annotations

import warnings


class _State:
    enabled = False
    check_nan = True


_state = _State()


def is_anomaly_enabled() -> bool:
    return _state.enabled


def is_anomaly_check_nan_enabled() -> bool:
    return _state.check_nan


class set_detect_anomaly:
    """Sets anomaly detection on or off: as a plain call, or as a context manager restoring it after."""

    def __init__(self, mode: bool, check_nan: bool = True):
        self.prev, self.prev_check_nan = _state.enabled, _state.check_nan
        _state.enabled, _state.check_nan = bool(mode), bool(check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state.enabled, _state.check_nan = self.prev, self.prev_check_nan
        return False


class detect_anomaly(set_detect_anomaly):
    """Context manager that turns anomaly detection on inside it (and warns that it slows things down)."""

    def __init__(self, check_nan: bool = True):
        self.prev, self.prev_check_nan = _state.enabled, _state.check_nan
        self.check_nan = bool(check_nan)
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime and should only "
                      "be enabled for debugging.", UserWarning, stacklevel=2)

    def __enter__(self):
        _state.enabled, _state.check_nan = True, self.check_nan
        return self
