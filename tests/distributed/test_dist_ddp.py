"""DistributedDataParallel and the samplers on 2 ranks under mpirun: 2 ranks x batch 2 train to the weights of
one process x batch 4 (float64 to 1e-12, float32 to 1e-5), no_sync, unused parameters, disjoint shards."""
import pytest


def test_ddp_two_ranks_equal_one_process_at_the_doubled_batch(mpirun):
    mpirun("ddp.py", timeout=90)


@pytest.mark.cuda
def test_ddp_of_a_model_on_a_cuda_device_over_mpi(mpirun):
    # one GPU shared by both ranks (or tests/cuda_emu's double under --cuda-emulator)
    mpirun("ddp_cuda.py", timeout=120)
