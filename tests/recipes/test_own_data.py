"""Your own data in recipes.fcn_voc: a folder of images and masks, its labels checked before training,
batches of images of different sizes, class weights; then recipes.predict with the trained checkpoint."""
import json

import numpy as np
import pytest
from PIL import Image

from lumen.vision.datasets import SegmentationFolder, median_frequency_weights
from lumen.vision.transforms import PadCollate
from recipes import fcn_voc, predict

SIZES = [(20, 24), (24, 20), (16, 28), (22, 22), (18, 26), (24, 24), (20, 18), (26, 20), (16, 16), (20, 20)]


def make_folder(root, kind="palette", n=10, classes=("background", "square", "disc")):
    """n images of the given sizes with a square (class 1) and a disc (class 2) on noise."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    colors = [(0, 0, 0), (200, 30, 30), (30, 200, 30)]
    for i in range(n):
        h, w = SIZES[i % len(SIZES)]
        image = rng.integers(0, 80, (h, w, 3), dtype=np.uint8)
        mask = np.zeros((h, w), dtype=np.uint8)
        mask[2:9, 2:9] = 1
        yy, xx = np.mgrid[:h, :w]
        mask[(yy - h + 7) ** 2 + (xx - w + 7) ** 2 < 16] = 2
        image[mask == 1] = (220, 60, 60)
        image[mask == 2] = (60, 220, 60)
        Image.fromarray(image).save(root / "images" / f"img{i:02d}.jpg")
        if kind == "rgb":
            Image.fromarray(np.asarray(colors, dtype=np.uint8)[mask]).save(root / "masks" / f"img{i:02d}.png")
        else:
            Image.fromarray(mask).save(root / "masks" / f"img{i:02d}.png")  # a greyscale index PNG
    if kind == "rgb":
        (root / "colors.txt").write_text("".join(f"{r} {g} {b} {name}\n" for (r, g, b), name in zip(colors, classes)))
    else:
        (root / "classes.txt").write_text("\n".join(classes) + "\n")
    return root


def args(tmp_path, data, *extra):
    return ["--data", str(data), "--width", "0.0625", "--iters", "2", "--eval-every", "2", "--normalize",
            "--optimizer", "adam", "--lr", "1e-3", "--checkpoint-every", "100", "--model", "fcn32s",
            "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "run"), *extra]


@pytest.mark.parametrize("kind", ["palette", "rgb"])
def test_train_on_a_folder_of_three_classes_then_predict(tmp_path, kind, capsys):
    data = make_folder(tmp_path / "data", kind)
    assert fcn_voc.main(args(tmp_path, data, "--model", "fcn8s", "--batch-size", "2", "--class-weights", "auto")) == 0
    out = capsys.readouterr().out
    assert "3 classes, train (9) -> val (1)" in out and "wrote the split" in out
    assert (data / "train.txt").read_text().count("\n") == 9 and (data / "val.txt").read_text().count("\n") == 1
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["classes"] == ["background", "square", "disc"]
    assert len(metrics["stages"]["fcn8s"]["per_class_iu"]) == 3
    assert predict.main([str(tmp_path / "run" / "checkpoint.npz"), str(data / "images"), "--out",
                         str(tmp_path / "masks")]) == 0
    for path in sorted((data / "images").iterdir()):
        with Image.open(tmp_path / "masks" / f"{path.stem}.png") as mask, Image.open(path) as image:
            assert mask.mode == "P" and mask.size == image.size and np.asarray(mask).max() < 3
            if kind == "rgb":  # the data set's own colours, from colors.txt
                assert mask.getpalette()[3:6] == [200, 30, 30]


@pytest.mark.parametrize("batch", [2, 4])
def test_batches_of_images_of_different_sizes_train(tmp_path, batch):
    data = make_folder(tmp_path / "data")
    assert fcn_voc.main(args(tmp_path, data, "--batch-size", str(batch))) == 0
    assert fcn_voc.main(args(tmp_path, data, "--batch-size", str(batch), "--crop", "12", "--out",
                             str(tmp_path / "cropped"))) == 0


def test_pad_collate_pads_images_with_the_mean_and_labels_with_the_ignore_label():
    samples = [(np.ones((3, 2, 3), np.float32), np.ones((2, 3), np.int64)),
               (np.full((3, 4, 1), 2, np.float32), np.full((4, 1), 2, np.int64))]
    images, labels = PadCollate(label_fill=255)(samples)
    assert images.shape == (2, 3, 4, 3) and labels.shape == (2, 4, 3)
    assert labels.numpy()[0].tolist() == [[1, 1, 1], [1, 1, 1], [255, 255, 255], [255, 255, 255]]
    assert images.numpy()[1, 0, :, 1:].sum() == 0 and images.numpy()[1, 0, :, 0].tolist() == [2, 2, 2, 2]


def test_median_frequency_weights():
    # class 1 covers 10 % of the images it is in, class 2 30 %, background 80 %: median 0.3
    weights = median_frequency_weights({"pixels": [800, 10, 60], "image_pixels": [1000, 100, 200]})
    np.testing.assert_allclose(weights, [0.3 / 0.8, 3.0, 1.0])
    assert median_frequency_weights({"pixels": [5, 0], "image_pixels": [5, 0]}) == [1.0, 0.0]


def pixels(path):
    with Image.open(path) as image:
        return np.asarray(image).copy()


def corrupt(data, case):
    """Damage the folder data set in one of the ways users' data sets are damaged."""
    first = data / "masks" / "img00.png"
    if case == "value_too_large":
        mask = pixels(first)
        mask[0, 0] = 7
        Image.fromarray(mask).save(first)
        return "img00.png holds [7], outside the classes 0..2 and the ignore label 255"
    if case == "only_0_and_255":
        for path in (data / "masks").iterdir():
            mask = pixels(path)
            Image.fromarray(np.where(mask > 0, 255, 0).astype(np.uint8)).save(path)
        return "holds only class 0 and the ignore label 255: nothing but background would be learned"
    if case == "rgb_without_table":
        Image.fromarray(np.zeros((20, 24, 3), np.uint8)).save(first)
        return "img00.png is an RGB colour image: write"
    if case == "colour_not_in_table":
        mask = np.zeros((20, 24, 3), np.uint8)
        mask[3, 4] = (1, 2, 3)
        Image.fromarray(mask).save(first)
        return "colour (1, 2, 3) at row 3, column 4 is not in"
    if case == "size_mismatch":
        Image.fromarray(np.zeros((5, 5), np.uint8)).save(first)
        return "img00.png is 5x5 but image"
    if case == "image_without_mask":
        first.unlink()
        return "img00.jpg has no mask"
    raise ValueError(case)


