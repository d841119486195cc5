import shutil
import time

import numpy as np
import pytest
import scipy.io
from PIL import Image
from scipy import ndimage

import lumen
from lumen.data import DataError, DataLoader
from lumen.vision.datasets import (VOC_CLASSES, SBDSegmentation, VOCSegmentation, synthetic_sbd,
                                   synthetic_voc)
from lumen.vision.metrics import ConfusionMatrix
from lumen.vision.palette import VOC_PALETTE, to_pil
from lumen.vision.transforms import ToCaffeInput


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    return synthetic_voc(tmp_path_factory.mktemp("voc"), n_train=16, n_val=6, size=(40, 48), seed=0)


@pytest.fixture
def broken(voc, tmp_path):
    """A private copy of the small VOC tree to damage."""
    return shutil.copytree(voc, tmp_path / "VOC2012")


def one_line(excinfo, *fragments):
    message = str(excinfo.value)
    assert "\n" not in message, message
    for f in fragments:
        assert str(f) in message, (f, message)


def test_layout_and_samples(voc):
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        assert (voc / sub).is_dir()
    lists = {s: (voc / "ImageSets/Segmentation" / f"{s}.txt").read_text().split()
             for s in ("train", "val", "trainval", "seg11valid")}
    assert len(lists["train"]) == 16 and len(lists["val"]) == 6
    assert lists["trainval"] == lists["train"] + lists["val"] and lists["seg11valid"] == lists["val"]
    with Image.open(voc / "SegmentationClass" / f"{lists['train'][0]}.png") as img:
        assert img.mode == "P"
        np.testing.assert_array_equal(np.array(img.getpalette()[:768], np.uint8).reshape(256, 3), VOC_PALETTE)
    with Image.open(voc / "JPEGImages" / f"{lists['train'][0]}.jpg") as img:
        assert img.format == "JPEG" and img.mode == "RGB"

    ds = VOCSegmentation(voc, "train")
    assert len(ds) == 16 and ds.ids == lists["train"]
    assert ds.classes == VOC_CLASSES and len(ds.classes) == 21
    assert ds.classes[0] == "background" and ds.classes[15] == "person" and ds.classes[20] == "tvmonitor"
    assert len(VOCSegmentation(voc, "seg11valid")) == 6 and len(VOCSegmentation(voc, "trainval")) == 22
    fg = void = 0
    for image, label in ds:
        assert image.shape == (40, 48, 3) and image.dtype == np.uint8
        assert label.shape == (40, 48) and label.dtype == np.uint8
        assert set(np.unique(label).tolist()) <= set(range(21)) | {255}
        fg += ((label > 0) & (label < 255)).sum()
        void += (label == 255).sum()
    total = 16 * 40 * 48
    assert 0.1 < fg / total < 0.5 and 0.02 < void / total < 0.2


def test_void_band_separates_every_object_from_its_neighbours(voc):
    _, label = VOCSegmentation(voc, "train")[0]
    # no two different non-void classes touch (4-neighbourhood)
    for a, b in ((label[1:], label[:-1]), (label[:, 1:], label[:, :-1])):
        touching = (a != b) & (a != 255) & (b != 255)
        assert not touching.any()


def test_deterministic_idempotent_and_safe(voc, tmp_path):
    again = synthetic_voc(tmp_path / "a", n_train=16, n_val=6, size=(40, 48), seed=0)
    for f in sorted((voc / "JPEGImages").iterdir()):
        assert f.read_bytes() == (again / "JPEGImages" / f.name).read_bytes()
    stamp = (again / "JPEGImages" / "synth_train_00000.jpg").stat().st_mtime_ns
    t0 = time.perf_counter()
    assert synthetic_voc(again, n_train=16, n_val=6, size=(40, 48), seed=0) == again
    assert time.perf_counter() - t0 < 0.05
    assert (again / "JPEGImages" / "synth_train_00000.jpg").stat().st_mtime_ns == stamp
    other = synthetic_voc(tmp_path / "b", n_train=16, n_val=6, size=(40, 48), seed=1)
    assert (other / "JPEGImages/synth_train_00000.jpg").read_bytes() != \
        (voc / "JPEGImages/synth_train_00000.jpg").read_bytes()
    synthetic_voc(again, n_train=3, n_val=2, size=32, seed=0)  # new parameters: regenerated in place
    assert len(VOCSegmentation(again, "train")) == 3 and len(list((again / "JPEGImages").iterdir())) == 5
    assert VOCSegmentation(again, "val")[0][0].shape == (32, 32, 3)
    foreign = tmp_path / "real"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        synthetic_voc(foreign)


