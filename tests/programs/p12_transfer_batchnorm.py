"""A fine-tuning loop: a small convnet with BatchNorm2d and AdaptiveAvgPool2d, its trunk frozen with
requires_grad_(False) and a new head, an optimizer over the parameters that still require grad, SGD with
Nesterov momentum and CosineAnnealingLR, train/eval modes (BatchNorm running statistics), clip_grad_norm_,
and evaluation under torch.inference_mode."""
import json

import numpy as np
import torch
import torch.nn as nn

# tolerance: 5e-4 1e-5


class Trunk(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
            nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


rng = np.random.default_rng(9)
model = Trunk()
with torch.no_grad():
    for name, p in model.named_parameters():
        if p.dim() > 1:
            p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape)) * 0.3, dtype=torch.float32))
images = torch.tensor(rng.standard_normal((12, 3, 12, 12)), dtype=torch.float32)
labels = torch.tensor(rng.integers(0, 3, 12))

model.train()
with torch.no_grad():
    model(images)  # one pass to move the running statistics, as a warm-up epoch would
for param in model.parameters():
    param.requires_grad_(False)
model.fc = nn.Linear(model.fc.in_features, 3)
with torch.no_grad():
    model.fc.weight.copy_(torch.tensor(rng.uniform(-0.3, 0.3, (3, 16)), dtype=torch.float32))
    model.fc.bias.zero_()
trainable = [p for p in model.parameters() if p.requires_grad]
optimizer = torch.optim.SGD(trainable, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10, eta_min=1e-3)
criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
losses, lrs, norms = [], [], []
for epoch in range(10):
    model.train()
    optimizer.zero_grad()
    loss = criterion(model(images), labels)
    loss.backward()
    norms.append(float(nn.utils.clip_grad_norm_(trainable, max_norm=0.5)))
    optimizer.step()
    scheduler.step()
    losses.append(loss.item())
    lrs.append(scheduler.get_last_lr()[0])
model.eval()
with torch.inference_mode():
    logits = model(images)
bn = model.features[1]
print("RESULT " + json.dumps({"losses": losses, "lrs": lrs, "norms": norms, "n_trainable": len(trainable),
                              "running_mean": bn.running_mean.tolist(), "running_var": bn.running_var.tolist(),
                              "batches_tracked": bn.num_batches_tracked.item(), "logits": logits[:2].flatten().tolist()}))
