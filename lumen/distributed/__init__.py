"""``lumen.distributed``: collectives across processes and machines (``torch.distributed``'s names).

Two engines, neither home-made: MPI through mpi4py for every tensor (``backend="mpi"``; install with
``pip install 'lumen[distributed]'``, which brings the ``mpich`` and ``mpi4py`` wheels), and NCCL through
CuPy's ``cupy.cuda.nccl`` for CUDA tensors (``backend="nccl"``; MPI still carries host tensors and the
NCCL unique id). Ranks and world size come from the MPI launcher::

    mpirun -np 2 python train.py                      # one machine
    mpirun -np 8 -hostfile hosts python train.py      # several

Only the default group (all ranks) exists: ``group=`` accepts None or :data:`group.WORLD`. Every
collective works in place on Lumen tensors of either device, returns a :class:`Work` with
``async_op=True`` (else None, after waiting) and raises a RuntimeError naming itself when the other ranks
do not join it within the group's ``timeout``. An exception that escapes one rank's program aborts all
ranks with a line naming the rank that failed.
"""
from __future__ import annotations

import datetime
import enum
import importlib.util
import os
import sys

from .mpi import Work

__all__ = ["ReduceOp", "Work", "group", "is_available", "is_mpi_available", "is_nccl_available", "init_process_group",
           "is_initialized", "destroy_process_group", "get_rank", "get_world_size", "get_backend", "all_reduce",
           "broadcast", "all_gather", "reduce_scatter", "barrier", "all_gather_object", "broadcast_object_list",
           "get_node_local_rank", "launched_world_size", "init_if_launched", "is_main_process"]

default_pg_timeout = datetime.timedelta(minutes=30)


class ReduceOp(enum.Enum):
    """How :func:`all_reduce` and :func:`reduce_scatter` combine the ranks' tensors. AVG is the SUM divided by
    the world size (floating-point tensors only)."""

    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4
    BAND = 5
    BOR = 6
    BXOR = 7


class _ProcessGroup:
    """The default group: MPI for host tensors (and CUDA tensors without NCCL), NCCL for CUDA tensors."""

    def __init__(self, backend, mpi, nccl, previous_excepthook):
        self.backend = backend
        self.mpi = mpi
        self.nccl = nccl
        self.previous_excepthook = previous_excepthook

    def rank(self):
        return self.mpi.rank

    def size(self):
        return self.mpi.size


class group:  # noqa: N801 -- torch.distributed.group, holder of WORLD
    WORLD = None


def is_available() -> bool:
    """True when mpi4py can be imported (the package for the mpi backend is installed)."""
    return is_mpi_available()


def is_mpi_available() -> bool:
    return importlib.util.find_spec("mpi4py") is not None


def is_nccl_available() -> bool:
    from .nccl import nccl_available
    return nccl_available()


def is_initialized() -> bool:
    return group.WORLD is not None


def _group(pg, what):
    if group.WORLD is None:
        raise ValueError("Default process group has not been initialized, please make sure to call "
                         "init_process_group.")
    if pg is not None and pg is not group.WORLD:
        raise ValueError(f"lumen.distributed.{what}: only the default group (group=None or group.WORLD) exists, "
                         f"got {pg!r}")
    return group.WORLD


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name="", pg_options=None, device_id=None):
    """Join the job the MPI launcher started. ``backend`` is ``"mpi"`` (default) or ``"nccl"``;
    ``init_method`` may be None or ``"env://"`` and ``world_size``/``rank`` may be given, but they must agree
    with the launcher's (MPI does the rendezvous). ``device_id`` (an int or a ``cuda`` device) picks the
    GPU under nccl; by default the rank's index among the ranks of its machine. ``group_name`` and
    ``pg_options`` are accepted and unused (there is one group)."""
    if group.WORLD is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    backend = "mpi" if backend is None else str(backend).lower()
    if backend not in ("mpi", "nccl"):
        raise ValueError(f"init_process_group: backend {backend!r} is not available in Lumen; use 'mpi' (CPU and "
                         f"any tensor) or 'nccl' (CUDA tensors)")
    if init_method not in (None, "env://"):
        raise ValueError(f"init_process_group: init_method={init_method!r} is not supported: ranks find each other "
                         f"through the MPI launcher (mpirun -np N ...); pass None or 'env://'")
    if store is not None:
        raise ValueError("init_process_group: store= is not supported: ranks find each other through the MPI "
                         "launcher (mpirun -np N ...)")
    timeout = default_pg_timeout if timeout is None else timeout
    timeout_s = timeout.total_seconds() if hasattr(timeout, "total_seconds") else float(timeout)
    from .mpi import ProcessGroupMPI
    mpi = ProcessGroupMPI(timeout_s)
    for name, given, actual in (("world_size", world_size, mpi.size), ("rank", rank, mpi.rank)):
        if given not in (-1, None) and given != actual:
            raise ValueError(f"init_process_group: {name}={given} but the MPI launcher started this process with "
                             f"{name} {actual}")
    nccl = None
    if backend == "nccl":
        from .nccl import ProcessGroupNCCL
        nccl = ProcessGroupNCCL(mpi, device_id=device_id)
    group.WORLD = _ProcessGroup(backend, mpi, nccl, mpi.abort_on_uncaught_exception())


