"""``RUN/report.md``: one table of the pipeline's figures and the pictures each stage left in the run folder."""
from __future__ import annotations

import json
from pathlib import Path


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def summary_rows(out: Path) -> list[tuple[str, str]]:
    """(figure, value) rows from the stage outputs present in ``out``."""
    rows: list[tuple[str, str]] = []
    state = _load(out / "pipeline.json")
    if "preset" in state:
        rows.append(("preset", str(state["preset"])))
    for name, info in state.items():
        if isinstance(info, dict):   # a stage's outcome
            rows.append((f"{name}: status, time", f"{info.get('status')}, {info.get('seconds', 0) / 60:.1f} min"))
    poses = _load(out / "pose_eval.json")
    for key in ("recall", "median_deg", "mean_deg", "flip_rate"):
        if key in poses:
            rows.append((f"poses: {key}", _fmt(poses[key])))
    for sub in ("kept", "all"):
        if isinstance(poses.get(sub), dict):
            for key in ("median_deg", "flip_rate", "n"):
                if key in poses[sub]:
                    rows.append((f"poses ({sub}): {key}", _fmt(poses[sub][key])))
    recon = _load(out / "recon" / "eval" / "report.json") or _load(out / "recon_eval.json")
    for key in ("iou_mean", "chamfer_mean", "psnr_mean"):
        if key in recon:
            rows.append((f"reconstruction: {key}", _fmt(recon[key])))
    fid_log = out / "gan" / "fid.jsonl"
    if fid_log.exists():
        for line in fid_log.read_text().splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                continue
            rows.append((f"GAN step {r['step']}: FID / KID ({r.get('samples')} samples)",
                         f"{_fmt(r.get('fid'), 2)} / {_fmt(r.get('kid'), 4)}"))
    final = _load(out / "fid.json")
    if final:
        rows.append(("final FID / KID", f"{_fmt(final.get('fid'), 2)} / {_fmt(final.get('kid'), 4)}"))
    return rows


def write_report(out: Path) -> Path:
    rows = summary_rows(out)
    lines = [f"# Pipeline run `{out.name}`", "", "| figure | value |", "|---|---|"]
    lines += [f"| {a} | {b} |" for a, b in rows]
    pictures = [("pose contact sheet", "poses_sheet.png"), ("reconstruction", "recon/eval/contact_sheet.png"),
                ("GAN loss curves", "gan/loss_curves.png"), ("FID during training", "gan/fid_curve.png"),
                ("GAN samples (EMA)", "gan/samples.png")]
    for title, rel in pictures:
        if (out / rel).exists():
            lines += ["", f"## {title}", "", f"![{title}]({rel})"]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
