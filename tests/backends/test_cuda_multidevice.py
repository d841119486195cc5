"""More than one CUDA device: placement, copies, ops on their inputs' device, the current device, modules,
optimizers and per-device generators, as PyTorch does them.

Marked ``cuda``: on a machine with two or more GPUs these run there (one GPU: skipped, they need two); under
``pytest --cuda-emulator`` they run against the CuPy double's two emulated devices, which refuses any array
operation or kernel launch on an array of another device than the current one (CuPy's error for devices
without peer access), so host code that forgets a device context fails here. Every test starts and ends with
cuda:0 current.
"""
import re

import numpy as np
import pytest

import lumen
from lumen import nn

pytestmark = pytest.mark.cuda
cupy = pytest.importorskip("cupy", reason="needs CuPy and a CUDA GPU, or --cuda-emulator")

from cuda_emu import emulated  # noqa: E402 (after the CuPy check)

if not emulated(cupy) and cupy.cuda.runtime.getDeviceCount() < 2:
    pytestmark = [pytestmark, pytest.mark.skip(reason="needs two CUDA devices (--cuda-emulator emulates two)")]

MIXED = re.escape("Expected all tensors to be on the same device, but found at least two devices, cuda:0 and "
                  "cuda:1!")


@pytest.fixture(autouse=True)
def current_device_zero():
    lumen.cuda.set_device(0)
    yield
    lumen.cuda.set_device(0)


def _on(t, index):
    """``t`` reports cuda:``index`` and its CuPy array lives on that device."""
    return t.device == lumen.device(f"cuda:{index}") and t.get_device() == index and t._data.device.id == index


def test_devices_count_and_current():
    assert lumen.cuda.device_count() >= 2 and lumen.cuda.current_device() == 0
    assert repr(lumen.device("cuda:1")) == "device(type='cuda', index=1)"
    assert lumen.device("cuda", 1) == lumen.device(1) == "cuda:1"
    assert lumen.device("cuda") == "cuda:0"
    lumen.cuda.set_device(1)
    assert lumen.cuda.current_device() == 1 and lumen.device("cuda") == "cuda:1"
    lumen.cuda.set_device(lumen.device("cuda:0"))
    assert lumen.cuda.current_device() == 0


def test_creation_places_tensors_on_the_named_device():
    made = [lumen.zeros(2, 3, device="cuda:1"), lumen.ones(4, device="cuda:1"), lumen.arange(5, device="cuda:1"),
            lumen.tensor([[1.0, 2.0]], device="cuda:1"), lumen.full((2,), 7.0, device=lumen.device("cuda:1")),
            lumen.eye(3, device="cuda:1"), lumen.Tensor([1.0, 2.0], device="cuda:1"),
            lumen.empty(2, device="cuda:1")]
    base = lumen.zeros(2, device="cuda:1")
    made += [base.new_ones(3), base.new_tensor([1, 2]), lumen.zeros_like(base), base.new_zeros(2, device="cuda:1")]
    assert all(_on(t, 1) for t in made)
    assert lumen.cuda.current_device() == 0
    np.testing.assert_array_equal(made[3].cpu().numpy(), [[1.0, 2.0]])
    assert _on(lumen.zeros(1, device="cuda:0"), 0) and _on(base.new_ones(1, device="cuda:0"), 0)


def test_cuda_means_the_current_device():
    lumen.cuda.set_device(1)
    assert _on(lumen.zeros(2, device="cuda"), 1)
    with lumen.cuda.device(0):
        assert lumen.cuda.current_device() == 0 and _on(lumen.zeros(1, device="cuda"), 0)
        with lumen.cuda.device("cuda:1"):
            assert lumen.cuda.current_device() == 1
        assert lumen.cuda.current_device() == 0
    assert lumen.cuda.current_device() == 1
    with lumen.cuda.device_of(lumen.zeros(1, device="cuda:0")):
        assert lumen.cuda.current_device() == 0
    with lumen.cuda.device_of(lumen.zeros(1)), lumen.cuda.device(None), lumen.cuda.device(-1):
        assert lumen.cuda.current_device() == 1  # a CPU tensor, None and a negative index change nothing


def test_an_index_past_the_device_count_is_an_error_naming_both():
    count = lumen.cuda.device_count()
    message = re.escape(f"cuda:{count}: invalid device ordinal; CuPy sees {count} CUDA device")
    for make in (lambda: lumen.zeros(1, device=f"cuda:{count}"), lambda: lumen.cuda.set_device(count),
                 lambda: lumen.cuda.device(count).__enter__(), lambda: lumen.cuda.get_rng_state(count)):
        with pytest.raises(RuntimeError, match=message):
            make()
    assert lumen.cuda.current_device() == 0


