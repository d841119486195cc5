"""nn.init's trunc_normal_, orthogonal_, eye_, dirac_, sparse_ and torch's deprecated no-underscore aliases:
exact results where the initialiser is deterministic (against torch), distributions and generator
reproducibility where it draws (Lumen's generator is not torch's stream), and torch's errors."""
import math

import numpy as np
import pytest

import lumen
from lumen.nn import init

torch = pytest.importorskip("torch")


def test_trunc_normal_moments_bounds_and_generator():
    w = lumen.empty(40000, dtype=lumen.float64)
    assert init.trunc_normal_(w, mean=0.5, std=2.0, a=-1.0, b=3.0, generator=lumen.Generator().manual_seed(1)) is w
    x = w.numpy()
    assert x.min() >= -1.0 and x.max() <= 3.0
    from scipy import stats
    dist = stats.truncnorm((-1.0 - 0.5) / 2.0, (3.0 - 0.5) / 2.0, loc=0.5, scale=2.0)
    assert abs(x.mean() - dist.mean()) < 0.02 and abs(x.std() - dist.std()) < 0.02
    again = init.trunc_normal_(lumen.empty(40000, dtype=lumen.float64), 0.5, 2.0, -1.0, 3.0,
                               generator=lumen.Generator().manual_seed(1))
    np.testing.assert_array_equal(again.numpy(), x)
    default = init.trunc_normal_(lumen.empty(1000))
    assert default.dtype is lumen.float32 and float(default.abs().max()) <= 2.0
    with pytest.warns(UserWarning, match="more than 2 std"):
        init.trunc_normal_(lumen.empty(10), mean=10.0, std=1.0, a=-2.0, b=2.0)


def test_trunc_normal_is_torchs_map_of_uniform_draws():
    """torch fills with U(2 cdf(a) - 1, 2 cdf(b) - 1) and maps through erfinv: the same map from the same draws."""
    w = lumen.empty(6, 7, dtype=lumen.float64)
    init.trunc_normal_(w, 0.2, 0.7, -0.5, 1.0, generator=lumen.Generator().manual_seed(3))
    cdf = lambda v: (1 + math.erf(v / math.sqrt(2))) / 2  # noqa: E731
    lo, hi = cdf((-0.5 - 0.2) / 0.7), cdf((1.0 - 0.2) / 0.7)
    u = lumen.empty(6, 7, dtype=lumen.float64).uniform_(2 * lo - 1, 2 * hi - 1,
                                                        generator=lumen.Generator().manual_seed(3))
    want = (torch.special.erfinv(torch.tensor(u.numpy())) * 0.7 * math.sqrt(2) + 0.2).clamp(-0.5, 1.0)
    np.testing.assert_allclose(w.numpy(), want.numpy(), rtol=1e-12)


@pytest.mark.parametrize("shape", [(4, 6), (6, 4), (5, 5), (8, 3, 3, 3), (3, 2, 5)])
def test_orthogonal_rows_or_columns_are_orthonormal_times_gain(shape):
    w = init.orthogonal_(lumen.empty(*shape, dtype=lumen.float64), gain=1.7, generator=lumen.Generator().manual_seed(0))
    flat = w.numpy().reshape(shape[0], -1)
    small = min(flat.shape)
    gram = flat @ flat.T if flat.shape[0] == small else flat.T @ flat
    np.testing.assert_allclose(gram, 1.7 ** 2 * np.eye(small), atol=1e-12)
    again = init.orthogonal_(lumen.empty(*shape, dtype=lumen.float64), 1.7, lumen.Generator().manual_seed(0))
    np.testing.assert_array_equal(again.numpy(), w.numpy())
    assert init.orthogonal_(lumen.empty(0, 3)).shape == (0, 3)


def test_orthogonal_signs_follow_r_diagonal():
    """Q's columns multiplied by sign(diag R): the matrix then equals the QR of its own draw with R's diagonal
    positive, as torch's construction."""
    w = init.orthogonal_(lumen.empty(5, 3, dtype=lumen.float64), generator=lumen.Generator().manual_seed(4))
    draw = lumen.empty(5, 3, dtype=lumen.float64).normal_(0, 1, generator=lumen.Generator().manual_seed(4))
    q, r = torch.linalg.qr(torch.tensor(draw.numpy()))
    np.testing.assert_allclose(w.numpy(), (q * r.diagonal().sign()).numpy(), atol=1e-12)


