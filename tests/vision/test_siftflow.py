"""SIFT Flow in the reference's layout: both label sets and their rotations, the classes present in a
split, every missing-file error; the synthetic scenes' geometric classes follow their layout."""
import shutil

import numpy as np
import pytest
import scipy.io

from lumen.data import DataError
from lumen.vision.datasets import GEOMETRIC_CLASSES, SIFTFLOW_CLASSES, SIFTFlow, SIFTFlowInput, synthetic_siftflow
from lumen.vision.datasets.siftflow import SIFTFLOW_BGR_MEAN


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return synthetic_siftflow(tmp_path_factory.mktemp("siftflow"), n_train=4, n_test=3, size=32)


def test_reads_both_labels_with_the_reference_rotation(tree):
    ds = SIFTFlow(tree, "trainval")
    assert len(ds) == 4 and len(SIFTFlow(tree, "test")) == 3
    image, labels = ds[0]
    assert image.shape == (32, 32, 3) and set(labels) == {"sem", "geo"}
    sem = scipy.io.loadmat(ds.path(0, "sem"))["S"]
    geo = scipy.io.loadmat(ds.path(0, "geo"))["S"]
    assert (geo == -1).any()
    np.testing.assert_array_equal(labels["sem"], np.where(sem == 0, 255, sem - 1))
    np.testing.assert_array_equal(labels["geo"], np.where(geo <= 0, 255, geo - 1))
    assert len(SIFTFLOW_CLASSES) == 33 and GEOMETRIC_CLASSES == ("sky", "horizontal", "vertical")


def test_geometry_follows_the_layout(tree):
    image, labels = SIFTFlow(tree, "test")[1]
    sky = SIFTFLOW_CLASSES.index("sky")
    scored = labels["sem"] != 255
    np.testing.assert_array_equal(labels["sem"][scored] == sky, labels["geo"][scored] == 0)
    assert labels["geo"][0, 0] in (0, 2) and labels["geo"][-1, 0] in (1, 2)  # sky or upright on top, ground below


def test_present_classes_and_input(tree):
    ds = SIFTFlow(tree, "test")
    present = ds.present_classes()
    seen = set()
    for i in range(len(ds)):
        seen |= set(np.unique(ds[i][1]["sem"]).tolist()) - {255}
    assert present == sorted(seen)
    image, labels = ds[0]
    x, targets = SIFTFlowInput()(image, labels)
    np.testing.assert_allclose(x[0], image[:, :, 2] - SIFTFLOW_BGR_MEAN[0], atol=1e-4)
    assert x.shape == (3, 32, 32) and targets["geo"].dtype == np.int64


def test_missing_and_bad_files_are_named(tree, tmp_path):
    with pytest.raises(FileNotFoundError, match="root .* not found"):
        SIFTFlow(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"split file .*train\.txt not found \(available: \['test', 'trainval'\]"):
        SIFTFlow(tree, "train")
    copy = shutil.copytree(tree, tmp_path / "sf")
    first = (copy / "test.txt").read_text().split()[0]
    ds = SIFTFlow(copy, "test")
    geo = ds.path(0, "geo")
    scipy.io.savemat(geo, {"S": np.full((32, 32), 4, np.int16)})
    with pytest.raises(DataError, match=r"values \[4\] outside 0 \(void\) and 1..3"):
        ds[0]
    for what in ("geo", "sem", "image"):
        ds.path(0, what).unlink()
        with pytest.raises(FileNotFoundError, match=f"{first}.(mat|jpg) not found for id '{first}'"):
            SIFTFlow(copy, "test")
    shutil.rmtree(copy / "GeoLabels")
    with pytest.raises(FileNotFoundError, match="folder .*GeoLabels/spatial_envelope_256x256_static_8outdoorcategories not found"):
        SIFTFlow(copy, "trainval")
