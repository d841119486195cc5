"""Runs small programs under ``mpirun -np N`` (skipped only when MPI is not installed: pip install
'lumen[distributed]'), with a time limit, and hands back the finished process. Under --cuda-emulator the
ranks, too, get tests/cuda_emu's CuPy double."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parent / "scripts"


def _mpirun():
    beside_python = Path(sys.executable).parent / "mpirun"  # the launcher of the wheel pip installed here
    return str(beside_python) if beside_python.exists() else shutil.which("mpirun") or shutil.which("mpiexec")


@pytest.fixture
def mpirun(request):
    launcher = _mpirun()
    if importlib.util.find_spec("mpi4py") is None or launcher is None:
        pytest.skip("needs MPI and mpi4py: pip install 'lumen[distributed]'")

    def run(script, *args, np=2, timeout=60, check=True):
        """With ``check``, asserts a clean exit and every rank's closing ``ok rank R`` line."""
        # one thread per rank: the ranks share the machine's cores
        paths = [str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")]
        if request.config.getoption("--cuda-emulator"):  # the ranks import the CuPy double too
            tests = Path(__file__).parents[1]
            paths[:0] = [str(tests), str(tests / "cuda_emu" / "double")]
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   PYTHONPATH=os.pathsep.join(paths))
        command = [launcher, "-np", str(np), sys.executable, str(SCRIPTS / script), *map(str, args)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
        if check:
            detail = f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            assert result.returncode == 0, detail
            for rank in range(np):
                assert f"ok rank {rank}" in result.stdout, detail
        return result

    return run
