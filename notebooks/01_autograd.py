# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. Tensors and autograd
#
# Lumen is an eager, tape-based autograd library with PyTorch's names. This notebook covers
# tensors and broadcasting, the tape that records every operation (`grad_fn`), `backward()`,
# `no_grad()`, checking a hand-written gradient with `gradcheck`, and a small regression fitted
# with a plain Python loop.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np

import lumen
from lumen import nn, optim

lumen.manual_seed(0)
print("lumen", lumen.__version__)

# %% [markdown]
# ## Tensors
#
# A `Tensor` wraps a backend array (a NumPy array on the CPU, a CuPy array on a GPU) and
# knows its shape, dtype and device. `lumen.from_numpy` shares memory with the array;
# `lumen.tensor` copies.

# %%
x = lumen.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
print(x)
print("shape", x.shape, "| dtype", x.dtype, "| device", x.device, "| numel", x.numel())

a = np.zeros(3)
shared = lumen.from_numpy(a)      # float64, like the array
a[0] = 7.0                        # ...and the same memory
print(shared)

# %%
print(x.sum(dim=0), x.mean(dim=1, keepdim=True).shape)
print(x.T @ x)                    # (3, 2) @ (2, 3) -> (3, 3)
print(x[:, 1:], x.reshape(3, 2).shape)

# %% [markdown]
# ## Broadcasting
#
# Shapes are aligned from the right; a dimension of size 1 (or a missing one) is stretched to
# match the other operand, as in NumPy. Incompatible shapes give an error naming the op and
# both shapes.

# %%
col = lumen.arange(3.0).reshape(3, 1)       # (3, 1)
row = lumen.tensor([10.0, 20.0, 30.0, 40.0])  # (4,)
print(col + row)                             # (3, 4)

try:
    lumen.ones(3) + lumen.ones(4)
except RuntimeError as e:
    print("RuntimeError:", e)

# %% [markdown]
# ## The tape
#
# When an input has `requires_grad=True`, every operation on it records a node on the tape:
# the result's `grad_fn`. Each node keeps one edge per input (`next`): to the node that
# produced it, or to a leaf (a tensor you created, without `grad_fn`), where backward stores
# the gradient in `.grad`; inputs that need no gradient have no edge.

# %%
w = lumen.tensor([0.5, -1.0, 2.0], requires_grad=True)
u = lumen.tensor([1.0, 2.0, 3.0])
y = (w * u).exp().sum()
print(y)
print("w is a leaf:", w.is_leaf, "| y.grad_fn:", y.grad_fn)


def show_tape(node, depth=0):
    print("  " * depth + node.name())
    pad = "  " * (depth + 1)
    for parent, _ in node.next_functions:   # one (node, output index) per input of the op
        if parent is None:                  # the input needs no gradient
            print(pad + "(constant)")
        elif parent.name() == "AccumulateGrad":  # the gradient lands in the leaf's .grad
            print(pad + f"leaf of shape {tuple(parent.variable.shape)} -> .grad")
        else:
            show_tape(parent, depth + 1)


show_tape(y.grad_fn)

# %% [markdown]
# ## backward
#
# `y.backward()` walks the tape from `y` back to the leaves and stores dy/dw in `w.grad`.
# Here y = sum(exp(w * u)), so dy/dw = u * exp(w * u):

# %%
y.backward()
expected = u.numpy() * np.exp(w.detach().numpy() * u.numpy())
print("autograd:", w.grad)
print("by hand: ", expected)
assert np.allclose(w.grad.numpy(), expected)

# %% [markdown]
# Gradients **accumulate**: a second backward adds to `w.grad`. Training loops therefore
# clear them before each step (`optimizer.zero_grad()`, or `w.grad = None`).

# %%
(w * u).exp().sum().backward()
print("after a second backward:", w.grad, "(twice the value above)")
w.grad = None

# %% [markdown]
# ## no_grad and detach
#
# Inside `lumen.no_grad()` nothing is recorded: use it for evaluation and for updating
# parameters by hand. `detach()` gives a tensor sharing the data but cut off from the tape.

