"""The phase-decomposition algorithm for strided convolutions (``lumen/backends/cpu/phase.py``), the fast
path of a learned transposed convolution: against im2col and PyTorch over shapes, and float64 gradchecks
through ``F.conv_transpose2d``."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import lumen
import lumen.nn.functional as F
from lumen.autograd import gradcheck, gradgradcheck
from lumen.backends import conv as conv_settings
from lumen.backends.cpu import conv, phase

# Error relative to the largest sum of |x| * |w| (norm-wise: one output that cancels to near zero would
# fail any bound relative to itself). Measured on these shapes: float32 ~1e-7, float64 ~1e-16.
BOUND = {np.float32: 1e-5, np.float64: 1e-13}


@pytest.fixture(autouse=True)
def _default_selector():
    with conv_settings.flags():
        yield


@st.composite
def strided_cases(draw):
    """An ungrouped convolution (dilation 1; stride 1 too, where phase is implicit's forward) and its input
    shape, with up to stride - 1 rows and columns of the input that no window reaches (a transposed
    convolution's output_padding)."""
    k = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    stride = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    padding = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    out = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    extra = tuple(draw(st.integers(0, s - 1)) for s in stride)
    hw = tuple((o - 1) * s + kk - 2 * p + e for o, s, kk, p, e in zip(out, stride, k, padding, extra))
    assume(min(hw) >= 1)
    return dict(n=draw(st.integers(1, 2)), c=draw(st.integers(1, 4)), o=draw(st.integers(1, 4)), hw=hw, k=k,
                stride=stride, padding=padding)


def _all_three(algo, x, w, gy, args):
    with conv_settings.flags(algorithm=algo):
        return (conv.conv2d_forward(x, w, None, *args), conv.conv2d_backward_data(gy, w, x.shape, *args),
                conv.conv2d_backward_filter(x, gy, w.shape, *args))


@settings(max_examples=25, deadline=None)
@given(case=strided_cases(), dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2 ** 16))
def test_phase_matches_im2col_in_every_direction(case, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((case["n"], case["c"]) + case["hw"])
    w = rng.standard_normal((case["o"], case["c"]) + case["k"])
    args = (case["stride"], case["padding"], (1, 1), 1)
    gy = rng.standard_normal(conv.conv2d_forward(x, w, None, *args).shape)
    ref = _all_three("im2col", x, w, gy, args)
    scale = [np.abs(r).max() for r in _all_three("im2col", np.abs(x), np.abs(w), np.abs(gy), args)]
    got = _all_three("phase", *(a.astype(dtype) for a in (x, w, gy)), args)
    for r, s, g in zip(ref, scale, got):
        assert g.dtype == dtype and g.shape == r.shape and g.flags.c_contiguous
        assert np.abs(g - r).max() <= BOUND[dtype] * max(s, 1e-30)


@settings(max_examples=10, deadline=None)
@given(case=strided_cases(), bias=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2 ** 16))
def test_conv_transpose2d_by_phase_matches_torch(case, bias, dtype, seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    n, c_in, c_out = case["n"], case["o"], case["c"]  # the transposed convolution maps the conv's O to its C
    out_hw = [(h + 2 * p - k) // s + 1 for h, p, k, s in zip(case["hw"], case["padding"], case["k"], case["stride"])]
    # output_padding: the rows past the last window, which must stay below the stride
    output_padding = tuple(h + 2 * p - k - (o - 1) * s for h, p, k, s, o in
                           zip(case["hw"], case["padding"], case["k"], case["stride"], out_hw))
    assume(all(op < s for op, s in zip(output_padding, case["stride"])))
    x = rng.standard_normal((n, c_in, *out_hw)).astype(dtype)
    w = rng.standard_normal((c_in, c_out) + case["k"]).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype) if bias else None
    gy = rng.standard_normal((n, c_out) + case["hw"]).astype(dtype)
    geometry = dict(stride=case["stride"], padding=case["padding"], output_padding=output_padding)

    xl, wl = lumen.tensor(x, requires_grad=True), lumen.tensor(w, requires_grad=True)
    bl = lumen.tensor(b, requires_grad=True) if bias else None
    with conv_settings.flags(algorithm="phase"):
        y = F.conv_transpose2d(xl, wl, bl, **geometry)
        y.backward(lumen.tensor(gy))
    want, scales = _torch_transposed(torch, x, w, b, gy, geometry), _torch_transposed(
        torch, *(None if a is None else np.abs(a).astype(np.float64) for a in (x, w, b, gy)), geometry)
    for got, ref, scale in zip([y, xl.grad, wl.grad, bl.grad if bias else None], want, scales):
        if ref is None:
            continue
        got = got.detach().numpy()
        assert got.dtype == dtype and got.shape == ref.shape
        assert np.abs(got - ref).max() <= BOUND[dtype] * max(np.abs(scale).max(), 1e-30)


def _torch_transposed(torch, x, w, b, gy, geometry):
    """PyTorch's output and input, weight and bias gradients (None without a bias); on |x|, |w|, |gy| in
    float64 these are the norm-wise error scales."""
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    yt = torch.nn.functional.conv_transpose2d(xt, wt, bt, **geometry)
    yt.backward(torch.tensor(gy))
    return [t.detach().numpy() if t is not None else None for t in (yt, xt.grad, wt.grad, None if b is None else bt.grad)]


@pytest.mark.parametrize("k,stride,padding,output_padding", [
    (4, 2, 0, 0), (4, 2, 1, 1), (8, 4, 2, 3), (16, 8, 0, 0), ((5, 6), (2, 3), (1, 2), (1, 0)), (2, 3, 0, 2)])
def test_conv_transpose2d_by_phase_gradcheck(k, stride, padding, output_padding):
    rng = np.random.default_rng(0)
    k2 = (k, k) if isinstance(k, int) else k
    x = lumen.tensor(rng.standard_normal((2, 3, 3, 2)), dtype=lumen.float64, requires_grad=True)
    w = lumen.tensor(rng.standard_normal((3, 2) + k2), dtype=lumen.float64, requires_grad=True)
    b = lumen.tensor(rng.standard_normal(2), dtype=lumen.float64, requires_grad=True)
    with conv_settings.flags(algorithm="phase"):
        assert gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, stride, padding, output_padding), (x, w, b))


