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
# # 3. Net surgery: from classifier to fully convolutional net
#
# The key step of the FCN paper (Long, Shelhamer & Darrell, CVPR 2015, Sec. 3.1): a fully
# connected layer that reads a C x k x k feature map is the same linear map as a k x k
# convolution, so a classifier trained on fixed-size images can be rewritten to take images
# of any size, and then returns a *map* of class scores, one per input window.
# `lumen.vision.models.surgery.convolutionalize` does this rewrite for AlexNet and VGG.
#
# Here we train a tiny VGG-style classifier on 28x28 patches, convolutionalize it, run it on a
# larger scene to get a coarse class heatmap, and upsample the heatmap with the bilinear
# deconvolution FCNs start from (`lumen.nn.init.bilinear_`).

# %%
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

import lumen
from lumen import nn, optim
from lumen.nn import functional as F
from lumen.vision.models import VGG, convolutionalize
from lumen.vision.models.vgg import make_layers

lumen.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## Data: coloured shapes on clutter
#
# Four classes: background, red disc, green square, blue triangle. A training patch is 28x28;
# an object patch has the shape near its centre, a background patch has clutter only, or a
# shape well off-centre (so the classifier learns to answer "what is in the *middle* of this
# window", which is what makes its sliding-window heatmap peak on objects).

# %%
CLASSES = ["background", "red disc", "green square", "blue triangle"]
COLOURS = np.array([[0.55, 0.55, 0.55], [0.9, 0.15, 0.1], [0.1, 0.7, 0.2], [0.15, 0.3, 0.95]])
PATCH = 28


def shape_mask(kind, cy, cx, r, h, w):
    dy, dx = np.mgrid[0:h, 0:w] - np.array([cy, cx])[:, None, None]
    if kind == 1:
        return dy**2 + dx**2 <= r**2
    if kind == 2:
        return (np.abs(dy) <= 0.8 * r) & (np.abs(dx) <= 0.8 * r)
    return (dy >= -r) & (dy <= 0.7 * r) & (np.abs(dx) <= 0.6 * (dy + r))  # apex up


def render(h, w, objects, rng):
    """An (h, w, 3) float image: grey clutter, then objects [(class, cy, cx, radius), ...]."""
    img = np.full((h, w, 3), rng.uniform(0.3, 0.7))
    for _ in range(int(rng.integers(2, 6))):  # grey rectangles
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        img[y0:y0 + rng.integers(4, 16), x0:x0 + rng.integers(4, 16)] = rng.uniform(0.2, 0.8)
    for kind, cy, cx, r in objects:
        img[shape_mask(kind, cy, cx, r, h, w)] = COLOURS[kind] * rng.uniform(0.75, 1.0)
    return np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1)


def make_patches(n, rng):
    """n patches (n, 3, 28, 28) float32 and labels (n,) int64."""
    labels = rng.integers(0, len(CLASSES), n)
    images = np.empty((n, PATCH, PATCH, 3))
    c = (PATCH - 1) / 2
    for i, label in enumerate(labels):
        objects = []
        if label > 0:
            objects.append((label, *(c + rng.uniform(-3, 3, 2)), rng.uniform(5, 9)))
        elif rng.random() < 0.6:  # a shape whose centre is far outside the middle
            angle, dist = rng.uniform(0, 2 * np.pi), rng.uniform(15, 20)
            objects.append((int(rng.integers(1, 4)), c + dist * np.sin(angle), c + dist * np.cos(angle),
                            rng.uniform(5, 9)))
        images[i] = render(PATCH, PATCH, objects, rng)
    return images.transpose(0, 3, 1, 2).astype(np.float32), labels


x_train, y_train = make_patches(1024, rng)
x_test, y_test = make_patches(512, rng)

fig, axes = plt.subplots(2, 8, figsize=(10, 3))
for ax, img, label in zip(axes.flat, x_train, y_train):
    ax.imshow(img.transpose(1, 2, 0))
    ax.set_title(CLASSES[label], fontsize=8)
    ax.set_axis_off()


