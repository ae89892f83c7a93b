"""What a pseudo-GT export did, whichever way it was made (``from_run.py``, ``from_truth.py``): one summary type."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ExportSummary:
    """Item files written now and reused from an earlier (interrupted) export, records skipped {reason: count},
    the folder, and the real images' FID statistics file when one was written (``fid_stats.py``)."""

    root: Path
    written: int = 0
    reused: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    fid_stats: Path | None = None

    @property
    def count(self) -> int:
        return self.written + self.reused

    def skip(self, reason: str, n: int = 1) -> None:
        """Count ``n`` more records skipped for ``reason``."""
        if n:
            self.skipped[reason] = self.skipped.get(reason, 0) + n

    def line(self) -> str:
        """One line for the command's output, e.g. ``pseudo-GT: 8 items (8 written, 0 reused) -> DIR``."""
        skipped = ", skipped " + ", ".join(f"{n} {why}" for why, n in self.skipped.items()) if self.skipped else ""
        fid = f"; FID statistics: {self.fid_stats}" if self.fid_stats else ""
        return (f"pseudo-GT: {self.count} items ({self.written} written, {self.reused} reused){skipped} -> "
                f"{self.root}{fid}")
