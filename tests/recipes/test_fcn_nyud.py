"""recipes.fcn_nyud at a tiny size: Table 4's rows train, the late-fusion stage starts from the trained
single-modality nets, a run stopped in the fusion stage resumes exactly, errors are one line."""
import pytest

import lumen
from recipes import fcn_nyud
from tests.recipes._benchmark_runs import interrupted_equals_whole, tiny


@pytest.mark.slow  # four stages, twice: ~35 s on 2 busy cores
def test_color_hha_resumes_exactly_and_starts_from_the_single_nets(tmp_path, capsys):
    metrics = interrupted_equals_whole(fcn_nyud, tmp_path, 5, "--input", "color-hha")  # stop in the fusion stage
    assert list(metrics["stages"]) == ["FCN-32s RGB", "FCN-32s HHA", "FCN-32s RGB-HHA", "FCN-16s RGB-HHA"]
    for by_head in metrics["stages"].values():
        assert len(by_head[""]["per_class_iu"]) == 40 and 0 <= by_head[""]["pixel_accuracy"] <= 1
    printed = capsys.readouterr().out
    assert "| FCN-32s RGB-HHA (paper) | 64.3 | 44.9 | 32.8 | 48.0 |" in printed
    assert "| FCN-16s RGB-HHA (paper) | 65.4 | 46.1 | 34.0 | 49.5 |" in printed
    color = lumen.load(tmp_path / "whole" / "color.npz")
    fused = lumen.load(tmp_path / "whole" / "checkpoint.npz")["model_state"]
    assert "conv1_1color.weight" in fused and "score_pool4hha.weight" in fused and "upscore16.weight" in fused
    assert color["conv1_1.weight"].shape == fused["conv1_1color.weight"].shape


def test_rgbd_is_early_fusion(tmp_path):
    assert fcn_nyud.main(tiny(tmp_path, "d", "--input", "color-d", "--iters", "1")) == 0
    state = lumen.load(tmp_path / "d" / "color-d.npz")
    assert tuple(state["conv1_1_bgrd.weight"].shape)[1] == 4


def test_errors_are_one_line(tmp_path, capsys):
    assert fcn_nyud.main(tiny(tmp_path, "e", "--data", str(tmp_path / "nowhere"))) == 2
    assert "fcn_nyud: error: NYUDv2: root" in capsys.readouterr().err
    assert fcn_nyud.main(tiny(tmp_path, "e", "--resume")) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        fcn_nyud.parse_args(["--input", "rgb"])


def test_predict_takes_the_rgb_net_and_names_what_the_others_need(tmp_path, capsys):
    from PIL import Image

    from recipes import predict
    assert fcn_nyud.main(tiny(tmp_path, "rgb", "--input", "color", "--iters", "1")) == 0
    image = next((tmp_path / "cache").rglob("data/images/*.png"))
    assert predict.main([str(tmp_path / "rgb" / "checkpoint.npz"), str(image), "--out", str(tmp_path / "maps")]) == 0
    with Image.open(tmp_path / "maps" / f"{image.stem}.png") as written:
        assert written.size == (20, 20)
    assert fcn_nyud.main(tiny(tmp_path, "hha", "--input", "hha", "--iters", "1")) == 0
    assert predict.main([str(tmp_path / "hha" / "checkpoint.npz"), str(image), "--out", str(tmp_path / "m2")]) == 2
    assert "a hha net reads hha inputs" in capsys.readouterr().err
