"""recipes.imagenet at a tiny size: trains and scores, exports what recipes.fcn_voc --init reads, resumes
bit for bit; the embedded classifier cached for recipes.fcn_voc; the training-health guard."""
import json

import numpy as np
import pytest

import lumen
from lumen.vision.datasets import VOC_CLASSES
from lumen.vision.datasets.imagefolder import ImageFolder, ImageList
from lumen.vision.datasets.synthetic import synthetic_imagenet
from lumen.vision.models import fcn, read_npz
from recipes import fcn_voc, imagenet
from tests.recipes.test_fcn_voc import tiny

TINY = ["--n-train", "2", "--n-val", "1", "--size", "40", "--crop", "32", "--width", "0.0625", "--batch-size", "8",
        "--eval-every", "2", "--checkpoint-every", "100"]


def run_tiny(tmp_path, *extra, out="out"):
    return imagenet.main(TINY + ["--cache", str(tmp_path / "cache"), "--out", str(tmp_path / out), *extra])


def test_synthetic_imagenet_layout_reads_as_image_folder(tmp_path):
    root = synthetic_imagenet(tmp_path / "data", n_train=2, n_val=1, size=16)
    train = ImageFolder(root / "train")
    assert train.classes == list(VOC_CLASSES[1:]) and len(train) == 40
    assert train.class_to_idx["tvmonitor"] == 19 and train.samples[0][1] == 0
    image, target = train[5]
    assert image.shape == (16, 16, 3) and image.dtype == np.uint8 and target == 2
    # the flat validation layout: val/*.JPEG with "<file> <label>" lines
    (tmp_path / "val.txt").write_text("".join(f"{p.split('/')[-2]}/{p.split('/')[-1]} {t}\n"
                                              for p, t in ImageFolder(root / "val").samples))
    listed = ImageList(root / "val", tmp_path / "val.txt", train.classes)
    assert listed.targets == ImageFolder(root / "val").targets
    assert synthetic_imagenet(tmp_path / "data", n_train=2, n_val=1, size=16) == root  # cached


def test_trains_scores_exports_and_resumes_bit_for_bit(tmp_path):
    assert run_tiny(tmp_path, "--iters", "4", "--export", str(tmp_path / "cls.npz"), out="whole") == 0
    metrics = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert 0 <= metrics["top1"] <= metrics["top5"] <= 1 and len(metrics["classes"]) == 20
    for name in ("curves.png", "log.csv", "checkpoint.npz"):
        assert (tmp_path / "whole" / name).stat().st_size > 0

    args = imagenet.parse_args(TINY + ["--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "split"),
                                       "--iters", "4"])
    assert imagenet.run(args, on_iteration=lambda it: "stop" if it == 3 else None) is None
    assert run_tiny(tmp_path, "--iters", "4", "--resume", out="split") == 0
    whole = lumen.load(tmp_path / "whole" / "checkpoint.npz")["model_state"]
    split = lumen.load(tmp_path / "split" / "checkpoint.npz")["model_state"]
    for key in whole:
        np.testing.assert_array_equal(np.asarray(whole[key]), np.asarray(split[key]), err_msg=key)
    assert (tmp_path / "whole" / "log.csv").read_text().count("\n") == (tmp_path / "split" / "log.csv").read_text().count("\n")

    # the export is what recipes.fcn_voc --init convolutionalises into the trunk
    exported = dict(np.load(tmp_path / "cls.npz"))
    np.testing.assert_array_equal(exported["features.0.weight"], np.asarray(whole["features.0.weight"]))
    assert fcn_voc.main(tiny(tmp_path, "--iters", "1", "--model", "fcn32s", "--init", str(tmp_path / "cls.npz"))) == 0
    state = lumen.load(tmp_path / "out" / "checkpoint.npz")["model_state"]
    fc6 = np.asarray(state["fc6.weight"])
    assert not np.array_equal(fc6, 0) and fc6.size == exported["classifier.0.weight"].size


@pytest.mark.slow
def test_a_short_run_of_the_embedded_preset_learns_above_chance(tmp_path):
    assert imagenet.main(["--n-train", "20", "--n-val", "5", "--size", "56", "--crop", "48", "--width", "0.0625",
                          "--batch-size", "16", "--iters", "60", "--eval-every", "60", "--cache",
                          str(tmp_path / "cache"), "--out", str(tmp_path / "out")]) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["top1"] > 0.15 and metrics["top5"] > 0.5  # chance: 0.05 and 0.25