# %% [markdown]
# ## A tiny VGG
#
# VGG's layout (`features` -> `avgpool` -> `classifier` of three linear layers), shrunk:
# two conv stages take a 28x28 patch to a 16 x 7 x 7 map, as VGG-16 takes 224x224 to
# 512 x 7 x 7, and the classifier is 64 wide instead of 4096. `VGG.__init__` always builds the
# ImageNet-sized classifier (120 M parameters), so the subclass sets the three parts itself;
# being a `VGG`, it is accepted by `convolutionalize`, whose fc6 kernel for VGG is 7x7.

# %%
class TinyVGG(VGG):
    def __init__(self, num_classes):
        nn.Module.__init__(self)
        self.features = make_layers([8, "M", 16, "M"])    # (N, 3, 28, 28) -> (N, 16, 7, 7)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(16 * 7 * 7, 64), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(64, 64), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(64, num_classes),
        )


model = TinyVGG(len(CLASSES))
criterion = nn.CrossEntropyLoss()
opt = optim.Adam(model.parameters(), lr=3e-3)

start = time.perf_counter()
for step in range(150):
    idx = rng.integers(0, len(x_train), 32)
    loss = criterion(model(lumen.from_numpy(x_train[idx])), lumen.from_numpy(y_train[idx]))
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 50 == 0:
        print(f"step {step:3d}  loss {loss.item():.3f}")

model.eval()
with lumen.no_grad():
    test_logits = model(lumen.from_numpy(x_test))
accuracy = (test_logits.argmax(1).numpy() == y_test).mean()
print(f"trained in {time.perf_counter() - start:.1f} s; test accuracy {100 * accuracy:.1f}% (chance 25%)")

# %% [markdown]
# ## Surgery
#
# `convolutionalize` copies the trunk and turns fc6 (a `Linear` over the flattened 16 x 7 x 7
# map) into a 7x7 convolution by reshaping its weight, and fc7/fc8 into 1x1 convolutions.
# The adaptive pooling is dropped.

# %%
fully_conv = convolutionalize(model).eval()
print("fc6 weight:", tuple(model.classifier[0].weight.shape), "->", tuple(fully_conv.classifier[0].weight.shape))
print(fully_conv.classifier)

# %% [markdown]
# On a 28x28 patch the new net returns a 1x1 map holding exactly the classifier's logits:

# %%
with lumen.no_grad():
    dense = fully_conv(lumen.from_numpy(x_test))
print("output shape", tuple(dense.shape))
diff = np.abs(dense.numpy()[:, :, 0, 0] - test_logits.numpy()).max()
print(f"largest difference from the classifier's logits: {diff:.1e} (float32 rounding:"
      f" the same products summed in another order; logits up to {np.abs(test_logits.numpy()).max():.0f})")

# %% [markdown]
# ## A coarse heatmap on a larger image
#
# On a 112x112 scene the trunk gives a 28x28 map, and the 7x7 fc6 convolution slides over it:
# 22x22 class scores, one for each 28x28 window of the scene, at a stride of 4 pixels (the
# trunk's two poolings). It is the sliding-window classifier computed in one pass, sharing
# the convolutional work between overlapping windows.

# %%
SCENE = 112
scene_rng = np.random.default_rng(3)
objects = []
for i, (gy, gx) in enumerate([(0, 0), (0, 2), (1, 1), (2, 0), (2, 2), (0, 1), (2, 1)]):
    kind = 1 + i % 3
    cy, cx = 20 + 36 * gy + scene_rng.uniform(-4, 4), 20 + 36 * gx + scene_rng.uniform(-4, 4)
    objects.append((kind, cy, cx, scene_rng.uniform(6, 9)))
scene = render(SCENE, SCENE, objects, scene_rng)
scene_input = lumen.tensor(scene.transpose(2, 0, 1)[None], dtype=lumen.float32)

with lumen.no_grad():
    scores = fully_conv(scene_input)                      # (1, 4, 22, 22)
probs = F.softmax(scores, dim=1)[0].numpy()
print("scene", tuple(scene_input.shape), "-> scores", tuple(scores.shape))

# Score (i, j) belongs to the window whose centre is at pixel 4 i + 13.5: draw the cells there.
n = scores.shape[-1]
lo, hi = 13.5 - 2, 4 * (n - 1) + 13.5 + 2
fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
axes[0].imshow(scene)
axes[0].set_title("scene")
for k, ax in zip(range(1, 4), axes[1:]):
    ax.imshow(scene)
    im = ax.imshow(probs[k], extent=(lo, hi, hi, lo), cmap="magma", vmin=0, vmax=1, alpha=0.75)
    ax.set_xlim(-0.5, SCENE - 0.5)
    ax.set_ylim(SCENE - 0.5, -0.5)
    ax.set_title(f"P({CLASSES[k]})")