def test_conv_transpose2d_by_phase_gradgradcheck():
    """Double backward: every node of the graph (the transposed convolution, its input and weight gradients
    and theirs) is a strided convolution run by phase."""
    rng = np.random.default_rng(4)
    x = lumen.tensor(rng.standard_normal((1, 2, 3, 3)), dtype=lumen.float64, requires_grad=True)
    w = lumen.tensor(rng.standard_normal((2, 2, 4, 4)), dtype=lumen.float64, requires_grad=True)
    with conv_settings.flags(algorithm="phase"):
        assert gradgradcheck(lambda x, w: F.conv_transpose2d(x, w, None, 2, 1, 1), (x, w))


def _chosen(monkeypatch, direction, c, o, hw, k, s, p=0):
    ran = []
    name = {"forward": "_forward_by", "backward_data": "_backward_data_by", "backward_filter": "_backward_filter_by"}
    fn = getattr(conv, name[direction])
    monkeypatch.setattr(conv, name[direction], lambda algo, *args: ran.append(algo) or fn(algo, *args))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, c, hw, hw)).astype(np.float32)
    w = rng.standard_normal((o, c, k, k)).astype(np.float32)
    args = ((s, s), (p, p), (1, 1), 1)
    gy = rng.standard_normal(conv.conv2d_forward(x, w, None, *args).shape).astype(np.float32)
    ran.clear()
    {"forward": lambda: conv.conv2d_forward(x, w, None, *args),
     "backward_data": lambda: conv.conv2d_backward_data(gy, w, x.shape, *args),
     "backward_filter": lambda: conv.conv2d_backward_filter(x, gy, w.shape, *args)}[direction]()
    return ran[-1]