def test_size_jitter_gives_varied_sizes(tmp_path):
    ds = VOCSegmentation(synthetic_voc(tmp_path, n_train=8, n_val=1, size=40, size_jitter=6), "train")
    sizes = {ds[i][0].shape[:2] for i in range(len(ds))}
    assert len(sizes) > 1 and all(34 <= h <= 46 and 34 <= w <= 46 for h, w in sizes)


def test_fast_and_learnable_from_colour(tmp_path):
    t0 = time.perf_counter()
    root = synthetic_voc(tmp_path, n_train=200, n_val=50, size=64)
    assert time.perf_counter() - t0 < 4.0
    # A nearest-class-mean classifier of the local mean colour already segments it
    # well: class identity is carried by appearance, not position or chance.
    def features(image):
        return ndimage.uniform_filter(image.astype(np.float32), size=(7, 7, 1)).reshape(-1, 3)

    sums, counts = np.zeros((21, 3)), np.zeros(21)
    for image, label in VOCSegmentation(root, "train"):
        keep = label.ravel() != 255
        np.add.at(sums, label.ravel()[keep], features(image)[keep])
        counts += np.bincount(label.ravel()[keep], minlength=256)[:21]
    assert (counts > 0).all()
    centroids = sums / counts[:, None]
    cm = ConfusionMatrix(21)
    for image, label in VOCSegmentation(root, "val"):
        d = ((features(image)[:, None] - centroids[None]) ** 2).sum(-1)
        cm.update(label.ravel(), d.argmin(1))
    assert cm.compute()["mean_iu"] > 0.6


def test_transform_and_loader(voc):
    ds = VOCSegmentation(voc, "train", transform=ToCaffeInput())
    image, label = ds[3]
    assert image.shape == (3, 40, 48) and image.dtype == np.float32 and label.dtype == np.int64
    batches = list(DataLoader(ds, batch_size=4, shuffle=True, seed=0))
    assert len(batches) == 4
    x, y = batches[0]
    assert isinstance(x, lumen.Tensor) and x.shape == (4, 3, 40, 48) and y.shape == (4, 40, 48)
    assert y.dtype == lumen.int64
    parallel = list(DataLoader(ds, batch_size=4, shuffle=True, seed=0, num_workers=2))
    for (a, b), (c, d) in zip(batches, parallel):
        np.testing.assert_array_equal(a.numpy(), c.numpy())
        np.testing.assert_array_equal(b.numpy(), d.numpy())


def test_sbd_layout(tmp_path):
    root = synthetic_sbd(tmp_path, n_train=5, n_val=3, size=32, seed=2)
    ds = SBDSegmentation(root, "train")
    assert len(ds) == 5 and len(SBDSegmentation(root, "val")) == 3
    image, label = ds[1]
    assert image.shape == (32, 32, 3) and label.shape == (32, 32) and label.dtype == np.uint8
    # the reference's SBDDSegDataLayer indexing reads the same label
    mat = scipy.io.loadmat(ds.label_path(1))
    np.testing.assert_array_equal(mat["GTcls"][0]["Segmentation"][0], label)
    assert ((label > 0) & (label < 255)).any()


def marker(root):
    import json

    return json.loads((root / "synthetic.json").read_text())


