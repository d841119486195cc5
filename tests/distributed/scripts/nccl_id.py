"""The NCCL group's setup with a stand-in for CuPy and its NCCL module (no GPU needed): rank 0's unique id
reaches every rank over MPI, each joins the communicator with its rank, on the GPU of its local rank."""
import lumen.distributed as dist
from lumen.distributed.mpi import ProcessGroupMPI
from lumen.distributed.nccl import ProcessGroupNCCL


class FakeNccl:
    made = []

    @staticmethod
    def get_unique_id():
        return ("id made by rank", ProcessGroupMPI(60).rank)

    class NcclCommunicator:
        def __init__(self, ndev, commId, rank):  # noqa: N803 -- cupy.cuda.nccl's argument names
            FakeNccl.made.append((ndev, commId, rank))

        def destroy(self):
            FakeNccl.made.append("destroyed")


class FakeCupy:
    used = []

    class cuda:  # noqa: N801
        class Device:
            def __init__(self, ordinal):
                self.ordinal = ordinal

            def use(self):
                FakeCupy.used.append(self.ordinal)


mpi = ProcessGroupMPI(60)
group = ProcessGroupNCCL(mpi, cupy=FakeCupy, nccl=FakeNccl)
assert FakeNccl.made == [(2, ("id made by rank", 0), mpi.rank)], FakeNccl.made
assert FakeCupy.used == [mpi.rank] == [group.device], FakeCupy.used  # one machine: local rank = rank
group = ProcessGroupNCCL(mpi, device_id=0, cupy=FakeCupy, nccl=FakeNccl)
assert FakeCupy.used[-1] == 0
group.destroy()
assert FakeNccl.made[-1] == "destroyed"
if not dist.is_nccl_available():
    try:
        dist.init_process_group("nccl")
    except ImportError as error:
        assert "CuPy with NCCL" in str(error), error
    else:
        raise AssertionError("init_process_group('nccl') without CuPy did not raise")
print(f"ok rank {mpi.rank}", flush=True)
