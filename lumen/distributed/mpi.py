"""The MPI process group: collectives on host buffers through mpi4py (any MPI; ``pip install mpich mpi4py``).

Every collective is started non-blocking and waited on by polling with a deadline, so a peer that died or
stopped calling makes this rank raise (naming the operation and the timeout) instead of hanging. CUDA
tensors travel through a host copy here; the NCCL group (:mod:`lumen.distributed.nccl`) keeps them on the
device.
"""
from __future__ import annotations

import sys
import time

_INSTALL_HINT = "install an MPI and mpi4py with pip install 'lumen[distributed]' (the mpich and mpi4py wheels)"


def import_mpi():
    """mpi4py's ``MPI`` module (importing it initialises MPI), or an ImportError saying how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(f"lumen.distributed: the mpi backend needs mpi4py: {_INSTALL_HINT} ({exc})") from exc
    return MPI


class Work:
    """A started collective (PyTorch's ``Work``): ``wait()`` blocks until it is done on this rank, then runs
    ``finish`` (a division for AVG, a copy back for staged or gathered data)."""

    def __init__(self, request, what, timeout_s, finish=None, rank=0):
        self._request = request
        self._what = what
        self._timeout_s = timeout_s
        self._finish = finish
        self._rank = rank
        self._done = False

    def is_completed(self) -> bool:
        if not self._done and self._request.Test():
            self._complete()
        return self._done

    def wait(self, timeout=None) -> bool:
        if self._done:
            return True
        limit = self._timeout_s if timeout is None else _seconds(timeout)
        start = time.monotonic()
        pause = 0.0
        # MPI moves the data only inside its calls: poll without pause as its own blocking wait would, and
        # only once a peer is late (50 ms) sleep between polls, up to 1 ms, to leave the core to others.
        while not self._request.Test():
            elapsed = time.monotonic() - start
            if elapsed > limit:
                raise RuntimeError(f"lumen.distributed: {self._what} on rank {self._rank} timed out after "
                                   f"{limit:g} s: another rank died, raised or stopped calling the same "
                                   f"collective")
            if elapsed > 0.05:
                time.sleep(pause)
                pause = min(2 * pause + 1e-5, 1e-3)
        self._complete()
        return True

    def _complete(self):
        self._done = True
        if self._finish is not None:
            self._finish()


def _seconds(timeout):
    return timeout.total_seconds() if hasattr(timeout, "total_seconds") else float(timeout)


class ProcessGroupMPI:
    """All ranks of ``comm`` (MPI's world by default)."""

    name = "mpi"

    def __init__(self, timeout_s, comm=None):
        self.MPI = import_mpi()
        self.comm = self.MPI.COMM_WORLD if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.timeout_s = timeout_s
        self._ops = {"SUM": self.MPI.SUM, "AVG": self.MPI.SUM, "PRODUCT": self.MPI.PROD, "MAX": self.MPI.MAX,
                     "MIN": self.MPI.MIN, "BAND": self.MPI.BAND, "BOR": self.MPI.BOR, "BXOR": self.MPI.BXOR}

    def _work(self, request, what, finish):
        return Work(request, what, self.timeout_s, finish, self.rank)

    # Each collective takes host arrays (numpy, through the buffer protocol) that it fills in place.
    # mpi4py's requests hold their buffers until done. ``finish`` runs once the data is in place (a division for AVG, a copy back to the device, ...).
    def all_reduce(self, array, op, finish=None):
        return self._work(self.comm.Iallreduce(self.MPI.IN_PLACE, array, op=self._ops[op]), f"all_reduce({op})",
                          finish)

    def broadcast(self, array, src, finish=None):
        return self._work(self.comm.Ibcast(array, root=src), f"broadcast(src={src})", finish)

    def all_gather(self, out_array, array, finish=None):
        return self._work(self.comm.Iallgather(array, out_array), "all_gather", finish)

    def reduce_scatter(self, out_array, in_array, op, finish=None):
        return self._work(self.comm.Ireduce_scatter_block(in_array, out_array, op=self._ops[op]),
                          f"reduce_scatter({op})", finish)

    def barrier(self):
        return self._work(self.comm.Ibarrier(), "barrier", None)

    def local_rank(self):
        """This rank's index among the ranks on its machine (which GPU it takes)."""
        node = self.comm.Split_type(self.MPI.COMM_TYPE_SHARED)
        try:
            return node.Get_rank()
        finally:
            node.Free()

    def all_gather_object(self, obj):
        return self.comm.allgather(obj)

    def broadcast_object(self, obj, src):
        return self.comm.bcast(obj, root=src)

    def abort_on_uncaught_exception(self):
        """Make an exception that escapes this rank's program stop every rank, saying which rank failed
        (MPI would otherwise leave the others waiting in their next collective until its timeout)."""
        previous = sys.excepthook
        comm, rank, size = self.comm, self.rank, self.size

        def hook(kind, value, tb):
            previous(kind, value, tb)
            if size > 1:
                sys.stderr.write(f"lumen.distributed: rank {rank} of {size} failed with {kind.__name__}: {value}; "
                                 f"aborting all ranks\n")
                sys.stderr.flush()
                time.sleep(0.5)  # Abort kills every rank at once; let the launcher forward these lines first
                comm.Abort(1)

        sys.excepthook = hook
        return previous
