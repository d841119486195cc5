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
# # 4. Semantic segmentation with FCN-32s, 16s and 8s
#
# Fully convolutional networks (Long, Shelhamer & Darrell, CVPR 2015) trained the paper's way,
# in stages: FCN-32s first, then FCN-16s initialised from it (adding a skip from pool4), then
# FCN-8s from that (adding pool3). To run in about a minute on a CPU this uses the embedded
# synthetic data set in the PASCAL VOC layout (small images), nets a fraction of VGG-16's
# width trained from scratch, and few iterations: the numbers are far from the paper's, but
# every step is the real one. For PASCAL VOC itself use the recipe:
#
#     python -m recipes.fcn_voc --data VOCdevkit/VOC2012 --sbd benchmark_RELEASE/dataset \
#         --model staged --init vgg16.npz --device cuda

# %%
# %matplotlib inline
import os
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display
from tqdm import TqdmWarning

with warnings.catch_warnings():
    # Without ipywidgets, tqdm.auto says so and falls back to the text bar, which is fine here.
    warnings.simplefilter("ignore", TqdmWarning)
    from tqdm.auto import tqdm

import lumen
from lumen import optim
from lumen.data import DataLoader
from lumen.nn import functional as F
from lumen.vision import metrics, plot
from lumen.vision.datasets import VOC_CLASSES, VOCSegmentation, synthetic_voc
from lumen.vision.models import fcn
from lumen.vision.palette import colorize, overlay
from lumen.vision.transforms import ToCaffeInput, from_caffe_input

lumen.manual_seed(0)
WIDTH = 1 / 8                  # channel multiplier of the VGG-16 trunk (1 = the paper's nets)
SIZE, N_TRAIN, N_VAL = 64, 160, 20
ITERS = {"FCN-32s": 200, "FCN-16s": 200, "FCN-8s": 300}
LR = {"FCN-32s": 1e-3, "FCN-16s": 1e-3, "FCN-8s": 1e-3}

# %% [markdown]
# ## Data
#
# `synthetic_voc` writes a small data set in the VOC2012 folder layout (JPEGImages,
# SegmentationClass palette PNGs, ImageSets/Segmentation lists) into the cache folder
# (`$LUMEN_CACHE`, default `~/.cache/lumen`), once; `VOCSegmentation` reads it exactly as it
# reads VOC. Objects of the 20 VOC classes are drawn with a class colour and texture on
# clutter, with VOC's band of void pixels (255, white here) around each object.
# `ToCaffeInput` is the reference preprocessing (BGR, mean subtracted, CHW float32).

# %%
cache = Path(os.environ.get("LUMEN_CACHE", Path.home() / ".cache" / "lumen"))
root = synthetic_voc(cache / f"synthetic_voc-{N_TRAIN}-{N_VAL}-{SIZE}", n_train=N_TRAIN, n_val=N_VAL, size=SIZE)
train_set = VOCSegmentation(root, "train", transform=ToCaffeInput())
val_set = VOCSegmentation(root, "val", transform=ToCaffeInput())
print(train_set, val_set, sep="\n")

raw = VOCSegmentation(root, "train")
fig, axes = plt.subplots(2, 6, figsize=(12, 4.4))
for k in range(6):
    image, label = raw[k]
    axes[0, k].imshow(image)
    axes[1, k].imshow(colorize(label))
    names = [VOC_CLASSES[c] for c in np.unique(label) if 0 < c < 255]
    axes[0, k].set_title(", ".join(names), fontsize=8)
for ax in axes.flat:
    ax.set_axis_off()

# %% [markdown]
# ## Training and evaluation loops
#
# One image per step as in the paper, softmax cross-entropy over pixels with void ignored.
# The nets start from scratch (no ImageNet classifier to transplant here), so instead of the
# paper's SGD with a tiny fixed learning rate we use Adam. Fixed deconvolutions
# (`requires_grad=False`) are left out of the optimiser by `trainable_parameters()`.
# Evaluation accumulates one confusion matrix over the validation images and scores it as
# the reference's `score.py` (`lumen.vision.metrics`).

# %%
loader = DataLoader(train_set, batch_size=1, shuffle=True, seed=0)


def train(model, name):
    opt = optim.Adam(model.trainable_parameters(), lr=LR[name])
    model.train()
    log, it = {"name": name, "loss": [], "mean_iu": []}, 0
    with tqdm(total=ITERS[name], desc=name, unit="it") as bar:
        while it < ITERS[name]:
            for image, label in loader:
                loss = F.cross_entropy(model(image), label.long(), ignore_index=255)
                opt.zero_grad()
                loss.backward()
                opt.step()
                it += 1
                log["loss"].append([it, loss.item()])
                bar.set_postfix(loss=f"{loss.item():.3f}")
                bar.update()
                if it == ITERS[name]:
                    break
    return log


def evaluate(model):
    """Confusion matrix over the validation set and (image, truth, prediction) of each image."""
    model.eval()
    confusion, samples = metrics.ConfusionMatrix(len(VOC_CLASSES)), []
    with lumen.no_grad():
        for i in range(len(val_set)):
            image, label = val_set[i]
            pred = model(lumen.from_numpy(image[None])).argmax(1)[0].numpy()
            confusion.update(label, pred)
            samples.append((from_caffe_input(image), label, pred))
    model.train()
    return confusion, samples


