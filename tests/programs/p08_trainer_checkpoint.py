"""A trainer with checkpoints and resume, as training scripts write it: model, Adam, StepLR and the epoch
saved with torch.save into one file, loaded with map_location and weights_only into fresh objects, and the
run continued. The resumed run must equal an uninterrupted one, exactly, in each library."""
import json
import os

import numpy as np
import torch
import torch.nn as nn

# tolerance: 1e-4 1e-6
rng = np.random.default_rng(6)
X = torch.tensor(rng.standard_normal((64, 8)), dtype=torch.float32)
Y = torch.tensor(rng.standard_normal((64, 1)), dtype=torch.float32)
init = [rng.uniform(-0.3, 0.3, s) for s in ((16, 8), (16,), (1, 16), (1,))]


def build():
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))
    with torch.no_grad():
        for p, value in zip(model.parameters(), init):
            p.copy_(torch.tensor(value, dtype=torch.float32))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)
    return model, optimizer, scheduler


def train_epoch(model, optimizer, scheduler):
    model.train()
    total = 0.0
    for i in range(0, 64, 16):
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.mse_loss(model(X[i:i + 16]), Y[i:i + 16])
        loss.backward()
        optimizer.step()
        total += loss.item()
    scheduler.step()
    return total / 4


def save_checkpoint(path, epoch, model, optimizer, scheduler):
    torch.save({"epoch": epoch, "model_state_dict": model.state_dict(),
                "optimizer_state_dict": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, path)


model, optimizer, scheduler = build()
straight = [train_epoch(model, optimizer, scheduler) for _ in range(8)]
final_straight = [p.detach().clone() for p in model.parameters()]

model, optimizer, scheduler = build()
resumed = []
for epoch in range(4):
    resumed.append(train_epoch(model, optimizer, scheduler))
save_checkpoint("checkpoint.pt", 4, model, optimizer, scheduler)
del model, optimizer, scheduler

model, optimizer, scheduler = build()
checkpoint = torch.load("checkpoint.pt", map_location=torch.device("cpu"), weights_only=True)
model.load_state_dict(checkpoint["model_state_dict"])
optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
scheduler.load_state_dict(checkpoint["scheduler"])
start = checkpoint["epoch"]
for epoch in range(start, 8):
    resumed.append(train_epoch(model, optimizer, scheduler))
assert resumed == straight, (resumed, straight)
assert all(torch.equal(a, b) for a, b in zip(final_straight, model.parameters()))
assert os.path.getsize("checkpoint.pt") > 0
print("RESULT " + json.dumps({"losses": straight, "lr": scheduler.get_last_lr(),
                              "param_sums": [p.sum().item() for p in model.parameters()]}))
