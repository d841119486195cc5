"""Suite-wide options: where the ``cuda``-marked tests run.

``cuda``-marked tests need a CUDA device. Without one they are skipped with the reason, unless
``--cuda-emulator`` is given: then ``cupy`` and ``cupyx`` are the strict test double of ``tests/cuda_emu``
(numpy arrays that refuse to mix with host arrays, kernels compiled as host C++ and run by an emulator on the
CPU) and the same tests run against it. An emulated run checks the kernels' and the host code's logic; it is
not a GPU result (see ``tests/cuda_emu/README.md`` for what it cannot show). ``--cuda-emulator-order`` picks
the thread order of every launch (forward, reverse, random[:SEED]; default random:0).
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest



def pytest_addoption(parser):
    group = parser.getgroup("cuda")
    group.addoption("--cuda-emulator", action="store_true",
                    help="run the cuda-marked tests on the CPU, against tests/cuda_emu's CuPy double and kernel "
                         "emulator (not a GPU)")
    group.addoption("--cuda-emulator-other-device", action="store_true",
                    help="with --cuda-emulator: tensors made for 'cuda' land on cuda:1 while CuPy's current device "
                         "stays cuda:0, so every op must place its own work (multi-device placement)")
    group.addoption("--cuda-emulator-order", default=None, metavar="ORDER",
                    help="thread order of emulated launches: forward, reverse or random[:SEED] (default random:0)")


def _real_cuda_skip_reason():
    if importlib.util.find_spec("cupy") is None:
        return "needs a CUDA GPU and CuPy (CuPy is not installed; --cuda-emulator runs these on the CPU)"
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "needs a CUDA GPU (CuPy sees none; --cuda-emulator runs these on the CPU)"
    except Exception as exc:  # noqa: BLE001 - a broken CuPy install or driver raises anything
        return f"needs a usable CUDA GPU ({exc!r}; --cuda-emulator runs these on the CPU)"
    return None


def pytest_configure(config):
    if not config.getoption("--cuda-emulator"):
        config._cuda_skip_reason = _real_cuda_skip_reason()
        return
    if "cupy" in sys.modules:
        raise pytest.UsageError("--cuda-emulator: cupy was imported before the test double could replace it")
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/, for cuda_emu (also the double's import)
    from cuda_emu import DOUBLE, runtime

    sys.path.insert(0, str(DOUBLE))

    if config.getoption("--cuda-emulator-other-device"):
        import lumen  # noqa: F401  (lumen.device is the class; its module is patched)
        sys.modules["lumen.device"].current_cuda_index = lambda: 1
    order = config.getoption("--cuda-emulator-order")
    if order is not None:
        runtime.set_thread_order(*runtime._parse_order(order))
    config._cuda_skip_reason = None


def pytest_report_header(config):
    if config.getoption("--cuda-emulator"):
        from cuda_emu import runtime

        mode, seed = runtime.get_thread_order()
        return (f"cuda: EMULATED on the CPU (tests/cuda_emu; CuPy double, {mode} thread order"
                f"{f', seed {seed}' if mode == 'random' else ''}); not a GPU run")
    reason = config._cuda_skip_reason
    return f"cuda: {'a CUDA GPU through CuPy' if reason is None else 'cuda-marked tests skipped: ' + reason}"


def pytest_collection_modifyitems(config, items):
    reason = config._cuda_skip_reason
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
