"""Every command line in README.md and docs/ (docs/experiments/ too) parses with today's flags, and uses their
snake_case spelling.

Commands in fenced code blocks must parse completely; commands quoted inline in prose (``python -m ... recon
pseudogt --from_truth``) may leave out required arguments but must not use an unknown flag. Placeholders are
filled in before parsing: ``[optional parts]`` are kept (so their flags are checked too), ``a|b`` takes the first
alternative, and upper-case placeholders (``N``, ``DIR``, ``QW``) become ``1``.
"""
from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from backend import client, generate, serve, train
from backend.render import __main__ as render_cli
from fid import evaluate

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("backend.generate", "backend.serve", "backend.client", "backend.train", "backend.render", "fid.evaluate")
COMMAND = re.compile(r"(?:^|\s|/)(?:python3?|torchrun)\b.*?-m\s+(" + "|".join(map(re.escape, MODULES)) + r")\b(.*)")
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _snippets(text: str):
    """(fenced, line) for every fenced code line (continuations joined, ``&&`` split) and inline code span."""
    fenced, pending = False, ""
    for line in text.splitlines():
        if line.strip().startswith("```"):
            fenced, pending = not fenced, ""
            continue
        if fenced:
            line = pending + line
            if line.rstrip().endswith("\\"):
                pending = line.rstrip()[:-1] + " "
                continue
            pending = ""
            for part in line.split("&&"):
                yield True, part
        else:
            for span in re.findall(r"`([^`]+)`", line):
                yield False, span


def _doc_commands():
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for fenced, snippet in _snippets(path.read_text(encoding="utf-8")):
            match = COMMAND.search(snippet)
            if match:
                rest = re.sub(r"\s#.*$", "", match.group(2)).strip()
                if _tokens(rest) is not None:
                    yield pytest.param(match.group(1), rest, fenced,
                                       id=f"{path.name}: {match.group(1)} {rest}"[:110])


def _tokens(rest: str) -> list[str] | None:
    """The argument list a documented command stands for, or None for a mention that is not a command
    (``data …``, ``gan ...``, ``--variations_of / --interpolate``, ``<a placeholder>``)."""
    if not rest or "…" in rest or "<" in rest or " / " in rest or re.search(r"(^|\s)\.\.\.$", rest):
        return None
    words = shlex.split(rest.replace("[", " ").replace("]", " "))
    words = [w.split("|")[0] if "|" in w else w for w in words if w != "..."]
    return ["1" if PLACEHOLDER.match(w) else w for w in words]


def _parse(module: str, argv: list[str]):
    if module == "backend.train":
        parser, defaults = train.build_parser()
        return parser.parse_args(train._with_default_command(argv, defaults))
    if module == "fid.evaluate":
        parsers = evaluate.build_parsers()
        if argv[:1] and argv[0] in evaluate.COMMANDS:
            return parsers[argv[0]].parse_args(argv[1:])
        return parsers["evaluate"].parse_args(argv)
    if module == "backend.serve":
        parsers = serve.build_parsers()
        return parsers["keygen"].parse_args(argv[1:]) if argv[:1] == ["keygen"] else parsers["serve"].parse_args(argv)
    parser = {"backend.generate": generate.build_parser, "backend.client": client.build_parser,
              "backend.render": render_cli.build_parser}[module]()
    return parser.parse_args(argv)


@pytest.mark.parametrize("module, rest, fenced", list(_doc_commands()))
def test_documented_command_parses(module, rest, fenced):
    argv = _tokens(rest)
    dashed = [w for w in argv if re.match(r"^--[a-z0-9]+-[a-z0-9-]+$", w)]
    assert not dashed, f"document the snake_case spelling: {dashed}"
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            _parse(module, argv)
    except SystemExit:
        message = errors.getvalue().strip().splitlines()[-1]
        if fenced or "the following arguments are required" not in message:
            raise AssertionError(f"python -m {module} {rest}: {message}") from None


def test_the_docs_have_commands():
    assert len(list(_doc_commands())) > 70