# %%
with lumen.no_grad():
    z = w * 2
print("recorded under no_grad?", z.requires_grad, z.grad_fn)
print("detached:", w.detach().requires_grad)

# %% [markdown]
# ## A new op, checked with gradcheck
#
# A differentiable op is a `lumen.autograd.Function` with `forward` (raw arrays in and out,
# computed with the device's array primitives, `self.backend`, so the op runs on CPU and GPU
# alike) and `backward` (gradients as Tensors). `gradcheck` compares its backward with central
# finite differences in float64. A correct softplus passes; one whose backward forgot a
# factor is caught (`GradcheckError`), with a message saying where.

# %%
from lumen.autograd import Function, GradcheckError, gradcheck


class Softplus(Function):
    """log(1 + exp(x)), written stably; its derivative is sigmoid(x)."""

    def forward(self, x):
        self.save_inputs(0)
        b = self.backend
        return b.maximum(x, 0) + b.log(1 + b.exp(-b.abs(x)))  # exp never overflows

    def backward(self, gy):
        (x,) = self.saved_inputs
        return gy * x.sigmoid()


class BrokenSoftplus(Softplus):
    def backward(self, gy):
        (x,) = self.saved_inputs
        return gy * x.sigmoid() * 0.5      # wrong by a factor of 2


x64 = lumen.randn(5, dtype=lumen.float64, requires_grad=True)
print("Softplus:", gradcheck(Softplus.apply, (x64,)))
try:
    gradcheck(BrokenSoftplus.apply, (x64,))
except GradcheckError as e:
    print("BrokenSoftplus:", str(e).splitlines()[0])

# %% [markdown]
# ## A tiny regression, fitted imperatively
#
# Noisy samples of a cubic; we fit y = a x^3 + b x^2 + c x + d by gradient descent on the
# mean squared error. The loop is ordinary Python: forward, `backward()`, then update the
# leaves by hand under `no_grad()`.

# %%
rng = np.random.default_rng(0)
xs = np.linspace(-1.5, 1.5, 64)
ys = 0.8 * xs**3 - 0.5 * xs**2 - 1.0 * xs + 0.3 + rng.normal(0, 0.15, xs.shape)

features = lumen.tensor(np.stack([xs**3, xs**2, xs, np.ones_like(xs)], axis=1), dtype=lumen.float32)
target = lumen.tensor(ys, dtype=lumen.float32)
coef = lumen.zeros(4, requires_grad=True)

lr, losses = 0.1, []
for step in range(300):
    loss = ((features @ coef - target) ** 2).mean()
    loss.backward()
    with lumen.no_grad():
        coef -= lr * coef.grad
    coef.grad = None
    losses.append(loss.item())

print("fitted a, b, c, d:", np.round(coef.detach().numpy(), 2), "(true: 0.8, -0.5, -1.0, 0.3)")
print(f"loss {losses[0]:.3f} -> {losses[-1]:.4f}")

# %% [markdown]
# The same fit with the library's pieces: a `nn.Linear` layer holds the coefficients and an
# optimiser does the update. The loop keeps the same four lines.

# %%
model = nn.Linear(4, 1)
opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
module_losses = []
for step in range(300):
    loss = ((model(features).squeeze(1) - target) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    module_losses.append(loss.item())
print(f"nn.Linear + SGD(momentum=0.9): loss {module_losses[-1]:.4f}")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
ax1.semilogy(losses, label="hand-written update")
ax1.semilogy(module_losses, label="nn.Linear + optim.SGD (momentum)")
ax1.set_xlabel("step")
ax1.set_ylabel("mean squared error")
ax1.legend()
ax2.scatter(xs, ys, s=10, color="gray", label="data")
with lumen.no_grad():
    ax2.plot(xs, (features @ coef).numpy(), color="C0", label="fit")
ax2.set_xlabel("x")
ax2.legend()
fig.tight_layout()
