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
# # 2. A small convnet, trained imperatively
#
# A synthetic image task made with NumPy: 16x16 noisy gratings whose stripes run in one of
# four directions. A small CNN from `lumen.nn` learns to tell the orientation; the training
# loop is plain Python with a `tqdm` progress bar. At the end we look at what the first layer
# learned.

# %%
# %matplotlib inline
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from tqdm import TqdmWarning

with warnings.catch_warnings():
    # Without ipywidgets, tqdm.auto says so and falls back to the text bar, which is fine here.
    warnings.simplefilter("ignore", TqdmWarning)
    from tqdm.auto import tqdm

import lumen
from lumen import nn, optim

lumen.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## The data: oriented stripes
#
# Class k has stripes at k x 45 degrees (plus or minus 8), with random period, phase and
# contrast, under strong pixel noise.

# %%
CLASSES = ["0 deg", "45 deg", "90 deg", "135 deg"]
SIZE = 16


def make_stripes(n, rng):
    """n images (n, 1, SIZE, SIZE) float32 and their labels (n,) int64."""
    labels = rng.integers(0, len(CLASSES), n)
    angle = labels * np.pi / 4 + rng.uniform(-0.15, 0.15, n)
    period = rng.uniform(3.0, 6.0, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    contrast = rng.uniform(0.4, 1.0, n)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] - (SIZE - 1) / 2
    across = xx * np.sin(angle)[:, None, None] - yy * np.cos(angle)[:, None, None]  # distance across the stripes
    images = contrast[:, None, None] * np.sin(2 * np.pi * across / period[:, None, None] + phase[:, None, None])
    images += rng.normal(0, 0.8, images.shape)
    return images[:, None].astype(np.float32), labels


x_train, y_train = make_stripes(1024, rng)
x_test, y_test = make_stripes(512, rng)

fig, axes = plt.subplots(2, 8, figsize=(10, 2.8))
for ax, img, label in zip(axes.flat, x_train, y_train):
    ax.imshow(img[0], cmap="gray")
    ax.set_title(CLASSES[label], fontsize=9)
    ax.set_axis_off()

# %% [markdown]
# ## The network
#
# Two conv + ReLU + max-pool stages and a linear classifier: (N, 1, 16, 16) -> (N, 4) logits.

# %%
model = nn.Sequential(
    nn.Conv2d(1, 16, kernel_size=7, padding=3), nn.ReLU(), nn.MaxPool2d(2),   # 16 x 8 x 8
    nn.Conv2d(16, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 16 x 4 x 4
    nn.Flatten(),
    nn.Linear(16 * 4 * 4, len(CLASSES)),
)
print(model)
print("parameters:", sum(p.numel() for p in model.parameters()))


# %% [markdown]
# ## Training
#
# Mini-batches drawn from a shuffled index, cross-entropy loss, SGD with momentum. After each
# epoch we measure accuracy on the held-out images (in eval mode, without recording a tape).

# %%
def accuracy(model, x, y):
    model.eval()
    with lumen.no_grad():
        pred = model(lumen.from_numpy(x)).argmax(1).numpy()
    model.train()
    return float((pred == y).mean())


criterion = nn.CrossEntropyLoss()
opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
epochs, batch = 5, 32
steps_per_epoch = len(x_train) // batch
losses, train_acc, test_acc = [], [], []

start = time.perf_counter()
with tqdm(total=epochs * steps_per_epoch, desc="training", unit="step") as bar:
    for epoch in range(epochs):
        order = rng.permutation(len(x_train))
        for i in range(steps_per_epoch):
            idx = order[i * batch:(i + 1) * batch]
            logits = model(lumen.from_numpy(x_train[idx]))
            loss = criterion(logits, lumen.from_numpy(y_train[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            bar.update()
        train_acc.append(accuracy(model, x_train, y_train))
        test_acc.append(accuracy(model, x_test, y_test))
print(f"{time.perf_counter() - start:.1f} s; test accuracy {100 * test_acc[-1]:.1f}% (chance 25%)")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.2))
steps = np.arange(1, len(losses) + 1)
ax1.plot(steps, losses, lw=0.8, alpha=0.5, label="per step")
ax1.plot(steps[9:], np.convolve(losses, np.ones(10) / 10, mode="valid"), label="running mean (10)")
ax1.axhline(np.log(len(CLASSES)), color="gray", ls=":", label="chance")
ax1.set_xlabel("step")
ax1.set_ylabel("cross-entropy")
ax1.legend()
ax2.plot(range(1, epochs + 1), train_acc, "o-", label="train")
ax2.plot(range(1, epochs + 1), test_acc, "o-", label="test")
ax2.set_ylim(0, 1)
ax2.set_xticks(range(1, epochs + 1))
ax2.set_xlabel("epoch")
ax2.set_ylabel("accuracy")
ax2.legend()
fig.tight_layout()

# %% [markdown]
# ## What the first layer learned
#
# The 16 filters of the first convolution, each 7x7 (blue negative, red positive). Many
# have turned into small oriented edge and bar detectors: the features this task needs.

# %%
filters = model[0].weight.detach().numpy()[:, 0]          # (16, 7, 7)
limit = np.abs(filters).max()
fig, axes = plt.subplots(2, 8, figsize=(10, 2.8))
for k, ax in enumerate(axes.flat):
    ax.imshow(filters[k], cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_title(f"filter {k}", fontsize=8)
    ax.set_axis_off()

# %% [markdown]
# And some test images with the network's answers (red: wrong):

# %%
model.eval()
with lumen.no_grad():
    pred = model(lumen.from_numpy(x_test[:16])).argmax(1).numpy()
fig, axes = plt.subplots(2, 8, figsize=(10, 2.8))
for ax, img, p, t in zip(axes.flat, x_test, pred, y_test):
    ax.imshow(img[0], cmap="gray")
    ax.set_title(CLASSES[p], fontsize=9, color="black" if p == t else "red")
    ax.set_axis_off()
