"""recipes.predict and lumen.vision.segment / Predictor: any image, any size, broken files named and skipped."""
import numpy as np
import pytest
from PIL import Image

import lumen
from lumen.vision import Predictor, segment
from lumen.vision.models import fcn
from lumen.vision.palette import VOC_PALETTE
from recipes import fcn_voc, predict
from tests.recipes.test_fcn_voc import tiny


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    assert fcn_voc.main(tiny(root, "--iters", "1", "--model", "fcn8s")) == 0
    return root / "out" / "checkpoint.npz"


def read(path):
    with Image.open(path) as image:
        image.load()
        return image.copy()


def odd_images(folder):
    """Images Pillow reads in different modes and sizes, one of them EXIF-rotated, and one broken file."""
    rng = np.random.default_rng(0)
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 255, (17, 23, 3), dtype=np.uint8)).save(folder / "rgb.jpg")
    Image.fromarray(rng.integers(0, 255, (9, 31), dtype=np.uint8)).save(folder / "sub" / "grey.png")
    Image.fromarray(rng.integers(0, 255, (20, 20, 4), dtype=np.uint8)).save(folder / "sub" / "rgba.png")
    Image.fromarray((rng.integers(0, 65535, (12, 14))).astype(np.uint16)).save(folder / "deep.png")
    rotated = Image.fromarray(rng.integers(0, 255, (10, 30, 3), dtype=np.uint8))
    exif = rotated.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    rotated.save(folder / "rotated.jpg", exif=exif)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return {"rgb": (17, 23), "sub/grey": (9, 31), "sub/rgba": (20, 20), "deep": (12, 14), "rotated": (30, 10)}


def test_predict_a_folder_of_odd_images(checkpoint, tmp_path, capsys):
    sizes = odd_images(tmp_path / "photos")
    out = tmp_path / "masks"
    assert predict.main([str(checkpoint), str(tmp_path / "photos"), "--out", str(out), "--overlay", "--scores",
                         "--batch-size", "2"]) == 1  # the broken file fails the run, after the others
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "cannot decode image" in err
    for stem, (h, w) in sizes.items():
        mask = read(out / f"{stem}.png")
        assert mask.mode == "P" and mask.size == (w, h), stem
        assert np.array_equal(np.asarray(mask.getpalette(), dtype=np.uint8).reshape(-1, 3), VOC_PALETTE[:256])
        assert np.asarray(mask).max() < 21
        assert read(out / f"{stem}_overlay.jpg").size == (w, h)
        scores = np.load(out / f"{stem}.npy")
        assert scores.shape == (21, h, w) and np.allclose(scores.sum(0), 1, atol=1e-5)
        assert np.array_equal(scores.argmax(0), np.asarray(mask))
    assert not (out / "broken.png").exists()


def test_predict_reads_lists_and_single_files_and_matches_segment(checkpoint, tmp_path):
    odd_images(tmp_path / "photos")
    (tmp_path / "photos" / "list.txt").write_text("rgb.jpg\n\nsub/grey.png\n")
    out = tmp_path / "masks"
    assert predict.main([str(checkpoint), str(tmp_path / "photos" / "list.txt"),
                         str(tmp_path / "photos" / "deep.png"), "--out", str(out)]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["deep.png", "rgb.png", "sub/grey.png"]
    model, classes, mean, _, scale = predict.load_model(checkpoint)
    assert len(classes) == 21 and classes[0] == "background" and scale == 0.017  # the embedded classifier's
    labels = segment(model, tmp_path / "photos" / "rgb.jpg", mean=mean, scale=scale)
    assert np.array_equal(labels, np.asarray(read(out / "rgb.png")))


def test_predictor_batches_same_size_images_as_one_at_a_time():
    model = fcn.fcn8s(num_classes=5, width=1 / 16)
    with lumen.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.1, generator=lumen.Generator().manual_seed(p.numel()))
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 255, shape, dtype=np.uint8) for shape in [(16, 16, 3)] * 3 + [(12, 20, 3)] * 2]
    batched = list(Predictor(model, batch_size=2).predict(images))
    assert [r.labels.shape for r in batched] == [(16, 16)] * 3 + [(12, 20)] * 2
    for image, result in zip(images, batched):
        assert np.array_equal(result.labels, segment(model, image))
        assert result.source is image


def test_predict_user_errors(checkpoint, tmp_path, capsys):
    assert predict.main([str(tmp_path / "missing.npz"), str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "missing.npz does not exist" in capsys.readouterr().err
    assert predict.main([str(checkpoint), str(tmp_path / "nothing_here"), "--out", str(tmp_path / "o")]) == 2
    assert "no such image, folder or list" in capsys.readouterr().err
    lumen.save({"weights": lumen.zeros(1)}, tmp_path / "other.npz")
    assert predict.main([str(tmp_path / "other.npz"), str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "is not a checkpoint of recipes.fcn_voc" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
