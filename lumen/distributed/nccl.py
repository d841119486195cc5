"""The NCCL process group: collectives on CUDA tensors through CuPy's ``cupy.cuda.nccl`` communicator.

Rank 0 makes the NCCL unique id and MPI broadcasts it; each rank then joins ``NcclCommunicator(world, id,
rank)`` on its GPU. Calls are queued on the current CuPy stream, and a collective's :class:`Work` waits on
an event recorded after it (with the group's timeout). Tensors reach NCCL as device pointers through DLPack;
no array math happens here, the reductions are NCCL's.

Written against CuPy's documented API and tested on CPU only as far as the unique-id exchange and the
choice of device (with a stand-in communicator); the collectives need two GPUs to test.
"""
from __future__ import annotations

from .mpi import Work

_OPS = ("SUM", "AVG", "PRODUCT", "MIN", "MAX")
_NCCL_OPS = {"SUM": "NCCL_SUM", "AVG": "NCCL_SUM", "PRODUCT": "NCCL_PROD", "MIN": "NCCL_MIN", "MAX": "NCCL_MAX"}
_NCCL_TYPES = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64",
               "int8": "NCCL_INT8", "uint8": "NCCL_UINT8", "int32": "NCCL_INT32", "int64": "NCCL_INT64",
               "bool": "NCCL_UINT8"}


def _cupy_modules():
    # on first use: CPU-only machines import lumen.distributed without CuPy
    import cupy
    from cupy.cuda import nccl
    return cupy, nccl


def nccl_available() -> bool:
    """True when CuPy imports with its NCCL bindings and sees a GPU. Never raises."""
    try:
        cupy, nccl = _cupy_modules()
        return bool(getattr(nccl, "available", True)) and cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


class _EventDone:
    """An MPI-request-like view of a CUDA event, so :class:`Work` polls NCCL calls as it polls MPI's."""

    def __init__(self, event):
        self.event = event

    def Test(self):  # noqa: N802 -- the MPI request method Work calls
        return self.event.done


def _device_ordinal(device_id, local_rank):
    if device_id is None:
        return local_rank
    if isinstance(device_id, int):
        return device_id
    index = getattr(device_id, "index", None)
    if getattr(device_id, "type", None) != "cuda" or index is None:
        raise ValueError(f"init_process_group: device_id must be an int or a cuda device with an index, "
                         f"got {device_id!r}")
    return index


class ProcessGroupNCCL:
    """One NCCL communicator over the ranks of the MPI group ``mpi``. ``cupy``/``nccl`` default to the
    installed modules (tests pass stand-ins)."""

    def __init__(self, mpi, device_id=None, cupy=None, nccl=None):
        if cupy is None:
            try:
                cupy, nccl = _cupy_modules()
            except ImportError as exc:
                raise ImportError(f"init_process_group(backend='nccl') needs CuPy with NCCL: pip install "
                                  f"'lumen[cuda]' ({exc})") from exc
        self.cupy, self.nccl, self.mpi = cupy, nccl, mpi
        self.device = _device_ordinal(device_id, mpi.local_rank())
        cupy.cuda.Device(self.device).use()
        unique_id = nccl.get_unique_id() if mpi.rank == 0 else None
        unique_id = mpi.broadcast_object(unique_id, 0)
        self.comm = nccl.NcclCommunicator(mpi.size, unique_id, mpi.rank)

    def destroy(self):
        self.comm.destroy()

    def _pointer(self, tensor):
        return self.cupy.from_dlpack(tensor.detach()).data.ptr

    def _type(self, tensor, what):
        name = str(tensor.dtype).rsplit(".", 1)[-1]
        if name not in _NCCL_TYPES:
            raise TypeError(f"lumen.distributed.{what}: NCCL has no type for {tensor.dtype}; expected one of "
                            f"{sorted(_NCCL_TYPES)}")
        return getattr(self.nccl, _NCCL_TYPES[name])

    def _op(self, op, what):
        if op not in _OPS:
            raise ValueError(f"lumen.distributed.{what}: ReduceOp.{op} is not supported by NCCL; expected one of "
                             f"{_OPS}")
        return getattr(self.nccl, _NCCL_OPS[op])

    def _launch(self, what, call, finish=None):
        stream = self.cupy.cuda.get_current_stream()
        call(stream.ptr)
        return Work(_EventDone(stream.record()), what, self.mpi.timeout_s, finish, self.mpi.rank)

    def _average(self, tensor, op):
        return (lambda: tensor.detach().div_(self.mpi.size)) if op == "AVG" else None

    def all_reduce(self, tensor, op):
        ptr, kind, nccl_op = self._pointer(tensor), self._type(tensor, "all_reduce"), self._op(op, "all_reduce")
        return self._launch(f"all_reduce({op})",
                            lambda stream: self.comm.allReduce(ptr, ptr, tensor.numel(), kind, nccl_op, stream),
                            self._average(tensor, op))

    def broadcast(self, tensor, src):
        ptr, kind = self._pointer(tensor), self._type(tensor, "broadcast")
        return self._launch(f"broadcast(src={src})",
                            lambda stream: self.comm.bcast(ptr, tensor.numel(), kind, src, stream))

    def all_gather(self, tensor_list, tensor):
        import lumen
        gathered = lumen.empty((self.mpi.size, *tensor.shape), dtype=tensor.dtype, device=tensor.device)
        send, recv, kind = self._pointer(tensor), self._pointer(gathered), self._type(tensor, "all_gather")

        def scatter_into_list():
            for out, part in zip(tensor_list, gathered):
                out.detach().copy_(part)

        return self._launch("all_gather",
                            lambda stream: self.comm.allGather(send, recv, tensor.numel(), kind, stream),
                            scatter_into_list)

    def reduce_scatter(self, output, input_list, op):
        import lumen
        stacked = lumen.stack([t.detach() for t in input_list])
        send, recv = self._pointer(stacked), self._pointer(output)
        kind, nccl_op = self._type(output, "reduce_scatter"), self._op(op, "reduce_scatter")
        average = self._average(output, op)

        def finish():
            del stacked_alive[:]  # the send buffer lives until NCCL is done with it
            if average is not None:
                average()

        stacked_alive = [stacked]
        return self._launch(f"reduce_scatter({op})",
                            lambda stream: self.comm.reduceScatter(send, recv, output.numel(), kind, nccl_op,
                                                                   stream), finish)