def destroy_process_group(group=None):
    """Leave the default group (MPI itself is finalised when the process exits)."""
    pg = _group(group, "destroy_process_group")
    sys.excepthook = pg.previous_excepthook
    if pg.nccl is not None:
        pg.nccl.destroy()
    globals()["group"].WORLD = None


def get_rank(group=None) -> int:
    return _group(group, "get_rank").rank()


def get_world_size(group=None) -> int:
    return _group(group, "get_world_size").size()


def get_backend(group=None) -> str:
    return _group(group, "get_backend").backend


# ---- collectives on tensors ------------------------------------------------------------------------------
def _op_name(op, what):
    if isinstance(op, ReduceOp):
        return op.name
    raise TypeError(f"lumen.distributed.{what}: op must be a lumen.distributed.ReduceOp, got {op!r}")


def _check_tensor(tensor, what):
    if not tensor.is_contiguous():
        raise ValueError(f"lumen.distributed.{what}: tensors must be contiguous, got shape {tuple(tensor.shape)} "
                         f"with stride {tensor.stride()}")


def _check_avg(tensor, op, what):
    if op == "AVG" and not tensor.dtype.is_floating_point:
        raise TypeError(f"lumen.distributed.{what}: ReduceOp.AVG needs a floating-point tensor, got {tensor.dtype}")


def _via_nccl(pg, tensor):
    return pg.nccl is not None and tensor.device.type == "cuda"


def _host(tensor):
    """The tensor's host view (itself on the CPU, else a copy) and what writes the view back."""
    plain = tensor.detach()
    if tensor.device.type == "cpu":
        return plain, None
    host = plain.cpu()
    return host, lambda: plain.copy_(host)


def _finished(work, async_op):
    if async_op:
        return work
    work.wait()
    return None


def _then(*steps):
    steps = [s for s in steps if s is not None]
    return (lambda: [s() for s in steps]) if steps else None


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Combine ``tensor`` over all ranks with ``op``, in place on every rank."""
    pg = _group(group, "all_reduce")
    name = _op_name(op, "all_reduce")
    _check_tensor(tensor, "all_reduce")
    _check_avg(tensor, name, "all_reduce")
    if _via_nccl(pg, tensor):
        return _finished(pg.nccl.all_reduce(tensor, name), async_op)
    host, write_back = _host(tensor)
    average = (lambda: host.div_(pg.size())) if name == "AVG" else None
    work = pg.mpi.all_reduce(host.numpy(), name, _then(average, write_back))
    return _finished(work, async_op)


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """Copy rank ``src``'s ``tensor`` into every rank's ``tensor``."""
    pg = _group(group, "broadcast")
    src = group_src if src is None else src
    if src is None or not 0 <= src < pg.size():
        raise ValueError(f"lumen.distributed.broadcast: src must be a rank in 0..{pg.size() - 1}, got {src}")
    _check_tensor(tensor, "broadcast")
    if _via_nccl(pg, tensor):
        return _finished(pg.nccl.broadcast(tensor, src), async_op)
    host, write_back = _host(tensor)
    work = pg.mpi.broadcast(host.numpy(), src, write_back)
    return _finished(work, async_op)


def _check_list(tensors, like, what):
    size = group.WORLD.size()
    if len(tensors) != size:
        raise ValueError(f"lumen.distributed.{what}: expected a list of {size} tensors (one per rank), got "
                         f"{len(tensors)}")
    for t in tensors:
        if tuple(t.shape) != tuple(like.shape) or t.dtype != like.dtype or t.device != like.device:
            raise ValueError(f"lumen.distributed.{what}: every tensor in the list must be like {tuple(like.shape)} "
                             f"{like.dtype} on {like.device}, got {tuple(t.shape)} {t.dtype} on {t.device}")


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """``tensor_list[r]`` = rank ``r``'s ``tensor``, on every rank."""
    import lumen
    pg = _group(group, "all_gather")
    _check_tensor(tensor, "all_gather")
    _check_list(tensor_list, tensor, "all_gather")
    if _via_nccl(pg, tensor):
        return _finished(pg.nccl.all_gather(tensor_list, tensor), async_op)
    host, _ = _host(tensor)
    gathered = lumen.empty((pg.size(), *tensor.shape), dtype=tensor.dtype)

    def scatter_into_list():
        for out, part in zip(tensor_list, gathered):
            out.detach().copy_(part)

    work = pg.mpi.all_gather(gathered.numpy(), host.numpy(), scatter_into_list)
    return _finished(work, async_op)


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """``output`` on rank ``r`` = the ranks' ``input_list[r]`` combined with ``op``."""
    import lumen
    pg = _group(group, "reduce_scatter")
    name = _op_name(op, "reduce_scatter")
    _check_tensor(output, "reduce_scatter")
    _check_list(input_list, output, "reduce_scatter")
    _check_avg(output, name, "reduce_scatter")
    if _via_nccl(pg, output):
        return _finished(pg.nccl.reduce_scatter(output, input_list, name), async_op)
    stacked = lumen.stack([t.detach().cpu() for t in input_list])
    host, write_back = _host(output)
    average = (lambda: host.div_(pg.size())) if name == "AVG" else None
    work = pg.mpi.reduce_scatter(host.numpy(), stacked.numpy(), name, _then(average, write_back))
    return _finished(work, async_op)


