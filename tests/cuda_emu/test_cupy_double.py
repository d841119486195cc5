"""The ``cupy`` in use has every name the CUDA host code reaches, and (emulated) the double is as strict as CuPy.

Marked ``cuda``: on a GPU the names are looked up in the real CuPy, under ``--cuda-emulator`` in the test double
(tests/cuda_emu/double), so the double cannot drift from what ``lumen/backends/cuda`` uses.
"""
import ast
import importlib
from pathlib import Path

import numpy as np
import pytest

from cuda_emu import emulated

pytestmark = pytest.mark.cuda
cupy = pytest.importorskip("cupy", reason="needs CuPy and a CUDA GPU, or --cuda-emulator")

ROOT = Path(__file__).resolve().parents[2]
HOST_CODE = sorted((ROOT / "lumen" / "backends" / "cuda").glob("*.py"))
emulated_only = pytest.mark.skipif(not emulated(cupy), reason="checks the CuPy double (--cuda-emulator)")

# What the CUDA host code may take from numpy: scalar types and dtypes for kernel arguments, frombuffer for
# state bytes. Anything else (numpy.asarray, numpy math) on a device array is an implicit device-to-host
# transfer that CuPy refuses and the double (a numpy subclass) cannot always refuse.
NUMPY_ALLOWED = {"int32", "int64", "float16", "float32", "float64", "dtype", "frombuffer", "uint8", "int8", "bool_"}


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def _uses(path, roots):
    """(dotted name, line) of every attribute chain in ``path`` that starts at a module in ``roots``."""
    tree = ast.parse(path.read_text())
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in roots:
                    aliases[(a.asname or a.name).split(".")[0]] = (a.asname and a.name) or a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in roots:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    inner = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            chain = _dotted(node)
            value = node.value
            while isinstance(value, ast.Attribute):
                inner.add(id(value))
                value = value.value
            if chain and chain[0] in aliases:
                found.append((".".join([aliases[chain[0]], *chain[1:]]), node.lineno))
    for name, full in aliases.items():
        found.append((full, 0))
    return found


def _resolve(dotted):
    parts = dotted.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], 1):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(".".join(parts[: i + 1]))
    return obj


def test_every_cupy_name_the_host_code_uses_exists():
    missing = []
    for path in HOST_CODE:
        for dotted, line in _uses(path, {"cupy", "cupyx"}):
            try:
                _resolve(dotted)
            except (AttributeError, ImportError):
                missing.append(f"{path.name}:{line}: {dotted}")
    assert not missing, f"the cupy in use ({cupy.__file__}) lacks names the host code uses:\n" + "\n".join(missing)


def test_the_array_primitives_and_the_backend_generics_exist():
    # CupyBackend.xp = cupy binds every ARRAY_PRIMITIVES name from cupy; Backend's generic methods call xp.<name>.
    from lumen.backends import base

    generic = {chain[-1] for node in ast.walk(ast.parse(Path(base.__file__).read_text()))
               if isinstance(node, ast.Attribute) and (chain := _dotted(node)) and chain[:2] in (["self", "xp"],
                                                                                                 ["cls", "xp"])
               and len(chain) == 3}
    assert generic, "no xp.<name> use found in lumen/backends/base.py: the scan is broken"
    assert not [n for n in (*base.ARRAY_PRIMITIVES, *generic) if not hasattr(cupy, n)]


def _reused_host_functions():
    """The function definitions of lumen/backends/cpu/random.py that the CUDA random module reuses."""
    cuda_random = ast.parse((ROOT / "lumen/backends/cuda/random.py").read_text())
    names = {a.name for node in ast.walk(cuda_random) if isinstance(node, ast.ImportFrom)
             and node.module == "cpu.random" for a in node.names}
    names |= {node.attr for node in ast.walk(cuda_random) if isinstance(node, ast.Attribute)
              and isinstance(node.value, ast.Name) and node.value.id == "host"}
    host = ast.parse((ROOT / "lumen/backends/cpu/random.py").read_text())
    return [cuda_random] + [node for node in host.body if isinstance(node, ast.FunctionDef) and node.name in names]


def test_generator_methods_the_random_modules_call_exist():
    # The CUDA random module calls CuPy's Generator directly and through the CPU module's functions it reuses
    # (which take numpy's Generator methods, and xp=cupy for their array math).
    trees = _reused_host_functions()
    chains = [chain for tree in trees for node in ast.walk(tree) if isinstance(node, ast.Attribute)
              and (chain := _dotted(node)) and chain[0] in ("gen", "xp")]
    assert ["gen", "random"] in chains and ["gen", "standard_normal"] in chains
    roots = {"gen": cupy.random.Generator(cupy.random.XORWOW(0)), "xp": cupy}
    missing = []
    for chain in chains:
        obj = roots[chain[0]]
        for part in chain[1:]:
            if not hasattr(obj, part):
                missing.append(".".join(chain))
                break
            obj = getattr(obj, part)
    assert not missing


