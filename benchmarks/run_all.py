"""Run every benchmark in this folder (``benchmarks/bench_*.py``) and collect their JSON results.

Each benchmark module exposes ``main() -> dict``; it measures a baseline in the same run and reports
ratios, because this machine is noisy. Results go to ``benchmarks/results/<name>.json`` and a summary to
``benchmarks/results/all.json``.
"""
from __future__ import annotations

import importlib
import json
import pathlib
import sys
import time

RESULTS = pathlib.Path(__file__).parent / "results"


def main(argv: list[str]) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    names = sorted(p.stem for p in pathlib.Path(__file__).parent.glob("bench_*.py"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    summary: dict[str, object] = {}
    for name in names:
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        module = importlib.import_module(f"benchmarks.{name}")
        result = module.main()
        result = {"wall_s": round(time.perf_counter() - start, 2), **(result or {})}
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))
        summary[name] = result
    (RESULTS / "all.json").write_text(json.dumps(summary, indent=2))
    print(f"wrote {RESULTS / 'all.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
