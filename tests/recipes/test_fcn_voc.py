"""The recipe end to end at a tiny size: training, outputs, interrupt and exact resume, user errors."""
import json

import numpy as np
import pytest

import lumen
from lumen.vision.models.backbones import classifier_output_layer
from recipes import fcn_voc

# The embedded classifier (--init embedded, the default) at a tiny size too.
TINY_CLASSIFIER = "--iters 2 --batch-size 8 --n-train 2 --n-val 1 --size 40 --crop 32"
TINY = ["--n-train", "4", "--n-val", "2", "--size", "32", "--width", "0.0625", "--eval-every", "2",
        "--checkpoint-every", "100", "--classifier", TINY_CLASSIFIER]


def tiny(tmp_path, *extra, out="out"):
    return TINY + ["--cache", str(tmp_path / "cache"), "--out", str(tmp_path / out), *extra]


def test_staged_run_writes_metrics_pictures_and_table(tmp_path, capsys):
    assert fcn_voc.main(tiny(tmp_path, "--iters", "2")) == 0
    out = tmp_path / "out"
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["stages"]) == ["fcn32s", "fcn16s", "fcn8s"]
    for m in metrics["stages"].values():
        assert 0 <= m["pixel_accuracy"] <= 1 and len(m["per_class_iu"]) == 21
    for name in ("curves.png", "predictions.png", "checkpoint.npz"):
        assert (out / name).stat().st_size > 0
    printed = capsys.readouterr().out
    assert "| model | pixel acc. | mean acc. | mean IU | f.w. IU |" in printed
    assert "--data VOCdevkit/VOC2012" in printed  # tells where real data goes


def _weights(path):
    return {k: np.asarray(v) for k, v in lumen.load(path)["model_state"].items()}


def test_resume_after_interrupt_gives_the_uninterrupted_weights(tmp_path):
    args = ["--iters", "3", "--model", "staged"]
    assert fcn_voc.main(tiny(tmp_path, *args, out="whole")) == 0

    calls = []

    def stop_once(it):
        calls.append(it)
        return "stop" if len(calls) == 4 else None  # second stage, first iteration

    assert fcn_voc.run(fcn_voc.parse_args(tiny(tmp_path, *args, out="split")), on_iteration=stop_once) is None
    stopped = lumen.load(tmp_path / "split" / "checkpoint.npz")["meta"]
    assert (stopped["stage_name"], stopped["iteration"]) == ("fcn16s", 1)
    assert not (tmp_path / "split" / "metrics.json").exists()

    assert fcn_voc.main(tiny(tmp_path, *args, "--resume", out="split")) == 0
    whole, split = _weights(tmp_path / "whole" / "checkpoint.npz"), _weights(tmp_path / "split" / "checkpoint.npz")
    assert whole.keys() == split.keys()
    for key in whole:
        np.testing.assert_array_equal(whole[key], split[key], err_msg=key)
    assert json.loads((tmp_path / "whole" / "metrics.json").read_text()) == \
        json.loads((tmp_path / "split" / "metrics.json").read_text())


def _log_without_speed(path):
    import csv
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k != "images_per_s"} for row in csv.DictReader(f)]


@pytest.mark.parametrize("stop_at", [2, 3, 4])  # mid-stage, at a stage's end (before its validation), next stage
def test_log_csv_of_a_resumed_run_equals_the_uninterrupted_one(tmp_path, stop_at):
    args = ["--iters", "3", "--model", "staged", "--eval-every", "2"]
    assert fcn_voc.main(tiny(tmp_path, *args, out="whole")) == 0
    whole = _log_without_speed(tmp_path / "whole" / "log.csv")
    assert [(r["stage"], r["iteration"], r["loss"] != "") for r in whole[:5]] == [
        ("fcn32s", "1", True), ("fcn32s", "2", True), ("fcn32s", "2", False), ("fcn32s", "3", True),
        ("fcn32s", "3", False)]
    assert len(whole) == 15 and all(0 <= float(r["mean_iu"]) <= 1 for r in whole if not r["loss"])

    calls = []
    assert fcn_voc.run(fcn_voc.parse_args(tiny(tmp_path, *args, out="split")),
                       on_iteration=lambda it: calls.append(it) or ("stop" if len(calls) == stop_at else None)) is None
    assert fcn_voc.main(tiny(tmp_path, *args, "--resume", out="split")) == 0
    assert _log_without_speed(tmp_path / "split" / "log.csv") == whole


def test_eval_only_scores_a_checkpoint(tmp_path):
    assert fcn_voc.main(tiny(tmp_path, "--iters", "1", "--model", "fcn32s")) == 0
    ckpt = tmp_path / "out" / "checkpoint.npz"
    assert fcn_voc.main(tiny(tmp_path, "--model", "fcn32s", "--eval-only", str(ckpt), out="eval")) == 0
    assert "fcn32s" in json.loads((tmp_path / "eval" / "metrics.json").read_text())["stages"]