@pytest.mark.parametrize("direction", ["forward", "backward_data", "backward_filter"])
def test_heuristic_takes_phase_where_the_sub_kernels_waste_few_taps(monkeypatch, direction):
    assert _chosen(monkeypatch, direction, 21, 21, 34, 4, 2) == "phase"  # FCN's upscore2, k4/s2
    assert _chosen(monkeypatch, direction, 21, 21, 96, 32, 16) == "phase"
    assert _chosen(monkeypatch, direction, 4, 8, 31, 3, 2, 1) == "im2col"  # 16 sub-kernel taps for 9
    assert _chosen(monkeypatch, direction, 3, 8, 47, 11, 4) == "im2col"  # AlexNet's conv1: 144 for 121
    assert _chosen(monkeypatch, direction, 4, 8, 16, 1, 2) == "im2col"  # 1x1: one GEMM on the strided pixels


def test_phase_forced_where_it_cannot_run_names_those_that_can():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((1, 4, 9, 9)), rng.standard_normal((4, 2, 3, 3))
    with conv_settings.flags(algorithm="phase"):
        with pytest.raises(ValueError, match=r"conv2d_forward on cpu: the forced algorithm 'phase' cannot run .*"
                                             r"groups=2.*the ones that can: \('im2col',\)"):
            conv.conv2d_forward(x, w, None, (2, 2), (0, 0), (1, 1), 2)
        with pytest.raises(ValueError, match=r"forced algorithm 'phase' cannot run .*dilation=\(2, 1\)"):
            conv.conv2d_forward(x, w[:, :1].repeat(4, 1), None, (2, 2), (0, 0), (2, 1), 1)


def test_phase_is_deterministic():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 40, 38)).astype(np.float32)
    w = rng.standard_normal((6, 5, 8, 8)).astype(np.float32)
    args = ((4, 4), (2, 2), (1, 1), 1)
    gy = rng.standard_normal(conv.conv2d_forward(x, w, None, *args).shape).astype(np.float32)
    first, second = _all_three("phase", x, w, gy, args), _all_three("phase", x, w, gy, args)
    for a, b in zip(first, second):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("padding,extra", [((0, 0), (0, 0)), ((1, 2), (1, 2))])
def test_backward_data_in_sample_chunks(monkeypatch, padding, extra):
    rng = np.random.default_rng(3)
    w = rng.standard_normal((4, 3, 6, 6))
    stride = (2, 3)
    x_shape = (3, 3) + tuple((o - 1) * s + 6 - 2 * p + e for o, s, p, e in zip((5, 4), stride, padding, extra))
    gy = rng.standard_normal((3, 4, 5, 4))
    args = (stride, padding, (1, 1), 1)
    with conv_settings.flags(algorithm="im2col"):
        ref = conv.conv2d_backward_data(gy, w, x_shape, *args)
    monkeypatch.setattr(phase, "_CHUNK_BYTES", 1)  # one sample per chunk
    with conv_settings.flags(algorithm="phase"):
        got = conv.conv2d_backward_data(gy, w, x_shape, *args)
    assert got.shape == x_shape and np.abs(got - ref).max() <= 1e-13 * np.abs(ref).max()


def test_backward_data_chunks_bound_the_columns_of_many_channels(monkeypatch):
    # 64 -> 1 channels: the columns over gy (O*uh*uw per phase pixel) outgrow the phase outputs (C*nh*nw)
    rng = np.random.default_rng(4)
    gy, w = rng.standard_normal((6, 64, 8, 8)), rng.standard_normal((64, 1, 4, 4))
    x_shape, stride, padding = (6, 1, 16, 16), (2, 2), (1, 1)
    asked = []

    def workspace(slot, shape, dtype):
        asked.append(int(np.prod(shape)) * np.dtype(dtype).itemsize)
        return np.empty(shape, dtype)

    one_sample_columns = 64 * 2 * 2 * 9 * 9 * 8  # O * uh * uw * jh * jw float64 values
    monkeypatch.setattr(phase, "_CHUNK_BYTES", 3 * one_sample_columns)
    got = phase.backward_data(gy, w, x_shape, stride, padding, workspace)
    assert max(asked) <= 3 * one_sample_columns
    with conv_settings.flags(algorithm="im2col"):
        ref = conv.conv2d_backward_data(gy, w, x_shape, stride, padding, (1, 1), 1)
    assert np.abs(got - ref).max() <= 1e-13 * np.abs(ref).max()
