"""The "What is torch.nn really?" refactoring sequence on a synthetic MNIST-like problem: a model by hand
(log_softmax and NLL written out), then F.cross_entropy, an nn.Module with nn.Parameter, nn.Linear, optim,
TensorDataset and DataLoader with a validation loop, and finally a CNN as nn.Sequential with a Lambda layer."""
import json
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

# tolerance: 2e-4 1e-5

rng = np.random.default_rng(1)
n, bs, lr, epochs = 256, 64, 0.2, 2
x_train = torch.tensor(rng.random((n, 784)) * 0.1, dtype=torch.float32)
y_train = torch.tensor(rng.integers(0, 10, n))
x_valid, y_valid = x_train[:128], y_train[:128]
init_w = rng.standard_normal((784, 10)) / math.sqrt(784)
results = {}

# 1. from scratch
weights = torch.tensor(init_w, dtype=torch.float32)
weights.requires_grad_()
bias = torch.zeros(10, requires_grad=True)


def log_softmax(x):
    return x - x.exp().sum(-1).log().unsqueeze(-1)


def model(xb):
    return log_softmax(xb @ weights + bias)


def nll(input, target):
    return -input[range(target.shape[0]), target].mean()


def accuracy(out, yb):
    preds = torch.argmax(out, dim=1)
    return (preds == yb).float().mean()


loss_func = nll
for epoch in range(epochs):
    for i in range((n - 1) // bs + 1):
        xb, yb = x_train[i * bs:i * bs + bs], y_train[i * bs:i * bs + bs]
        loss = loss_func(model(xb), yb)
        loss.backward()
        with torch.no_grad():
            weights -= weights.grad * lr
            bias -= bias.grad * lr
            weights.grad.zero_()
            bias.grad.zero_()
results["scratch"] = [loss_func(model(x_train), y_train).item(), accuracy(model(x_train), y_train).item()]

# 2. nn.Module, nn.Linear and optim


class MnistLogistic(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(784, 10)

    def forward(self, xb):
        return self.lin(xb)


def get_model():
    model = MnistLogistic()
    with torch.no_grad():
        model.lin.weight.copy_(torch.tensor(init_w.T, dtype=torch.float32))
        model.lin.bias.zero_()
    return model, optim.SGD(model.parameters(), lr=lr)


def loss_batch(model, loss_func, xb, yb, opt=None):
    loss = loss_func(model(xb), yb)
    if opt is not None:
        loss.backward()
        opt.step()
        opt.zero_grad()
    return loss.item(), len(xb)


def fit(epochs, model, loss_func, opt, train_dl, valid_dl):
    history = []
    for epoch in range(epochs):
        model.train()
        for xb, yb in train_dl:
            loss_batch(model, loss_func, xb, yb, opt)
        model.eval()
        with torch.no_grad():
            losses, nums = zip(*[loss_batch(model, loss_func, xb, yb) for xb, yb in valid_dl])
        val_loss = np.sum(np.multiply(losses, nums)) / np.sum(nums)
        print(epoch, val_loss)
        history.append(float(val_loss))
    return history


train_ds, valid_ds = TensorDataset(x_train, y_train), TensorDataset(x_valid, y_valid)
train_dl = DataLoader(train_ds, batch_size=bs)
valid_dl = DataLoader(valid_ds, batch_size=bs * 2)
model, opt = get_model()
results["module"] = fit(epochs, model, F.cross_entropy, opt, train_dl, valid_dl)

# 3. a CNN as nn.Sequential


class Lambda(nn.Module):
    def __init__(self, func):
        super().__init__()
        self.func = func

    def forward(self, x):
        return self.func(x)


cnn = nn.Sequential(
    Lambda(lambda x: x.view(-1, 1, 28, 28)),
    nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1), nn.ReLU(),
    nn.Conv2d(16, 16, kernel_size=3, stride=2, padding=1), nn.ReLU(),
    nn.Conv2d(16, 10, kernel_size=3, stride=2, padding=1), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1),
    Lambda(lambda x: x.view(x.size(0), -1)),
)
with torch.no_grad():
    for p in cnn.parameters():
        p.copy_(torch.tensor(rng.uniform(-0.3, 0.3, tuple(p.shape)), dtype=torch.float32))
opt = optim.SGD(cnn.parameters(), lr=0.1, momentum=0.9)
results["cnn"] = fit(epochs, cnn, F.cross_entropy, opt, train_dl, valid_dl)
print("RESULT " + json.dumps(results))
