"""The README's examples are true: every `loihi-deploy` command in it parses with the CLI as
written (no placeholders, no shell metacharacters standing for alternatives), and its Python
snippets run, against a bundle compiled by the README's own compile command."""
import pathlib
import re
import shlex

import pytest

from loihi_deploy.cli import build_parser, main

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def readme_commands() -> list[list[str]]:
    """Every `loihi-deploy ...` command of the README's bash blocks, as argv lists (lines
    joined at trailing backslashes, comments dropped, `&&` chains split)."""
    commands = []
    for block in _blocks("bash"):
        text = re.sub(r"\\\n\s*", " ", block)
        for line in text.splitlines():
            words = shlex.split(line, comments=True)
            command: list[str] = []
            for word in words + ["&&"]:
                if word == "&&":
                    if command[:1] == ["loihi-deploy"]:
                        commands.append(command[1:])
                    command = []
                else:
                    command.append(word)
    return commands


def test_the_readme_shows_commands():
    names = {argv[0] for argv in readme_commands()}
    assert {"compile", "run", "check", "verify", "export", "sweep", "inspect"} <= names


@pytest.mark.parametrize("argv", readme_commands(), ids=" ".join)
def test_every_readme_command_parses(argv):
    for word in argv:
        assert not re.search(r"[|\[\]]|\.\.\.", word), f"placeholder in README command: {word}"
    build_parser().parse_args(argv)


def _compile_command() -> list[str]:
    """The README's `compile ... -o cheetah.h5` command (the one the CI-gate example uses)."""
    return next(argv for argv in readme_commands()
                if argv[0] == "compile" and argv[-2:] == ["-o", "cheetah.h5"])


@pytest.mark.lava
def test_readme_python_snippets_run(tmp_path, monkeypatch):
    """Compile the bundle the snippets use with the README's command, then execute every
    Python block and call the test functions it defines."""
    pytest.importorskip("lava")
    monkeypatch.chdir(tmp_path)
    assert main(_compile_command()) == 0
    snippets = _blocks("python")
    assert snippets, "the README has no Python example"
    for snippet in snippets:
        namespace: dict = {}
        exec(compile(snippet, "README.md", "exec"), namespace)
        tests = [f for name, f in namespace.items() if name.startswith("test_") and callable(f)]
        for test in tests:
            test()
