"""Spatial transformers' sampling: ``affine_grid`` and ``grid_sample``, as ``torch.nn.functional``'s.

Both are compositions of differentiable ops, so gradients reach the input, the grid and (through
``affine_grid``) theta, and double backward works. ``grid_sample`` reads each output point's taps (2
per spatial dim for bilinear, 1 for nearest, 4 for bicubic) with one gather per tap combination over
the input viewed as (N, C, D*H*W); taps outside the input read zero (``padding_mode="zeros"``) or the
coordinates are first clipped or reflected into it, with torch's rule that a coordinate clipped at
or past a border has no gradient.
"""
from __future__ import annotations

import itertools
import math
import warnings

from .. import dtypes
from ..creation import linspace, ones, zeros
from ._check import check_tensor
from .arith import where
from .shape import stack

__all__ = ["affine_grid", "grid_sample"]

_ALIGN_WARNING = ("Default grid_sample and affine_grid behavior has changed to align_corners=False since 1.3.0. "
                  "Please specify align_corners=True if the old behavior is desired. See the documentation of "
                  "grid_sample for details.")
_CUBIC_A = -0.75  # the cubic convolution kernel's A, as torch's bicubic (interpolate and grid_sample)


def _base_coordinates(n, align_corners, dtype, device):
    """The normalised centres of ``n`` pixels along one axis: [-1, 1] at the corner pixels' centres with
    ``align_corners``, else scaled by (n - 1) / n (the corners' outer edges); 0 for a unit axis."""
    if n <= 1:
        return zeros(n, dtype=dtype, device=device)
    steps = linspace(-1.0, 1.0, n, dtype=dtype, device=device)
    return steps if align_corners else steps * (n - 1) / n


def affine_grid(theta, size, align_corners=None):
    """The sampling grid of the affine maps ``theta`` over an output of ``size``, as
    ``torch.nn.functional.affine_grid``: theta (N, 2, 3) with size (N, C, H, W) -> (N, H, W, 2), or
    theta (N, 3, 4) with size (N, C, D, H, W) -> (N, D, H, W, 3); each grid point is theta applied to
    the output pixel's normalised (x, y[, z], 1). Those coordinates come from :func:`lumen.linspace`,
    which rounds some float32 steps one ulp away from torch's vectorised linspace: values then agree to
    an ulp, but a point of an identity grid, which sits on a pixel centre, can fall in the neighbouring
    cell, and grid_sample's one-sided gradient there is that cell's."""
    check_tensor(theta, "theta", "affine_grid")
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, UserWarning, stacklevel=2)
        align_corners = False
    if not theta.dtype.is_floating_point:
        raise ValueError(f"affine_grid: expected theta to have floating point type, but got {theta.dtype}")
    size = tuple(size)
    if len(size) not in (4, 5):
        raise NotImplementedError(f"affine_grid: only 4-d and 5-d sizes are supported, for 2-d and 3-d affine "
                                  f"transforms respectively; got size {list(size)}")
    dims = len(size) - 2
    if theta.ndim != 3 or tuple(theta.shape[1:]) != (dims, dims + 1):
        raise ValueError(f"affine_grid: expected a batch of {dims}-d affine matrices of shape "
                         f"Nx{dims}x{dims + 1} for size {list(size)}, got {tuple(theta.shape)}")
    spatial = size[2:]
    if align_corners and min(spatial) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
                      "align_corners=True. This is not an intended use case of affine_grid. See the "
                      "documentation of affine_grid for details.", UserWarning, stacklevel=2)
    elif min(size) <= 0:
        raise ValueError(f"affine_grid: expected a non-zero, positive output size, got {list(size)}")
    if theta.shape[0] != size[0]:
        raise RuntimeError(f"affine_grid: theta's batch size {theta.shape[0]} does not match size[0] = {size[0]}")
    # the homogeneous coordinates (x, y[, z], 1) of every output point, x along the last axis
    axes = [_base_coordinates(n, align_corners, theta.dtype, theta.device) for n in reversed(spatial)]
    columns = []
    for d, coordinates in enumerate(axes):
        shape = [1] * dims
        shape[dims - 1 - d] = spatial[dims - 1 - d]
        columns.append(coordinates.reshape(shape).expand(spatial))
    columns.append(ones(spatial, dtype=theta.dtype, device=theta.device))
    base = stack(columns, -1).reshape(1, -1, dims + 1)
    return (base @ theta.transpose(1, 2)).reshape((size[0],) + spatial + (dims,))