@pytest.mark.parametrize("case", ["value_too_large", "only_0_and_255", "rgb_without_table", "colour_not_in_table",
                                  "size_mismatch", "image_without_mask"])
def test_bad_labels_are_one_line_errors_and_nothing_is_written(tmp_path, capsys, case):
    data = make_folder(tmp_path / "data", "rgb" if case == "colour_not_in_table" else "palette")
    expected = corrupt(data, case)
    assert fcn_voc.main(args(tmp_path, data)) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "run").exists() and not (data / "train.txt").exists()


def test_the_scan_runs_once_per_version_of_the_data(tmp_path, monkeypatch):
    data = make_folder(tmp_path / "data")
    folder = SegmentationFolder(data, "train")
    first = folder.scan(tmp_path / "scans", progress=False)
    assert sum(first["pixels"]) == sum(h * w for h, w in SIZES[:10]) - sum(
        h * w for (h, w), stem in zip(SIZES, sorted(folder._images)) if stem not in folder.stems)
    monkeypatch.setattr(SegmentationFolder, "read_label", lambda *a: pytest.fail("scanned again"))
    assert folder.scan(tmp_path / "scans", progress=False) == first
    monkeypatch.undo()
    Image.fromarray(np.full((20, 24), 9, np.uint8)).save(data / "masks" / f"{folder.stems[0]}.png")
    with pytest.raises(Exception, match="holds \\[9\\]"):
        SegmentationFolder(data, "train").scan(tmp_path / "scans", progress=False)


def test_classes_come_from_the_folder_or_the_command_line(tmp_path, capsys):
    data = make_folder(tmp_path / "data")
    (data / "classes.txt").unlink()
    assert fcn_voc.main(args(tmp_path, data)) == 2
    assert "how many classes?" in capsys.readouterr().err
    assert SegmentationFolder(data, "train", num_classes=3).classes == ["background", "class 1", "class 2"]
    assert fcn_voc.main(args(tmp_path, data, "--num-classes", "3", "--ignore-index", "1")) == 2
    assert "the ignore label must be another value" in capsys.readouterr().err