def barrier(group=None, async_op=False, device_ids=None, timeout=None):
    """Wait until every rank has reached its barrier (``device_ids`` is accepted and unused: MPI's barrier
    involves no device)."""
    pg = _group(group, "barrier")
    work = pg.mpi.barrier()
    if async_op:
        return work
    work.wait(timeout)
    return None


# ---- collectives on picklable objects --------------------------------------------------------------------
def all_gather_object(object_list, obj, group=None):
    """``object_list[r]`` = rank ``r``'s ``obj`` (pickled), on every rank."""
    pg = _group(group, "all_gather_object")
    if len(object_list) != pg.size():
        raise ValueError(f"lumen.distributed.all_gather_object: object_list must have {pg.size()} entries, got "
                         f"{len(object_list)}")
    object_list[:] = pg.mpi.all_gather_object(obj)


def broadcast_object_list(object_list, src=None, group=None, device=None, group_src=None):
    """Replace every rank's ``object_list`` entries by rank ``src``'s (``device`` is accepted and unused: the
    objects travel pickled over MPI)."""
    pg = _group(group, "broadcast_object_list")
    src = group_src if src is None else src
    if src is None or not 0 <= src < pg.size():
        raise ValueError(f"lumen.distributed.broadcast_object_list: src must be a rank in 0..{pg.size() - 1}, "
                         f"got {src}")
    object_list[:] = pg.mpi.broadcast_object(list(object_list), src)


# ---- for programs that run alone or under mpirun (Lumen's additions) --------------------------------------
# What MPICH's and Open MPI's launchers (and MVAPICH's) tell each process, read without starting MPI.
_LAUNCHER_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


_LAUNCHER_LOCAL_RANK_VARIABLES = ("LOCAL_RANK", "MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK",
                                  "MV2_COMM_WORLD_LOCAL_RANK")


def get_node_local_rank(fallback_rank=None) -> int:
    """This process's index among the processes on its machine (which GPU it should take): ``LOCAL_RANK`` as
    in PyTorch, else what the MPI launcher set, else the process group's answer, else ``fallback_rank``."""
    for name in _LAUNCHER_LOCAL_RANK_VARIABLES:
        if os.environ.get(name):
            return int(os.environ[name])
    if is_initialized():
        return group.WORLD.mpi.local_rank()
    if fallback_rank is not None:
        return int(fallback_rank)
    raise RuntimeError("get_node_local_rank: no launcher set LOCAL_RANK (or MPI's local rank) and no process group "
                       "is initialized; pass fallback_rank to run as a single process")


def launched_world_size() -> int:
    """How many processes the MPI launcher started this program as (1 when run without one)."""
    for name in _LAUNCHER_SIZE_VARIABLES:
        if os.environ.get(name):
            return int(os.environ[name])
    return 1


def init_if_launched(backend=None, **kwargs) -> bool:
    """``init_process_group(backend, **kwargs)`` when the program was started by ``mpirun -np N`` with N > 1
    and no group exists yet; True when a group exists afterwards. A program run alone starts no MPI."""
    if not is_initialized() and launched_world_size() > 1:
        init_process_group(backend, **kwargs)
    return is_initialized()


def is_main_process() -> bool:
    """True on rank 0, and in a program without a process group: the one process that writes files, logs and
    progress."""
    return not is_initialized() or get_rank() == 0
