"""The autograd tutorials' steps: requires_grad, backward of a vector output with a gradient argument,
accumulation and zeroing, detach and no_grad, retain_grad and hooks, a second derivative with
torch.autograd.grad(create_graph=True), a custom Function with two outputs and non-tensor arguments, and
torch.autograd.functional's jacobian and hessian, plus gradcheck in double precision."""
import json

import torch
from torch.autograd import Function
from torch.autograd.functional import hessian, jacobian

out = {}
x = torch.ones(5)
y = torch.zeros(3)
w = torch.linspace(-1, 1, 15).reshape(5, 3).requires_grad_()
b = torch.tensor([0.1, -0.2, 0.3], requires_grad=True)
z = torch.matmul(x, w) + b
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
print(f"Gradient function for z = {z.grad_fn is not None}")
loss.backward()
out["w_grad"] = w.grad.flatten().tolist()
out["b_grad"] = b.grad.tolist()
with torch.no_grad():
    assert not (torch.matmul(x, w) + b).requires_grad
assert not z.detach().requires_grad

inp = torch.eye(4, 5, requires_grad=True)
res = (inp + 1).pow(2).t()
res.backward(torch.ones_like(res), retain_graph=True)
first = inp.grad.clone()
res.backward(torch.ones_like(res))
out["accumulated"] = (inp.grad / first).flatten().tolist()
inp.grad.zero_()

a = torch.tensor([2.0, 3.0], requires_grad=True)
h = a * a
h.retain_grad()
seen = []
handle = h.register_hook(lambda g: seen.append(g.clone()) or g * 2)
(h * torch.tensor([1.0, 10.0])).sum().backward()
handle.remove()
out["hooked"] = [seen[0].tolist(), h.grad.tolist(), a.grad.tolist()]

t = torch.tensor(1.5, requires_grad=True)
f = t ** 3 + torch.sin(t)
(df,) = torch.autograd.grad(f, t, create_graph=True)
(d2f,) = torch.autograd.grad(df, t)
out["derivatives"] = [df.item(), d2f.item()]


class MulAdd(Function):
    @staticmethod
    def forward(ctx, x, y, alpha):
        ctx.save_for_backward(x, y)
        ctx.alpha = alpha
        return x * y + alpha, x - y

    @staticmethod
    def backward(ctx, g_prod, g_diff):
        x, y = ctx.saved_tensors
        gx = g_prod * y + g_diff if ctx.needs_input_grad[0] else None
        gy = g_prod * x - g_diff if ctx.needs_input_grad[1] else None
        return gx, gy, None


p = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
q = torch.tensor([3.0, -1.0], dtype=torch.float64, requires_grad=True)
prod, diff = MulAdd.apply(p, q, 0.5)
(prod.sum() * 2 + (diff ** 2).sum()).backward()
out["custom"] = [prod.tolist(), p.grad.tolist(), q.grad.tolist()]
assert torch.autograd.gradcheck(lambda u, v: MulAdd.apply(u, v, 2.0), (p.detach().requires_grad_(),
                                                                          q.detach().requires_grad_()))


def func(v):
    return torch.stack([v[0] * v[1], v[1] ** 2, torch.exp(v[0])])


v = torch.tensor([0.5, -1.5])
out["jacobian"] = jacobian(func, v).flatten().tolist()
out["hessian"] = hessian(lambda v: (v ** 3).sum() + v[0] * v[1], v).flatten().tolist()
print("RESULT " + json.dumps(out))
