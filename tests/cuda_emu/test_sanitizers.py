"""The CUDA tests again with sanitizer builds of the kernels. Emulated only; slow (a second build of the kernel
libraries, and the sanitizers' checks on every access).

AddressSanitizer, over the primitive tests: an out-of-bounds kernel access (a wrong stride or size in the host
code, an index off by one at an array's end) aborts with the source line instead of reading a neighbour's memory.
ThreadSanitizer, over the barrier kernels, with one OS thread per CUDA thread: two threads of a block touching
one shared-memory element without a __syncthreads() between them is reported as a race with both lines.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.cuda, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
# (sanitizer, runtime library, its options, the tests it runs)
RUNS = {
    "address": ("libasan.so", "detect_leaks=0", ["tests/backends/test_cuda_backend.py",
                                                 "tests/backends/test_cuda_parity.py"]),
    # Every thread order is the OS's here, so one dtype and a case of each barrier kernel suffice.
    "thread": ("libtsan.so", "", ["tests/backends/test_cuda_thread_order.py", "-k",
                                  "(case1 and float32) or (rows_is_order and 3-float32) or (looping and float32)"]),
}


def _runtime_library(name):
    cxx = shutil.which("g++")
    if cxx is None:
        return None
    path = subprocess.run([cxx, f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    return os.path.realpath(path) if os.path.isabs(path) and os.path.exists(path) else None


@pytest.mark.parametrize("sanitizer", sorted(RUNS))
def test_cuda_kernels_under_sanitizer(sanitizer, tmp_path):
    library, options, tests = RUNS[sanitizer]
    preload = _runtime_library(library)
    if preload is None:
        pytest.skip(f"needs g++ with {library}")
    # The real interpreter, not a launcher script (LD_PRELOAD must reach the process that loads the kernels);
    # one BLAS thread keeps OpenBLAS's own threads out of the sanitizer's way (ThreadSanitizer reported them).
    # Reports go to files: pytest captures stderr, and AddressSanitizer ends the process before pytest shows it.
    option_var = {"address": "ASAN_OPTIONS", "thread": "TSAN_OPTIONS"}[sanitizer]
    env = dict(os.environ, LD_PRELOAD=preload, LUMEN_CUDA_EMU_SANITIZE=sanitizer, OPENBLAS_NUM_THREADS="1",
               **{option_var: f"{options}:log_path={tmp_path / 'report'}".lstrip(":")})
    proc = subprocess.run([os.path.realpath(sys.executable), "-m", "pytest", "--cuda-emulator", "-q",
                           "-p", "no:cacheprovider", "-o", "addopts=--strict-markers", *tests],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    # (AddressSanitizer also logs a note that it does not fully support swapcontext: not a report)
    reports = [t for p in sorted(tmp_path.glob("report*")) if "Sanitizer:" in (t := p.read_text())]
    assert not reports, "\n".join(reports)[:8000]
    assert proc.returncode == 0, out[-6000:]
    assert " passed" in out
