"""What a long run shows its user: JSONL metrics, a loss-curve PNG, TensorBoard events when installed.

Only rank 0 creates a ``RunLog`` with ``enabled=True``; other ranks get a silent one.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Mapping


def plot_curves(rows: list[dict], path: str | os.PathLike, keys: list[str] | None = None,
                title: str = "", x_key: str = "step") -> Path:
    """Draw one subplot per metric of ``rows`` (dicts with ``x_key`` and numbers) into a PNG, atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = keys or sorted({k for r in rows for k, v in r.items()
                           if k not in (x_key, "time") and isinstance(v, (int, float))})
    n = max(1, len(keys))
    cols = min(3, n)
    rows_n = math.ceil(n / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.2 * cols, 2.8 * rows_n), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        pts = [(r[x_key], r[key]) for r in rows if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, lw=0.8, marker="o" if len(pts) < 30 else None, ms=3)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel(x_key, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    partial = path.with_name(path.name + ".partial.png")
    fig.savefig(partial, dpi=90)
    plt.close(fig)
    os.replace(partial, path)
    return path


class RunLog:
    """Append metrics to ``folder/metrics.jsonl``; redraw ``folder/loss_curves.png`` on ``plot()``.

    ``log(step, {"loss_d": ..})`` keeps every row in memory too (a resumed run re-reads the file), so the PNG
    always shows the whole run.
    """

    def __init__(self, folder: str | os.PathLike, enabled: bool = True, name: str = "metrics",
                 tensorboard: bool = True) -> None:
        self.folder = Path(folder)
        self.enabled = enabled
        self.path = self.folder / f"{name}.jsonl"
        self.rows: list[dict] = []
        self._writer = None
        if not enabled:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    self.rows.append(json.loads(line))
                except ValueError:
                    continue  # a line cut by a kill -9
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(str(self.folder / "tensorboard"))
            except (ImportError, ModuleNotFoundError):
                self._writer = None

    def truncate_after(self, step: int) -> None:
        """Forget rows beyond ``step`` (a run resumed from an earlier checkpoint repeats those steps)."""
        if not self.enabled:
            return
        self.rows = [r for r in self.rows if r.get("step", 0) <= step]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in self.rows), encoding="utf-8")

    def log(self, step: int, values: Mapping[str, float]) -> None:
        if not self.enabled:
            return
        row = {"step": int(step), "time": round(time.time(), 2),
               **{k: (float(v) if isinstance(v, (int, float)) else v) for k, v in values.items()}}
        self.rows.append(row)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        if self._writer is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)):
                    self._writer.add_scalar(k, v, step)

    def plot(self, keys: list[str] | None = None, title: str = "", name: str = "loss_curves.png") -> Path | None:
        if not self.enabled or not self.rows:
            return None
        return plot_curves(self.rows, self.folder / name, keys, title)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