def test_host_code_takes_only_scalar_types_from_numpy():
    used = {(path.name, line, dotted) for path in HOST_CODE for dotted, line in _uses(path, {"numpy"}) if line}
    assert used, "no numpy use found in the host code: the scan is broken"
    assert not [u for u in used if u[2].split(".")[1] not in NUMPY_ALLOWED]


@emulated_only
def test_device_arrays_refuse_host_arrays():
    d, h = cupy.arange(3.0), np.arange(3.0)
    for op in (lambda: d + h, lambda: h * d, lambda: cupy.add(d, h), lambda: cupy.concatenate([d, h]),
               lambda: cupy.matmul(d, h), lambda: np.add(d, h), lambda: cupy.where(d > 1, d, h),
               lambda: cupy.empty_like(h)):
        with pytest.raises(TypeError, match="Unsupported type"):
            op()
    assert type(cupy.asnumpy(d)) is np.ndarray and isinstance(d + 1, cupy.ndarray)
    assert isinstance(d.sum(), cupy.ndarray) and d.sum().ndim == 0 and float(d.sum()) == 3.0


@emulated_only
def test_new_device_memory_is_garbage():
    assert np.isnan(cupy.asnumpy(cupy.empty((2, 3), np.float32))).all()
    assert (cupy.asnumpy(cupy.empty(4, np.int64)) == -1).all()
    assert np.isnan(cupy.asnumpy(cupy.empty_like(cupy.zeros(3, np.float16)))).all()


@emulated_only
def test_kernels_take_device_arrays_only():
    from lumen.backends.cuda import _module as km

    relu = km.kernel("elementwise.cu", "relu", np.float32, "relu")
    x = np.ones(4, np.float32)
    with pytest.raises(TypeError, match="argument 0 is a host numpy array"):
        relu((1,), (256,), (x, cupy.empty(4, np.float32), np.int64(4)))
    with pytest.raises(TypeError, match="tuples"):
        relu(1, (256,), (cupy.asarray(x), cupy.empty(4, np.float32), np.int64(4)))


@emulated_only
def test_random_state_round_trip():
    gen = cupy.random.Generator(cupy.random.XORWOW(5))
    state = cupy.asnumpy(gen.bit_generator._state).copy()
    first = cupy.asnumpy(gen.standard_normal((3,), dtype=np.float32))
    gen.bit_generator._state[...] = cupy.asarray(state)
    np.testing.assert_array_equal(cupy.asnumpy(gen.standard_normal((3,), dtype=np.float32)), first)


@emulated_only
def test_devices_are_current_per_context_and_arrays_remember_theirs():
    assert cupy.cuda.runtime.getDeviceCount() >= 2 and cupy.cuda.runtime.getDevice() == 0
    a = cupy.arange(6.0)
    with cupy.cuda.Device(1) as dev:
        assert cupy.cuda.runtime.getDevice() == 1 and cupy.cuda.Device() == dev
        b = cupy.ones(6)
        with cupy.cuda.Device(0):
            assert cupy.cuda.runtime.getDevice() == 0
        assert (b + b).device.id == 1 and b.reshape(2, 3)[1:].device.id == 1 and b.data.device_id == 1
        assert b.__dlpack_device__() == (2, 1)
    assert cupy.cuda.runtime.getDevice() == 0 and a.device == cupy.cuda.Device(0) and b.device.id == 1
    np.testing.assert_array_equal(cupy.asnumpy(b), np.ones(6))  # a host copy from any device
    moved = cupy.asarray(b)  # CuPy copies an array of another device onto the current one
    assert moved.device.id == 0 and b.copy().device.id == 0 and cupy.asarray(a) is a
    count = cupy.cuda.runtime.getDeviceCount()
    with pytest.raises(cupy.cuda.runtime.CUDARuntimeError, match=f"invalid device ordinal {count}"):
        cupy.cuda.Device(count)


@emulated_only
def test_arrays_of_another_device_than_the_current_one_are_refused():
    with cupy.cuda.Device(1):
        b = cupy.ones(4, np.float32)
    a = cupy.zeros(4, np.float32)
    peer = "The device where the array resides \\(1\\) is different from the current device \\(0\\)"
    for op in (lambda: b + 1, lambda: a + b, lambda: b.sum(), lambda: cupy.exp(b), lambda: cupy.concatenate([a, b]),
               lambda: b.astype(np.float64), lambda: b.fill(2), lambda: a.__setitem__(slice(None), b),
               lambda: b[cupy.asarray([0, 1])], lambda: cupy.matmul(b, b)):
        with pytest.raises(ValueError, match=peer):
            op()
    from lumen.backends.cuda import _module as km

    relu = km.kernel("elementwise.cu", "relu", np.float32, "relu")
    with pytest.raises(ValueError, match=r"argument 0 is an array on device 1, the kernel launches on the current "
                                         r"device 0"):
        relu((1,), (256,), (b, a, np.int64(4)))
    with cupy.cuda.Device(1):
        out = cupy.empty(4, np.float32)
        relu((1,), (256,), (b, out, np.int64(4)))  # under its device the same launch runs
    np.testing.assert_array_equal(cupy.asnumpy(out), np.ones(4))
