import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lumen
from lumen.vision.metrics import (ConfusionMatrix, fast_hist, frequency_weighted_iu, mean_accuracy, mean_iu,
                                  per_class_accuracy, per_class_iu, pixel_accuracy)


def reference_scores(hist):
    """score.py's do_seg_tests formulas, verbatim."""
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = np.diag(hist).sum() / hist.sum()
        acc_cls = np.diag(hist) / hist.sum(1)
        iu = np.diag(hist) / (hist.sum(1) + hist.sum(0) - np.diag(hist))
        freq = hist.sum(1) / hist.sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return acc, np.nanmean(acc_cls), np.nanmean(iu), (freq[freq > 0] * iu[freq > 0]).sum(), iu


def test_hand_computed_case():
    truth = np.array([[0, 0, 1], [1, 2, 255]])
    pred = np.array([[0, 1, 1], [1, 0, 2]])
    hist = fast_hist(truth, pred, 3)
    np.testing.assert_array_equal(hist, [[1, 1, 0], [0, 2, 0], [1, 0, 0]])
    assert pixel_accuracy(hist) == pytest.approx(3 / 5)
    np.testing.assert_allclose(per_class_accuracy(hist), [1 / 2, 1, 0])
    assert mean_accuracy(hist) == pytest.approx(1 / 2)
    np.testing.assert_allclose(per_class_iu(hist), [1 / 3, 2 / 3, 0])
    assert mean_iu(hist) == pytest.approx(1 / 3)
    assert frequency_weighted_iu(hist) == pytest.approx(0.4 * 1 / 3 + 0.4 * 2 / 3)


def test_nan_rule_for_absent_classes():
    # class 3 is in neither truth nor prediction: NaN, left out of the means;
    # class 2 is predicted but never true: accuracy NaN, IU 0 (counted).
    truth = np.array([0, 0, 1, 1])
    pred = np.array([0, 2, 1, 1])
    cm = ConfusionMatrix(4)
    cm.update(truth, pred)
    scores = cm.compute()
    iu = scores["per_class_iu"]
    assert iu[:3].tolist() == [0.5, 1.0, 0.0] and math.isnan(iu[3])
    assert scores["mean_iu"] == pytest.approx(0.5)
    assert math.isnan(per_class_accuracy(cm.hist)[2]) and math.isnan(per_class_accuracy(cm.hist)[3])
    assert scores["mean_accuracy"] == pytest.approx(0.75)
    assert scores["pixel_accuracy"] == pytest.approx(0.75)
    assert scores["frequency_weighted_iu"] == pytest.approx(0.5 * 0.5 + 0.5 * 1.0)


def test_empty_matrix_gives_nan_without_warnings():
    scores = ConfusionMatrix(3).compute()
    assert all(math.isnan(scores[k]) for k in ("pixel_accuracy", "mean_accuracy", "mean_iu"))
    assert scores["frequency_weighted_iu"] == 0.0
    assert np.isnan(scores["per_class_iu"]).all()


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_matches_reference_formulas(n, seed):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n, size=(3, 7, 5))
    truth[rng.random(truth.shape) < 0.2] = 255
    pred = rng.integers(0, n, size=truth.shape)
    pred[rng.random(truth.shape) < 0.5] = 0
    cm = ConfusionMatrix(n)
    for t, p in zip(truth, pred):
        cm.update(t, p)
    k = truth != 255
    ref_hist = np.bincount(n * truth[k] + pred[k], minlength=n * n).reshape(n, n)
    np.testing.assert_array_equal(cm.hist, ref_hist)
    acc, acc_cls, miu, fwiu, iu = reference_scores(ref_hist)
    s = cm.compute()
    np.testing.assert_allclose([s["pixel_accuracy"], s["mean_accuracy"], s["mean_iu"], s["frequency_weighted_iu"]],
                               [acc, acc_cls, miu, fwiu], equal_nan=True)
    np.testing.assert_allclose(s["per_class_iu"], iu, equal_nan=True)


def test_uint8_labels_do_not_wrap_and_void_or_negative_is_ignored():
    truth = np.array([20, 20, 255, 3], dtype=np.uint8)
    pred = np.array([20, 19, 4, 3], dtype=np.uint8)
    hist = fast_hist(truth, pred, 21)
    assert hist[20, 20] == 1 and hist[20, 19] == 1 and hist[3, 3] == 1 and hist.sum() == 3
    np.testing.assert_array_equal(fast_hist(np.array([-1, 1]), np.array([0, 1]), 2), [[0, 0], [0, 1]])


def test_accepts_lumen_tensors_and_accumulates_and_resets():
    cm = ConfusionMatrix(3)
    a, b = np.array([[0, 1], [2, 2]]), np.array([[0, 2], [2, 1]])
    cm.update(lumen.from_numpy(a), lumen.from_numpy(b))
    cm.update(a, b)
    np.testing.assert_array_equal(cm.hist, 2 * fast_hist(a, b, 3))
    cm.reset()
    assert cm.hist.sum() == 0


def test_errors():
    with pytest.raises(ValueError, match=r"truth shape \(2,\) and prediction shape \(3,\)"):
        fast_hist(np.zeros(2, int), np.zeros(3, int), 2)
    with pytest.raises(ValueError, match=r"predictions \[5\] outside 0..2"):
        fast_hist(np.zeros(2, int), np.array([0, 5]), 3)
    with pytest.raises(TypeError, match="argmax"):
        fast_hist(np.zeros(2, int), np.zeros(2), 3)
    with pytest.raises(ValueError, match="n_classes"):
        ConfusionMatrix(0)
    with pytest.raises(ValueError, match="square"):
        mean_iu(np.zeros((2, 3)))