class _ConvNet(nn.Module):
    def __init__(self, device=None):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1, device=device, dtype=lumen.float64)
        self.norm = nn.BatchNorm2d(3, device=device, dtype=lumen.float64)
        self.fc = nn.Linear(3 * 4 * 4, 4, device=device, dtype=lumen.float64)

    def forward(self, x):
        return self.fc(nn.functional.relu(self.norm(self.conv(x))).flatten(1))


def _train(model, device, steps=2):
    """``steps`` SGD steps (momentum, weight decay) of ``model`` on a fixed batch on ``device``; the optimizer."""
    rng = np.random.default_rng(1)
    x, target = rng.standard_normal((3, 2, 4, 4)), np.array([0, 3, 1])
    optimizer = lumen.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(lumen.tensor(x, device=device)), lumen.tensor(target, device=device))
        loss.backward()
        optimizer.step()
    return optimizer


def _assert_trained_alike(gpu_model, gpu_optimizer, cpu_model, index):
    for (name, ref), got in zip(cpu_model.state_dict().items(), gpu_model.state_dict().values()):
        assert _on(got, index), name
        np.testing.assert_allclose(got.cpu().numpy(), ref.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
    assert gpu_optimizer.state and all(_on(s["momentum_buffer"], index) for s in gpu_optimizer.state.values())


def test_a_training_step_with_cuda1_current_matches_the_cpu():
    lumen.manual_seed(0)
    cpu_model = _ConvNet()
    with lumen.cuda.device(1):
        gpu_model = _ConvNet(device="cuda")
        with lumen.no_grad():
            for got, ref in zip(gpu_model.state_dict().values(), cpu_model.state_dict().values()):
                got.copy_(lumen.tensor(ref.numpy(), device="cuda"))
        optimizer = _train(gpu_model, "cuda")
    _train(cpu_model, "cpu")
    _assert_trained_alike(gpu_model, optimizer, cpu_model, 1)


def test_backend_primitives_run_on_their_arrays_device():
    # The host code places each primitive on its first array's device: called with cuda:0 current, cuda:1
    # inputs give cuda:1 outputs (the emulator refuses the launch if a device context is missing).
    from lumen.backends.cuda import CupyBackend

    be = CupyBackend()
    rng = np.random.default_rng(2)
    with cupy.cuda.Device(1):
        x, w, b = (cupy.asarray(rng.standard_normal(s).astype(np.float32)) for s in ((2, 3, 5, 5), (4, 3, 3, 3), 4))
        target = cupy.asarray(rng.integers(0, 4, (2, 5, 5)))
        gen = be.random.generator(3)
    geometry = ((1, 1), (1, 1), (1, 1), 1)
    y = be.conv2d_forward(x, w, b, *geometry)
    pooled, indices = be.max_pool2d_forward(y, (2, 2), (2, 2), (0, 0), (1, 1), False)
    lrn, scale = be.lrn_forward(y, 3, 1e-4, 0.75, 1.0)
    loss, log_prob = be.softmax_cross_entropy_forward(y, target, -100)
    outputs = [y, be.conv2d_backward_data(y, w, x.shape, *geometry), be.conv2d_backward_filter(x, y, w.shape, *geometry),
               pooled, indices, be.max_pool2d_backward(pooled, indices, y.shape),
               be.avg_pool2d_forward(y, (2, 2), (1, 1), (0, 0), False, True, None), lrn, scale,
               be.lrn_backward(y, lrn, scale, lrn, 3, 1e-4, 0.75, 1.0), loss, log_prob,
               be.softmax_cross_entropy_backward(log_prob, target, loss, -100), be.relu(y), be.relu_backward(y, y),
               be.bias_add(x, b[:3]), be.crop(y, 1, 1, 2, 2), be.add(y, y), be.exp(y), be.cumsum(y, axis=1), be.matmul(w.reshape(4, 27), w.reshape(4, 27).T),
               be.dropout_mask((4, 4), 0.5, np.float32, gen), be.random.uniform(gen, (3,), np.float32)]
    assert all(o.device.id == 1 for o in outputs)
    assert cupy.cuda.runtime.getDevice() == 0
    with cupy.cuda.Device(0):
        ref = be.conv2d_forward(*(cupy.asarray(a) for a in (x, w, b)), *geometry)  # copied over to cuda:0
    assert ref.device.id == 0
    np.testing.assert_array_equal(cupy.asnumpy(y), cupy.asnumpy(ref))  # one result on either device


# ---- with cuda:0 current, every op on cuda:1 tensors must place itself ----------------------------------------
def test_copies_between_devices_and_the_cpu():
    host = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    x = lumen.tensor(host)
    on1 = [x.to("cuda:1"), x.cuda(1), x.to(lumen.device("cuda", 1)), x.to(lumen.zeros(1, device="cuda:1")),
           x.to(device="cuda:1", dtype=lumen.float64), lumen.tensor(host, device="cuda:0").to("cuda:1")]
    assert all(_on(t, 1) for t in on1) and on1[4].dtype is lumen.float64
    back = on1[0].to("cuda:0")
    assert _on(back, 0) and _on(back.cuda(1), 1) and _on(on1[0].cuda(), 0)  # .cuda(): the current device
    for t in (*on1, back):
        np.testing.assert_array_equal(t.cpu().numpy(), host)
    assert on1[0].to("cuda:1") is on1[0]  # already there: no copy, as PyTorch
    lumen.cuda.set_device(1)
    assert _on(x.cuda(), 1) and _on(x.to("cuda"), 1)
    count = lumen.cuda.device_count()
    with pytest.raises(RuntimeError, match=re.escape(f"cuda:{count}: invalid device ordinal; CuPy sees {count}")):
        x.to(f"cuda:{count}")


def test_gradients_flow_back_through_device_copies():
    x = lumen.tensor([1.0, -2.0, 3.0], device="cuda:0", requires_grad=True)
    h = lumen.tensor([0.5, 0.25, 2.0], requires_grad=True)
    y = (x.to("cuda:1") * lumen.tensor([2.0, 3.0, 4.0], device="cuda:1") + h.cuda(1)).to("cpu").sum()
    y.backward()
    assert _on(x.grad, 0) and h.grad.device == lumen.device("cpu")
    np.testing.assert_array_equal(x.grad.cpu().numpy(), [2.0, 3.0, 4.0])
    np.testing.assert_array_equal(h.grad.numpy(), [1.0, 1.0, 1.0])


def test_ops_run_on_their_inputs_device():
    rng = np.random.default_rng(0)
    x = lumen.tensor(rng.standard_normal((2, 3, 6, 6)), device="cuda:1", requires_grad=True)
    w = lumen.tensor(rng.standard_normal((4, 3, 3, 3)), device="cuda:1", requires_grad=True)

    def loss_of(x, w, device):
        y = nn.functional.max_pool2d(nn.functional.relu(nn.functional.conv2d(x, w, padding=1)), 2)
        z = (y.flatten(1) @ lumen.ones(36, 5, dtype=lumen.float64, device=device)).exp().mean()
        return z + nn.functional.cross_entropy(y.flatten(1)[:, :5], lumen.tensor([1, 0], device=device)), y

    loss, y = loss_of(x, w, "cuda:1")
    loss.backward()
    assert all(_on(t, 1) for t in (y, loss, x.grad, w.grad)) and lumen.cuda.current_device() == 0
    ref_x, ref_w = (lumen.tensor(t.detach().cpu().numpy(), requires_grad=True) for t in (x, w))
    ref, _ = loss_of(ref_x, ref_w, "cpu")
    ref.backward()
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-12)
    np.testing.assert_allclose(w.grad.cpu().numpy(), ref_w.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_ops_that_make_index_arrays_make_them_on_the_named_device():
    rows, cols = lumen.tril_indices(4, 3, device="cuda:1"), lumen.triu_indices(3, 4, 1, device="cuda:1")
    assert _on(rows, 1) and _on(cols, 1)
    np.testing.assert_array_equal(rows.cpu().numpy(), lumen.tril_indices(4, 3).numpy())
    x = lumen.rand(1, 2, 5, 4, device="cuda:1")
    up = nn.ConvTranspose2d(2, 2, 4, stride=2, groups=2, bias=False).fix_bilinear_().to("cuda:1")
    y = up(x)  # the frozen bilinear path's band matrices
    assert _on(y, 1) and lumen.cuda.current_device() == 0
    np.testing.assert_allclose(y.cpu().numpy(), up.cpu()(x.cpu()).numpy(), rtol=1e-6, atol=1e-6)


def test_mixing_devices_in_one_op_is_pytorchs_error():
    a, b = lumen.ones(2, 2, device="cuda:0"), lumen.ones(2, 2, device="cuda:1")
    for op in (lambda: a + b, lambda: a * b, lambda: a @ b, lambda: lumen.cat([a, b]), lambda: a.add_(b)):
        with pytest.raises(RuntimeError, match=MIXED):
            op()


def test_module_to_moves_parameters_and_buffers():
    for move in (lambda m: m.to("cuda:1"), lambda m: m.cuda(1), lambda m: m.to(lumen.zeros(1, device="cuda:1")),
                 lambda m: m.to(lumen.device("cuda:1"), lumen.float32)):
        model = move(_ConvNet())
        tensors = [*model.parameters(), *model.buffers()]
        assert len(tensors) == 9 and all(_on(t, 1) for t in tensors)
    assert model.fc.weight.dtype is lumen.float32 and all(_on(t, 0) for t in model.to("cuda:0").parameters())


def test_a_training_step_on_cuda1_with_cuda0_current_matches_the_cpu():
    lumen.manual_seed(0)
    cpu_model = _ConvNet()
    gpu_model = _ConvNet()
    gpu_model.load_state_dict(cpu_model.state_dict())
    optimizer = _train(gpu_model.cuda(1), "cuda:1")
    _train(cpu_model, "cpu")
    assert lumen.cuda.current_device() == 0
    _assert_trained_alike(gpu_model, optimizer, cpu_model, 1)


def test_each_device_has_its_own_default_generator():
    lumen.cuda.manual_seed_all(7)
    draws = [lumen.randn(5, device=f"cuda:{i}") for i in (0, 1)]
    assert _on(draws[0], 0) and _on(draws[1], 1)
    np.testing.assert_array_equal(draws[0].cpu().numpy(), draws[1].cpu().numpy())  # one seed, two generators
    state = lumen.cuda.get_rng_state(1)
    first = lumen.rand(4, device="cuda:1").cpu().numpy()
    other = lumen.rand(4, device="cuda:0").cpu().numpy()
    lumen.cuda.set_rng_state(state, "cuda:1")
    np.testing.assert_array_equal(lumen.rand(4, device="cuda:1").cpu().numpy(), first)
    assert not np.array_equal(lumen.rand(4, device="cuda:0").cpu().numpy(), other)  # cuda:0's went on
    lumen.cuda.set_device(1)
    lumen.cuda.manual_seed(3)  # the current device's only
    again = lumen.randn(3, device="cuda:1").cpu().numpy()
    lumen.cuda.manual_seed(3)
    np.testing.assert_array_equal(lumen.randn(3, device="cuda:1").cpu().numpy(), again)
    assert lumen.cuda.initial_seed() == 3 and len(lumen.cuda.get_rng_state_all()) == lumen.cuda.device_count()


def test_generators_and_dropout_live_on_their_device():
    gen = lumen.Generator(device="cuda:1").manual_seed(5)
    a = lumen.rand(6, device="cuda:1", generator=gen)
    b = nn.functional.dropout(lumen.ones(64, device="cuda:1"), 0.5)
    assert _on(a, 1) and _on(b, 1) and set(np.unique(b.cpu().numpy())) <= {0.0, 2.0}
    np.testing.assert_array_equal(a.cpu().numpy(),
                                  lumen.rand(6, device="cuda:1", generator=gen.manual_seed(5)).cpu().numpy())
    with pytest.raises(RuntimeError, match="generator is on cuda:1 but the output is on cuda:0"):
        lumen.rand(2, device="cuda:0", generator=gen)


def test_backward_on_another_device_casts_hooks_and_sums_its_gradients_there():
    """The engine's gradients travel as bare arrays: a gradient cast to its input's dtype, a hook's
    replacement, and two gradients of one slot summed, all on cuda:1 while cuda:0 is current."""
    class WrongDtype(lumen.autograd.Function):  # a backward returning float32 for a float64 input
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return (g * 2).to(lumen.float32)

    x = lumen.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=lumen.float64, device="cuda:1", requires_grad=True)
    h = WrongDtype.apply(x)
    h.register_hook(lambda g: g * 3)
    y = (h * h + h).tanh().sum()  # h feeds two ops: its gradients are summed in one slot
    y.backward()
    assert _on(x.grad, 1) and x.grad.dtype == lumen.float64 and lumen.cuda.current_device() == 0
    ref = lumen.tensor(x.detach().cpu().numpy(), requires_grad=True)
    h_ref = WrongDtype.apply(ref)
    h_ref.register_hook(lambda g: g * 3)
    (h_ref * h_ref + h_ref).tanh().sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), ref.grad.numpy(), rtol=1e-6)