def _unnormalize(coordinate, n, align_corners, dims):
    """Pixel coordinates from normalised ones, rounded as torch's CPU kernels round them (its 2-d kernel
    and its 3-d one use different forms, the 2-d one a fused multiply-subtract, reproduced for float32
    by computing the product and difference in float64): on a grid of pixel centres (an identity
    affine_grid, a spatial transformer's start) a point one ulp off lands in the neighbouring cell,
    and the grid's gradient there is the other cell's."""
    if dims == 3:
        return (coordinate + 1) / 2 * (n - 1) if align_corners else ((coordinate + 1) * n - 1) / 2
    if align_corners:
        return (coordinate + 1) * ((n - 1) / 2)
    shifted = coordinate + 1
    if shifted.dtype.itemsize < 8:
        return (shifted.double() * (n / 2) - 0.5).to(coordinate.dtype)
    return shifted * (n / 2) - 0.5


def _clip(coordinate, n):
    """``coordinate`` clamped into [0, n - 1], its gradient zero on and past the borders (as torch's
    clip_coordinates_set_grad: the borders count as outside)."""
    inside = (coordinate > 0) & (coordinate < n - 1)
    return where(inside, coordinate, coordinate.detach().clamp(0, n - 1))


def _reflect(coordinate, twice_low, twice_high):
    """``coordinate`` reflected at the bounds twice_low/2 and twice_high/2 until it lies between them,
    as torch's reflect_coordinates."""
    if twice_low == twice_high:
        return coordinate * 0
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    distance = (coordinate - low).abs()
    extra = distance.fmod(span)
    even = (distance.detach() / span).floor().fmod(2) == 0
    return where(even, extra + low, span - extra + low)


def _padded(coordinate, n, padding_mode, align_corners):
    if padding_mode == "border":
        return _clip(coordinate, n)
    if padding_mode == "reflection":
        bounds = (0, 2 * (n - 1)) if align_corners else (-1, 2 * n - 1)
        return _clip(_reflect(coordinate, *bounds), n)
    return coordinate