def test_object_radius_is_part_of_the_marker(tmp_path):
    from lumen.vision.datasets import synthetic

    assert synthetic.VERSION == 2
    root = synthetic_voc(tmp_path / "r", n_train=2, n_val=1, size=32, seed=0, object_radius=(0.05, 0.06))
    written = marker(root)
    assert written["object_radius"] == [0.05, 0.06] and written["version"] == synthetic.VERSION
    assert written["complete"] is True
    label = root / "SegmentationClass" / "synth_train_00000.png"
    stamp, small = label.stat().st_mtime_ns, label.read_bytes()
    assert synthetic_voc(root, n_train=2, n_val=1, size=32, seed=0, object_radius=[0.05, 0.06]) == root
    assert label.stat().st_mtime_ns == stamp  # the same radius: found, not written again
    synthetic_voc(root, n_train=2, n_val=1, size=32, seed=0, object_radius=(0.3, 0.32))
    assert marker(root)["object_radius"] == [0.3, 0.32] and label.read_bytes() != small  # regenerated
    assert marker(synthetic_voc(tmp_path / "d", n_train=1, n_val=1, size=16))["object_radius"] == \
        list(synthetic.OBJECT_RADIUS)
    sbd = synthetic_sbd(tmp_path / "s", n_train=1, n_val=1, size=16, object_radius=(0.2, 0.25))
    assert marker(sbd)["object_radius"] == [0.2, 0.25]


def test_a_set_of_another_generator_version_is_written_again(tmp_path):
    import json

    root = synthetic_voc(tmp_path, n_train=1, n_val=1, size=16)
    old = {**marker(root), "version": 1}
    (root / "synthetic.json").write_text(json.dumps(old))
    synthetic_voc(root, n_train=1, n_val=1, size=16)
    assert marker(root)["version"] == 2 and marker(root)["complete"] is True


@pytest.mark.parametrize("radius", [(0.3, 0.2), (0.0, 0.2), (0.1, 1.5), (-0.1, 0.2), (0.1,), 0.3, (0.1, 0.2, 0.3),
                                    (float("nan"), 0.2)])
def test_bad_object_radius(radius, tmp_path):
    with pytest.raises(ValueError, match="object_radius must be"):
        synthetic_voc(tmp_path / "v", n_train=1, n_val=1, size=16, object_radius=radius)
    with pytest.raises(ValueError, match="synthetic_sbd: object_radius"):
        synthetic_sbd(tmp_path / "s", n_train=1, n_val=1, size=16, object_radius=radius)
    assert not (tmp_path / "v").exists() and not (tmp_path / "s").exists()  # refused before writing


def test_render_sample_objects_follow_object_radius():
    from lumen.vision.datasets import render_sample

    def object_area(radius, seed):
        image, label = render_sample(np.random.default_rng(seed), 96, 128, radius)
        assert image.shape == (96, 128, 3) and label.shape == (96, 128)
        return int((label != 0).sum())  # objects and their void bands

    small = [object_area((0.05, 0.06), seed) for seed in range(6)]
    large = [object_area((0.3, 0.32), seed) for seed in range(6)]
    assert all(0 < a for a in small)
    # each object lies within 1.84 r (a rectangle's corner) of its centre, plus its void band
    assert max(small) <= 3 * np.pi * (1.84 * 0.06 * 96 + 2) ** 2
    assert 10 * np.mean(small) < np.mean(large)
    a = render_sample(np.random.default_rng(3), 40, 40, (0.1, 0.2))
    b = render_sample(np.random.default_rng(3), 40, 40, (0.1, 0.2))
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[0], b[0])


# ---- error cases: one line, naming the file --------------------------------------------------------


