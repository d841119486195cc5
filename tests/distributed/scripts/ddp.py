"""DistributedDataParallel on 2 ranks against one process at the doubled batch, no_sync, unused parameters,
and the samplers' shards (run by test_dist_ddp.py)."""
import numpy as np

import lumen
import lumen.distributed as dist
import lumen.nn.functional as F
from lumen import nn
from lumen.data import DistributedDataLoader, DistributedSampler
from lumen.vision.models import fcn8s

from checks import expect_error  # this folder is the programs' sys.path[0]


dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()


def small_fcn(dtype):
    return fcn8s(num_classes=3, width=1 / 16, dropout=0.0).to(dtype)


def convnet(dtype):
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 4, 1)).to(dtype)


def check_equivalence(make, dtype, steps, tol, shape, bucket_cap_mb):
    """Each rank trains its half of a batch of 4 under DDP; rank 0 also trains one copy on all 4: the same
    weights after ``steps`` SGD steps."""
    lumen.manual_seed(0)
    x = lumen.randn(4, 3, *shape, dtype=dtype)
    y = lumen.randint(0, 3, (4, *shape))
    lumen.manual_seed(10 + rank)  # each rank starts elsewhere: DDP must take rank 0's weights
    model = make(dtype)
    ddp = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=bucket_cap_mb)
    assert len(ddp._buckets) > 1  # several all-reduces, started in order
    alone = make(dtype)
    alone.load_state_dict(model.state_dict())
    opt = lumen.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
    opt_alone = lumen.optim.SGD(alone.parameters(), lr=0.05, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(ddp(x[2 * rank:2 * rank + 2]), y[2 * rank:2 * rank + 2]).backward()
        opt.step()
        if rank == 0:
            opt_alone.zero_grad()
            F.cross_entropy(alone(x), y).backward()
            opt_alone.step()
    mine = {k: v.numpy() for k, v in model.state_dict().items()}
    everyone = [None] * world
    dist.all_gather_object(everyone, mine)
    for other in everyone:  # the replicas stay identical
        for k in mine:
            np.testing.assert_array_equal(other[k], mine[k], err_msg=k)
    if rank == 0:
        for k, v in alone.state_dict().items():
            np.testing.assert_allclose(mine[k], v.numpy(), rtol=tol, atol=tol, err_msg=f"{dtype} {k}")


check_equivalence(small_fcn, lumen.float64, 2, 1e-12, (20, 20), 0.05)
check_equivalence(convnet, lumen.float32, 3, 1e-5, (6, 6), 0.0001)

# buffers: rank 0's at construction and at each training forward (BatchNorm's running statistics)
lumen.manual_seed(3)
bn = nn.BatchNorm1d(2).double()
bn.running_mean.fill_(float(rank))
ddp = nn.parallel.DistributedDataParallel(bn)
assert bn.running_mean.tolist() == [0.0, 0.0]
bn.running_mean.fill_(float(rank + 5))
ddp(lumen.zeros(2, 2, dtype=lumen.float64)).sum().backward()
assert bn.running_mean.tolist() == [4.5, 4.5]  # 5 from rank 0, then momentum 0.1 towards the batch mean 0

# no_sync: two micro-batches of 1 per rank, the first without communication, equal one batch of 4
lumen.manual_seed(0)
x, y = lumen.randn(4, 5, dtype=lumen.float64), lumen.randint(0, 3, (4,))
lumen.manual_seed(1)
net = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3)).double()
reference = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3)).double()
reference.load_state_dict(net.state_dict())
ddp = nn.parallel.DistributedDataParallel(net)
with ddp.no_sync():
    (F.cross_entropy(ddp(x[2 * rank:2 * rank + 1]), y[2 * rank:2 * rank + 1]) / 2).backward()
local = [p.grad.clone() for p in net.parameters()]
(F.cross_entropy(ddp(x[2 * rank + 1:2 * rank + 2]), y[2 * rank + 1:2 * rank + 2]) / 2).backward()
F.cross_entropy(reference(x), y).backward()
for p, q, before in zip(net.parameters(), reference.parameters(), local):
    np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12, atol=1e-14)
    assert not np.allclose(before.numpy(), q.grad.numpy())  # no_sync really left the first half local


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body, self.left, self.right = nn.Linear(3, 3), nn.Linear(3, 2), nn.Linear(3, 2)

    def forward(self, x, use_right):
        h = self.body(x)
        return self.right(h) if use_right else self.left(h)


# find_unused_parameters: rank 1 leaves `left` unused, rank 0 `right`; nobody uses... both heads are used by
# some rank, so each gets the average over ranks with zeros where unused; `body` is averaged as usual
lumen.manual_seed(2)
heads = TwoHeads().double()
ddp = nn.parallel.DistributedDataParallel(heads, find_unused_parameters=True)
inputs = lumen.randn(2, 3, dtype=lumen.float64)
ddp(inputs, use_right=rank == 1).sum().backward()
grads = {n: p.grad.numpy().copy() for n, p in heads.named_parameters()}
lumen.manual_seed(2)
twin = TwoHeads().double()
twin.load_state_dict(heads.state_dict())
for r in range(world):
    (twin(inputs, use_right=r == 1).sum() / world).backward()
for n, p in twin.named_parameters():
    np.testing.assert_allclose(grads[n], p.grad.numpy(), rtol=1e-12, atol=1e-14, err_msg=n)
ddp(inputs, use_right=rank == 1).sum().backward()  # the next iteration goes on fine

# a parameter no rank uses keeps its gradient (None) under find_unused_parameters
heads.zero_grad()
ddp(inputs, use_right=True).sum().backward()
assert heads.left.weight.grad is None and heads.right.weight.grad is not None

# without find_unused_parameters an unused parameter makes the next forward raise, naming it
lumen.manual_seed(2)
strict = nn.parallel.DistributedDataParallel(TwoHeads().double())
strict(inputs, use_right=False).sum().backward()
expect_error(RuntimeError, "['right.weight', 'right.bias']", strict, inputs, use_right=False)

# replicas that differ are refused on every rank
expect_error(RuntimeError, "model differs", nn.parallel.DistributedDataParallel, nn.Linear(3, 2 + rank))

# DistributedSampler: disjoint shards that cover the set (padded by repetition), a new order per epoch
for n, drop_last in ((11, False), (11, True), (12, False)):
    sampler = DistributedSampler(range(n), shuffle=True, seed=5, drop_last=drop_last)
    assert (sampler.num_replicas, sampler.rank) == (world, rank)
    orders = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        shards = [None] * world
        dist.all_gather_object(shards, list(sampler))
        flat = [i for shard in shards for i in shard]
        if drop_last:
            assert len(set(flat)) == len(flat) == n // world * world
        else:
            assert set(flat) == set(range(n)) and len(flat) == -(-n // world) * world
        orders.append(shards)
    assert orders[0] != orders[1]

# DistributedDataLoader: the ranks' batches together are one process's batches at the doubled batch
dataset = lumen.data.TensorDataset(lumen.arange(10))
mine = [b[0].tolist() for b in DistributedDataLoader(dataset, 2, shuffle=True, seed=3, drop_last=True)]
alone = [b[0].tolist() for b in lumen.data.DataLoader(dataset, 4, shuffle=True, seed=3, drop_last=True)]
shards = [None] * world
dist.all_gather_object(shards, mine)
assert [sorted(a + b) for a, b in zip(*shards)] == [sorted(b) for b in alone]
print(f"ok rank {rank}", flush=True)
