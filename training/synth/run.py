"""Make (or resume) a synthetic car collection with Blender worker processes.

    from training.synth import SynthConfig, synthesize
    result = synthesize("datasets/toycars", n=5000, config=SynthConfig(resolution=256), workers=2)

Deterministic by seed: item i depends only on (seed, i) and the config, never on the number of workers or
on which items were already done. Resumable: finished items (their ``meta/<id>.json`` exists) are skipped;
the index of finished items is written at the end, also when the run is interrupted.
"""
from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from dataformat.collection import write_collection
from dataformat.record import Record
from training.engine.stage import Events, check_resume

from .car import BODY_TYPES, PART_NAMES
from .config import SynthConfig, item_id
from .layout import SynthLayout


class SynthError(RuntimeError):
    """The run cannot start or continue (conflicting settings in the output folder, a crashed worker)."""


@dataclass
class SynthResult:
    """rendered: items made by this call; reused: items found already done; failed: {id: error} (first 20);
    n_failed: number of failed items; index: path of the written index.jsonl."""

    rendered: int
    reused: int
    failed: dict[str, str] = field(default_factory=dict)
    n_failed: int = 0
    index: Path | None = None


def _check_settings(layout: SynthLayout, config: SynthConfig) -> None:
    if layout.settings.exists():
        previous = json.loads(layout.settings.read_text(encoding="utf-8"))
        try:  # fill settings added since the folder was made with their defaults
            previous = SynthConfig.from_json(previous).to_json()
        except (TypeError, ValueError) as exc:
            raise SynthError(f"{layout.settings}: unreadable settings ({exc}); choose another --out") from exc
        check_resume(layout.root, previous, config.to_json(), error=SynthError)
    else:
        layout.settings.write_text(json.dumps(config.to_json(), indent=2), encoding="utf-8")


def pending_items(layout: SynthLayout, n: int) -> list[int]:
    """Indices in [0, n) whose item is not finished."""
    return [i for i in range(n) if not layout.meta(item_id(i)).exists()]


def synthesize(out: str | os.PathLike, n: int, config: SynthConfig = SynthConfig(), workers: int = 1,
               events: Events | None = None) -> SynthResult:
    """Render items 0..n-1 into ``out`` (skipping finished ones) and write the collection index.

    workers: Blender processes rendering in parallel (each with cpu_count // workers render threads).
    events: the phase "synth" (items; those already done count as done) advances by 1 after every finished (or
        failed) item. A folder made with other settings is refused (``training.engine.stage.check_resume``).
    """
    events = events or Events()
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    layout = SynthLayout(Path(out))
    layout.make_dirs()
    _check_settings(layout, config)
    todo = pending_items(layout, n)
    events.start("synth", n, n - len(todo))
    result = SynthResult(rendered=0, reused=n - len(todo))
    if todo:
        workers = min(workers, len(todo))
        threads = max(1, (os.cpu_count() or 1) // workers)
        context = multiprocessing.get_context("spawn")
        from . import worker

        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=worker.init_worker,
                                   initargs=(config.to_json(), str(layout.root), threads))
        try:
            futures = [pool.submit(worker.render_item, i) for i in todo]
            for future in as_completed(futures):
                item, error = future.result()
                if error is None:
                    result.rendered += 1
                else:
                    result.n_failed += 1
                    if len(result.failed) < 20:
                        result.failed[item] = error
                events.advance("synth")
        except BrokenProcessPool as exc:
            pool.shutdown(wait=False, cancel_futures=True)
            raise SynthError(f"a Blender worker process died ({exc}); run the same command again to resume") from exc
        except BaseException:  # KeyboardInterrupt: stop handing out items, keep what is finished
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            # Even an interrupted run leaves a usable index of the items finished so far.
            result.index = write_index(layout, n, config)
        pool.shutdown()
    else:
        result.index = write_index(layout, n, config)
    return result


def write_index(layout: SynthLayout, n: int, config: SynthConfig) -> Path:
    """Gather the finished items among 0..n-1 into ``collection.json`` + ``index.jsonl``."""
    from dataformat.classes import CLASS_NAMES
    from dataformat.collection import record_from_json

    records: list[Record] = []
    for i in range(n):
        meta = layout.meta(item_id(i))
        if meta.exists():
            records.append(record_from_json(json.loads(meta.read_text(encoding="utf-8")), layout.root,
                                            list(CLASS_NAMES)))
    return write_collection(layout.root, records, class_names=list(CLASS_NAMES), part_names=list(PART_NAMES),
                            name=layout.root.name, source="synth", synth=config.to_json(),
                            body_types=list(BODY_TYPES), pose_convention="scaled orthographic, exact (orthographic "
                            "Blender camera); object frame x lateral, y front-back (front -y), z up")
