"""recipes.fcn_context at a tiny size: 60 outputs, staged 32s -> 16s, exact resume, paired options."""
from recipes import fcn_context
from tests.recipes._benchmark_runs import interrupted_equals_whole, tiny


def test_resumes_exactly_and_scores_60_classes(tmp_path):
    metrics = interrupted_equals_whole(fcn_context, tmp_path, 1)  # stop inside FCN-32s
    assert list(metrics["stages"]) == ["FCN-32s", "FCN-16s"]
    assert len(metrics["stages"]["FCN-16s"][""]["per_class_iu"]) == 60


def test_voc_and_context_folders_go_together(tmp_path, capsys):
    assert fcn_context.main(tiny(tmp_path, "e", "--data", str(tmp_path))) == 2
    assert "--data (VOC2010) and --context" in capsys.readouterr().err
