import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumen.data import DataLoader, Dataset
from lumen.vision.transforms import (VOC_BGR_MEAN, Compose, RandomCrop, RandomHorizontalFlip, ToCaffeInput,
                                     from_caffe_input)


def sample(h, w, seed=0):
    """A label of class ids and an image whose red channel encodes it (so alignment is checkable)."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 21, size=(h, w)).astype(np.uint8)
    image = np.stack([label * 10, rng.integers(0, 256, (h, w)), rng.integers(0, 256, (h, w))], -1).astype(np.uint8)
    return image, label


def test_caffe_input_matches_reference_preprocessing():
    image, label = sample(5, 7)
    out, lab = ToCaffeInput()(image, label)
    # voc_layers.py load_image: float32, RGB->BGR, minus mean, HWC->CHW
    ref = np.array(image, dtype=np.float32)[:, :, ::-1]
    ref -= np.array(VOC_BGR_MEAN, dtype=np.float32)
    ref = ref.transpose((2, 0, 1))
    assert out.dtype == np.float32 and out.shape == (3, 5, 7) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, ref)
    assert lab.dtype == np.int64 and np.array_equal(lab, label)
    assert ToCaffeInput()(image, None)[1] is None
    np.testing.assert_array_equal(from_caffe_input(out), image)
    assert VOC_BGR_MEAN == (104.00698793, 116.66876762, 122.67891434)


def test_caffe_input_scale_is_applied_after_the_mean_and_undone_for_display():
    image, label = sample(5, 7)
    scaled, _ = ToCaffeInput(scale=0.017)(image, label)
    np.testing.assert_allclose(scaled, ToCaffeInput()(image, label)[0] * np.float32(0.017), rtol=1e-6)
    assert scaled.dtype == np.float32 and "scale=0.017" in repr(ToCaffeInput(scale=0.017))
    np.testing.assert_array_equal(from_caffe_input(scaled, scale=0.017), image)
    for bad in (0, -1.0, float("nan"), True):
        with pytest.raises(ValueError, match="ToCaffeInput: scale must be a positive finite number"):
            ToCaffeInput(scale=bad)


def test_flip():
    image, label = sample(4, 6)
    out, lab = RandomHorizontalFlip(p=1.0)(image, label)
    np.testing.assert_array_equal(out, image[:, ::-1])
    np.testing.assert_array_equal(lab, label[:, ::-1])
    out, lab = RandomHorizontalFlip(p=0.0)(image, label)
    np.testing.assert_array_equal(out, image)
    a, b = RandomHorizontalFlip(rng=3), RandomHorizontalFlip(rng=3)
    assert [a(image, label)[1][0, 0] for _ in range(20)] == [b(image, label)[1][0, 0] for _ in range(20)]
    t = RandomHorizontalFlip(rng=np.random.default_rng(0))
    n = sum(not np.array_equal(t(image, label)[1], label) for _ in range(200))
    assert 70 < n < 130


def test_crop_of_a_larger_image_is_a_window():
    image, label = sample(20, 30)
    out, lab = RandomCrop((8, 10), rng=1)(image, label)
    assert out.shape == (8, 10, 3) and lab.shape == (8, 10)
    hits = [(y, x) for y in range(13) for x in range(21) if np.array_equal(image[y:y + 8, x:x + 10], out)]
    assert len(hits) == 1
    y, x = hits[0]
    np.testing.assert_array_equal(lab, label[y:y + 8, x:x + 10])


def test_crop_pads_a_smaller_image_with_mean_and_void():
    image, label = sample(3, 4)
    out, lab = RandomCrop(6, rng=2)(image, label)
    assert out.shape == (6, 6, 3) and lab.shape == (6, 6)
    pad = lab == 255
    assert pad.sum() == 36 - 12
    np.testing.assert_array_equal(out[pad], np.tile([123, 117, 104], (24, 1)))
    np.testing.assert_array_equal(out[~pad][:, 0], lab[~pad] * 10)
    caffe, _ = Compose([RandomCrop(6, rng=2), ToCaffeInput()])(image, label)
    assert np.abs(caffe[:, pad]).max() < 0.5  # mean padding is ~zero after mean subtraction
    zero, _ = RandomCrop(6, fill="zero", rng=2)(image, label)
    assert (zero[pad] == 0).all()


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 12), st.integers(1, 12), st.integers(0, 1000))
def test_crop_and_flip_keep_image_and_label_aligned(h, w, ch, cw, seed):
    image, label = sample(h, w, seed)
    t = Compose([RandomCrop((ch, cw), rng=seed), RandomHorizontalFlip(rng=seed + 1)])
    out, lab = t(image, label)
    assert out.shape == (ch, cw, 3) and lab.shape == (ch, cw)
    real = lab != 255
    assert real.sum() == min(h, ch) * min(w, cw)
    np.testing.assert_array_equal(out[real][:, 0], lab[real] * 10)
    a = Compose([RandomCrop((ch, cw), rng=seed), RandomHorizontalFlip(rng=seed + 1)])(image, label)
    np.testing.assert_array_equal(a[0], out)


def test_random_transforms_in_a_loader_do_not_depend_on_workers():
    class Images(Dataset):
        transform = Compose([RandomCrop(5), RandomHorizontalFlip()])

        def __len__(self):
            return 9

        def __getitem__(self, i):
            return self.transform(*sample(8, 8, i))

    def collect(workers, seed):
        loader = DataLoader(Images(), batch_size=2, num_workers=workers, seed=seed, collate_fn=list)
        return [np.stack([img for img, _ in b]) for b in loader]

    base = collect(0, 7)
    for a, b in zip(base, collect(3, 7)):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(base, collect(0, 8)))


def test_errors():
    image, label = sample(4, 4)
    chw, _ = ToCaffeInput()(image, label)
    with pytest.raises(ValueError, match=r"RandomCrop: expected an image of shape \(H, W, C\).*before ToCaffeInput"):
        RandomCrop(2)(chw, label)
    with pytest.raises(ValueError, match=r"label shape \(3, 4\) does not match image shape \(4, 4, 3\)"):
        RandomHorizontalFlip()(image, label[:3])
    with pytest.raises(ValueError, match="fill"):
        RandomCrop(2, fill="median")
    with pytest.raises(TypeError, match="rng"):
        RandomCrop(2, rng="seed")
    with pytest.raises(ValueError, match="p must lie"):
        RandomHorizontalFlip(p=2)
