"""The direct C convolution (``direct.c``) and its build (``native.py``), against im2col and PyTorch."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import lumen
import lumen.nn.functional as F
from lumen.autograd import gradcheck
from lumen.backends import conv as conv_settings
from lumen.backends.cpu import conv, direct, native, parallel

BOUND = {np.float32: 1e-6, np.float64: 1e-13}  # relative to the largest sum of |x| * |w|


@pytest.fixture(autouse=True)
def _default_selector():
    with conv_settings.flags():
        yield


def test_the_kernels_build_on_this_machine():
    for dtype in direct.DTYPES:
        assert direct.available(dtype), direct.unavailable_reason(dtype)


def _all_three(x, w, gy, padding, algo, groups=1):
    conv_settings.algorithm = algo
    args = ((1, 1), padding, (1, 1), groups)
    return (conv.conv2d_forward(x, w, None, *args), conv.conv2d_backward_data(gy, w, x.shape, *args),
            conv.conv2d_backward_filter(x, gy, w.shape, *args))


# Output channels past one register block (8 with AVX-512) and not a multiple of it; paddings past
# k - 1, where backward-data crops gy; maps smaller than one block of positions.
geometry = st.tuples(st.integers(1, 3), st.integers(1, 10), st.integers(1, 19),  # n, c, o (per group)
                     st.integers(1, 14), st.integers(1, 14), st.integers(1, 6), st.integers(1, 6),  # h, w, kh, kw
                     st.integers(0, 4), st.integers(0, 4), st.integers(1, 3))  # ph, pw, groups


@settings(max_examples=60, deadline=None)
@given(g=geometry, dtype=st.sampled_from([np.float32, np.float64]), workers=st.sampled_from([1, 3]),
       seed=st.integers(0, 2 ** 16))
def test_direct_matches_im2col(g, dtype, workers, seed):
    n, c, o, h, wd, kh, kw, ph, pw, groups = g
    ho, wo = h + 2 * ph - kh + 1, wd + 2 * pw - kw + 1
    assume(ho >= 1 and wo >= 1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parallel, "WORKERS", workers)
        patch.setattr(parallel, "MIN_ELEMENTS", 1)  # split over images, or channel blocks at n < workers
        _check_direct(n, c, o, h, wd, kh, kw, ph, pw, groups, ho, wo, dtype, seed)


def _check_direct(n, c, o, h, wd, kh, kw, ph, pw, groups, ho, wo, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c * groups, h, wd))
    w = rng.standard_normal((o * groups, c, kh, kw))
    gy = rng.standard_normal((n, o * groups, ho, wo))
    ref = _all_three(x, w, gy, (ph, pw), "im2col", groups)
    scale = [r.max() for r in _all_three(np.abs(x), np.abs(w), np.abs(gy), (ph, pw), "im2col", groups)]
    got = _all_three(*(a.astype(dtype) for a in (x, w, gy)), (ph, pw), "direct", groups)
    for r, s, y in zip(ref, scale, got):
        assert y.dtype == dtype and y.shape == r.shape and y.flags.c_contiguous
        assert np.abs(y - r).max() <= BOUND[dtype] * s


@pytest.mark.parametrize("chunk_bytes", [direct._CHUNK_BYTES, 1])  # 1: one image per filter-gradient pass
def test_results_do_not_depend_on_the_thread_count(monkeypatch, chunk_bytes):
    monkeypatch.setattr(direct, "_CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 7, 13, 11)).astype(np.float32)
    w = rng.standard_normal((19, 7, 3, 3)).astype(np.float32)
    b = rng.standard_normal(19).astype(np.float32)
    gy = rng.standard_normal((5, 19, 13, 11)).astype(np.float32)
    monkeypatch.setattr(parallel, "MIN_ELEMENTS", 1)
    results = []
    for workers in (1, 2, 3):
        monkeypatch.setattr(parallel, "WORKERS", workers)
        conv_settings.algorithm = "direct"
        args = ((1, 1), (1, 1), (1, 1), 1)
        results.append((conv.conv2d_forward(x, w, b, *args), conv.conv2d_forward(x[:1], w, b, *args),
                        conv.conv2d_backward_data(gy, w, x.shape, *args),
                        conv.conv2d_backward_filter(x, gy, w.shape, *args)))
    for other in results[1:]:
        for a, b_ in zip(results[0], other):
            assert np.array_equal(a, b_)


def test_a_large_batch_sums_alike_whatever_the_split(monkeypatch):
    # Several chunks of images in the filter gradient: the chunk must not depend on the threads' output blocks.
    rng = np.random.default_rng(5)
    x = rng.standard_normal((12, 3, 60, 60)).astype(np.float32)
    gy = rng.standard_normal((12, 16, 60, 60)).astype(np.float32)
    monkeypatch.setattr(parallel, "MIN_ELEMENTS", 1)
    results = []
    for workers in (1, 2, 3):
        monkeypatch.setattr(parallel, "WORKERS", workers)
        results.append(direct.backward_filter(x, gy, (16, 3, 3, 3), (1, 1)))
    assert all(np.array_equal(results[0], r) for r in results[1:])


@pytest.mark.parametrize("chunk_bytes, tile_bytes", [(1, 1), (1 << 20, 1), (1 << 20, 3000)])
def test_filter_gradient_chunks_and_tiles_cover_every_row(monkeypatch, chunk_bytes, tile_bytes):
    # One image per chunk and one row per tile; many images per chunk, tiles of one row or of a few rows
    # that straddle images.
    monkeypatch.setattr(direct, "_CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(direct, "_TILE_BYTES", tile_bytes)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((5, 3, 7, 9))
    gy = rng.standard_normal((5, 6, 7, 9))
    with conv_settings.flags(algorithm="im2col"):
        ref = conv.conv2d_backward_filter(x, gy, (6, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1)
    assert np.allclose(direct.backward_filter(x, gy, (6, 3, 3, 3), (1, 1)), ref, rtol=0, atol=1e-12)


def test_inf_and_nan_reach_the_filter_gradients_im2col_gives_them():
    x = np.ones((2, 2, 6, 7))
    x[0, 1, 0, 0], x[1, 0, 3, 6] = np.inf, np.nan  # a corner and a row's last column
    gy = np.ones((2, 3, 4, 5))
    args = ((1, 1), (0, 0), (1, 1), 1)
    with conv_settings.flags(algorithm="im2col"):
        ref = conv.conv2d_backward_filter(x, gy, (3, 2, 3, 3), *args)
    with conv_settings.flags(algorithm="direct"):
        got = conv.conv2d_backward_filter(x, gy, (3, 2, 3, 3), *args)
    assert np.array_equal(np.isnan(got), np.isnan(ref)) and np.array_equal(np.isinf(got), np.isinf(ref))
    assert np.allclose(got[np.isfinite(ref)], ref[np.isfinite(ref)], rtol=1e-12)


def test_strided_views_bias_and_the_autograd_path():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((9, 3, 2, 10)).transpose(2, 1, 3, 0)  # (2, 3, 10, 9), not contiguous
    w = rng.standard_normal((3, 8, 3, 3)).transpose(1, 0, 2, 3)
    b = rng.standard_normal(8)
    with conv_settings.flags(algorithm="im2col"):
        ref = conv.conv2d_forward(x, w, b, (1, 1), (2, 1), (1, 1), 1)
    with conv_settings.flags(algorithm="direct"):
        y = conv.conv2d_forward(x, w, b, (1, 1), (2, 1), (1, 1), 1)
        assert np.allclose(y, ref, rtol=0, atol=1e-12)
        xt = lumen.tensor(x[:1, :, :5, :4].copy(), requires_grad=True)
        wt = lumen.tensor(w[:5].copy(), requires_grad=True)
        bt = lumen.tensor(b[:5].copy(), requires_grad=True)
        assert gradcheck(lambda a, k, c: F.conv2d(a, k, c, padding=(1, 2)), (xt, wt, bt))


@pytest.mark.parametrize("groups", [1, 2])
def test_the_same_numbers_as_pytorch(groups):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 8, 17, 15)).astype(np.float32)
    w = rng.standard_normal((16, 8 // groups, 5, 3)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    with conv_settings.flags(algorithm="direct"):
        xs, ws, bs = (lumen.tensor(a, requires_grad=True) for a in (x, w, b))
        y = F.conv2d(xs, ws, bs, padding=(2, 1), groups=groups)
        (y * y).sum().backward()
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch.nn.functional.conv2d(xt, wt, bt, padding=(2, 1), groups=groups)
    (yt * yt).sum().backward()
    assert np.allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-4)
    for ours, theirs in ((xs, xt), (ws, wt), (bs, bt)):
        scale = np.abs(theirs.grad.numpy()).max()
        assert np.abs(ours.grad.numpy() - theirs.grad.numpy()).max() <= 1e-5 * scale


def test_the_heuristic_takes_it_up_to_128_channels(monkeypatch):
    assert conv._heuristic(conv.ALGORITHMS, 32, 16, 16, 48, 48) == "direct"
    assert conv._heuristic(conv.ALGORITHMS, 32, 64, 64, 12, 12) == "direct"
    # with AVX2's 16 registers F(2x2,3x3) takes the 64-128-channel layers on large maps (NOTES row 39)
    wide = direct.vector_bytes(np.float32) == 64
    assert conv._heuristic(conv.ALGORITHMS, 1, 128, 128, 112, 112) == ("direct" if wide else "winograd2")
    assert conv._heuristic(conv.ALGORITHMS, 1, 64, 64, 224, 224) == ("direct" if wide else "winograd2")
    assert conv._heuristic(conv.ALGORITHMS, 1, 256, 256, 56, 56) != "direct"
    assert conv._heuristic(conv.ALGORITHMS, 32, 8, 16, 48, 48, "bwd_filter") == "direct"
    assert conv._heuristic(conv.ALGORITHMS, 32, 64, 64, 12, 12, "bwd_filter") != "direct"
    assert conv._heuristic(conv.ALGORITHMS, 8, 256, 1, 24, 24, "bwd_filter") != "direct"  # one output: 3/4 idle
    assert conv._heuristic(conv.ALGORITHMS, 1, 64, 3, 224, 224) != "direct"  # conv1_1's backward-data
    assert conv._heuristic(conv.ALGORITHMS, 1, 64, 64, 56, 56, pointwise=True) == "im2col"
    # grouped layers by their channels per group: AlexNet's conv2 (96 -> 256 in 2 groups) yes, conv4 not
    ran = []
    forward_by = conv._forward_by
    monkeypatch.setattr(conv, "_forward_by", lambda algo, *args: ran.append(algo) or forward_by(algo, *args))
    conv.conv2d_forward(np.zeros((1, 96, 27, 27), np.float32), np.zeros((256, 48, 5, 5), np.float32), None,
                        (1, 1), (2, 2), (1, 1), 2)
    conv.conv2d_forward(np.zeros((1, 384, 13, 13), np.float32), np.zeros((384, 192, 3, 3), np.float32), None,
                        (1, 1), (1, 1), (1, 1), 2)
    assert ran == ["direct", "im2col"]


@pytest.fixture
def _fresh_build(monkeypatch, tmp_path):
    monkeypatch.setenv("LUMEN_CACHE", str(tmp_path))
    monkeypatch.setattr(native, "_built", {})
    monkeypatch.setattr(native, "_functions", {})
    monkeypatch.setattr(direct, "_kernels", {})
    return tmp_path


def test_without_a_compiler_the_numpy_algorithms_run(_fresh_build, monkeypatch):
    monkeypatch.setenv("LUMEN_COMPILE", "0")
    x = np.ones((1, 4, 6, 6), np.float32)
    w = np.ones((8, 4, 3, 3), np.float32)
    assert "direct" not in conv._algorithms(x.dtype, w.shape, (1, 1), (1, 1), 1)
    assert conv.conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 1)[0, 0, 2, 2] == 36
    with conv_settings.flags(algorithm="direct"):
        with pytest.raises(RuntimeError, match="'direct' is unavailable: LUMEN_COMPILE=0"):
            conv.conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 1)


def test_an_unwritable_cache_leaves_the_numpy_algorithms(_fresh_build, monkeypatch):
    (_fresh_build / "file").write_text("not a folder")
    monkeypatch.setenv("LUMEN_CACHE", str(_fresh_build / "file" / "cache"))
    assert not direct.available(np.float32)
    assert "no cache directory for the compiled kernels (set LUMEN_CACHE)" in direct.unavailable_reason(np.float32)
    x = np.ones((1, 4, 6, 6), np.float32)
    w = np.ones((8, 4, 3, 3), np.float32)
    with conv_settings.flags(algorithm="im2col"):
        assert conv.conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 1)[0, 0, 2, 2] == 36


def test_another_forced_algorithm_builds_no_kernel(_fresh_build):
    x = np.ones((1, 4, 6, 6), np.float32)
    w = np.ones((8, 4, 3, 3), np.float32)
    with conv_settings.flags(algorithm="im2col"):
        assert conv.conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 1)[0, 0, 2, 2] == 36
    assert not (_fresh_build / "kernels").exists() and native._built == {}


def test_a_compiler_command_line_in_cc(_fresh_build, monkeypatch):
    monkeypatch.setenv("CC", "env LC_ALL=C cc")
    assert native.library("direct", REAL="float") is not None


def test_a_failing_compiler_is_named(_fresh_build, monkeypatch):
    monkeypatch.setenv("CC", "/nonexistent/cc")
    assert native.library("direct", REAL="float") is None
    assert "/nonexistent/cc" in native.failure("direct", REAL="float")


def test_a_built_library_is_cached_by_content(_fresh_build):
    first = native.library("direct", REAL="double")
    assert first is not None and native.library("direct", REAL="double") is first
    built = list((_fresh_build / "kernels").iterdir())
    assert len(built) == 1 and built[0].name.startswith("direct-") and built[0].suffix == ".so"
    native._built.clear()  # a new process: the cached file loads without compiling
    mtime = built[0].stat().st_mtime_ns
    assert native.library("direct", REAL="double") is not None
    assert built[0].stat().st_mtime_ns == mtime and len(list(built[0].parent.iterdir())) == 1


@pytest.mark.parametrize("algo", [None, "im2col", "direct"])
def test_an_empty_batch_has_zero_filter_gradients(algo):
    with conv_settings.flags(algorithm=algo):
        gw = conv.conv2d_backward_filter(np.ones((0, 3, 5, 5)), np.ones((0, 4, 3, 3)), (4, 3, 3, 3),
                                         (1, 1), (0, 0), (1, 1), 1)
    assert gw.shape == (4, 3, 3, 3) and not gw.any()