def test_a_checkpoint_from_before_the_new_options_resumes_with_their_old_defaults(tmp_path, capsys):
    args = ["--iters", "2", "--optimizer", "sgd", "--no-head-batch-norm", "--fc6-kernel", "7", "--dropout", "0.5",
            "--input-scale", "1"]
    assert run_tiny(tmp_path, *args, "--iters", "1") == 0
    ckpt_path = tmp_path / "out" / "checkpoint.npz"
    ckpt = lumen.load(ckpt_path)
    for key in ("optimizer", "head_batch_norm", "fc6_kernel", "dropout", "input_scale"):
        del ckpt["meta"][key]
    lumen.save(ckpt, ckpt_path)
    assert run_tiny(tmp_path, *args, "--resume") == 0
    assert run_tiny(tmp_path, *args, "--iters", "3", "--resume", "--input-scale", "0.5") == 2
    assert "the checkpoint is of input_scale 1.0, but this run asks for 0.5" in capsys.readouterr().err


def test_user_errors(tmp_path, capsys):
    assert run_tiny(tmp_path, "--arch", "resnet50") == 2
    assert "unknown arch 'resnet50'" in capsys.readouterr().err
    assert run_tiny(tmp_path, "--arch", "alexnet") == 2  # torchvision's AlexNet has no width multiplier
    assert "width 1 only" in capsys.readouterr().err
    assert run_tiny(tmp_path, "--data", str(tmp_path / "nothing")) == 2
    assert str(tmp_path / "nothing") in capsys.readouterr().err
    assert run_tiny(tmp_path, "--arch", "caffenet", "--head-batch-norm") == 2
    assert "VGG options" in capsys.readouterr().err
    assert run_tiny(tmp_path, "--dropout", "1") == 2
    assert "--dropout must be in [0, 1)" in capsys.readouterr().err
    assert run_tiny(tmp_path, "--input-scale", "0") == 2
    assert "--input-scale must be a positive number" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_embedded_preset_is_the_transfer_recipe():
    args = imagenet.parse_args([])
    assert (args.arch, args.optimizer, args.policy, args.gamma, args.dropout, args.head_batch_norm,
            args.fc6_kernel, args.crop, args.input_scale) == ("vgg16_bn", "adam", "poly", 1.0, 0.0, True, 3, 96, 0.017)
    model = imagenet.build_classifier("vgg16_bn", 20, 1 / 8, 0.0, True, 3).eval()
    assert sum(isinstance(m, lumen.nn.BatchNorm1d) for m in model.modules()) == 2
    assert model(lumen.randn(2, 3, 96, 96)).shape == (2, 20)
    assert model.classifier[0].in_features == 64 * 3 * 3  # fc6 reads the 3x3 pool5 of a 96-px crop
    # the solver's own settings where the preset is silent, the reference's on real data
    real = imagenet.parse_args(["--data", "somewhere", "--arch", "vgg16"])
    assert (real.optimizer, real.dropout, real.head_batch_norm, real.fc6_kernel, real.input_scale) == \
        ("sgd", 0.5, False, 7, 1.0)


def test_the_cache_key_follows_every_setting_of_the_weights():
    base = imagenet.config_key(imagenet.parse_args([]))
    for change in (["--input-scale", "1"], ["--no-head-batch-norm"], ["--fc6-kernel", "7"], ["--dropout", "0.5"],
                   ["--optimizer", "sgd"]):
        assert imagenet.config_key(imagenet.parse_args(change)) != base, change


@pytest.mark.parametrize("arch", ["caffenet", "googlenet", "vgg11", "vgg16_bn"])
def test_other_architectures_build_at_a_width_and_take_their_solver(arch):
    args = imagenet.parse_args(["--data", "ILSVRC2012", "--arch", arch, "--width", "0.0625"])
    model = imagenet.build_classifier(arch, 20, args.width)
    expected = {"caffenet": ("step", 0.0, 5e-4), "googlenet": ("poly", 0.3, 2e-4), "vgg11": ("plateau", 0.0, 5e-4),
                "vgg16_bn": ("plateau", 0.0, 5e-4)}
    assert (args.policy, args.aux_weight, args.weight_decay) == expected[arch]
    crop = 227 if arch == "caffenet" else 64
    model.train()
    out = model(lumen.randn(1, 3, crop, crop) if arch != "googlenet" else lumen.randn(1, 3, 224, 224))
    loss = imagenet.classification_loss(out, lumen.tensor([3]), args.aux_weight)
    assert loss.ndim == 0 and float(loss.item()) > 0


