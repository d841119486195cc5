"""recipes.fcn_siftflow at a tiny size: two heads trained on the sum of their losses, the semantic head
scored on the test set's classes only, geometric accuracy reported, exact resume."""
import math

import numpy as np

import pytest

import lumen
from lumen.nn import functional as F
from recipes import _benchmarks as bench
from recipes import fcn_siftflow
from tests.recipes._benchmark_runs import interrupted_equals_whole


@pytest.mark.parametrize("normalize", [True, False])
def test_two_headed_loss_is_the_sum_of_the_heads_losses(normalize):
    gen = lumen.Generator().manual_seed(0)
    scores = {"sem": lumen.randn(2, 5, 4, 3, generator=gen), "geo": lumen.randn(2, 3, 4, 3, generator=gen)}
    labels = {"sem": lumen.randint(0, 5, (2, 4, 3), generator=gen), "geo": lumen.randint(0, 3, (2, 4, 3), generator=gen)}
    labels["geo"][0, 0, 0] = 255
    reduction = "mean" if normalize else "sum"
    expected = sum(F.cross_entropy(scores[h], labels[h], ignore_index=255, reduction=reduction).item()
                   for h in scores) / (1 if normalize else 2)
    assert math.isclose(bench.segmentation_loss(scores, labels, normalize).item(), expected, rel_tol=1e-6)


def test_resumes_exactly_and_scores_both_heads(tmp_path, capsys):
    metrics = interrupted_equals_whole(fcn_siftflow, tmp_path, 3)  # stop in the FCN-16s stage
    assert list(metrics["stages"]) == ["FCN-32s", "FCN-16s"]
    sem, geo = metrics["stages"]["FCN-16s"]["sem"], metrics["stages"]["FCN-16s"]["geo"]
    scored = sem["scored_classes"]
    assert 0 < len(scored) < 33 and len(geo["per_class_iu"]) == 3
    ius = [sem["per_class_iu"][i] for i in scored if sem["per_class_iu"][i] is not None]
    assert math.isclose(sem["mean_iu"], sum(ius) / len(ius))
    printed = capsys.readouterr().out
    assert "geom. acc." in printed and "| FCN-16s (paper) | 85.2 | 51.7 | 39.5 | 76.1 | 94.3 |" in printed
    state = lumen.load(tmp_path / "whole" / "checkpoint.npz")["model_state"]
    assert {"score_fr_sem.weight", "score_pool4_geo.weight", "upscore16_sem.weight"} <= set(state)
    # predict writes one label map per head
    from PIL import Image

    from recipes import predict
    image = next((tmp_path / "cache").rglob("*.jpg"))
    assert predict.main([str(tmp_path / "whole" / "checkpoint.npz"), str(image), "--out", str(tmp_path / "maps")]) == 0
    with Image.open(tmp_path / "maps" / "sem" / f"{image.stem}.png") as a, \
            Image.open(tmp_path / "maps" / "geo" / f"{image.stem}.png") as b:
        sem, geo = np.asarray(a), np.asarray(b)
    assert sem.shape == geo.shape == (20, 20) and sem.max() < 33 and geo.max() < 3