def test_missing_root_folders_and_split(broken, tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        VOCSegmentation(tmp_path / "nope")
    one_line(e, tmp_path / "nope", "JPEGImages")
    with pytest.raises(FileNotFoundError) as e:
        VOCSegmentation(broken.parent)  # the VOCdevkit folder instead of VOC2012
    one_line(e, broken.parent / "JPEGImages", f"did you mean root={str(broken)!r}")
    with pytest.raises(FileNotFoundError) as e:
        VOCSegmentation(broken, "test")
    one_line(e, broken / "ImageSets/Segmentation/test.txt", "available", "trainval")
    (broken / "ImageSets/Segmentation/seg11valid.txt").unlink()
    with pytest.raises(FileNotFoundError) as e:  # falls back to the bundled list of real VOC ids
        VOCSegmentation(broken, "seg11valid")
    one_line(e, broken / "JPEGImages/2007_000033.jpg", "seg11valid.txt", "735 more of the 736 ids")
    shutil.rmtree(broken / "SegmentationClass")
    with pytest.raises(FileNotFoundError) as e:
        VOCSegmentation(broken, "train")
    one_line(e, broken / "SegmentationClass")


def test_image_without_label(broken):
    ids = (broken / "ImageSets/Segmentation/train.txt").read_text().split()
    (broken / "SegmentationClass" / f"{ids[2]}.png").unlink()
    (broken / "SegmentationClass" / f"{ids[5]}.png").unlink()
    with pytest.raises(FileNotFoundError) as e:
        VOCSegmentation(broken, "train")
    one_line(e, broken / "SegmentationClass" / f"{ids[2]}.png", "train.txt", "1 more")


def _first(broken):
    ds = VOCSegmentation(broken, "train")
    return ds, ds.image_path(0), ds.label_path(0)


def test_truncated_and_corrupt_images(broken):
    ds, image_path, _ = _first(broken)
    data = image_path.read_bytes()
    image_path.write_bytes(data[:len(data) // 2])
    with pytest.raises(DataError) as e:
        ds[0]
    one_line(e, image_path, "truncated")
    image_path.write_bytes(b"not a jpeg at all" * 10)
    with pytest.raises(DataError) as e:
        ds[0]
    one_line(e, image_path)


def test_label_of_another_size(broken):
    ds, image_path, label_path = _first(broken)
    to_pil(np.zeros((40, 47), np.uint8)).save(label_path)
    with pytest.raises(DataError) as e:
        ds[0]
    one_line(e, label_path, image_path, "40x47", "40x48")


def test_label_values_out_of_range(broken):
    ds, _, label_path = _first(broken)
    label = np.zeros((40, 48), np.uint8)
    label[3, 4], label[5, 5] = 21, 128
    to_pil(label).save(label_path)
    with pytest.raises(DataError) as e:
        ds[0]
    one_line(e, label_path, "[21, 128]", "outside 0..20 and 255")


def test_colour_label(broken):
    ds, _, label_path = _first(broken)
    Image.new("RGB", (48, 40)).save(label_path)
    with pytest.raises(DataError) as e:
        ds[0]
    one_line(e, label_path, "'RGB'", "class ids")


def test_sbd_errors(tmp_path):
    root = synthetic_sbd(tmp_path / "sbd", n_train=2, n_val=1, size=16)
    ds = SBDSegmentation(root, "train")
    scipy.io.savemat(ds.label_path(0), {"GTinst": np.zeros((16, 16), np.uint8)})
    with pytest.raises(DataError) as e:
        ds[0]
    one_line(e, ds.label_path(0), "GTcls.Segmentation")
    ds.label_path(1).write_bytes(b"garbage")
    with pytest.raises(DataError) as e:
        ds[1]
    one_line(e, ds.label_path(1))
    ds.image_path(1).unlink()
    with pytest.raises(FileNotFoundError) as e:
        SBDSegmentation(root, "train")
    one_line(e, ds.image_path(1), "train.txt")
    with pytest.raises(FileNotFoundError) as e:
        SBDSegmentation(tmp_path / "missing")
    one_line(e, tmp_path / "missing", "img/")