@pytest.mark.parametrize("argv, message", [
    (["--model", "fcn64s"], "unknown model 'fcn64s'"),
    (["--backbone", "resnet"], "unknown backbone 'resnet'"),
    (["--data", "/nonexistent/VOC2012"], "/nonexistent/VOC2012"),
    (["--iters", "0"], "--iters must be at least 1"),
])
def test_user_errors_are_one_line_and_write_nothing(tmp_path, capsys, argv, message):
    assert fcn_voc.main(tiny(tmp_path, *argv)) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_checkpoint_of_another_model_is_refused(tmp_path, capsys):
    assert fcn_voc.main(tiny(tmp_path, "--iters", "1", "--model", "fcn32s")) == 0
    ckpt = tmp_path / "out" / "checkpoint.npz"
    assert fcn_voc.main(tiny(tmp_path, "--model", "fcn8s", "--eval-only", str(ckpt), out="x")) == 2
    assert "is of model 'fcn32s'" in capsys.readouterr().err
    ckpt.write_bytes(b"not a checkpoint")
    assert fcn_voc.main(tiny(tmp_path, "--model", "fcn32s", "--resume", str(ckpt), out="x")) == 2
    assert str(ckpt) in capsys.readouterr().err


def test_resume_from_the_end_of_a_stage_continues_like_the_uninterrupted_run(tmp_path):
    args = ["--iters", "2", "--model", "staged", "--n-train", "3"]
    assert fcn_voc.main(tiny(tmp_path, *args, out="whole")) == 0
    calls = []

    def stop_after_first_stage(it):
        calls.append(it)
        return "stop" if len(calls) == 3 else None  # first iteration of the second stage

    fcn_voc.run(fcn_voc.parse_args(tiny(tmp_path, *args, out="split")), on_iteration=stop_after_first_stage)
    assert fcn_voc.main(tiny(tmp_path, *args, "--resume", out="split")) == 0
    whole, split = _weights(tmp_path / "whole" / "checkpoint.npz"), _weights(tmp_path / "split" / "checkpoint.npz")
    for key in whole:
        np.testing.assert_array_equal(whole[key], split[key], err_msg=key)


def test_resume_takes_the_new_lr_and_refuses_another_optimizer(tmp_path, capsys):
    assert fcn_voc.main(tiny(tmp_path, "--iters", "1", "--model", "fcn32s")) == 0
    assert fcn_voc.main(tiny(tmp_path, "--iters", "2", "--model", "fcn32s", "--resume", "--lr", "1e-5")) == 0
    ckpt = lumen.load(tmp_path / "out" / "checkpoint.npz")
    assert [g["lr"] for g in ckpt["optimizer"]["param_groups"]] == [1e-5, 2e-5]
    assert fcn_voc.main(tiny(tmp_path, "--model", "fcn32s", "--resume", "--optimizer", "adam")) == 2
    assert "optimizer 'sgd'" in capsys.readouterr().err
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())  # strict JSON: NaN IU is null
    assert None in metrics["stages"]["fcn32s"]["per_class_iu"]


def test_a_bad_image_found_while_training_is_one_line_naming_the_file(tmp_path, capsys):
    assert fcn_voc.main(tiny(tmp_path, "--iters", "1", "--model", "fcn32s")) == 0
    root = next((tmp_path / "cache").glob("synthetic_voc-*"))
    bad = sorted((root / "JPEGImages").glob("*.jpg"))[0]
    bad.write_bytes(bad.read_bytes()[:40])  # truncated
    assert fcn_voc.main(tiny(tmp_path, "--iters", "4", "--model", "fcn32s", out="again")) == 2
    err = capsys.readouterr().err.strip()
    assert bad.name in err and "\n" not in err and "Traceback" not in err


