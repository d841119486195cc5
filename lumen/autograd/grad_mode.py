"""Whether operations record the graph: ``no_grad``, ``enable_grad``, ``set_grad_enabled``,
``inference_mode``; each is a context manager and a decorator (of functions and generators), as
PyTorch's.

``inference_mode`` records nothing, like ``no_grad``, and reports itself through
``is_inference_mode_enabled``. It does not mark the tensors made inside as PyTorch's "inference
tensors": Lumen's graph bookkeeping is already skipped under ``no_grad``, so there is nothing more
to save, and such tensors may later be used in recorded computations (where PyTorch would refuse).
"""
from __future__ import annotations

import functools
import inspect
import threading

class _ModeState(threading.local):
    """Per thread; the class attributes are every thread's start. A plain attribute read, where
    ``getattr(local, name, default)`` costs a caught AttributeError (~0.3 us) in each op of a thread
    that never set the mode."""
    enabled = True
    inference = False


_state = _ModeState()


def is_grad_enabled() -> bool:
    return _state.enabled


def is_inference_mode_enabled() -> bool:
    return _state.inference


def _set(flag: bool) -> None:
    _state.enabled = bool(flag)


class _GradMode:
    """Context manager and decorator that sets recording to ``self.mode`` and restores it after.

    Each entry saves what it changes on its own stack, so one instance may be entered again
    (recursively, or by every call of a function it decorates)."""

    mode = True

    def _switch(self):
        """Apply this mode; return what ``_restore`` needs to undo it."""
        prev = is_grad_enabled()
        _set(self.mode)
        return prev

    def _restore(self, prev):
        _set(prev)

    def __enter__(self):
        self.__dict__.setdefault("_saved", []).append(self._switch())
        return self

    def __exit__(self, *exc):
        self._restore(self._saved.pop())
        return False

    def clone(self):
        return self.__class__()

    def __call__(self, fn):
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def generator(*args, **kwargs):
                # every step of the generator runs in the mode, not just its creation
                gen = fn(*args, **kwargs)
                with self.clone():
                    response = gen.send(None)
                while True:
                    try:
                        request = yield response
                    except GeneratorExit:
                        with self.clone():
                            gen.close()
                        raise
                    except BaseException as error:
                        with self.clone():
                            response = gen.throw(error)
                    else:
                        with self.clone():
                            response = gen.send(request)
            return generator

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.clone():
                return fn(*args, **kwargs)
        return wrapper


class _NoParamDecorator(_GradMode):
    """Usable as ``@no_grad()`` and, as PyTorch 2 allows, bare ``@no_grad``."""

    def __new__(cls, orig_func=None):
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)


class no_grad(_NoParamDecorator):
    """Operations inside record no graph (inference, optimizer updates)."""
    mode = False


class enable_grad(_NoParamDecorator):
    """Re-enables recording inside a ``no_grad`` block."""
    mode = True


class set_grad_enabled(_GradMode):
    """Sets recording on or off: as a context manager, a decorator, or (like PyTorch) a plain call."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self.prev = is_grad_enabled()
        _set(self.mode)

    def __enter__(self):
        _set(self.mode)  # prev was taken by __init__, before the switch
        return self

    def __exit__(self, *exc):
        _set(self.prev)
        return False

    def clone(self):
        return set_grad_enabled(self.mode)  # entered at once by the decorator, so switching here is right

    def __call__(self, fn):
        _set(self.prev)  # used as a decorator, __init__ must not leave the mode switched
        return super().__call__(fn)


class inference_mode(_GradMode):
    """``no_grad`` that also reports ``is_inference_mode_enabled()``; ``inference_mode(False)`` turns it
    off again inside (and turns recording back on, as PyTorch)."""

    def __new__(cls, mode=True):
        if callable(mode):  # bare @inference_mode
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True):
        self.mode = bool(mode)

    def _switch(self):
        prev = is_grad_enabled(), is_inference_mode_enabled()
        _state.inference = self.mode
        _set(not self.mode)
        return prev

    def _restore(self, prev):
        _set(prev[0])
        _state.inference = prev[1]

    def clone(self):
        return inference_mode(self.mode)
