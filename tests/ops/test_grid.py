"""affine_grid / grid_sample: torch parity of values and gradients (input, grid, theta) over every mode,
padding mode and align_corners in 4-d and 5-d, float64 gradchecks, the spatial transformer path, errors."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import lumen
import lumen.nn.functional as F
from lumen.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")

MODES = ("bilinear", "nearest", "bicubic")
PADDINGS = ("zeros", "border", "reflection")


def _pair(array, requires_grad=True):
    return (lumen.tensor(array, requires_grad=requires_grad), torch.tensor(array, requires_grad=requires_grad))


def _compare(x, g, mode, padding_mode, align_corners, seed=0):
    lx, tx = _pair(x)
    lg, tg = _pair(g)
    ly = F.grid_sample(lx, lg, mode, padding_mode, align_corners)
    ty = torch.nn.functional.grid_sample(tx, tg, mode, padding_mode, align_corners)
    np.testing.assert_allclose(ly.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    weights = np.random.default_rng(seed).standard_normal(ty.shape)
    (ly * lumen.tensor(weights)).sum().backward()
    (ty * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(lx.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(lg.grad.numpy(), tg.grad.numpy(), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("mode,padding_mode,align_corners", itertools.product(MODES, PADDINGS, (False, True)))
def test_grid_sample_4d_matches_torch(mode, padding_mode, align_corners):
    rng = np.random.default_rng(1)
    # points well outside [-1, 1] exercise the padding modes (reflection folds them more than once)
    _compare(rng.standard_normal((2, 3, 4, 5)), rng.uniform(-2.5, 2.5, (2, 3, 6, 2)), mode, padding_mode,
             align_corners)


@pytest.mark.parametrize("mode,padding_mode,align_corners",
                         itertools.product(("bilinear", "nearest"), PADDINGS, (False, True)))
def test_grid_sample_5d_matches_torch(mode, padding_mode, align_corners):
    rng = np.random.default_rng(2)
    _compare(rng.standard_normal((2, 2, 3, 4, 3)), rng.uniform(-1.8, 1.8, (2, 2, 3, 2, 3)), mode, padding_mode,
             align_corners)


@pytest.mark.parametrize("padding_mode", PADDINGS)
def test_grid_sample_on_pixel_centres_and_borders_matches_torch(padding_mode):
    # the identity grid of align_corners=True lands on integer positions and exactly on the borders,
    # where torch's clip gives the grid no gradient
    theta = torch.tensor([[[1.0, 0, 0], [0, 1, 0]]], dtype=torch.float64)
    grid = torch.nn.functional.affine_grid(theta, (1, 2, 3, 4), align_corners=True).numpy()
    x = np.random.default_rng(3).standard_normal((1, 2, 3, 4))
    for mode in MODES:
        _compare(x, grid, mode, padding_mode, True)
    lx = lumen.tensor(x)
    np.testing.assert_allclose(F.grid_sample(lx, lumen.tensor(grid), align_corners=True).numpy(), x, atol=1e-15)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 5), w=st.integers(1, 5), ho=st.integers(1, 4),
       wo=st.integers(1, 4), mode=st.sampled_from(MODES), padding_mode=st.sampled_from(PADDINGS),
       align_corners=st.booleans(), seed=st.integers(0, 2**16))
def test_grid_sample_shapes_hypothesis(n, c, h, w, ho, wo, mode, padding_mode, align_corners, seed):
    rng = np.random.default_rng(seed)
    _compare(rng.standard_normal((n, c, h, w)), rng.uniform(-1.5, 1.5, (n, ho, wo, 2)), mode, padding_mode,
             align_corners, seed)


@pytest.mark.parametrize("mode,padding_mode", [("bilinear", "zeros"), ("bilinear", "reflection"),
                                               ("bicubic", "border"), ("bicubic", "zeros"), ("nearest", "zeros")])
def test_grid_sample_gradcheck(mode, padding_mode):
    rng = np.random.default_rng(4)
    x = lumen.tensor(rng.standard_normal((1, 2, 3, 3)), requires_grad=True)
    # off the integer positions and the borders, where the sampled function is smooth in the grid
    g = lumen.tensor(rng.uniform(-1.3, 1.3, (1, 1, 3, 2)), requires_grad=mode != "nearest")
    assert gradcheck(lambda x, g: F.grid_sample(x, g, mode, padding_mode, False), (x, g))
    if mode == "bilinear":
        assert gradgradcheck(lambda x, g: F.grid_sample(x, g, mode, padding_mode, False), (x, g))


def test_grid_sample_5d_gradcheck():
    rng = np.random.default_rng(5)
    x = lumen.tensor(rng.standard_normal((1, 1, 2, 3, 2)), requires_grad=True)
    g = lumen.tensor(rng.uniform(-1.2, 1.2, (1, 2, 1, 2, 3)), requires_grad=True)
    assert gradcheck(lambda x, g: F.grid_sample(x, g, "bilinear", "border", True), (x, g))


@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 1, 3, 1), (2, 3, 2, 4, 3)])
@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid_matches_torch(size, align_corners):
    dims = len(size) - 2
    theta = np.random.default_rng(6).standard_normal((2, dims, dims + 1))
    lt, tt = _pair(theta)
    if align_corners and min(size[2:]) == 1:
        with pytest.warns(UserWarning, match="unit-size grids"):
            lg = F.affine_grid(lt, size, align_corners)
        with pytest.warns(UserWarning):
            tg = torch.nn.functional.affine_grid(tt, size, align_corners)
    else:
        lg, tg = F.affine_grid(lt, size, align_corners), torch.nn.functional.affine_grid(tt, size, align_corners)
    np.testing.assert_allclose(lg.detach().numpy(), tg.detach().numpy(), rtol=1e-14, atol=1e-15)
    weights = np.random.default_rng(7).standard_normal(tg.shape)
    (lg * lumen.tensor(weights)).sum().backward()
    (tg * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(lt.grad.numpy(), tt.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda t: F.affine_grid(t, size, False), (lumen.tensor(theta, requires_grad=True),))


def test_spatial_transformer_path_matches_torch():
    """The spatial transformer tutorial's step: theta from a layer, affine_grid, grid_sample, a loss;
    gradients reach the localisation layer's weights."""
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal((2, 1, 6, 6)), rng.standard_normal((6, 36)) * 0.05
    b = np.array([1.0, 0, 0, 0, 1, 0])
    (lx, tx), (lw, tw), (lb, tb) = _pair(x, False), _pair(w), _pair(b)
    outputs = []
    for lib, fn, xs, ws, bs in ((lumen, F, lx, lw, lb), (torch, torch.nn.functional, tx, tw, tb)):
        theta = fn.linear(xs.reshape(2, 36), ws, bs).reshape(2, 2, 3)
        grid = fn.affine_grid(theta, xs.shape, align_corners=False)
        y = fn.grid_sample(xs, grid, align_corners=False)
        loss = (y * y).mean()
        loss.backward()
        outputs.append(loss.item())
    assert outputs[0] == pytest.approx(outputs[1], rel=1e-12)
    np.testing.assert_allclose(lw.grad.numpy(), tw.grad.numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(lb.grad.numpy(), tb.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_align_corners_default_warns_as_torch():
    x, g = lumen.zeros(1, 1, 2, 2), lumen.zeros(1, 1, 1, 2)
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.grid_sample(x, g)
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.affine_grid(lumen.zeros(1, 2, 3), (1, 1, 2, 2))


def test_errors():
    x, g = lumen.zeros(1, 1, 2, 2), lumen.zeros(1, 1, 1, 2)
    with pytest.raises(ValueError, match="mode"):
        F.grid_sample(x, g, mode="linear", align_corners=False)
    with pytest.raises(ValueError, match="padding_mode"):
        F.grid_sample(x, g, padding_mode="circular", align_corners=False)
    with pytest.raises(RuntimeError, match="last dimension"):
        F.grid_sample(x, lumen.zeros(1, 1, 1, 3), align_corners=False)
    with pytest.raises(RuntimeError, match="batch size"):
        F.grid_sample(x, lumen.zeros(2, 1, 1, 2), align_corners=False)
    with pytest.raises(RuntimeError, match="same dtype"):
        F.grid_sample(x, g.double(), align_corners=False)
    with pytest.raises(RuntimeError, match="bicubic"):
        F.grid_sample(lumen.zeros(1, 1, 2, 2, 2), lumen.zeros(1, 1, 1, 1, 3), mode="bicubic", align_corners=False)
    with pytest.raises(ValueError, match="floating point"):
        F.affine_grid(lumen.zeros(1, 2, 3, dtype=lumen.int64), (1, 1, 2, 2), False)
    with pytest.raises(ValueError, match="Nx2x3"):
        F.affine_grid(lumen.zeros(1, 3, 4), (1, 1, 2, 2), False)
    with pytest.raises(NotImplementedError, match="4-d and 5-d"):
        F.affine_grid(lumen.zeros(1, 2, 3), (1, 1, 2), False)
    with pytest.raises(ValueError, match="positive output size"):
        F.affine_grid(lumen.zeros(1, 2, 3), (1, 1, 0, 2), False)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("padding_mode", PADDINGS)
def test_nan_grid_points_stay_in_bounds(mode, padding_mode):
    x = lumen.tensor(np.random.default_rng(9).standard_normal((1, 1, 3, 3)))
    g = lumen.tensor(np.array([[[[np.nan, 0.0], [0.2, 0.1]]]]))
    y = F.grid_sample(x, g, mode, padding_mode, False).numpy().ravel()
    t = torch.nn.functional.grid_sample(torch.tensor(x.numpy()), torch.tensor(g.numpy()), mode, padding_mode,
                                        False).numpy().ravel()
    np.testing.assert_allclose(y[1], t[1], rtol=1e-12)  # the finite point is unaffected
    if padding_mode == "zeros":  # torch: NaN, except nearest, which reads nothing
        np.testing.assert_array_equal(y[0], t[0])


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("n", [11, 28, 29, 38])
def test_float32_identity_grid_gradient_takes_torchs_cells(n, align_corners):
    """On torch's identity grid every point sits on a pixel centre, where the grid's gradient is a one-sided
    difference: the cell each point falls in must be torch's, whose 2-d kernel rounds (x + 1) * n/2 - 0.5
    as one fused multiply-subtract."""
    size = (2, 1, n, n)
    theta = torch.tensor([[[1.0, 0, 0], [0, 1, 0]]] * 2)
    grid = torch.nn.functional.affine_grid(theta, size, align_corners=align_corners).numpy()
    x = np.random.default_rng(n).standard_normal(size).astype(np.float32)
    grads = []
    for lib in (lumen, torch):
        g = lib.tensor(grid, requires_grad=True)
        y = lib.nn.functional.grid_sample(lib.tensor(x), g, align_corners=align_corners)
        (y * lib.tensor(x)).sum().backward()
        grads.append(g.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5, atol=1e-4)