def test_init_transplants_a_converted_classifier(tmp_path, capsys):
    # A VGG16 classifier at the recipe's width, in torchvision's keys, as `lumen.vision.convert` writes it.
    from lumen.vision.models import fcn
    trunk = fcn.fcn32s(width=0.0625).state_dict()
    convs = [k[:-len(".weight")] for k in trunk if k.startswith("conv") and k.endswith(".weight")]
    rng = np.random.default_rng(0)
    arrays = {}
    for index, name in zip((0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28), convs):
        arrays[f"features.{index}.weight"] = rng.standard_normal(trunk[f"{name}.weight"].shape).astype(np.float32)
        arrays[f"features.{index}.bias"] = rng.standard_normal(trunk[f"{name}.bias"].shape).astype(np.float32)
    for index, name in ((0, "fc6"), (3, "fc7")):
        w = trunk[f"{name}.weight"].shape
        arrays[f"classifier.{index}.weight"] = rng.standard_normal((w[0], int(np.prod(w[1:])))).astype(np.float32)
        arrays[f"classifier.{index}.bias"] = rng.standard_normal(w[0]).astype(np.float32)
    arrays["classifier.6.weight"] = rng.standard_normal((10, w[0])).astype(np.float32)  # fc8: dropped
    arrays["classifier.6.bias"] = np.zeros(10, np.float32)
    np.savez(tmp_path / "vgg16.npz", **arrays)

    assert fcn_voc.main(tiny(tmp_path, "--iters", "1", "--model", "fcn32s", "--lr", "1e-12",
                             "--init", str(tmp_path / "vgg16.npz"))) == 0
    state = lumen.load(tmp_path / "out" / "checkpoint.npz")["model_state"]
    np.testing.assert_allclose(np.asarray(state["conv1_1.weight"]), arrays["features.0.weight"], atol=1e-6)
    np.testing.assert_allclose(np.asarray(state["fc6.weight"]).reshape(arrays["classifier.0.weight"].shape),
                               arrays["classifier.0.weight"], atol=1e-6)

    (tmp_path / "bad.npz").write_bytes(b"garbage")
    assert fcn_voc.main(tiny(tmp_path, "--model", "fcn32s", "--init", str(tmp_path / "bad.npz"), out="x")) == 2
    assert "--init" in capsys.readouterr().err


def test_paper_protocol_path_on_voc_and_sbd_layouts(tmp_path, capsys):
    from lumen.vision.datasets import synthetic_sbd, synthetic_voc
    voc = synthetic_voc(tmp_path / "VOC2012", n_train=3, n_val=2, size=24, seed=1)
    sbd = synthetic_sbd(tmp_path / "sbd", n_train=3, n_val=2, size=24, seed=2)
    argv = ["--data", str(voc), "--sbd", str(sbd), "--model", "fcn32s", "--width", "0.0625", "--iters", "2",
            "--out", str(tmp_path / "out")]
    assert fcn_voc.main(argv) == 0
    printed = capsys.readouterr().out
    assert "SBD train (3) -> VOC seg11valid (2)" in printed
    meta = lumen.load(tmp_path / "out" / "checkpoint.npz")["meta"]
    assert (meta["optimizer"], meta["iteration"]) == ("sgd", 2)  # the reference solver on real data


def test_score_fr_starts_from_the_classifiers_fc8_with_a_calibrated_background(tmp_path, capsys):
    # lr 1e-30: one step that leaves every weight as it started
    assert fcn_voc.main(tiny(tmp_path, "--iters", "1", "--model", "fcn32s", "--lr", "1e-30")) == 0
    printed = capsys.readouterr().out
    assert "score_fr from the classifier's fc8, the background's bias" in printed
    assert "are predicted background, as labelled" in printed
    (exported,) = (tmp_path / "cache" / "classifiers").glob("*/classifier.npz")
    _, fc8_weight, fc8_bias = classifier_output_layer(dict(np.load(exported)))
    ckpt = lumen.load(tmp_path / "out" / "checkpoint.npz")
    weight = np.asarray(ckpt["model_state"]["score_fr.weight"])[:, :, 0, 0]
    bias = np.asarray(ckpt["model_state"]["score_fr.bias"])
    np.testing.assert_array_equal(weight[1:], fc8_weight)
    np.testing.assert_array_equal(bias[1:], fc8_bias)
    assert np.abs(weight[0]).max() < 1e-20 and bias[0] != 0  # zero, but for the one step of lr 1e-30
    # the trunk and the inputs are the embedded classifier's
    assert ckpt["meta"]["input_scale"] == 0.017
    assert ckpt["meta"]["trunk"] == {"pad": 49, "fc6_kernel": 3, "ceil_mode": False}

    assert fcn_voc.main(tiny(tmp_path, "--iters", "1", "--model", "fcn32s", "--lr", "1e-30", "--score-init", "zero",
                             out="zero")) == 0
    zero = np.asarray(lumen.load(tmp_path / "zero" / "checkpoint.npz")["model_state"]["score_fr.weight"])
    assert np.abs(zero).max() < 1e-20  # zero, but for the one step of lr 1e-30


def test_score_init_and_input_scale_errors(tmp_path, capsys):
    assert fcn_voc.main(tiny(tmp_path, "--init", "none", "--score-init", "classifier")) == 2
    assert "--score-init classifier needs a classifier (--init)" in capsys.readouterr().err
    assert fcn_voc.main(tiny(tmp_path, "--input-scale", "-1")) == 2
    assert "--input-scale must be a positive number" in capsys.readouterr().err
    assert fcn_voc.main(tiny(tmp_path, "--iters", "1", "--model", "fcn32s", "--init", "none")) == 0
    assert fcn_voc.main(tiny(tmp_path, "--iters", "2", "--model", "fcn32s", "--init", "none", "--input-scale", "1",
                             "--resume")) == 2
    assert "is of input_scale 0.017, but this run asks for 1.0" in capsys.readouterr().err
