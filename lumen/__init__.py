"""Lumen: eager, tape-based autograd on NumPy and CuPy backends, with reference convnets and FCNs."""
from __future__ import annotations

import math as _math
import operator as _operator

from .tensor import Size, Tensor  # first: the ops it loads (and lumen.random, which they use) build on it
from . import autograd, backends, cuda
from .autograd import (enable_grad, inference_mode, is_anomaly_check_nan_enabled, is_anomaly_enabled,
                       is_grad_enabled, is_inference_mode_enabled, no_grad, set_grad_enabled)
from .creation import (BoolTensor, ByteTensor, CharTensor, DoubleTensor, FloatTensor, HalfTensor, IntTensor,
                       LongTensor, ShortTensor, arange, as_tensor, asarray, empty, empty_like, eye, from_dlpack,
                       from_numpy, full, full_like, inclusive_range as range, linspace, logspace, ones, ones_like,
                       rand, rand_like, randint, randint_like, randn, randn_like, randperm, scalar_tensor, tensor,
                       zeros, zeros_like)
from .random import (Generator, bernoulli, binomial, default_generator, get_rng_state, initial_seed, manual_seed,
                     multinomial, normal, poisson, seed, set_rng_state)
from .device import device, get_default_device, set_default_device
from .dtypes import (bool_ as bool, dtype, float16, float32, float64, get_default_dtype, int8, int16, int32,
                     int64, set_default_dtype, uint8)
from .ops.activation import (celu, celu_, hardshrink, log_softmax, prelu, relu, relu_, rrelu, rrelu_, selu, selu_,
                              softmax, threshold, threshold_)
from .ops.linear import bilinear
from .ops.arith import (add, allclose, clamp, div, equal, masked_fill, matmul, maximum, minimum, mul, pow,
                        rsub, sub, where)
from .ops.reduce import amax, argmax, argmin, logsumexp, max, mean, min, std, sum, var
from .ops.shape import (cat, chunk, clone, flatten, narrow, pad, permute, reshape, split, squeeze, stack, t,
                        transpose, unsqueeze)
from .ops.unary import abs, ceil, cos, exp, floor, log, neg, round, rsqrt, sigmoid, sign, sin, sqrt, square, tanh
from .ops.unary import (acos, acosh, arccos, arccosh, arcsin, arcsinh, arctan, arctanh, asin, asinh, atan, atanh,
                        cosh, erf, erfc, erfinv, exp2, expm1, fix, frac, log1p, log2, log10, reciprocal, sgn, sinh,
                        tan, trunc)
from .ops.arith import (atan2, atan2 as arctan2, clamp_max, clamp_min, floor_divide, fmod, hypot, isclose, lerp,
                        remainder)
from .ops.reduce import amin, cumprod, cumsum, prod
from .ops.linalg import (addmm, addmv, baddbmm, bmm, cdist, dist, dot, einsum, mv, outer, outer as ger,
                         tensor_norm as norm)
from . import linalg
from .ops.index import (argwhere, gather, index_add, index_copy, index_fill, index_select, masked_scatter,
                        masked_select, nonzero, scatter, scatter_add, scatter_reduce, take, take_along_dim)
from .ops.shape import (diag, diag_embed, diagonal, flip, fliplr, flipud, meshgrid, repeat_interleave, roll, tril,
                        triu)
from .ops.sort import argsort, bincount, bucketize, histc, kthvalue, median, mode, searchsorted, sort, topk, unique
from .ops.shape import (atleast_1d, atleast_2d, atleast_3d, column_stack, concat, concatenate, dsplit, dstack, hsplit,
                        hstack, movedim, moveaxis, ravel, rot90, select, swapaxes, swapdims, tensor_split, tile,
                        tril_indices, triu_indices, unbind, unflatten, vsplit, vstack, vstack as row_stack)
from .ops.index import count_nonzero, index_put, put
from .ops.sort import msort, nanmedian, nanquantile, quantile, unique_consecutive
from .ops.sort import cummax, cummin
from .ops.shape import (block_diag, broadcast_shapes, broadcast_tensors, broadcast_to, cartesian_prod, combinations,
                        diagflat, diff, trace, unravel_index)
from .ops.arith import (addcdiv, addcmul, bitwise_and, bitwise_left_shift, bitwise_not, bitwise_or,
                        bitwise_right_shift, bitwise_xor, copysign, divide, eq, float_power, fmax, fmin, gcd, ge,
                        greater, greater_equal, gt, heaviside, is_complex, is_floating_point, is_nonzero,
                        is_same_size, is_signed, isin, isinf, isneginf, isposinf, isreal, lcm, ldexp, le, less,
                        less_equal, logaddexp, logaddexp2, logical_and, logical_not, logical_or, logical_xor, lt,
                        multiply, nan_to_num, ne, not_equal, positive, signbit, subtract, true_divide, xlogy)
