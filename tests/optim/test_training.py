"""End to end: a tiny CNN trained with an imperative loop learns a synthetic image task."""
import math
import time

import numpy as np

import lumen
import lumen.nn as nn
from lumen import optim


def _quadrant_images(rng, n):
    """8x8 noisy images with a bright 3x3 blob in one of four quadrants; the label is the quadrant."""
    labels = rng.integers(0, 4, n)
    x = rng.normal(0, 0.3, (n, 1, 8, 8)).astype(np.float32)
    for i, c in enumerate(labels):
        r0 = (c // 2) * 4 + rng.integers(0, 2)
        c0 = (c % 2) * 4 + rng.integers(0, 2)
        x[i, 0, r0:r0 + 3, c0:c0 + 3] += 1.0
    return lumen.tensor(x), lumen.tensor(labels)


def test_tiny_cnn_learns():
    lumen.manual_seed(0)
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(8 * 4 * 4, 4))
    criterion = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    sched = optim.lr_scheduler.StepLR(opt, step_size=60, gamma=0.5)
    start = time.perf_counter()
    model.train()
    losses = []
    for _ in range(120):
        x, y = _quadrant_images(rng, 32)
        loss = criterion(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    elapsed = time.perf_counter() - start

    model.eval()
    x, y = _quadrant_images(np.random.default_rng(1), 256)
    with lumen.no_grad():
        logits = model(x)
        test_loss = criterion(logits, y).item()
    accuracy = (logits.argmax(1).numpy() == y.numpy()).mean()
    chance = math.log(4)
    assert np.mean(losses[:5]) > 0.8 * chance
    assert test_loss < 0.25 * chance, (test_loss, losses[-10:])
    assert accuracy > 0.9
    assert elapsed < 20, f"training took {elapsed:.1f}s"
