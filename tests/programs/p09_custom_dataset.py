"""A custom Dataset (the "Datasets & DataLoaders" tutorial's shape: __len__, __getitem__ returning a dict,
a transform), random_split by fractions with a seeded Generator, Subset, ConcatDataset, a DataLoader with a
collate of dicts and drop_last, and a small model trained over fixed index subsets. The split's membership
comes from each library's generator: it is checked for what it must be, not compared."""
import json

import numpy as np
import torch
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset, random_split

# tolerance: 1e-4 1e-6


class PointsDataset(Dataset):
    def __init__(self, n, seed, transform=None):
        rng = np.random.default_rng(seed)
        self.points = rng.standard_normal((n, 2)).astype(np.float32)
        self.labels = (self.points[:, 0] * self.points[:, 1] > 0).astype(np.int64)
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        sample = {"point": torch.from_numpy(self.points[idx]), "label": int(self.labels[idx])}
        if self.transform:
            sample = self.transform(sample)
        return sample


def scale(sample):
    return {"point": sample["point"] * 2.0, "label": sample["label"]}


data = PointsDataset(100, seed=7, transform=scale)
train_set, val_set = random_split(data, [0.7, 0.3], generator=torch.Generator().manual_seed(42))
assert (len(train_set), len(val_set)) == (70, 30)
assert sorted(train_set.indices + val_set.indices) == list(range(100))
parts = random_split(range(10), [3, 7])
assert [len(p) for p in parts] == [3, 7]

both = ConcatDataset([Subset(data, range(0, 50)), Subset(data, range(50, 100))])
assert len(both) == 100 and torch.equal(both[73]["point"], data[73]["point"])
loader = DataLoader(Subset(data, list(range(64))), batch_size=16, shuffle=False, drop_last=True)
batch = next(iter(loader))
assert batch["point"].shape == (16, 2) and batch["label"].dtype == torch.int64

rng = np.random.default_rng(8)
model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.tensor(rng.uniform(-0.5, 0.5, tuple(p.shape)), dtype=torch.float32))
optimizer = torch.optim.SGD(model.parameters(), lr=0.3)
loss_fn = nn.CrossEntropyLoss()
losses = []
for epoch in range(5):
    for batch in loader:
        loss = loss_fn(model(batch["point"]), batch["label"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    losses.append(loss.item())
with torch.no_grad():
    held_out = DataLoader(Subset(data, range(64, 100)), batch_size=100)
    (test,) = list(held_out)
    accuracy = (model(test["point"]).argmax(1) == test["label"]).float().mean().item()
print("RESULT " + json.dumps({"losses": losses, "accuracy": accuracy, "batches": len(loader)}))
