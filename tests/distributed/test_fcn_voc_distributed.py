"""recipes.fcn_voc under mpirun: 2 ranks x 1 image train to the weights and log of 1 process x 2 images, and a
checkpoint resumes on the other number of ranks, or is refused in one line (dropout off, so the runs can agree to
float32 rounding)."""
import numpy as np
import pytest

import lumen


@pytest.fixture
def recipe(tmp_path, recipe_runs):
    return recipe_runs("recipes.fcn_voc", [
        "--init", "none", "--model", "fcn32s", "--iters", "4", "--n-train", "8", "--n-val", "5", "--size", "32",
        "--width", "0.0625", "--batch-size", "2", "--eval-every", "2", "--checkpoint-every", "2", "--lr", "1e-5",
        "--momentum", "0.9", "--cache", str(tmp_path / "cache")])


def weights(out):
    return {k: v.numpy() for k, v in lumen.load(out / "checkpoint.npz")["model_state"].items()}


def log_without_speed(out):
    return [row.split(",")[:4] + row.split(",")[5:] for row in (out / "log.csv").read_text().splitlines()]


@pytest.mark.slow
def test_two_ranks_train_as_one_process_at_the_global_batch_and_resume_across_rank_counts(recipe):
    alone = recipe("alone", 1)
    two = recipe("two", 2)
    for key, value in weights(alone).items():
        np.testing.assert_allclose(weights(two)[key], value, rtol=1e-5, atol=1e-6, err_msg=key)
    assert log_without_speed(two) == log_without_speed(alone)
    resumed = recipe("resumed", 2, stop_at=1)  # stopped by two ranks after a step, finished by one
    recipe("resumed", 1, "--resume")
    for key, value in weights(alone).items():
        np.testing.assert_allclose(weights(resumed)[key], value, rtol=1e-5, atol=1e-6, err_msg=key)
    assert log_without_speed(resumed) == log_without_speed(alone)
    refused = recipe("alone", 2, "--resume", "--width", "0.125", status=2)  # said once, by rank 0
    assert refused.stderr.strip() == (f"fcn_voc: error: checkpoint {alone / 'checkpoint.npz'} is of width 0.0625, "
                                      f"but this run asks for 0.125")
