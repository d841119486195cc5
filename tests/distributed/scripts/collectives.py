"""Every collective of lumen.distributed against numpy, on each rank (run by test_dist_collectives.py): on
CPU tensors over MPI, with the arguments ``mpi cuda`` on CUDA tensors over MPI, or with ``nccl`` on each rank's
GPU over NCCL."""
import sys

import numpy as np

import lumen
import lumen.distributed as dist

from checks import expect_error  # this folder is the programs' sys.path[0]


expect_error(ValueError, "has not been initialized", dist.get_rank)
expect_error(ValueError, "has not been initialized", dist.all_reduce, lumen.ones(2))
BACKEND = sys.argv[1] if len(sys.argv) > 1 else "mpi"
ON_GPU = BACKEND == "nccl" or sys.argv[2:] == ["cuda"]  # "mpi cuda": CUDA tensors through host copies
dist.init_process_group(BACKEND, init_method="env://")
expect_error(RuntimeError, "twice", dist.init_process_group)
rank, world = dist.get_rank(), dist.get_world_size()
assert dist.is_initialized() and dist.get_backend() == BACKEND and world == 2
DEVICE = (f"cuda:{rank}" if BACKEND == "nccl" else "cuda") if ON_GPU else "cpu"  # nccl: a GPU per rank


def tensor(array):
    return lumen.from_numpy(np.ascontiguousarray(array)).to(DEVICE)


def host(t):
    return t.cpu().numpy()


def data(r, dtype, shape=(3, 4)):
    """What rank ``r`` contributes: distinct per rank, exact in every dtype."""
    return (np.arange(np.prod(shape)).reshape(shape) % 7 + 1 + 3 * r).astype(dtype)


NUMPY_OPS = {dist.ReduceOp.SUM: lambda xs: np.sum(xs, 0), dist.ReduceOp.PRODUCT: lambda xs: np.prod(xs, 0),
             dist.ReduceOp.MIN: lambda xs: np.min(xs, 0), dist.ReduceOp.MAX: lambda xs: np.max(xs, 0),
             dist.ReduceOp.AVG: lambda xs: np.mean(xs, 0)}
everyone = range(world)
for dtype in (np.float32, np.float64, np.int32, np.int64):
    for op, reference in NUMPY_OPS.items():
        if op is dist.ReduceOp.AVG and not np.issubdtype(dtype, np.floating):
            expect_error(TypeError, "floating-point", dist.all_reduce, tensor(data(rank, dtype)), op)
            continue
        t = tensor(data(rank, dtype))
        assert dist.all_reduce(t, op) is None
        expected = reference([data(r, dtype) for r in everyone]).astype(dtype)
        np.testing.assert_array_equal(host(t), expected, err_msg=f"all_reduce {op} {dtype}")
    for bits in (dist.ReduceOp.BAND, dist.ReduceOp.BOR, dist.ReduceOp.BXOR):
        if BACKEND == "nccl":
            expect_error(ValueError, "not supported by NCCL", dist.all_reduce, tensor(data(rank, dtype)), bits)
        elif np.issubdtype(dtype, np.integer):
            t = tensor(data(rank, dtype))
            dist.all_reduce(t, bits)
            fold = {dist.ReduceOp.BAND: np.bitwise_and, dist.ReduceOp.BOR: np.bitwise_or,
                    dist.ReduceOp.BXOR: np.bitwise_xor}[bits]
            np.testing.assert_array_equal(host(t), fold.reduce([data(r, dtype) for r in everyone]))
    for src in everyone:
        t = tensor(data(rank, dtype))
        dist.broadcast(t, src=src)
        np.testing.assert_array_equal(host(t), data(src, dtype))
    out = [lumen.zeros(3, 4, dtype=tensor(data(0, dtype)).dtype, device=DEVICE) for _ in everyone]
    dist.all_gather(out, tensor(data(rank, dtype)))
    for r in everyone:
        np.testing.assert_array_equal(host(out[r]), data(r, dtype))
    inputs = [tensor(data(rank, dtype) * (k + 1)) for k in everyone]
    out = tensor(np.zeros((3, 4), dtype))
    dist.reduce_scatter(out, inputs)
    np.testing.assert_array_equal(host(out), sum(data(r, dtype) * (rank + 1) for r in everyone))

# AVG of reduce_scatter, a 0-d tensor, a parameter (in place, autograd untouched) and async work
out = lumen.zeros(2, dtype=lumen.float64, device=DEVICE)
dist.reduce_scatter(out, [lumen.full((2,), float(rank + k), dtype=lumen.float64, device=DEVICE)
                           for k in everyone], dist.ReduceOp.AVG)
np.testing.assert_array_equal(host(out), np.full(2, np.mean([r + rank for r in everyone])))
scalar = lumen.tensor(float(rank + 1), device=DEVICE)
dist.all_reduce(scalar)
assert scalar.item() == sum(r + 1 for r in everyone)
weight = lumen.nn.Parameter(lumen.full((2,), float(rank), device=DEVICE))
dist.broadcast(weight, src=1)
assert weight.tolist() == [1.0, 1.0] and weight.requires_grad and weight.grad_fn is None
works = [dist.all_reduce(lumen.full((5,), float(rank * k), device=DEVICE), async_op=True) for k in range(4)]
for k, work in enumerate(works):
    assert work.wait() is True and work.is_completed()
t = lumen.full((1000,), float(rank), device=DEVICE)
work = dist.all_reduce(t, dist.ReduceOp.AVG, async_op=True)
work.wait()
assert t.tolist() == [0.5] * 1000

# objects, barrier, errors
objects = [None] * world
dist.all_gather_object(objects, {"rank": rank, "name": f"r{rank}"})
assert objects == [{"rank": r, "name": f"r{r}"} for r in everyone]
box = [f"from {rank}", rank]
dist.broadcast_object_list(box, src=1)
assert box == ["from 1", 1]
assert dist.barrier() is None
dist.barrier(async_op=True).wait()
expect_error(ValueError, "contiguous", dist.all_reduce, lumen.ones(3, 2).t())
expect_error(ValueError, "src must be a rank", dist.broadcast, lumen.ones(2), src=world)
expect_error(ValueError, "list of 2 tensors", dist.all_gather, [lumen.ones(2)], lumen.ones(2))
expect_error(ValueError, "must be like", dist.all_gather, [lumen.ones(3), lumen.ones(3)], lumen.ones(2))
expect_error(TypeError, "ReduceOp", dist.all_reduce, lumen.ones(2), "sum")
expect_error(ValueError, "only the default group", dist.all_reduce, lumen.ones(2), group=object())
assert dist.get_node_local_rank() == rank and dist.launched_world_size() == world  # one machine
assert dist.is_main_process() == (rank == 0)
dist.destroy_process_group()
assert not dist.is_initialized() and dist.is_main_process()
assert dist.init_if_launched() and dist.get_rank() == rank
print(f"ok rank {rank}", flush=True)
