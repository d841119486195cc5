"""The CPU backend's C kernels, compiled on first use by the machine's C compiler and loaded through ctypes.

Lumen installs as pure Python; its C sources (``direct.c``, ``winograd.c``) are built on the machine that runs them, as
tinygrad's CPU backend builds its kernels, with ``-O3 -march=native`` so that they use that CPU's vector
registers (AVX-512 where it has it). The compiler is ``$CC`` (a command line: ``ccache gcc`` works), else
``cc``. A library is cached under ``$LUMEN_CACHE/kernels`` (default ``~/.cache/lumen/kernels``), named by a
hash of its source, defines, compiler, flags and CPU, and written atomically, so a later process loads it at
once. Without a compiler, when it fails, when the cache cannot be written, or with ``LUMEN_COMPILE=0``,
:func:`library` returns None, :func:`failure` says why, and the convolutions keep their NumPy algorithms.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

SOURCES = Path(__file__).resolve().parent
FLAGS = ("-O3", "-march=native", "-shared", "-fPIC", "-fno-math-errno")
_lock = threading.Lock()
_built = {}  # (name, defines) -> (library or None, failure message or None)
_functions = {}  # (name, dtype, symbols) -> their ctypes functions, or None
# The C type a kernel source is compiled for (its -DREAL=...), by NumPy dtype.
REALS = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


def cache_dir() -> Path:
    """Raises RuntimeError where neither $LUMEN_CACHE nor a home directory is set."""
    root = os.environ.get("LUMEN_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "lumen") / "kernels"


def _cpu() -> str:
    # -march=native code can fault on another CPU that shares the cache (a network home directory).
    described = f"{platform.machine()} {platform.processor()}"
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return described
    keys = ("model name", "flags", "Features", "CPU implementer", "CPU part", "CPU variant")
    return "\n".join([described, *dict.fromkeys(line for line in lines if line.startswith(keys))])


def _compiler():
    """(command, version text), or a message saying why there is none."""
    if os.environ.get("LUMEN_COMPILE", "1") == "0":
        return "LUMEN_COMPILE=0 is set"
    cc = shlex.split(os.environ.get("CC", "")) or [shutil.which(name) for name in ("cc", "gcc", "clang")
                                                    if shutil.which(name)][:1]
    if not cc:
        return "no C compiler was found (set CC, or install gcc or clang)"
    try:
        version = subprocess.run([*cc, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"the C compiler {shlex.join(cc)!r} does not run: {exc}"
    return cc, version


def _build(name, defines):
    source = SOURCES / f"{name}.c"
    compiler = _compiler()
    if isinstance(compiler, str):
        return None, compiler
    cc, version = compiler
    flags = [*FLAGS, *(f"-D{key}={value}" for key, value in defines)]
    headers = [h.read_text() for h in sorted(SOURCES.glob("*.h"))]  # what the sources may #include
    key = hashlib.sha256("\0".join([source.read_text(), *headers, *cc, version, *flags, _cpu()]).encode()
                         ).hexdigest()[:20]
    try:
        path = cache_dir() / f"{name}-{key}.so"
        path.parent.mkdir(parents=True, exist_ok=True)
    except (OSError, RuntimeError) as exc:
        return None, f"no cache directory for the compiled kernels (set LUMEN_CACHE): {exc}"
    if not path.exists():
        temporary = None
        try:
            fd, temporary = tempfile.mkstemp(suffix=".so.tmp", dir=path.parent)
            os.close(fd)
            result = subprocess.run([*cc, *flags, str(source), "-o", temporary], capture_output=True, text=True,
                                    timeout=300)
            if result.returncode:
                lines = (result.stderr or result.stdout).strip().splitlines()
                errors = [line for line in lines if "error" in line] or lines
                return None, f"{shlex.join(cc)} failed on {source.name}: {errors[0] if errors else 'no output'}"
            os.chmod(temporary, 0o755)  # mkstemp's 0600 would keep other users of a shared cache out
            os.replace(temporary, path)
        except (OSError, subprocess.SubprocessError) as exc:
            return None, f"{shlex.join(cc)} failed on {source.name} in {path.parent}: {exc}"
        finally:
            if temporary and os.path.exists(temporary):
                os.unlink(temporary)
    try:
        return ctypes.CDLL(str(path)), None
    except OSError as exc:
        return None, f"cannot load {path}: {exc}"


def library(name: str, **defines):
    """The ctypes library of ``name``.c (beside this file) built with ``-DKEY=VALUE`` defines, or None."""
    key = (name, tuple(sorted(defines.items())))
    if key not in _built:
        with _lock:
            if key not in _built:
                _built[key] = _build(*key)
    return _built[key][0]


def failure(name: str, **defines):
    """Why :func:`library` returned None for these arguments (None if it did not, or was not asked yet)."""
    return _built.get((name, tuple(sorted(defines.items()))), (None, None))[1]


def typed_library(name: str, dtype):
    """``name``.c built for dtype's C type (``REALS``), or None (also for a dtype it has none for)."""
    real = REALS.get(np.dtype(dtype))
    return library(name, REAL=real) if real else None


def typed_failure(name: str, dtype) -> str:
    """Why :func:`typed_library` returned None for ``name`` and dtype."""
    real = REALS.get(np.dtype(dtype))
    if real is None:
        return f"{name}.c is built for {' and '.join(map(str, REALS))}, not {np.dtype(dtype)}"
    return failure(name, REAL=real) or f"{name}.c is not built"


def functions(name: str, dtype, signatures):
    """The functions of ``name``.c built for dtype (:func:`typed_library`), in the order of ``signatures``
    ((symbol, restype, argtypes), ...), their ctypes types set; None where the library is not built."""
    key = (name, np.dtype(dtype), tuple(symbol for symbol, _, _ in signatures))
    if key not in _functions:
        lib = typed_library(name, dtype)
        found = None
        if lib is not None:
            found = tuple(getattr(lib, symbol) for symbol, _, _ in signatures)
            for fn, (_, restype, argtypes) in zip(found, signatures):
                fn.restype, fn.argtypes = restype, argtypes
        _functions[key] = found
    return _functions[key]