@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (5, 2)])
def test_eye_matches_torch(shape):
    np.testing.assert_array_equal(init.eye_(lumen.empty(*shape)).numpy(),
                                  torch.nn.init.eye_(torch.empty(*shape)).numpy())


@pytest.mark.parametrize("shape, groups", [((4, 4, 3), 1), ((6, 3, 3, 3), 2), ((4, 6, 2, 3, 3), 1), ((2, 5, 3, 3), 1),
                                           ((6, 2, 3, 5), 3)])
def test_dirac_matches_torch(shape, groups):
    got = init.dirac_(lumen.empty(*shape), groups=groups)
    np.testing.assert_array_equal(got.numpy(), torch.nn.init.dirac_(torch.empty(*shape), groups=groups).numpy())


def test_dirac_weight_passes_the_input_through_a_convolution():
    w = init.dirac_(lumen.empty(3, 3, 3, 3))
    x = lumen.randn(2, 3, 5, 5)
    np.testing.assert_allclose(lumen.nn.functional.conv2d(x, w, padding=1).numpy(), x.numpy(), atol=1e-6)


def test_sparse_zeros_per_column_and_std():
    w = init.sparse_(lumen.empty(200, 30, dtype=lumen.float64), sparsity=0.25, std=0.5,
                     generator=lumen.Generator().manual_seed(2))
    x = w.numpy()
    assert ((x == 0).sum(0) == math.ceil(0.25 * 200)).all()
    assert abs(x[x != 0].std() - 0.5) < 0.03
    again = init.sparse_(lumen.empty(200, 30, dtype=lumen.float64), 0.25, 0.5, lumen.Generator().manual_seed(2))
    np.testing.assert_array_equal(again.numpy(), x)


@pytest.mark.parametrize("name, args", [("eye_", ((2, 2, 2),)), ("dirac_", ((3, 3),)), ("orthogonal_", ((3,),)),
                                        ("sparse_", ((3,), 0.1))])
def test_dimension_errors_match_torch(name, args):
    shape, *rest = args
    with pytest.raises(ValueError, match="dimensions are supported") as got:
        getattr(init, name)(lumen.empty(*shape), *rest)
    with pytest.raises(ValueError) as want:
        getattr(torch.nn.init, name)(torch.empty(*shape), *rest)
    assert str(want.value).split(" (")[0] in str(got.value)


def test_dirac_groups_error():
    with pytest.raises(ValueError, match="divisible by groups"):
        init.dirac_(lumen.empty(5, 2, 3, 3), groups=2)
    with pytest.raises(ValueError, match="divisible by groups"):
        torch.nn.init.dirac_(torch.empty(5, 2, 3, 3), groups=2)


@pytest.mark.parametrize("old, args", [("uniform", (-1.0, 1.0)), ("normal", ()), ("constant", (0.3,)), ("eye", ()),
                                       ("dirac", ()), ("xavier_uniform", ()), ("xavier_normal", ()),
                                       ("kaiming_uniform", ()), ("kaiming_normal", ()), ("orthogonal", ()),
                                       ("sparse", (0.5,))])
def test_deprecated_aliases_warn_as_torch_and_run_the_new_function(old, args):
    shape = (3, 3, 3) if old == "dirac" else (4, 4)
    with pytest.warns(FutureWarning, match=rf"`nn.init.{old}` is now deprecated in favor of `nn.init.{old}_`"):
        got = getattr(init, old)(lumen.empty(*shape), *args)
    with pytest.warns(FutureWarning, match=rf"`nn.init.{old}` is now deprecated"):
        getattr(torch.nn.init, old)(torch.empty(*shape), *args)
    assert got.shape == shape and getattr(init, old).__name__ == old
    if old in ("constant", "eye", "dirac"):
        with pytest.warns(FutureWarning):
            np.testing.assert_array_equal(got.numpy(), getattr(torch.nn.init, old)(torch.empty(*shape), *args).numpy())
