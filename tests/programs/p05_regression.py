"""The "regression" example's structure: fit a fixed random polynomial with polynomial features made by
torch.cat, an nn.Linear layer, smooth_l1_loss, and a hand-written update with p.add_ and grad.zero_()."""
import json

import numpy as np
import torch
import torch.nn.functional as F

# tolerance: 1e-4 1e-6
POLY_DEGREE = 4
rng = np.random.default_rng(3)
W_target = torch.tensor(rng.standard_normal((POLY_DEGREE, 1)), dtype=torch.float32) * 5
b_target = torch.tensor(rng.standard_normal(1), dtype=torch.float32) * 5


def make_features(x):
    x = x.unsqueeze(1)
    return torch.cat([x ** i for i in range(1, POLY_DEGREE + 1)], 1)


def f(x):
    return x.mm(W_target) + b_target.item()


def poly_desc(W, b):
    result = "y = "
    for i, w in enumerate(W):
        result += f"{w:+.2f} x^{i + 1} "
    result += f"{b[0]:+.2f}"
    return result


fc = torch.nn.Linear(W_target.size(0), 1)
with torch.no_grad():
    fc.weight.copy_(torch.tensor(rng.uniform(-0.5, 0.5, (1, POLY_DEGREE)), dtype=torch.float32))
    fc.bias.fill_(0.1)
losses = []
for batch_idx in range(200):
    batch_x = make_features(torch.tensor(rng.standard_normal(32), dtype=torch.float32))
    batch_y = f(batch_x)
    fc.zero_grad()
    output = F.smooth_l1_loss(fc(batch_x), batch_y)
    loss = output.item()
    output.backward()
    for param in fc.parameters():
        param.data.add_(-0.1 * param.grad)
    losses.append(loss)
    if loss < 1e-3:
        break
print(f"Loss: {loss:.6f} after {batch_idx} batches")
print("==> Learned function:\t" + poly_desc(fc.weight.view(-1), fc.bias))
print("==> Actual function:\t" + poly_desc(W_target.view(-1), b_target))
mse = torch.nn.MSELoss()(fc(make_features(torch.linspace(-1, 1, 11))), f(make_features(torch.linspace(-1, 1, 11))))
print("RESULT " + json.dumps({"losses": losses[::20], "weight": fc.weight.view(-1).tolist(),
                              "bias": fc.bias.item(), "mse": mse.item()}))
