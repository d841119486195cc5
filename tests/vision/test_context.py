"""PASCAL-Context as the reference maps it: 459 source labels onto background + 59 classes (with its
three renamed classes), VOC2010's split lists, every missing-file error."""
import shutil

import numpy as np
import pytest
import scipy.io

from lumen.data import DataError
from lumen.vision.datasets import CONTEXT_CLASSES, PASCALContext, synthetic_context
from lumen.vision.datasets.pascalcontext import read_label_list


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return synthetic_context(tmp_path_factory.mktemp("context"), n_train=3, n_val=2, size=32)


def test_source_labels_map_onto_the_59_classes(tree):
    ds = PASCALContext(tree / "VOC2010", tree / "context", "train")
    assert len(ds) == 3 and len(PASCALContext(tree / "VOC2010", tree / "context", "val")) == 2
    assert len(CONTEXT_CLASSES) == 60 and CONTEXT_CLASSES[0] == "background"
    source = read_label_list(tree / "context" / "labels.txt", "t")
    assert len(source) == 459 and {"table", "bedclothes", "cloth"} <= set(source)
    image, label = ds[0]
    raw = scipy.io.loadmat(ds.label_path(0))["LabelMap"]
    expected = np.zeros_like(raw)
    for k, name in enumerate(CONTEXT_CLASSES[1:], 1):
        expected[raw == source[{"diningtable": "table", "bedcloth": "bedclothes", "clothes": "cloth"}.get(name, name)]] = k
    np.testing.assert_array_equal(label, expected)
    assert image.shape == (32, 32, 3) and label.dtype == np.uint8 and label.max() < 60


def test_unlisted_source_labels_are_background_and_bad_ones_named(tree, tmp_path):
    copy = shutil.copytree(tree, tmp_path / "ctx")
    ds = PASCALContext(copy / "VOC2010", copy / "context", "val")
    unlisted = next(k for name, k in read_label_list(copy / "context" / "labels.txt", "t").items()
                    if name.startswith("syntheticsource"))
    scipy.io.savemat(ds.label_path(0), {"LabelMap": np.full((32, 32), unlisted, np.uint16)})
    assert not ds[0][1].any()
    scipy.io.savemat(ds.label_path(0), {"LabelMap": np.full((32, 32), 999, np.uint16)})
    with pytest.raises(DataError, match=r"source ids \[999\] not in .*labels.txt"):
        ds[0]


def test_missing_files_are_named(tree, tmp_path):
    with pytest.raises(FileNotFoundError, match="did you mean voc_root=.*VOC2010"):
        PASCALContext(tree, tree / "context")
    with pytest.raises(FileNotFoundError, match="PASCAL-Context folder .* not found"):
        PASCALContext(tree / "VOC2010", tmp_path / "none")
    with pytest.raises(FileNotFoundError, match=r"split file .*Main/test\.txt not found \(available: \['train', 'val'\]"):
        PASCALContext(tree / "VOC2010", tree / "context", "test")
    copy = shutil.copytree(tree, tmp_path / "ctx")
    first = (copy / "VOC2010/ImageSets/Main/val.txt").read_text().split()[0]
    (copy / "context" / "trainval" / f"{first}.mat").unlink()
    with pytest.raises(FileNotFoundError, match=f"trainval/{first}.mat not found for id '{first}'"):
        PASCALContext(copy / "VOC2010", copy / "context", "val")
    (copy / "VOC2010" / "JPEGImages" / f"{first}.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=f"JPEGImages/{first}.jpg not found"):
        PASCALContext(copy / "VOC2010", copy / "context", "val")
    text = (copy / "context" / "labels.txt").read_text().replace(": sky\n", ": skies\n")
    (copy / "context" / "labels.txt").write_text(text)
    with pytest.raises(DataError, match="class 'sky' of .*59_labels.txt is not in .*labels.txt"):
        PASCALContext(copy / "VOC2010", copy / "context", "train")
    (copy / "context" / "labels.txt").write_text("1 sky\n")
    with pytest.raises(DataError, match="labels.txt:1: expected 'k: name'"):
        PASCALContext(copy / "VOC2010", copy / "context", "train")
    (copy / "context" / "labels.txt").write_text("1: sky\n")
    (copy / "context" / "59_labels.txt").unlink()
    with pytest.raises(FileNotFoundError, match="label list .*59_labels.txt not found"):
        PASCALContext(copy / "VOC2010", copy / "context", "train")
