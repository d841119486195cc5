"""Write the tutorial notebooks (without outputs) from the Python source below.

    python notebooks/_build.py          # rewrites notebooks/*.ipynb

Edit the cells here, not in the .ipynb files. Cell ids are derived from the notebook
name and position so a rebuild with unchanged source leaves the files unchanged.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent


def md(text):
    return ("markdown", text)


def code(text):
    return ("code", text)


def build(name, cells, out_dir=HERE):
    """Write ``out_dir/name.ipynb`` from ``cells`` [(kind, source), ...]; returns its path."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, (kind, text) in enumerate(cells):
        source = textwrap.dedent(text).strip("\n")
        cell = nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
        cell.id = f"{name.split('_')[0]}-{i:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    path = Path(out_dir) / f"{name}.ipynb"
    path.write_text(nbformat.writes(nb) + "\n")
    return path


# ---------------------------------------------------------------------------------------------
AUTOGRAD = [
    md("""
    # 1. Tensors and autograd

    Lumen is an eager, tape-based autograd library with PyTorch's names. This notebook covers
    tensors and broadcasting, the tape that records every operation (`grad_fn`), `backward()`,
    `no_grad()`, checking a hand-written gradient with `gradcheck`, and a small regression fitted
    with a plain Python loop.
    """),
    code("""
    %matplotlib inline
    import matplotlib.pyplot as plt
    import numpy as np

    import lumen
    from lumen import nn, optim

    lumen.manual_seed(0)
    print("lumen", lumen.__version__)
    """),
    md("""
    ## Tensors

    A `Tensor` wraps a backend array (a NumPy array on the CPU, a CuPy array on a GPU) and
    knows its shape, dtype and device. `lumen.from_numpy` shares memory with the array;
    `lumen.tensor` copies.
    """),
    code("""
    x = lumen.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    print(x)
    print("shape", x.shape, "| dtype", x.dtype, "| device", x.device, "| numel", x.numel())

    a = np.zeros(3)
    shared = lumen.from_numpy(a)      # float64, like the array
    a[0] = 7.0                        # ...and the same memory
    print(shared)
    """),
    code("""
    print(x.sum(dim=0), x.mean(dim=1, keepdim=True).shape)
    print(x.T @ x)                    # (3, 2) @ (2, 3) -> (3, 3)
    print(x[:, 1:], x.reshape(3, 2).shape)
    """),
    md("""
    ## Broadcasting

    Shapes are aligned from the right; a dimension of size 1 (or a missing one) is stretched to
    match the other operand, as in NumPy. Incompatible shapes give an error naming the op and
    both shapes.
    """),
    code("""
    col = lumen.arange(3.0).reshape(3, 1)       # (3, 1)
    row = lumen.tensor([10.0, 20.0, 30.0, 40.0])  # (4,)
    print(col + row)                             # (3, 4)

    try:
        lumen.ones(3) + lumen.ones(4)
    except RuntimeError as e:
        print("RuntimeError:", e)
    """),
    md("""
    ## The tape

    When an input has `requires_grad=True`, every operation on it records a node on the tape:
    the result's `grad_fn`. Each node keeps one edge per input (`next`): to the node that
    produced it, or to a leaf (a tensor you created, without `grad_fn`), where backward stores
    the gradient in `.grad`; inputs that need no gradient have no edge.
    """),
    code("""
    w = lumen.tensor([0.5, -1.0, 2.0], requires_grad=True)
    u = lumen.tensor([1.0, 2.0, 3.0])
    y = (w * u).exp().sum()
    print(y)
    print("w is a leaf:", w.is_leaf, "| y.grad_fn:", y.grad_fn)


    def show_tape(node, depth=0):
        print("  " * depth + node.name())
        pad = "  " * (depth + 1)
        for parent, _ in node.next_functions:   # one (node, output index) per input of the op
            if parent is None:                  # the input needs no gradient
                print(pad + "(constant)")
            elif parent.name() == "AccumulateGrad":  # the gradient lands in the leaf's .grad
                print(pad + f"leaf of shape {tuple(parent.variable.shape)} -> .grad")
            else:
                show_tape(parent, depth + 1)


    show_tape(y.grad_fn)
    """),
    md("""
    ## backward

    `y.backward()` walks the tape from `y` back to the leaves and stores dy/dw in `w.grad`.
    Here y = sum(exp(w * u)), so dy/dw = u * exp(w * u):
    """),
    code("""
    y.backward()
    expected = u.numpy() * np.exp(w.detach().numpy() * u.numpy())
    print("autograd:", w.grad)
    print("by hand: ", expected)
    assert np.allclose(w.grad.numpy(), expected)
    """),
    md("""
    Gradients **accumulate**: a second backward adds to `w.grad`. Training loops therefore
    clear them before each step (`optimizer.zero_grad()`, or `w.grad = None`).
    """),
    code("""
    (w * u).exp().sum().backward()
    print("after a second backward:", w.grad, "(twice the value above)")
    w.grad = None
    """),
    md("""
    ## no_grad and detach

    Inside `lumen.no_grad()` nothing is recorded: use it for evaluation and for updating
    parameters by hand. `detach()` gives a tensor sharing the data but cut off from the tape.
    """),
    code("""
    with lumen.no_grad():
        z = w * 2
    print("recorded under no_grad?", z.requires_grad, z.grad_fn)
    print("detached:", w.detach().requires_grad)
    """),
    md("""
    ## A new op, checked with gradcheck

    A differentiable op is a `lumen.autograd.Function` with `forward` (raw arrays in and out)
    and `backward` (gradients as Tensors). `gradcheck` compares its backward with central
    finite differences in float64. A correct softplus passes; one whose backward forgot a
    factor is caught, with a message saying where.
    """),
    code("""
    from lumen.autograd import Function, gradcheck


    class Softplus(Function):
        \"\"\"log(1 + exp(x)), written stably; its derivative is sigmoid(x).\"\"\"

        def forward(self, x):
            self.save_inputs(0)
            return self.xp.logaddexp(0.0, x)

        def backward(self, gy):
            (x,) = self.saved_inputs
            return gy * x.sigmoid()


    class BrokenSoftplus(Softplus):
        def backward(self, gy):
            (x,) = self.saved_inputs
            return gy * x.sigmoid() * 0.5      # wrong by a factor of 2


    x64 = lumen.randn(5, dtype=lumen.float64, requires_grad=True)
    print("Softplus:", gradcheck(Softplus.apply, (x64,)))
    try:
        gradcheck(BrokenSoftplus.apply, (x64,))
    except AssertionError as e:
        print("BrokenSoftplus:", str(e).splitlines()[0])
    """),
    md("""
    ## A tiny regression, fitted imperatively

    Noisy samples of a cubic; we fit y = a x^3 + b x^2 + c x + d by gradient descent on the
    mean squared error. The loop is ordinary Python: forward, `backward()`, then update the
    leaves by hand under `no_grad()`.
    """),
    code("""
    rng = np.random.default_rng(0)
    xs = np.linspace(-1.5, 1.5, 64)
    ys = 0.8 * xs**3 - 0.5 * xs**2 - 1.0 * xs + 0.3 + rng.normal(0, 0.15, xs.shape)

    features = lumen.tensor(np.stack([xs**3, xs**2, xs, np.ones_like(xs)], axis=1), dtype=lumen.float32)
    target = lumen.tensor(ys, dtype=lumen.float32)
    coef = lumen.zeros(4, requires_grad=True)

    lr, losses = 0.1, []
    for step in range(300):
        loss = ((features @ coef - target) ** 2).mean()
        loss.backward()
        with lumen.no_grad():
            coef -= lr * coef.grad
        coef.grad = None
        losses.append(loss.item())

    print("fitted a, b, c, d:", np.round(coef.detach().numpy(), 2), "(true: 0.8, -0.5, -1.0, 0.3)")
    print(f"loss {losses[0]:.3f} -> {losses[-1]:.4f}")
    """),
    md("""
    The same fit with the library's pieces: a `nn.Linear` layer holds the coefficients and an
    optimiser does the update. The loop keeps the same four lines.
    """),
    code("""
    model = nn.Linear(4, 1)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    module_losses = []
    for step in range(300):
        loss = ((model(features).squeeze(1) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        module_losses.append(loss.item())
    print(f"nn.Linear + SGD(momentum=0.9): loss {module_losses[-1]:.4f}")
    """),
    code("""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax1.semilogy(losses, label="hand-written update")
    ax1.semilogy(module_losses, label="nn.Linear + optim.SGD (momentum)")
    ax1.set_xlabel("step")
    ax1.set_ylabel("mean squared error")
    ax1.legend()
    ax2.scatter(xs, ys, s=10, color="gray", label="data")
    with lumen.no_grad():
        ax2.plot(xs, (features @ coef).numpy(), color="C0", label="fit")
    ax2.set_xlabel("x")
    ax2.legend()
    fig.tight_layout()
    """),
]


