"""NYUDv2 in the reference's layout: reading, the label rotation, the inputs of Table 4's nets, every
missing-file error; HHA from depth."""
import shutil

import numpy as np
import pytest
import scipy.io
from PIL import Image

from lumen.data import DataError
from lumen.vision.datasets import NYUD_CLASSES, NYUDInput, NYUDv2, synthetic_nyud
from lumen.vision.datasets.nyud import NYUD_BGR_MEAN, NYUD_HHA_MEAN, NYUD_LOG_DEPTH_MEAN
from lumen.vision.transforms import depth_to_hha


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return synthetic_nyud(tmp_path_factory.mktemp("nyud"), n_train=4, n_test=2, size=24)


@pytest.fixture
def copy(tree, tmp_path):
    return shutil.copytree(tree, tmp_path / "nyud")


def test_reads_every_modality_with_the_reference_rotation(tree):
    ds = NYUDv2(tree, "trainval", ("color", "hha", "depth"))
    assert len(ds) == 4 and len(NYUDv2(tree, "test")) == 2
    assert len(NYUDv2(tree, "train")) + len(NYUDv2(tree, "val")) == 4
    arrays, label = ds[1]
    assert arrays["color"].shape == arrays["hha"].shape == (24, 24, 3) and arrays["color"].dtype == np.uint8
    assert arrays["depth"].dtype == np.float32 and 1000 < arrays["depth"].min() <= arrays["depth"].max() < 5000
    raw = scipy.io.loadmat(ds.path(1, "label"))["segmentation"]
    np.testing.assert_array_equal(label, np.where(raw == 0, 255, raw - 1))
    assert set(np.unique(label)) <= set(range(40)) | {255} and len(NYUD_CLASSES) == 40


def test_inputs_are_prepared_as_the_reference(tree):
    arrays, label = NYUDv2(tree, "test", "color-hha")[0]
    assert set(arrays) == {"color", "hha"}
    (color, hha), target = NYUDInput("color-hha")(arrays, label)
    np.testing.assert_allclose(color[0], arrays["color"][:, :, 2] - NYUD_BGR_MEAN[0], atol=1e-4)
    np.testing.assert_allclose(hha[0], arrays["hha"][:, :, 0] - NYUD_HHA_MEAN[0], atol=1e-4)
    assert target.dtype == np.int64
    arrays, _ = NYUDv2(tree, "test", "color-d")[0]
    x, _ = NYUDInput("color-d")(arrays, label)
    assert x.shape == (4, 24, 24)
    np.testing.assert_allclose(x[3], np.log(arrays["depth"]) - NYUD_LOG_DEPTH_MEAN, rtol=1e-5, atol=1e-6)
    with pytest.raises(KeyError, match="no \\['hha'\\]"):
        NYUDInput("hha")(arrays, label)
    with pytest.raises(ValueError, match="kind must be one of"):
        NYUDInput("rgbd")


def test_missing_files_are_named(tree, copy, tmp_path):
    with pytest.raises(FileNotFoundError, match="root .* not found"):
        NYUDv2(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"split file .*train2\.txt not found \(available: \['test'"):
        NYUDv2(tree, "train2")
    with pytest.raises(ValueError, match="inputs must be some of"):
        NYUDv2(tree, "train", ("rgb",))
    first = (copy / "test.txt").read_text().split()[0]
    (copy / "data" / "hha" / f"img_{first}.png").unlink()
    NYUDv2(copy, "test", "color")  # only the folders of the inputs asked for are needed
    with pytest.raises(FileNotFoundError, match=f"img_{first}.png not found for id '{first}' listed in .*test.txt"):
        NYUDv2(copy, "test", "color-hha")
    shutil.rmtree(copy / "data" / "depth")
    with pytest.raises(FileNotFoundError, match="folder .*data/depth not found"):
        NYUDv2(copy, "test", "color-d")
    (copy / "segmentation" / f"img_{first}.mat").unlink()
    with pytest.raises(FileNotFoundError, match=f"segmentation/img_{first}.mat not found"):
        NYUDv2(copy, "test")


def test_bad_files_are_named(copy):
    ds = NYUDv2(copy, "test", ("color", "depth"))
    scipy.io.savemat(ds.path(0, "label"), {"segmentation": np.full((24, 24), 41, np.uint8)})
    with pytest.raises(DataError, match=r"values \[41\] outside 0 \(void\) and 1..40"):
        ds[0]
    scipy.io.savemat(ds.path(0, "label"), {"labels": np.zeros((24, 24), np.uint8)})
    with pytest.raises(DataError, match="has no 'segmentation'"):
        ds[0]
    scipy.io.savemat(ds.path(0, "label"), {"segmentation": np.ones((20, 24), np.uint8)})
    with pytest.raises(DataError, match="is 20x24 but .*img_.*png is 24x24"):
        ds[0]
    scipy.io.savemat(ds.path(0, "label"), {"segmentation": np.ones((24, 24), np.uint8)})
    Image.fromarray(np.zeros((24, 24, 3), np.uint8)).save(ds.path(0, "depth"))
    with pytest.raises(DataError, match="mode 'RGB'.*16-bit"):
        ds[0]


def _room(h=40, w=60, f=40.0, wall=3.0, camera_height=1.2):
    v, _ = np.mgrid[0:h, 0:w]
    ray = (v - h / 2) / f
    floor = np.where(ray > 0, camera_height / np.maximum(ray, 1e-9), np.inf)
    return np.minimum(wall, floor), (f, f, w / 2, h / 2)


def test_depth_to_hha_encodes_disparity_height_and_angle():
    depth, camera = _room()
    hha = depth_to_hha(depth, camera)
    assert hha.shape == (40, 60, 3) and hha.dtype == np.uint8
    # a wall at 3 m: disparity 31000/300, normal at 90 degrees to gravity (+38), height of its rows above the floor
    assert hha[5, 30, 0] == round(31000 / 300) and hha[5, 30, 2] == 128
    assert abs(int(hha[5, 30, 1]) - round(120 + (20 - 5) / 40 * 300)) <= 1
    # the floor: normal along gravity (angle 0 + 38), height 0
    assert hha[-3, 30, 2] == 38 and hha[-3, 30, 1] <= 1
    np.testing.assert_array_equal(depth_to_hha(depth, np.array([[40, 0, 30], [0, 40, 20], [0, 0, 1]])), hha)
    holes = depth.copy()
    holes[:3] = 0
    assert not depth_to_hha(holes, camera)[:3].any()
    with pytest.raises(ValueError, match="camera_intrinsics must be a 3x3 matrix"):
        depth_to_hha(depth, (1, 2, 3))
    with pytest.raises(ValueError, match=r"depth must be an \(H, W\) map"):
        depth_to_hha(depth[None], camera)
