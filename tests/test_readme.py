"""Every code block of README.md runs, so the docs cannot rot.

Python blocks are executed in order in a scratch folder. Shell blocks are checked command by command:
each `python -m recipes.<recipe> ...` or `lumen.utils.summary ...` line must be accepted by that program's own
argument parser (the real data it names is not here; the programs themselves run end to
end in tests/recipes and tests/utils), and each
`pip install -e '.[extra]'` must name an extra that pyproject.toml defines. The README's test command is
what CI runs, so it is proved by CI itself.
"""
import importlib
import re
import shlex
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```", (ROOT / "README.md").read_text(), re.S | re.M)


def test_readme_has_the_two_fresh_machine_commands_first():
    lang, body = BLOCKS[0]
    lines = body.strip().splitlines()
    assert lang == "bash" and len(lines) == 2
    assert lines[0].endswith("python -m recipes.fcn_voc") and "pytest" in lines[1]


@pytest.mark.parametrize("index", [i for i, (lang, _) in enumerate(BLOCKS) if lang == "python"])
def test_python_block_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index][1], f"README.md python block {index}", "exec"), {"__name__": "__readme__"})


def _shell_commands():
    for lang, body in BLOCKS:
        if lang == "bash":
            for line in body.strip().splitlines():
                yield from (part.strip() for part in line.split("&&"))


@pytest.mark.parametrize("command", list(_shell_commands()))
def test_shell_command_is_valid(command, monkeypatch):
    import lumen
    monkeypatch.setattr(lumen.cuda, "is_available", lambda: True)  # --device cuda lines parse without a GPU
    words = shlex.split(command, comments=True)
    if words[:1] == ["mpirun"]:  # the launcher's options, then the command each rank runs
        words = words[words.index("python"):]
    if words[:2] == ["python", "-m"] and (words[2].startswith("recipes.") or words[2] == "lumen.utils.summary"):
        args = importlib.import_module(words[2]).parse_args(words[3:])
        if words[2] == "recipes.fcn_voc":
            from recipes import fcn_voc
            assert args.model in fcn_voc.MODELS
    elif words[:3] == ["pip", "install", "-e"]:
        extras = re.findall(r"\[(.*)\]", words[3])
        defined = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
        for extra in extras:
            assert extra in defined, f"README installs the extra {extra!r}, which pyproject.toml lacks"
    else:
        assert words[:3] == ["python", "-m", "pytest"], f"unchecked README command: {command}"