CONVNET = [
    md("""
    # 2. A small convnet, trained imperatively

    A synthetic image task made with NumPy: 16x16 noisy gratings whose stripes run in one of
    four directions. A small CNN from `lumen.nn` learns to tell the orientation; the training
    loop is plain Python with a `tqdm` progress bar. At the end we look at what the first layer
    learned.
    """),
    code("""
    %matplotlib inline
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
    """),
    md("""
    ## The data: oriented stripes

    Class k has stripes at k x 45 degrees (plus or minus 8), with random period, phase and
    contrast, under strong pixel noise.
    """),
    code("""
    CLASSES = ["0 deg", "45 deg", "90 deg", "135 deg"]
    SIZE = 16


    def make_stripes(n, rng):
        \"\"\"n images (n, 1, SIZE, SIZE) float32 and their labels (n,) int64.\"\"\"
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
    """),
    md("""
    ## The network

    Two conv + ReLU + max-pool stages and a linear classifier: (N, 1, 16, 16) -> (N, 4) logits.
    """),
    code("""
    model = nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=7, padding=3), nn.ReLU(), nn.MaxPool2d(2),   # 16 x 8 x 8
        nn.Conv2d(16, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 16 x 4 x 4
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, len(CLASSES)),
    )
    print(model)
    print("parameters:", sum(p.numel() for p in model.parameters()))
    """),
    md("""
    ## Training

    Mini-batches drawn from a shuffled index, cross-entropy loss, SGD with momentum. After each
    epoch we measure accuracy on the held-out images (in eval mode, without recording a tape).
    """),
    code("""
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
    """),
    code("""
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
    """),
    md("""
    ## What the first layer learned

    The 16 filters of the first convolution, each 7x7 (blue negative, red positive). Many
    have turned into small oriented edge and bar detectors: the features this task needs.
    """),
    code("""
    filters = model[0].weight.detach().numpy()[:, 0]          # (16, 7, 7)
    limit = np.abs(filters).max()
    fig, axes = plt.subplots(2, 8, figsize=(10, 2.8))
    for k, ax in enumerate(axes.flat):
        ax.imshow(filters[k], cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"filter {k}", fontsize=8)
        ax.set_axis_off()
    """),
    md("""
    And some test images with the network's answers (red: wrong):
    """),
    code("""
    model.eval()
    with lumen.no_grad():
        pred = model(lumen.from_numpy(x_test[:16])).argmax(1).numpy()
    fig, axes = plt.subplots(2, 8, figsize=(10, 2.8))
    for ax, img, p, t in zip(axes.flat, x_test, pred, y_test):
        ax.imshow(img[0], cmap="gray")
        ax.set_title(CLASSES[p], fontsize=9, color="black" if p == t else "red")
        ax.set_axis_off()
    """),
]


