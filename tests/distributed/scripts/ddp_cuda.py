"""DistributedDataParallel of a model on a CUDA device over MPI (host copies of the buckets): 2 ranks x batch 2
train to one process's weights at batch 4 (run by test_dist_ddp.py)."""
import numpy as np

import lumen
import lumen.distributed as dist
import lumen.nn.functional as F
from lumen import nn

dist.init_process_group("mpi")
rank = dist.get_rank()
rng = np.random.default_rng(0)
x = lumen.tensor(rng.standard_normal((4, 5))).to("cuda")
y = lumen.tensor(rng.integers(0, 3, 4)).to("cuda")
lumen.manual_seed(rank)  # different starts: DDP broadcasts rank 0's
model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3)).double().to("cuda")
ddp = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=0.0001)
alone = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3)).double().to("cuda")
alone.load_state_dict(model.state_dict())
opt, opt_alone = (lumen.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in (ddp, alone))
for _ in range(2):
    opt.zero_grad()
    F.cross_entropy(ddp(x[2 * rank:2 * rank + 2]), y[2 * rank:2 * rank + 2]).backward()
    opt.step()
    opt_alone.zero_grad()
    F.cross_entropy(alone(x), y).backward()
    opt_alone.step()
for (name, p), q in zip(model.named_parameters(), alone.parameters()):
    assert p.device.type == "cuda" and p.grad.device.type == "cuda"
    np.testing.assert_allclose(p.detach().cpu().numpy(), q.detach().cpu().numpy(), rtol=1e-12, atol=1e-14,
                               err_msg=name)
print(f"ok rank {rank}", flush=True)