from .ops.unary import (absolute, deg2rad, digamma, frexp, lgamma, logit, mvlgamma, polygamma, rad2deg, sinc)
from .ops.reduce import (all, any, aminmax, logcumsumexp, nanmean, nansum, std_mean, var_mean)
from .ops.arith import result_type
from .ops.linalg import (chain_matmul, det, inv as inverse, logdet, matrix_exp, matrix_power, pinverse, slogdet,
                         torch_cholesky as cholesky, torch_cross as cross, torch_qr as qr, torch_svd as svd)
from .dtypes import can_cast, finfo, iinfo, promote_types
from .ops.linalg import inner, kron, renorm, tensordot, vdot
from .ops.reduce import corrcoef, cov, cumulative_trapezoid, trapezoid, trapz
from .ops.unary import (abs_, acos_, acosh_, arccos_, arccosh_, arcsin_, arcsinh_, arctan_, arctanh_, asin_, asinh_,
                        atan_, atanh_, ceil_, clamp_, clamp_max_, clamp_min_, clip_, cos_, cosh_, deg2rad_, erf_,
                        erfc_, exp2_, exp_, expm1_, fill_, fix_, floor_, frac_, gcd_, lcm_, ldexp_, log10_, log1p_,
                        log2_, log_, logit_, nan_to_num_, neg_, negative_, rad2deg_, reciprocal_, round_, rsqrt_,
                        sigmoid_, sin_, sinc_, sinh_, sqrt_, square_, tan_, tanh_, trunc_, xlogy_, zero_)
from .tensor import set_printoptions
from .ops.linalg import addbmm, addr, cholesky_inverse, cholesky_solve
from .serialization import load, save

half, float, double, long, int, short = float16, float32, float64, int64, int32, int16
clip, mm, negative = clamp, matmul, neg

__version__ = "0.1.0"


def isfinite(input):
    return input.isfinite()


def isnan(input):
    return input.isnan()


def detach(input):
    return input.detach()


def numel(input):
    return input.numel()


def is_tensor(obj):
    return isinstance(obj, Tensor)


def get_num_threads():
    """The threads of the CPU backend's work (its worker pool and, where Lumen drives it, OpenBLAS)."""
    return backends.get("cpu").get_num_threads()


def set_num_threads(int):
    """Set the CPU backend's threads (see ``NumpyBackend.set_num_threads`` for what a running process can
    change: without NumPy's OpenBLAS, the BLAS keeps the count it started with)."""
    count = _operator.index(int)  # TypeError for what is not an integer, as torch
    if count <= 0:
        raise RuntimeError(f"set_num_threads expects a positive integer, got {count}")
    backends.get("cpu").set_num_threads(count)


def addmv_(input, mat, vec, *, beta=1, alpha=1):
    return input.addmv_(mat, vec, beta=beta, alpha=alpha)


def split_with_sizes(input, split_sizes, dim=0):
    return input.split_with_sizes(split_sizes, dim)


def fill(input, value):
    """A new tensor of ``input``'s shape, dtype and device filled with ``value`` (``fill_`` out of place)."""
    return full_like(input, value.item() if isinstance(value, Tensor) else value)


def get_device(input) -> int:
    return input.get_device()


def typename(obj) -> str:
    """``'lumen.FloatTensor'`` for a tensor (its legacy type name), else the object's qualified type name."""
    if isinstance(obj, Tensor):
        return obj.type()
    kind = type(obj)
    return kind.__qualname__ if kind.__module__ in ("builtins", "__builtin__") else f"{kind.__module__}.{kind.__qualname__}"


def to_dlpack(tensor):
    """A DLPack capsule of ``tensor``'s memory (``from_dlpack`` takes it back, as do numpy, CuPy and PyTorch)."""
    return tensor.__dlpack__()


e, pi, inf, nan = _math.e, _math.pi, _math.inf, _math.nan
newaxis = None

# torch's top-level functional forms: F's own where torch's signature is the same, else ATen's order
from .ops.conv import conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d
from .ops.pooling import avg_pool1d, adaptive_avg_pool1d
from .ops.resample import channel_shuffle, native_channel_shuffle, pixel_shuffle, pixel_unshuffle
from .ops.loss import cosine_similarity, pairwise_distance, pdist
from .ops.normalization import rms_norm
from .ops.native import (adaptive_max_pool1d, alpha_dropout, alpha_dropout_, batch_norm,
                         binary_cross_entropy_with_logits, cosine_embedding_loss, detach_, dropout, dropout_,
                         embedding, feature_alpha_dropout, feature_alpha_dropout_, group_norm, hinge_embedding_loss,
                         instance_norm, kl_div, layer_norm, margin_ranking_loss, max_pool1d, max_pool2d, max_pool3d,
                         poisson_nll_loss, triplet_margin_loss)

# After `import torch`, torch.nn, torch.optim and torch.utils.data are attributes; so are these. They load
# last because they build on the names above.
from . import data, nn, optim, vision  # noqa: E402
from . import utils  # noqa: E402  (lumen.utils.data is lumen.data, as torch.utils.data)
