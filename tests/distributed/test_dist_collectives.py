"""lumen.distributed's collectives on 2 ranks under mpirun, checked against numpy on each rank."""
import subprocess
import sys

import pytest


def test_every_collective_matches_numpy_on_both_ranks(mpirun):
    mpirun("collectives.py")


def test_nccl_group_shares_rank0s_unique_id_over_mpi(mpirun):
    # stand-ins for CuPy's modules: the exchange and the choice of GPU, not NCCL's collectives (those need GPUs)
    mpirun("nccl_id.py")


@pytest.mark.cuda
def test_every_collective_matches_numpy_on_cuda_tensors_over_mpi(mpirun):
    # through host copies, on one GPU for both ranks (or on tests/cuda_emu's double under --cuda-emulator)
    mpirun("collectives.py", "mpi", "cuda")


def _real_gpus():
    """GPUs the real CuPy sees, asked in a fresh process (--cuda-emulator replaces CuPy in this one)."""
    code = "import cupy; print(cupy.cuda.runtime.getDeviceCount())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    return int(result.stdout) if result.returncode == 0 else 0


@pytest.mark.cuda
def test_every_collective_matches_numpy_on_two_gpus_over_nccl(mpirun):
    if _real_gpus() < 2:
        pytest.skip("needs 2 CUDA GPUs and CuPy with NCCL")
    mpirun("collectives.py", "nccl", timeout=120)