for ax in axes:
    ax.set_axis_off()
cbar = fig.colorbar(im, ax=axes, shrink=0.8)

# %% [markdown]
# ## Bilinear upsampling as a deconvolution
#
# To label pixels, FCNs upsample the coarse scores with a transposed convolution
# (`nn.ConvTranspose2d`, "deconvolution") of stride f and kernel 2f, initialised to bilinear
# interpolation by `nn.init.bilinear_`: each class channel is spread over the output with the
# tent-shaped kernel below. The nets in `lumen.vision.models.fcn` start their deconvolutions
# this way (and may then learn them).

# %%
factor = 4
up = nn.ConvTranspose2d(len(CLASSES), len(CLASSES), kernel_size=2 * factor, stride=factor, bias=False)
nn.init.bilinear_(up.weight)
kernel = up.weight.detach().numpy()[0, 0]
print("weight", tuple(up.weight.shape), "| off-diagonal entries all zero:",
      bool(np.all(up.weight.detach().numpy()[0, 1:] == 0)))

fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(11, 3.2))
ax1.imshow(kernel, cmap="viridis")
ax1.set_title(f"bilinear kernel {kernel.shape[0]}x{kernel.shape[1]}")
ax2.plot(kernel[kernel.shape[0] // 2 - 1], "o-")
ax2.set_title("one row of it")
# upsample a 4x4 checkerboard of one channel: the deconvolution interpolates between cells
coarse = lumen.tensor(np.indices((4, 4)).sum(0) % 2, dtype=lumen.float32)
toy = lumen.zeros(1, len(CLASSES), 4, 4)
toy[0, 0] = coarse
with lumen.no_grad():
    smooth = up(toy)[0, 0].numpy()
ax3.imshow(smooth, cmap="gray")
ax3.set_title(f"4x4 checkerboard -> {smooth.shape[0]}x{smooth.shape[1]}")  # edges fade: no cell beyond
fig.tight_layout()

# %% [markdown]
# Applied to the scene's scores: (22 - 1) x 4 + 8 = 92 upsampled pixels, whose pixel p lies
# over scene pixel p + 10 (the deconvolution puts output p at coarse position (p - 3.5) / 4,
# and coarse cell i sits at 4 i + 13.5). The coarse argmax is blocky; the upsampled one
# follows the shapes much more closely, though it still cannot see their exact edges: that is
# what the skip layers of FCN-16s and FCN-8s add (notebook 4).

# %%
with lumen.no_grad():
    fine = up(scores)                                     # (1, 4, 92, 92)
print("upsampled", tuple(fine.shape))
coarse_label = scores.argmax(1)[0].numpy()
fine_label = fine.argmax(1)[0].numpy()
offset = 10

cmap = ListedColormap(COLOURS)
truth = np.zeros((SCENE, SCENE), dtype=int)
for kind, cy, cx, r in objects:
    truth[shape_mask(kind, cy, cx, r, SCENE, SCENE)] = kind

fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
panels = [
    ("scene", scene, None),
    ("truth", truth, (-0.5, SCENE - 0.5, SCENE - 0.5, -0.5)),
    (f"coarse argmax {coarse_label.shape[0]}x{coarse_label.shape[1]}", coarse_label, (lo, hi, hi, lo)),
    (f"bilinear x{factor}: {fine_label.shape[0]}x{fine_label.shape[1]}", fine_label,
     (offset - 0.5, offset + fine_label.shape[1] - 0.5, offset + fine_label.shape[0] - 0.5, offset - 0.5)),
]
for ax, (title, panel, extent) in zip(axes, panels):
    if extent is None:
        ax.imshow(panel)
    else:  # labels over the scene, background left transparent
        ax.imshow(scene)
        ax.imshow(np.ma.masked_equal(panel, 0), cmap=cmap, vmin=-0.5, vmax=3.5, extent=extent, alpha=0.8,
                  interpolation="nearest")
    ax.set_xlim(-0.5, SCENE - 0.5)
    ax.set_ylim(SCENE - 0.5, -0.5)
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()
