"""What a loader skipped and why: a structured report plus one log line. Nothing is dropped silently."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

LOG = logging.getLogger("dataformat")

#: How many example names are kept per reason.
MAX_EXAMPLES = 5

# Reasons used by the loaders (free-form strings are allowed; these are the common ones).
UNREADABLE_IMAGE = "unreadable_image"
MISSING_MASK = "missing_mask"
UNREADABLE_MASK = "unreadable_mask"
MASK_SIZE_MISMATCH = "mask_size_mismatch"
EMPTY_MASK = "empty_mask"
PARTS_SIZE_MISMATCH = "parts_size_mismatch"
UNREADABLE_PARTS = "unreadable_parts"
BAD_ANNOTATION = "bad_annotation"
BAD_POSE = "bad_pose"
TOO_SMALL = "too_small"
TRUNCATED = "truncated"
COLLIDING = "colliding"


@dataclass
class SkipReport:
    """Counts of skipped items per reason, with the first few names (and messages) of each.

    total: items seen; kept: items that became records; skipped: {reason: count};
    examples: {reason: ["name: message", ...]} (at most MAX_EXAMPLES each);
    warnings: problems that did not drop an item (for example poses that could not be used).
    """

    source: str
    total: int = 0
    kept: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, name: str, message: str = "") -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        examples = self.examples.setdefault(reason, [])
        if len(examples) < MAX_EXAMPLES:
            examples.append(f"{name}: {message}" if message else name)

    def warn(self, reason: str, name: str, message: str = "") -> None:
        self.warnings[reason] = self.warnings.get(reason, 0) + 1
        examples = self.examples.setdefault(reason, [])
        if len(examples) < MAX_EXAMPLES:
            examples.append(f"{name}: {message}" if message else name)

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())

    def summary(self) -> str:
        """One line: '<source>: kept K of N; skipped S (reason: count [first, names], ...)'."""
        line = f"{self.source}: kept {self.kept} of {self.total}"
        if self.skipped:
            parts = [f"{reason}: {count} [{', '.join(e.split(': ')[0] for e in self.examples.get(reason, []))}]"
                     for reason, count in sorted(self.skipped.items())]
            line += f"; skipped {self.n_skipped} ({'; '.join(parts)})"
        if self.warnings:
            line += "; warnings " + ", ".join(f"{r}: {c}" for r, c in sorted(self.warnings.items()))
        return line

    def log(self) -> None:
        """Log the summary (WARNING if anything was skipped, INFO otherwise)."""
        LOG.log(logging.WARNING if self.skipped or self.warnings else logging.INFO, "%s", self.summary())

    def to_json(self) -> dict:
        return {"source": self.source, "total": self.total, "kept": self.kept, "skipped": dict(self.skipped),
                "examples": {k: list(v) for k, v in self.examples.items()}, "warnings": dict(self.warnings)}
