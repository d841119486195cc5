"""The CUDA primitive tests again with the kernels built under AddressSanitizer: an out-of-bounds kernel access
(a wrong stride or size in the host code, an index off by one at an array's end) aborts with the source line
instead of reading a neighbour's memory. Emulated only; slow (a second build of every kernel library, and
ASan's checks on every access).
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.cuda, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TESTS = ["tests/backends/test_cuda_backend.py", "tests/backends/test_cuda_parity.py"]


def _libasan():
    cxx = shutil.which("g++")
    if cxx is None:
        return None
    path = subprocess.run([cxx, "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    return os.path.realpath(path) if os.path.isabs(path) and os.path.exists(path) else None


def test_cuda_primitives_under_address_sanitizer(tmp_path):
    libasan = _libasan()
    if libasan is None:
        pytest.skip("needs g++ with libasan")
    # The real interpreter, not a launcher script (LD_PRELOAD must reach the process that loads the kernels);
    # one BLAS thread keeps OpenBLAS's own threads out of the sanitizer's way. Reports go to files: pytest
    # captures stderr, and the sanitizer ends the process before pytest could show it.
    env = dict(os.environ, LD_PRELOAD=libasan, ASAN_OPTIONS=f"detect_leaks=0:log_path={tmp_path / 'asan'}",
               LUMEN_CUDA_EMU_SANITIZE="address", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([os.path.realpath(sys.executable), "-m", "pytest", "--cuda-emulator", "-q",
                           "-p", "no:cacheprovider", "-o", "addopts=--strict-markers", *TESTS],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    reports = [p.read_text() for p in sorted(tmp_path.glob("asan*"))]
    assert not reports, "\n".join(reports)[:8000]
    assert proc.returncode == 0, out[-6000:]
    assert " passed" in out
