"""recipes.imagenet under mpirun: 2 ranks x 1 image train to the weights and log of 1 process x 2 images, a
checkpoint resumes on the other number of ranks (2 -> 1 and 1 -> 2), and a checkpoint of another model is one
line of error from the 2 ranks (dropout off, so the runs can agree to float32 rounding)."""
import csv

import numpy as np
import pytest

import lumen
from tests.distributed.test_fcn_voc_distributed import weights


@pytest.fixture
def recipe(tmp_path, recipe_runs):
    return recipe_runs("recipes.imagenet", [
        "--n-train", "2", "--n-val", "1", "--size", "40", "--crop", "32", "--width", "0.0625", "--iters", "4",
        "--batch-size", "2", "--eval-every", "2", "--checkpoint-every", "2", "--cache", str(tmp_path / "cache"),
        # no batch norm: per-rank batch statistics would differ from the global batch's (as in torch without
        # SyncBatchNorm), and one image per rank gives a BatchNorm1d one value per channel; SGD: Adam's division
        # by sqrt(v) magnifies the last-ulp differences of the ranks' summation order past the test's tolerance
        "--arch", "vgg16", "--no-head-batch-norm", "--optimizer", "sgd"],
        timeout=120)


def assert_same_weights(out, reference):
    mine = weights(out)
    for key, value in weights(reference).items():
        np.testing.assert_allclose(mine[key], value, rtol=1e-5, atol=1e-6, err_msg=key)


def assert_same_log(out, reference):
    """The same rows, the training speed aside; losses to float32 rounding, accuracy counts exactly."""
    def rows(folder):
        with open(folder / "log.csv", newline="") as f:
            return [{k: v for k, v in row.items() if k != "images_per_s"} for row in csv.DictReader(f)]

    mine, theirs = rows(out), rows(reference)
    assert [(r["iteration"], r["lr"], r["top1"], r["top5"]) for r in mine] == \
        [(r["iteration"], r["lr"], r["top1"], r["top5"]) for r in theirs]
    losses = [[float(r["loss"]) for r in rs if r["loss"]] for rs in (mine, theirs)]
    np.testing.assert_allclose(*losses, rtol=1e-5)


@pytest.mark.slow
def test_two_ranks_train_as_one_process_at_the_global_batch_and_resume_across_rank_counts(recipe):
    alone = recipe("alone", 1)
    two = recipe("two", 2)
    assert_same_weights(two, alone)
    assert_same_log(two, alone)
    assert (two / "metrics.json").read_text() == (alone / "metrics.json").read_text()
    hops = recipe("hops", 2, stop_at=1)  # two ranks stop after a step, one goes on to step 3, two finish
    assert lumen.load(hops / "checkpoint.npz")["meta"]["iteration"] == 1
    recipe("hops", 1, "--resume", stop_at=3)
    assert lumen.load(hops / "checkpoint.npz")["meta"]["iteration"] == 3
    resumed = recipe("hops", 2, "--resume")
    assert_same_weights(resumed, alone)
    assert_same_log(resumed, alone)


def test_two_ranks_refuse_another_model_or_an_indivisible_batch_in_one_line(recipe):
    recipe("alone", 1, "--iters", "1")
    refused = recipe("alone", 2, "--iters", "1", "--resume", "--width", "0.125", status=2)
    assert refused.stderr.strip() == "imagenet: error: the checkpoint is of width 0.0625, but this run asks for 0.125"
    refused = recipe("odd", 2, "--batch-size", "3", status=2)
    assert refused.stderr.strip() == ("imagenet: error: --batch-size 3 (images per step, all ranks together) must "
                                      "be a multiple of the 2 ranks")
