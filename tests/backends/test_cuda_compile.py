"""Every CUDA kernel source compiles with nvcc to PTX, for an old and a new GPU.

Runs on CPU-only machines: only nvcc is needed. Each kernel file is compiled
with every template instantiation the CuPy backend asks NVRTC for (one per
kernel and element type), by appending a host function that takes their
addresses, so a template that fails to instantiate fails here.
"""
import importlib.util
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CUDA_PKG = ROOT / "lumen" / "backends" / "cuda"

NVCC = shutil.which("nvcc")
pytestmark = pytest.mark.skipif(NVCC is None, reason="nvcc (CUDA toolkit) is not on PATH")


def _load_module_helpers():
    # _module.py is loaded by path: importing the package would need CuPy.
    spec = importlib.util.spec_from_file_location("lumen_cuda_module_helpers",
                                                  CUDA_PKG / "_module.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


km = _load_module_helpers()
FILES = km.sources()


def _arches():
    """compute_70 (Volta) and compute_90 (Hopper); toolkits that dropped an arch
    (CUDA 13 removed Volta) get their oldest supported one >= 70 instead."""
    if NVCC is None:
        return []
    listed = subprocess.run([NVCC, "--list-gpu-arch"], capture_output=True, text=True,
                            check=True).stdout.split()
    numbers = sorted(int(a.split("_")[1]) for a in listed if a.startswith("compute_"))
    old = 70 if 70 in numbers else min(n for n in numbers if n >= 70)
    return [f"compute_{old}", "compute_90"]


ARCHES = _arches()


def _wrapped_source(filename):
    names = km.kernel_names(filename)
    takes = "\n".join(f"    (void)&{name}<{ct}>;" for name in names for ct in km.CTYPES.values())
    source = (km.KERNEL_DIR / filename).read_text()
    return f"{source}\n\nvoid lumen_instantiate_all() {{\n{takes}\n}}\n", names


def _compile(filename, arch, tmp):
    source, names = _wrapped_source(filename)
    cu = tmp / f"{filename[:-3]}_{arch}.cu"
    cu.write_text(source)
    ptx = cu.with_suffix(".ptx")
    proc = subprocess.run([NVCC, "-ptx", f"-arch={arch}", *km.COMPILE_OPTIONS,
                           f"-I{km.KERNEL_DIR}", "-Werror", "all-warnings", "-o", str(ptx),
                           str(cu)], capture_output=True, text=True)
    return proc, ptx, names


def test_every_kernel_file_is_found():
    assert {"im2col.cu", "implicit_gemm.cu", "pool.cu", "lrn.cu", "softmax_ce.cu",
            "elementwise.cu"} <= set(FILES)
    for f in FILES:
        assert km.kernel_names(f), f"no templated __global__ kernel found in {f}"


def test_kernels_compile_to_ptx(tmp_path):
    jobs = [(f, a) for f in FILES for a in ARCHES]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda job: _compile(*job, tmp_path), jobs))
    failures = []
    for (f, arch), (proc, ptx, names) in zip(jobs, results):
        if proc.returncode != 0:
            failures.append(f"{f} for {arch}:\n{proc.stderr}")
            continue
        text = ptx.read_text()
        entries = text.count(".entry ")
        expected = len(names) * len(km.CTYPES)
        if entries != expected:
            failures.append(f"{f} for {arch}: {entries} PTX entry points, expected {expected}")
    assert not failures, "\n\n".join(failures)