SURGERY = [
    md("""
    # 3. Net surgery: from classifier to fully convolutional net

    The key step of the FCN paper (Long, Shelhamer & Darrell, CVPR 2015, Sec. 3.1): a fully
    connected layer that reads a C x k x k feature map is the same linear map as a k x k
    convolution, so a classifier trained on fixed-size images can be rewritten to take images
    of any size, and then returns a *map* of class scores, one per input window.
    `lumen.vision.models.surgery.convolutionalize` does this rewrite for AlexNet and VGG.

    Here we train a tiny VGG-style classifier on 28x28 patches, convolutionalize it, run it on a
    larger scene to get a coarse class heatmap, and upsample the heatmap with the bilinear
    deconvolution FCNs start from (`lumen.nn.init.bilinear_`).
    """),
    code("""
    %matplotlib inline
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
    """),
    md("""
    ## Data: coloured shapes on clutter

    Four classes: background, red disc, green square, blue triangle. A training patch is 28x28;
    an object patch has the shape near its centre, a background patch has clutter only, or a
    shape well off-centre (so the classifier learns to answer "what is in the *middle* of this
    window", which is what makes its sliding-window heatmap peak on objects).
    """),
    code("""
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
        \"\"\"An (h, w, 3) float image: grey clutter, then objects [(class, cy, cx, radius), ...].\"\"\"
        img = np.full((h, w, 3), rng.uniform(0.3, 0.7))
        for _ in range(int(rng.integers(2, 6))):  # grey rectangles
            y0, x0 = rng.integers(0, h), rng.integers(0, w)
            img[y0:y0 + rng.integers(4, 16), x0:x0 + rng.integers(4, 16)] = rng.uniform(0.2, 0.8)
        for kind, cy, cx, r in objects:
            img[shape_mask(kind, cy, cx, r, h, w)] = COLOURS[kind] * rng.uniform(0.75, 1.0)
        return np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1)


    def make_patches(n, rng):
        \"\"\"n patches (n, 3, 28, 28) float32 and labels (n,) int64.\"\"\"
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
    """),
    md("""
    ## A tiny VGG

    VGG's layout (`features` -> `avgpool` -> `classifier` of three linear layers), shrunk:
    two conv stages take a 28x28 patch to a 16 x 7 x 7 map, as VGG-16 takes 224x224 to
    512 x 7 x 7, and the classifier is 64 wide instead of 4096. `VGG.__init__` always builds the
    ImageNet-sized classifier (120 M parameters), so the subclass sets the three parts itself;
    being a `VGG`, it is accepted by `convolutionalize`, whose fc6 kernel for VGG is 7x7.
    """),
    code("""
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
    """),
    md("""
    ## Surgery

    `convolutionalize` copies the trunk and turns fc6 (a `Linear` over the flattened 16 x 7 x 7
    map) into a 7x7 convolution by reshaping its weight, and fc7/fc8 into 1x1 convolutions.
    The adaptive pooling is dropped.
    """),
    code("""
    fully_conv = convolutionalize(model).eval()
    print("fc6 weight:", tuple(model.classifier[0].weight.shape), "->", tuple(fully_conv.classifier[0].weight.shape))
    print(fully_conv.classifier)
    """),
    md("""
    On a 28x28 patch the new net returns a 1x1 map holding exactly the classifier's logits:
    """),
    code("""
    with lumen.no_grad():
        dense = fully_conv(lumen.from_numpy(x_test))
    print("output shape", tuple(dense.shape))
    diff = np.abs(dense.numpy()[:, :, 0, 0] - test_logits.numpy()).max()
    print(f"largest difference from the classifier's logits: {diff:.1e} (float32 rounding:"
          f" the same products summed in another order; logits up to {np.abs(test_logits.numpy()).max():.0f})")
    """),
    md("""
    ## A coarse heatmap on a larger image

    On a 112x112 scene the trunk gives a 28x28 map, and the 7x7 fc6 convolution slides over it:
    22x22 class scores, one for each 28x28 window of the scene, at a stride of 4 pixels (the
    trunk's two poolings). It is the sliding-window classifier computed in one pass, sharing
    the convolutional work between overlapping windows.
    """),
    code("""
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
    """),
    md("""
    ## Bilinear upsampling as a deconvolution

    To label pixels, FCNs upsample the coarse scores with a transposed convolution
    (`nn.ConvTranspose2d`, "deconvolution") of stride f and kernel 2f, initialised to bilinear
    interpolation by `nn.init.bilinear_`: each class channel is spread over the output with the
    tent-shaped kernel below. The nets in `lumen.vision.models.fcn` start their deconvolutions
    this way (and may then learn them).
    """),
    code("""
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
    """),
    md("""
    Applied to the scene's scores: (22 - 1) x 4 + 8 = 92 upsampled pixels, whose pixel p lies
    over scene pixel p + 10 (the deconvolution puts output p at coarse position (p - 3.5) / 4,
    and coarse cell i sits at 4 i + 13.5). The coarse argmax is blocky; the upsampled one
    follows the shapes much more closely, though it still cannot see their exact edges: that is
    what the skip layers of FCN-16s and FCN-8s add (notebook 4).
    """),
    code("""
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
    """),
]


