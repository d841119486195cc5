"""The primitive interface every Lumen backend implements.

A backend owns one kind of device. It holds arrays of its own array module
(``xp``: numpy or cupy) and implements the deep-learning primitives as plain
functions of those arrays: arrays in, arrays out, no autograd. The layer above
(``lumen`` core and ``lumen.nn.functional``) composes these into differentiable
ops.

Conventions shared by every primitive:
- images are NCHW, filters are (C_out, C_in // groups, kH, kW);
- ``stride``, ``padding`` and ``dilation`` arrive already normalised to pairs
  of ints ``(h, w)``;
- outputs have the dtype of the inputs (no silent upcast);
- max-pool indices are int64 flat indices into each input plane
  (``h * W + w``), as PyTorch returns them.
"""
from __future__ import annotations

import abc


class Backend(abc.ABC):
    """One device family. Subclasses fill in ``name`` and ``xp``."""

    name: str  # "cpu" or "cuda"
    xp = None  # the array module

    # ---- arrays -----------------------------------------------------------
    @abc.abstractmethod
    def asarray(self, data, dtype=None):
        """An array of this backend holding ``data`` (host data is copied over)."""

    @abc.abstractmethod
    def to_numpy(self, array):
        """A host numpy array with the contents of ``array``."""

    @abc.abstractmethod
    def seed(self, seed: int) -> None:
        """Reseed this backend's random generator."""

    @abc.abstractmethod
    def generator(self):
        """The backend's random generator (numpy.random.Generator-like)."""

    @abc.abstractmethod
    def scatter_add(self, target, index, values) -> None:
        """``target[index] += values`` with repeated indices accumulated."""

    # ---- BLAS ---------------------------------------------------------------
    def matmul(self, a, b):
        """``xp.matmul(a, b)`` for arrays of at least 2 dims (batch dimensions broadcast).

        A backend routes it to the BLAS its convolutions use, so that one thread pool serves both."""
        return self.xp.matmul(a, b)

    # ---- convolution (cuDNN: forward, backward-data, backward-filter) ------
    @abc.abstractmethod
    def conv2d_forward(self, x, w, b, stride, padding, dilation, groups):
        """y = conv(x, w) + b.  x (N,C,H,W), w (O,C/g,kh,kw), b (O,) or None -> (N,O,Ho,Wo)."""

    @abc.abstractmethod
    def conv2d_backward_data(self, gy, w, x_shape, stride, padding, dilation, groups):
        """Gradient w.r.t. the input: gy (N,O,Ho,Wo), w -> (N,C,H,W) with H,W from x_shape.

        This is also the forward of a transposed convolution (Caffe's deconvolution).
        """

    @abc.abstractmethod
    def conv2d_backward_filter(self, x, gy, w_shape, stride, padding, dilation, groups):
        """Gradient w.r.t. the filter: x (N,C,H,W), gy (N,O,Ho,Wo) -> w_shape."""

    # ---- activations (cuDNN: activation backward) ----------------------------
    def relu_backward(self, gy, y):
        """gy where y > 0, else 0 (PyTorch's threshold_backward: y <= 0 gives 0, a NaN y passes gy).

        gy, y of one shape -> gy's dtype. Written once over ``xp``; a backend may fuse it further.
        """
        return self.xp.where(y <= 0, 0, gy).astype(gy.dtype, copy=False)

    # ---- pooling ------------------------------------------------------------
    @abc.abstractmethod
    def max_pool2d_forward(self, x, kernel, stride, padding, dilation, ceil_mode):
        """-> (y, indices). y (N,C,Ho,Wo); indices int64 flat positions in each input plane."""

    @abc.abstractmethod
    def max_pool2d_backward(self, gy, indices, x_shape):
        """Scatter-add gy to the argmax positions -> (N,C,H,W)."""

    @abc.abstractmethod
    def avg_pool2d_forward(self, x, kernel, stride, padding, ceil_mode, count_include_pad,
                           divisor_override):
        """-> y (N,C,Ho,Wo), PyTorch's window and divisor rules."""

    @abc.abstractmethod
    def avg_pool2d_backward(self, gy, x_shape, kernel, stride, padding, ceil_mode,
                            count_include_pad, divisor_override):
        """-> gx (N,C,H,W)."""

    # ---- normalisation and losses ------------------------------------------
    @abc.abstractmethod
    def lrn_forward(self, x, size, alpha, beta, k):
        """Local response norm across channels (PyTorch's definition) -> (y, scale).

        scale = k + alpha / size * sum of x**2 over the ``size`` channels around c
        (zero padded: size//2 before, (size-1)//2 after); y = x * scale**-beta.
        """

    @abc.abstractmethod
    def lrn_backward(self, x, y, scale, gy, size, alpha, beta, k):
        """-> gx."""

    @abc.abstractmethod
    def softmax_cross_entropy_forward(self, x, target, ignore_index):
        """Fused log-softmax + NLL over axis 1.

        x (N,C,...) float, target (N,...) int64 -> (loss, log_prob) where loss has
        target's shape, 0 where target == ignore_index, and log_prob is x's log-softmax.
        A target outside [0, C) that is not ignore_index raises ValueError.
        """

    @abc.abstractmethod
    def softmax_cross_entropy_backward(self, log_prob, target, gloss, ignore_index):
        """-> gx = (softmax - onehot(target)) * gloss, zero where ignored."""