def _cubic_weights(t):
    """The 4 taps' weights at offset t in [0, 1) from the second tap (Keys' cubic convolution)."""
    a = _CUBIC_A

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _taps(coordinate, n, mode, padding_mode, align_corners, dims):
    """One axis's taps from normalised coordinates: (int64 positions, weights, in-range masks)."""
    coordinate = _unnormalize(coordinate, n, align_corners, dims)
    if mode == "bicubic":
        # torch pads each tap's integer position, not the sampling coordinate
        start = coordinate.detach().floor()
        weights = _cubic_weights(coordinate - start)
        taps = []
        for k, weight in enumerate(weights):
            position = _padded(start + (k - 1), n, padding_mode, align_corners).detach()
            taps.append((position, weight))
    else:
        coordinate = _padded(coordinate, n, padding_mode, align_corners)
        if mode == "nearest":
            # weight 1 through round's zero gradient: grid.grad is zeros, as torch's, not None
            taps = [(coordinate.detach().round(), coordinate.round() * 0 + 1)]
        else:
            start = coordinate.detach().floor()
            upper = coordinate - start
            taps = [(start, 1 - upper), (start + 1, upper)]
    # a NaN coordinate (a diverged grid) reads position 0, never out of bounds; as torch's, its output is
    # NaN (the NaN weight kept), except nearest's, which reads nothing with padding_mode="zeros"
    taps_out = []
    for position, weight in taps:
        undefined = position.isnan()
        inside = (position >= 0) & (position <= n - 1)
        taps_out.append((where(undefined, 0.0, position).clamp(0, n - 1).long(), weight,
                         inside if mode == "nearest" else inside | undefined))
    return taps_out


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """``input`` sampled at ``grid``'s normalised coordinates, as ``torch.nn.functional.grid_sample``.

    input (N, C, H, W) with grid (N, Ho, Wo, 2) -> (N, C, Ho, Wo), or input (N, C, D, H, W) with grid
    (N, Do, Ho, Wo, 3) -> (N, C, Do, Ho, Wo); grid[..., 0] is x (along W), -1 and 1 the outer pixels'
    centres (``align_corners``) or outer edges. ``mode`` "bilinear", "nearest" (halves to even) or
    "bicubic" (4-d only); ``padding_mode`` "zeros", "border" or "reflection". Gradients reach input and
    grid (zero for nearest, as torch)."""
    op = "grid_sample"
    check_tensor(input, "input", op)
    check_tensor(grid, "grid", op)
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(f"nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', "
                         f"but got: '{mode}'")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(f"nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                         f"'reflection', but got: '{padding_mode}'")
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, UserWarning, stacklevel=2)
        align_corners = False
    if input.ndim not in (4, 5) or grid.ndim != input.ndim:
        raise RuntimeError(f"{op}: expected a 4-d or 5-d input and a grid of the same number of dims, got input "
                           f"{tuple(input.shape)} and grid {tuple(grid.shape)}")
    dims = input.ndim - 2
    if grid.shape[-1] != dims:
        raise RuntimeError(f"{op}: expected grid to have size {dims} in its last dimension for input "
                           f"{tuple(input.shape)}, got grid {tuple(grid.shape)}")
    if grid.shape[0] != input.shape[0]:
        raise RuntimeError(f"{op}: expected grid and input to have the same batch size, got input "
                           f"{tuple(input.shape)} and grid {tuple(grid.shape)}")
    if input.dtype != grid.dtype:
        raise RuntimeError(f"{op}: expected input and grid to have the same dtype, got {input.dtype} and "
                           f"{grid.dtype}")
    if input.device != grid.device:
        raise RuntimeError(f"{op}: expected input and grid on the same device, got {input.device} and "
                           f"{grid.device}")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"{op}: expected a floating-point input, got {input.dtype}")
    if mode == "bicubic" and dims != 2:
        raise RuntimeError(f"{op}: bicubic interpolation only supports 4-d input, got {tuple(input.shape)}")
    if any(s == 0 for s in input.shape[2:]):
        raise RuntimeError(f"{op}: expected input to have non-empty spatial dimensions, got "
                           f"{tuple(input.shape)}")
    n, c, *spatial = input.shape
    out_spatial = tuple(grid.shape[1:-1])
    points = math.prod(out_spatial)
    flat = input.reshape(n, c, -1)
    # axis d of the input is grid component dims - 1 - d (x is the last axis)
    axes = [_taps(grid[..., dims - 1 - d].reshape(n, points), size, mode, padding_mode, align_corners, dims)
            for d, size in enumerate(spatial)]
    strides = [math.prod(spatial[d + 1:]) for d in range(dims)]
    output = None
    for combination in itertools.product(*axes):
        index = sum(position * stride for (position, _, _), stride in zip(combination, strides))
        value = flat.gather(2, index.unsqueeze(1).expand(n, c, points))
        weight = combination[0][1]
        for _, tap_weight, _ in combination[1:]:
            weight = weight * tap_weight
        if padding_mode == "zeros" or mode == "bicubic":
            inside = combination[0][2]
            for _, _, in_range in combination[1:]:
                inside = inside & in_range
            weight = where(inside, weight, 0.0)
        term = value * weight.unsqueeze(1)
        output = term if output is None else output + term
    return output.reshape((n, c) + out_spatial)
