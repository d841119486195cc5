"""A CIFAR-10-style classifier loop ("Training a classifier" tutorial): a small convnet class, CrossEntropyLoss,
SGD with momentum, a DataLoader over a TensorDataset, accuracy with torch.max, and a saved state dict."""
import json

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset

# tolerance: 2e-4 1e-5


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


rng = np.random.default_rng(0)
net = Net()
with torch.no_grad():
    for name, p in net.named_parameters():
        p.copy_(torch.from_numpy(rng.uniform(-0.1, 0.1, size=tuple(p.shape)).astype(np.float32)))

images = torch.tensor(rng.standard_normal((16, 3, 32, 32)), dtype=torch.float32)
labels = torch.tensor(rng.integers(0, 10, 16))
trainloader = DataLoader(TensorDataset(images, labels), batch_size=4, shuffle=False)

criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

losses = []
for epoch in range(3):
    running_loss = 0.0
    for i, data in enumerate(trainloader, 0):
        inputs, targets = data
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, targets)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    print(f"[{epoch + 1}] loss: {running_loss / len(trainloader):.3f}")
    losses.append(running_loss / len(trainloader))

correct = total = 0
with torch.no_grad():
    outputs = net(images)
    _, predicted = torch.max(outputs.data, 1)
    total += labels.size(0)
    correct += (predicted == labels).sum().item()
print(f"Accuracy of the network on the {total} images: {100 * correct // total} %")
torch.save(net.state_dict(), "cifar_net.pth")
net2 = Net()
net2.load_state_dict(torch.load("cifar_net.pth", weights_only=True))
same = bool(torch.equal(net2(images), net(images)))
print("RESULT " + json.dumps({"losses": losses, "accuracy": correct / total, "reloaded_same": same,
                              "logits": net(images[:2]).flatten().tolist()}))
