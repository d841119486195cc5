"""The tensor tutorial's operations: creation from data and numpy, shapes and dtypes, indexing and slicing,
joining, arithmetic and matrix products, in-place ops, the numpy bridge, reductions, and the selection ops
a research script uses (sort, topk, where, gather, scatter, masked ops, einsum, cumsum, clamp, norms)."""
import json

import numpy as np
import torch

out = {}
data = [[1, 2], [3, 4]]
x_data = torch.tensor(data)
x_np = torch.from_numpy(np.array(data))
x_ones = torch.ones_like(x_data)
x_rand = torch.full_like(x_data, 0.5, dtype=torch.float)
shape = (2, 3)
out["creation"] = [x_data.sum().item(), x_np.dtype == torch.int64, x_ones.tolist(), x_rand.dtype == torch.float32,
                   torch.zeros(shape).shape == torch.Size([2, 3]), torch.ones(shape).mean().item()]

tensor = torch.arange(16.0).reshape(4, 4)
print(f"First row: {tensor[0]}")
tensor[:, 1] = 0
out["indexing"] = [tensor[0].tolist(), tensor[:, 0].tolist(), tensor[..., -1].tolist(), tensor[1:3, ::2].tolist(),
                   tensor[tensor > 10].tolist(), tensor[[0, 2], [1, 3]].tolist()]
t1 = torch.cat([tensor, tensor, tensor], dim=1)
out["joining"] = [list(t1.shape), list(torch.stack([tensor, tensor]).shape), list(torch.chunk(t1, 3, 1)[1].shape)]

y1 = tensor @ tensor.T
y2 = tensor.matmul(tensor.T)
y3 = torch.rand_like(y1)
torch.matmul(tensor, tensor.T, out=y3)
z1 = tensor * tensor
out["arith"] = [y1.flatten().tolist(), torch.equal(y1, y2), torch.equal(y1, y3), z1.sum().item(),
                (tensor / 3).flatten().tolist(), (tensor // 3).flatten().tolist(), (tensor % 3).flatten().tolist()]
agg = tensor.sum()
agg_item = agg.item()
tensor.add_(5)
tensor.mul_(0.5).sub_(1)
out["inplace"] = [agg_item, tensor.flatten().tolist()]

t = torch.ones(5)
n = t.numpy()
t.add_(1)
out["bridge"] = n.tolist()
n2 = np.ones(3)
t2 = torch.from_numpy(n2)
np.add(n2, 1, out=n2)
out["bridge2"] = t2.tolist()

m = torch.tensor([[3.0, 1.0, 2.0], [0.5, -1.0, 4.0]])
values, indices = torch.sort(m, dim=1, descending=True)
top = m.topk(2)
out["select"] = [values.flatten().tolist(), indices.flatten().tolist(), top.values.flatten().tolist(),
                 top.indices.flatten().tolist(), torch.where(m > 1, m, torch.zeros_like(m)).flatten().tolist(),
                 torch.gather(m, 1, torch.tensor([[2], [0]])).flatten().tolist(),
                 torch.zeros(2, 3).scatter_(1, torch.tensor([[1], [2]]), 7.0).flatten().tolist(),
                 m.masked_fill(m < 1, -1.0).flatten().tolist(), m[m.argmax(dim=1, keepdim=True) == torch.arange(3)].tolist()]
out["reduce"] = [m.max().item(), m.min(dim=0).values.tolist(), m.mean(dim=1).tolist(), m.std().item(),
                 m.var(dim=0, unbiased=False).tolist(), m.prod().item(), m.cumsum(dim=1).flatten().tolist(),
                 m.norm().item(), m.abs().sum(dim=1, keepdim=True).flatten().tolist(), m.argmin().item(),
                 torch.einsum("ij,kj->ik", m, m).flatten().tolist(), m.clamp(min=0, max=3).flatten().tolist(),
                 torch.allclose(m.exp().log(), m), m.T.contiguous().view(-1).tolist(), m.unsqueeze(0).squeeze().shape == m.shape]
out["dtype"] = [str(m.int().dtype), str((m > 0).dtype), str(m.double().dtype), str((torch.tensor([1, 2]) / 2).dtype),
                str((torch.tensor([1, 2]) * 1.5).dtype), str(torch.tensor([True]).long().dtype)]
out["dtype"] = [s.split(".")[-1] == e for s, e in zip(out["dtype"], ["int32", "bool", "float64", "float32", "float32", "int64"])]
print("RESULT " + json.dumps(out))
