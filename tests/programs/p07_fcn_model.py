"""An FCN-8s-style model class as public PyTorch reimplementations write it: a small VGG-like trunk with
ceil-mode pooling and padding 100, fc6/fc7 as convolutions with Dropout2d, score layers, learned transposed
convolutions initialised to bilinear upsampling, crops of the skip scores, and CrossEntropyLoss with
ignore_index=255 on 4-d score maps. Trained a few steps in eval mode (Dropout2d masks are library draws)."""
import json

import numpy as np
import torch
import torch.nn as nn

# tolerance: 5e-4 1e-5


def get_upsampling_weight(in_channels, out_channels, kernel_size):
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = np.ogrid[:kernel_size, :kernel_size]
    filt = (1 - abs(og[0] - center) / factor) * (1 - abs(og[1] - center) / factor)
    weight = np.zeros((in_channels, out_channels, kernel_size, kernel_size), dtype=np.float64)
    weight[range(in_channels), range(out_channels), :, :] = filt
    return torch.from_numpy(weight).float()


class TinyFCN8s(nn.Module):
    def __init__(self, n_class=5):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=100), nn.ReLU(inplace=True),
                                   nn.MaxPool2d(2, stride=2, ceil_mode=True))
        self.conv2 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(inplace=True),
                                   nn.MaxPool2d(2, stride=2, ceil_mode=True))
        self.conv3 = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(inplace=True),
                                   nn.MaxPool2d(2, stride=2, ceil_mode=True))
        self.conv4 = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(inplace=True),
                                   nn.MaxPool2d(2, stride=2, ceil_mode=True))
        self.conv5 = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(inplace=True),
                                   nn.MaxPool2d(2, stride=2, ceil_mode=True))
        self.fc6 = nn.Conv2d(16, 32, 7)
        self.relu6 = nn.ReLU(inplace=True)
        self.drop6 = nn.Dropout2d()
        self.fc7 = nn.Conv2d(32, 32, 1)
        self.relu7 = nn.ReLU(inplace=True)
        self.drop7 = nn.Dropout2d()
        self.score_fr = nn.Conv2d(32, n_class, 1)
        self.score_pool3 = nn.Conv2d(16, n_class, 1)
        self.score_pool4 = nn.Conv2d(16, n_class, 1)
        self.upscore2 = nn.ConvTranspose2d(n_class, n_class, 4, stride=2, bias=False)
        self.upscore8 = nn.ConvTranspose2d(n_class, n_class, 16, stride=8, bias=False)
        self.upscore_pool4 = nn.ConvTranspose2d(n_class, n_class, 4, stride=2, bias=False)
        for m in self.modules():
            if isinstance(m, nn.ConvTranspose2d):
                m.weight.data.copy_(get_upsampling_weight(m.in_channels, m.out_channels, m.kernel_size[0]))

    def forward(self, x):
        h = self.conv3(self.conv2(self.conv1(x)))
        pool3 = h
        h = self.conv4(h)
        pool4 = h
        h = self.conv5(h)
        h = self.drop6(self.relu6(self.fc6(h)))
        h = self.drop7(self.relu7(self.fc7(h)))
        h = self.upscore2(self.score_fr(h))
        upscore2 = h
        h = self.score_pool4(pool4 * 0.01)
        h = h[:, :, 5:5 + upscore2.size()[2], 5:5 + upscore2.size()[3]]
        h = upscore2 + h
        h = self.upscore_pool4(h)
        upscore_pool4 = h
        h = self.score_pool3(pool3 * 0.0001)
        h = h[:, :, 9:9 + upscore_pool4.size()[2], 9:9 + upscore_pool4.size()[3]]
        h = self.upscore8(upscore_pool4 + h)
        return h[:, :, 31:31 + x.size()[2], 31:31 + x.size()[3]].contiguous()


rng = np.random.default_rng(5)
model = TinyFCN8s()
with torch.no_grad():
    for name, p in model.named_parameters():
        if "upscore" not in name:
            p.copy_(torch.tensor(rng.uniform(-0.15, 0.15, tuple(p.shape)), dtype=torch.float32))
image = torch.tensor(rng.standard_normal((2, 3, 40, 44)), dtype=torch.float32)
label = torch.tensor(rng.integers(0, 5, (2, 40, 44)))
label[:, :4] = 255
criterion = nn.CrossEntropyLoss(ignore_index=255)
optim = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.99, weight_decay=5e-4)
model.eval()
losses = []
for step in range(4):
    optim.zero_grad()
    score = model(image)
    loss = criterion(score, label)
    loss.backward()
    optim.step()
    losses.append(loss.item())
with torch.no_grad():
    score = model(image)
    pred = score.max(1)[1]
model.train()
train_shape = list(model(image).shape)
print("RESULT " + json.dumps({"losses": losses, "score_shape": list(score.shape), "train_shape": train_shape,
                              "score_sum": score.sum().item(), "scores": score[0, :, 20, ::8].flatten().tolist(),
                              "pred_classes": pred.unique().tolist(),
                              "n_params": sum(p.numel() for p in model.parameters())}))
