"""The stage contract's resume error (``training.engine.stage.resume_message``), as every stage's tests check it:
one line, the same words in every stage, naming what differs."""
from __future__ import annotations

import re

RESUME_ERROR = re.compile(r"(?:error: )?\S.* was made with other settings \((?P<differences>.+)\); resume with the "
                          r"same settings or choose a new --out")


def assert_resume_error(text: str, *keys: str) -> None:
    """``text`` (an exception message or a CLI's stderr) is the one-line resume error naming each of ``keys``."""
    lines = [line for line in text.strip().splitlines() if "was made with other settings" in line]
    assert len(lines) == 1, text
    match = RESUME_ERROR.fullmatch(lines[0])
    assert match, lines[0]
    named = [d.split(":")[0] for d in match["differences"].split("; ")]
    for key in keys:
        assert key in named, (key, lines[0])