FCN = [
    md("""
    # 4. Semantic segmentation with FCN-32s, 16s and 8s

    Fully convolutional networks (Long, Shelhamer & Darrell, CVPR 2015) trained the paper's way,
    in stages: FCN-32s first, then FCN-16s initialised from it (adding a skip from pool4), then
    FCN-8s from that (adding pool3). To run in about a minute on a CPU this uses the embedded
    synthetic data set in the PASCAL VOC layout (small images), nets a fraction of VGG-16's
    width trained from scratch, and few iterations: the numbers are far from the paper's, but
    every step is the real one. For PASCAL VOC itself use the recipe:

        python -m recipes.fcn_voc --data VOCdevkit/VOC2012 --sbd benchmark_RELEASE/dataset \\
            --model staged --init vgg16.npz --device cuda
    """),
    code("""
    %matplotlib inline
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
    """),
    md("""
    ## Data

    `synthetic_voc` writes a small data set in the VOC2012 folder layout (JPEGImages,
    SegmentationClass palette PNGs, ImageSets/Segmentation lists) into the cache folder
    (`$LUMEN_CACHE`, default `~/.cache/lumen`), once; `VOCSegmentation` reads it exactly as it
    reads VOC. Objects of the 20 VOC classes are drawn with a class colour and texture on
    clutter, with VOC's band of void pixels (255, white here) around each object.
    `ToCaffeInput` is the reference preprocessing (BGR, mean subtracted, CHW float32).
    """),
    code("""
    cache = Path(os.environ.get("LUMEN_CACHE", Path.home() / ".cache" / "lumen"))
    root = synthetic_voc(cache / f"synthetic_voc-{N_TRAIN}-{N_VAL}-{SIZE}", n_train=N_TRAIN, n_val=N_VAL, size=SIZE)
    train_set = VOCSegmentation(root, "train", transform=ToCaffeInput())
    val_set = VOCSegmentation(root, "val", transform=ToCaffeInput())
    print(train_set, val_set, sep="\\n")

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
    """),
    md("""
    ## Training and evaluation loops

    One image per step as in the paper, softmax cross-entropy over pixels with void ignored.
    The nets start from scratch (no ImageNet classifier to transplant here), so instead of the
    paper's SGD with a tiny fixed learning rate we use Adam. Fixed deconvolutions
    (`requires_grad=False`) are left out of the optimiser by `trainable_parameters()`.
    Evaluation accumulates one confusion matrix over the validation images and scores it as
    the reference's `score.py` (`lumen.vision.metrics`).
    """),
    code("""
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
        \"\"\"Confusion matrix over the validation set and (image, truth, prediction) of each image.\"\"\"
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
    """),
    md("""
    ## Stage 1: FCN-32s

    The VGG-16 trunk (conv1_1 padded by 100, as the reference) with fc6/fc7 as convolutions,
    `score_fr` (1x1, zero-initialised) and one 64x64 stride-32 deconvolution, fixed to
    bilinear interpolation, then a crop whose offset follows from the layers' geometry.
    """),
    code("""
    fcn32 = fcn.fcn32s(num_classes=len(VOC_CLASSES), width=WIDTH)
    print(f"{sum(p.numel() for p in fcn32.parameters()):,} parameters; crop offsets {fcn32.crop_offsets}")
    run_stage(fcn32, "FCN-32s")
    """),
    md("""
    ## Stage 2: FCN-16s from FCN-32s

    `FCN16s.from_fcn32s` copies the trunk and `score_fr`, and adds `score_pool4`, zero at first
    so training starts from the coarse net's predictions; a 2x deconvolution (learned from its
    bilinear start) fuses the two before the final 16x upsampling.
    """),
    code("""
    fcn16 = fcn.FCN16s.from_fcn32s(fcn32)
    print("new layers:", sorted(set(fcn16.state_dict()) - set(fcn32.state_dict())))
    run_stage(fcn16, "FCN-16s")
    """),
    md("""
    ## Stage 3: FCN-8s from FCN-16s
    """),
    code("""
    fcn8 = fcn.FCN8s.from_fcn16s(fcn16)
    print("new layers:", sorted(set(fcn8.state_dict()) - set(fcn16.state_dict())))
    run_stage(fcn8, "FCN-8s")
    """),
    md("""
    ## Results in the form of the paper's Table 2

    Pixel accuracy, mean (per-class) accuracy, mean IU and frequency-weighted IU, in percent,
    on the validation images.
    """),
    code("""
    rows = ["| | pixel acc. | mean acc. | mean IU | f.w. IU |", "|---|---|---|---|---|"]
    for name, confusion in results.items():
        m = confusion.compute()
        rows.append(f"| {name} | {100 * m['pixel_accuracy']:.1f} | {100 * m['mean_accuracy']:.1f} | "
                    f"{100 * m['mean_iu']:.1f} | {100 * m['frequency_weighted_iu']:.1f} |")
    display(Markdown("\\n".join(rows)))
    """),
    code("""
    plot.training_curves(history)
    """),
    md("""
    ## Predictions

    Validation images with the truth and each stage's prediction laid over them in the VOC
    palette (background is left uncoloured). Nets this narrow, trained from scratch for a few
    hundred images, learn the background first and the objects only later: where the table
    shows low mean IU, expect mostly background here. The skip layers of FCN-16s and FCN-8s
    pay off once the trunk recognises the objects, i.e. with longer training (the recipe).
    """),
    code("""
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
    """),
    md("""
    The same for FCN-8s with `lumen.vision.plot.segmentation_grid`, then its confusion matrix
    (rows: truth, normalised) and per-class IU. Classes that occur in no validation image have
    no IU and are left blank.
    """),
    code("""
    images, truths, preds = zip(*samples["FCN-8s"][4:7])
    plot.segmentation_grid(images, truths, preds)
    """),
    code("""
    plot.confusion_matrix(results["FCN-8s"].hist)
    """),
    code("""
    plot.per_class_iu(results["FCN-8s"].compute()["per_class_iu"])
    """),
    md("""
    ## Going further

    * More iterations, a wider trunk (`WIDTH`) or larger images all raise these numbers; the
      recipe `python -m recipes.fcn_voc` runs the same staged protocol on the embedded data for
      longer, with checkpoints and resumption.
    * On PASCAL VOC: `python -m recipes.fcn_voc --data VOCdevkit/VOC2012 --sbd
      benchmark_RELEASE/dataset --model staged --init vgg16.npz --device cuda` trains from a
      convolutionalized VGG-16 (`python -m lumen.vision.convert` makes `vgg16.npz`) with the
      paper's solver settings and reports the same Table 2 scores on seg11valid.
    """),
]


NOTEBOOKS = {
    "01_autograd": AUTOGRAD,
    "02_convnet": CONVNET,
    "03_net_surgery": SURGERY,
    "04_fcn_segmentation": FCN,
}


def main():
    for name, cells in NOTEBOOKS.items():
        print("wrote", build(name, cells).relative_to(HERE.parent))


if __name__ == "__main__":
    main()
