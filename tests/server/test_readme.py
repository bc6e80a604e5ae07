"""The README's command blocks run as written on a fresh clone after its first command (issue 15
§4): every `easlab` command line in a ```sh block names the program as it exists then
(`./easlab`, the link ./scripts/serve leaves, or .venv/bin/easlab; a bare `easlab` is not on
PATH), and parses with the real command line: each sub-command exists, every option is known,
every value has its type and choice, every required argument is there."""
import re
import shlex
from pathlib import Path

import click
import pytest

from easlab.server.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"
PROGRAMS = {"./easlab": [], ".venv/bin/easlab": [], "./scripts/serve": ["serve"]}
OTHER = {"bash", "printf", "python", "python3", ".venv/bin/pip", ".venv/bin/pytest"}  # the README's other commands


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def commands(block: str) -> list[list[str]]:
    """Each simple command of the block (split at &&, | and ;), as words, comments dropped."""
    out = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        current: list[str] = []
        for word in words + ["&&"]:
            if word in ("&&", "|", ";", "||"):
                if current:
                    out.append(current)
                current = []
            else:
                current.append(word)
    return out


def parse(command: click.Command, args: list[str], parent=None, name="easlab") -> click.Context:
    """Parse `args` as the shell would hand them to easlab, down to the sub-command, running nothing."""
    ctx = command.make_context(name, list(args), parent=parent)
    if isinstance(command, click.Group):
        protected = ctx.__dict__.get("_protected_args", None)
        rest = [*(protected if protected is not None else ctx.protected_args), *ctx.args]
        sub_name, sub, sub_args = command.resolve_command(ctx, rest)
        return parse(sub, sub_args, ctx, sub_name)
    return ctx


def easlab_lines() -> list[list[str]]:
    return [words for block in shell_blocks(README.read_text()) for words in commands(block)
            if words[0] in PROGRAMS or words[0] == "easlab"]


def test_the_readme_has_the_walk_throughs():
    lines = easlab_lines()
    assert len(lines) >= 20
    assert lines[0] == ["./scripts/serve"]  # the first command, before which nothing exists
    flat = [" ".join(words) for words in lines]
    provision = next(i for i, line in enumerate(flat) if line.endswith("--device-type iPhone provision"))
    assert provision < next(i for i, line in enumerate(flat) if "device list --state quarantined" in line)


def test_every_command_names_a_program_that_exists_after_the_first_command():
    for block in shell_blocks(README.read_text()):
        for words in commands(block):
            assert words[0] in PROGRAMS or words[0] in OTHER, f"`{' '.join(words)}`: {words[0]} is not on PATH"


@pytest.mark.parametrize("words", easlab_lines(), ids=lambda words: " ".join(words)[:60])
def test_every_easlab_command_parses(words):
    ctx = parse(main, PROGRAMS[words[0]] + words[1:])
    assert ctx.command is not main


@pytest.mark.parametrize("args", [["device", "list", "--state", "nonsense"], ["policy", "remove"], ["user", "add", "x", "--nope"],
                                  ["device", "frobnicate"]])
def test_the_check_catches_a_wrong_line(args):
    with pytest.raises(click.UsageError):
        parse(main, args)