def test_a_batch_norm_classifier_export_initialises_the_fcn_trunk(tmp_path):
    model = imagenet.build_classifier("vgg16_bn", 20, 1 / 16).eval()
    assert sum(isinstance(m, lumen.nn.BatchNorm2d) for m in model.modules()) == 13
    with lumen.no_grad():
        model.features[1].running_var.fill_(4.0)  # conv1_1's batch norm halves its output
    imagenet.export_weights(model, tmp_path / "cls.npz")
    net = fcn.fcn32s(width=1 / 16, pretrained_backbone=read_npz(tmp_path / "cls.npz"))
    np.testing.assert_allclose(net.conv1_1.weight.detach().numpy(),
                               model.features[0].weight.detach().numpy() / np.sqrt(4.0 + 1e-5), rtol=1e-6)


def test_fcn_reuses_the_cached_embedded_classifier(tmp_path, capsys):
    assert fcn_voc.main(tiny(tmp_path, "--iters", "1", "--model", "fcn32s")) == 0
    first = capsys.readouterr().out
    assert "training the embedded classifier once" in first
    assert fcn_voc.main(tiny(tmp_path, "--iters", "1", "--model", "fcn32s", out="again")) == 0
    assert "the embedded classifier is cached" in capsys.readouterr().out
    a = lumen.load(tmp_path / "out" / "checkpoint.npz")["model_state"]
    b = lumen.load(tmp_path / "again" / "checkpoint.npz")["model_state"]
    np.testing.assert_array_equal(np.asarray(a["conv1_1.weight"]), np.asarray(b["conv1_1.weight"]))
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["final"] == {"stage": "fcn32s", "mean_iu": metrics["stages"]["fcn32s"]["mean_iu"]}
    assert set(metrics["stages"]["fcn32s"]) >= {"pixel_accuracy", "mean_accuracy", "mean_iu",
                                                "frequency_weighted_iu", "per_class_iu"}


def test_health_guard_fires_on_a_zeroed_trunk_only(tmp_path, capsys):
    trunk = imagenet.build_classifier("vgg16", 20, 0.0625).state_dict()
    np.savez(tmp_path / "zero.npz", **{k: np.zeros(np.asarray(v).shape, np.float32) for k, v in trunk.items()})
    assert fcn_voc.main(tiny(tmp_path, "--iters", "3", "--model", "fcn32s", "--health-check", "2",
                             "--init", str(tmp_path / "zero.npz"))) == 0
    out = capsys.readouterr().out + capsys.readouterr().err
    assert out.count("fcn_voc: warning: fcn32s after 2 iterations") == 1
    assert "not transplanted" in out and "lr" in out and "void" in out


@pytest.mark.slow
def test_health_guard_is_quiet_on_the_default_settings(tmp_path, capsys):
    # the default's classifier trained briefly (tiny()'s, 2 iterations, knows nothing: the guard rightly fires)
    classifier = "--iters 30 --batch-size 16 --n-train 10 --n-val 2 --size 56 --crop 48"
    assert fcn_voc.main(tiny(tmp_path, "--iters", "3", "--model", "fcn32s", "--health-check", "2", "--size", "96",
                             "--n-train", "8", "--n-val", "8", "--classifier", classifier)) == 0
    out = capsys.readouterr()
    assert "warning" not in out.out + out.err


def test_health_guard_is_quiet_on_a_net_that_learnt(tmp_path):
    val = [(np.zeros((3, 8, 8), np.float32), None)]
    args = fcn_voc.parse_args(tiny(tmp_path))
    args.classes = list(VOC_CLASSES)

    class TwoClasses(lumen.nn.Module):
        def forward(self, x):  # class 0 on the left half, class 7 on the right
            scores = lumen.zeros(1, 21, 8, 8)
            scores[:, 0, :, :4] = 1.0
            scores[:, 7, :, 4:] = 1.0
            return scores

    assert fcn_voc.health_warning(TwoClasses(), val, "cpu", args, "fcn32s", 100, 1.2) is None
    assert "within 1% of ln(21)" in fcn_voc.health_warning(TwoClasses(), val, "cpu", args, "fcn32s", 100, 3.04)