results, samples, history = {}, {}, []


def run_stage(model, name):
    start = time.perf_counter()
    log = train(model, name)
    confusion, samples[name] = evaluate(model)
    results[name] = confusion
    log["mean_iu"].append([ITERS[name], confusion.compute()["mean_iu"]])
    history.append(log)
    print(f"{name}: {time.perf_counter() - start:.1f} s, validation mean IU "
          f"{100 * confusion.compute()['mean_iu']:.1f}")


# %% [markdown]
# ## Stage 1: FCN-32s
#
# The VGG-16 trunk (conv1_1 padded by 100, as the reference) with fc6/fc7 as convolutions,
# `score_fr` (1x1, zero-initialised) and one 64x64 stride-32 deconvolution, fixed to
# bilinear interpolation, then a crop whose offset follows from the layers' geometry.

# %%
fcn32 = fcn.fcn32s(num_classes=len(VOC_CLASSES), width=WIDTH)
print(f"{sum(p.numel() for p in fcn32.parameters()):,} parameters; crop offsets {fcn32.crop_offsets}")
run_stage(fcn32, "FCN-32s")

# %% [markdown]
# ## Stage 2: FCN-16s from FCN-32s
#
# `FCN16s.from_fcn32s` copies the trunk and `score_fr`, and adds `score_pool4`, zero at first
# so training starts from the coarse net's predictions; a 2x deconvolution (learned from its
# bilinear start) fuses the two before the final 16x upsampling.

# %%
fcn16 = fcn.FCN16s.from_fcn32s(fcn32)
print("new layers:", sorted(set(fcn16.state_dict()) - set(fcn32.state_dict())))
run_stage(fcn16, "FCN-16s")

# %% [markdown]
# ## Stage 3: FCN-8s from FCN-16s

# %%
fcn8 = fcn.FCN8s.from_fcn16s(fcn16)
print("new layers:", sorted(set(fcn8.state_dict()) - set(fcn16.state_dict())))
run_stage(fcn8, "FCN-8s")

# %% [markdown]
# ## Results in the form of the paper's Table 2
#
# Pixel accuracy, mean (per-class) accuracy, mean IU and frequency-weighted IU, in percent,
# on the validation images.

# %%
rows = ["| | pixel acc. | mean acc. | mean IU | f.w. IU |", "|---|---|---|---|---|"]
for name, confusion in results.items():
    m = confusion.compute()
    rows.append(f"| {name} | {100 * m['pixel_accuracy']:.1f} | {100 * m['mean_accuracy']:.1f} | "
                f"{100 * m['mean_iu']:.1f} | {100 * m['frequency_weighted_iu']:.1f} |")
display(Markdown("\n".join(rows)))

# %%
plot.training_curves(history)

# %% [markdown]
# ## Predictions
#
# Validation images with the truth and each stage's prediction laid over them in the VOC
# palette (background is left uncoloured). Nets this narrow, trained from scratch for a few
# hundred images, learn the background first and the objects only later: where the table
# shows low mean IU, expect mostly background here. The skip layers of FCN-16s and FCN-8s
# pay off once the trunk recognises the objects, i.e. with longer training (the recipe).

# %%
names = list(results)
show = range(4)
fig, axes = plt.subplots(len(show), 2 + len(names), figsize=(2.2 * (2 + len(names)), 2.2 * len(show)),
                         layout="constrained")
for row, i in enumerate(show):
    image, truth, _ = samples[names[0]][i]
    panels = [("image", image), ("truth", overlay(image, truth, 0.7))]
    panels += [(name, overlay(image, samples[name][i][2], 0.7)) for name in names]
    for col, (title, panel) in enumerate(panels):
        axes[row, col].imshow(panel)
        axes[row, col].set_axis_off()
        if row == 0:
            axes[row, col].set_title(title)

# %% [markdown]
# The same for FCN-8s with `lumen.vision.plot.segmentation_grid`, then its confusion matrix
# (rows: truth, normalised) and per-class IU. Classes that occur in no validation image have
# no IU and are left blank.

# %%
images, truths, preds = zip(*samples["FCN-8s"][4:7])
plot.segmentation_grid(images, truths, preds)

# %%
plot.confusion_matrix(results["FCN-8s"].hist)

# %%
plot.per_class_iu(results["FCN-8s"].compute()["per_class_iu"])

# %% [markdown]
# ## Going further
#
# * More iterations, a wider trunk (`WIDTH`) or larger images all raise these numbers; the
#   recipe `python -m recipes.fcn_voc` runs the same staged protocol on the embedded data for
#   longer, with checkpoints and resumption.
# * On PASCAL VOC: `python -m recipes.fcn_voc --data VOCdevkit/VOC2012 --sbd
#   benchmark_RELEASE/dataset --model staged --init vgg16.npz --device cuda` trains from a
#   convolutionalized VGG-16 (`python -m lumen.vision.convert` makes `vgg16.npz`) with the
#   paper's solver settings and reports the same Table 2 scores on seg11valid.
