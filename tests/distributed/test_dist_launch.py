"""A program run without a launcher: no process group, rank 0's duties, no MPI started."""
import pytest

import lumen.distributed as dist

LAUNCHER_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "LOCAL_RANK", "MPI_LOCALRANKID",
                      "OMPI_COMM_WORLD_LOCAL_RANK", "MV2_COMM_WORLD_LOCAL_RANK")


@pytest.fixture
def alone(monkeypatch):
    for name in LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_a_program_run_alone_starts_no_group_and_is_the_main_process(alone):
    assert dist.launched_world_size() == 1
    assert dist.init_if_launched() is False and not dist.is_initialized()
    assert dist.is_main_process()


def test_node_local_rank_reads_the_launcher_else_the_fallback(alone, monkeypatch):
    assert dist.get_node_local_rank(fallback_rank=0) == 0
    with pytest.raises(RuntimeError, match="pass fallback_rank"):
        dist.get_node_local_rank()
    monkeypatch.setenv("MPI_LOCALRANKID", "3")
    assert dist.get_node_local_rank() == 3
    monkeypatch.setenv("LOCAL_RANK", "1")  # torchrun's name comes first, as in PyTorch
    assert dist.get_node_local_rank() == 1


def test_collectives_without_a_group_are_torchs_value_error():
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.get_world_size()
