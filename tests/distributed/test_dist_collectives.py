"""lumen.distributed's collectives on 2 ranks under mpirun, checked against numpy on each rank."""


def test_every_collective_matches_numpy_on_both_ranks(mpirun):
    mpirun("collectives.py")


def test_nccl_group_shares_rank0s_unique_id_over_mpi(mpirun):
    # stand-ins for CuPy's modules: the exchange and the choice of GPU, not NCCL's collectives (those need GPUs)
    mpirun("nccl_id.py")
