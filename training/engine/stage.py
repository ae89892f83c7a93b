"""The contract every training stage follows (data, poses, recon, pseudogt, gan; the pipeline passes it down).

**Presets.** A stage keeps its named settings in one ``PRESETS`` dict of frozen dataclasses (``poses/config.py``,
``recon/config.py``, ``gan/config.py``). :func:`add_preset_flag` gives its ``--preset`` flag the choices of that
dict; :func:`resolve_preset` picks the preset and merges the overrides the user asked for:

* one default rule (:func:`default_preset`): ``paper`` on a CUDA device, ``cpu`` anywhere else;
* overrides replace fields of the preset's dataclass (a nested mapping replaces fields of a nested dataclass; a
  value of ``None`` means "not given"); an unknown name is a one-line error, and each value is checked by the
  dataclass itself (its ``__post_init__``), so validation lives with the settings it guards.

**Events.** A stage's library never prints: it reports through :class:`Events` (a phase starts with a total and
what a resume already did, a phase advances with figures to show, a one-line message). :class:`TqdmEvents` shows
them as tqdm bars on stderr: every stage's CLI uses it.

**Resume.** :func:`check_resume` compares what a run folder or file was made with against what is asked now and
raises the same one-line error in every stage: ``<what> was made with other settings (<key>: saved <a>,
requested <b>; ...); resume with the same settings or choose a new --out``.

**Configs from JSON.** :func:`config_from_dict` (defined in ``backend.config_dict``, where the inference side's
generator config needs it too) reads a stored config back and refuses unknown keys.
"""
from __future__ import annotations

import dataclasses
import sys
from typing import Any, Callable, Generic, Iterable, Mapping, NamedTuple, TypeVar

from backend.cli import add_flag
from backend.config_dict import config_from_dict

C = TypeVar("C")

#: How a resume message names the units of a progress bar ("resuming: 5 of 9 images already done").
UNIT_NOUNS = {"img": "images", "it": "iterations", "item": "items", "step": "steps"}

#: The preset names of the default rule.
GPU_PRESET = "paper"
CPU_PRESET = "cpu"

__all__ = ["CPU_PRESET", "Events", "GPU_PRESET", "ResolvedPreset", "ResumeError", "TqdmEvents", "add_preset_flag",
           "apply_overrides", "check_resume", "config_from_dict", "default_preset", "resolve_preset",
           "resume_differences", "resume_message"]


# ---- presets ------------------------------------------------------------------------------------------------------

def device_type(device: Any = None) -> str:
    """"cuda" or "cpu" (or another torch device type) for a ``torch.device``, a device string ("cuda:1", "cpu"),
    or None / "auto": this machine's default device (CUDA when available)."""
    if device is None or device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    kind = getattr(device, "type", None)
    return kind if isinstance(kind, str) else str(device).split(":")[0]


def default_preset(device: Any = None) -> str:
    """The preset a stage runs when none is named: ``paper`` on a CUDA device, ``cpu`` anywhere else."""
    return GPU_PRESET if device_type(device) == "cuda" else CPU_PRESET


def add_preset_flag(parser, presets: Mapping[str, Any], help: str) -> None:
    """``--preset`` with the choices of ``presets`` and no fixed default (None: :func:`default_preset`)."""
    add_flag(parser, "--preset", default=None, choices=list(presets),
             help=f"{help} (default: {GPU_PRESET} on a GPU, {CPU_PRESET} without one)")


class ResolvedPreset(NamedTuple, Generic[C]):
    """The chosen preset's name and its settings with the overrides merged in."""

    name: str
    config: C


def apply_overrides(config: C, overrides: Mapping[str, Any] | None, stage: str = "") -> C:
    """``config`` with the given fields replaced (None values skipped, nested mappings into nested dataclasses).

    Raises ValueError for a name the dataclass does not have and whatever the dataclass raises for a bad value.
    """
    fields = {f.name for f in dataclasses.fields(config)}
    changes = {}
    for name, value in (overrides or {}).items():
        if value is None:
            continue
        if name not in fields:
            raise ValueError(f"unknown {stage + ' ' if stage else ''}setting {name!r}; known: {', '.join(sorted(fields))}")
        current = getattr(config, name)
        if isinstance(value, Mapping) and dataclasses.is_dataclass(current):
            value = apply_overrides(current, value, stage)
        changes[name] = value
    return dataclasses.replace(config, **changes) if changes else config


def resolve_preset(presets: Mapping[str, C], name: str | None = None, device: Any = None,
                   overrides: Mapping[str, Any] | None = None, stage: str = "") -> ResolvedPreset[C]:
    """The preset ``name`` (None: :func:`default_preset` of ``device``) with ``overrides`` applied.

    stage: the stage's name for messages ("GAN", "reconstruction"). Raises ValueError (one line) for an unknown
    preset, an unknown setting or a bad value.
    """
    name = name or default_preset(device)
    if name not in presets:
        raise ValueError(f"unknown {stage + ' ' if stage else ''}preset {name!r}; choose one of "
                         f"{', '.join(presets)}")
    return ResolvedPreset(name, apply_overrides(presets[name], overrides, stage))


# ---- events -------------------------------------------------------------------------------------------------------

class Events:
    """How a stage reports while it runs. Every callback is optional; a library calls the methods.

    start(phase, total, done): a phase of ``total`` units begins, ``done`` of them finished earlier (a resume).
    advance(phase, n, figures): ``n`` more units of the phase are done; figures: latest values to show, or None.
    message(text): a one-line note (resumed, records skipped, a checkpoint, an FID figure).
    """

    def __init__(self, start: Callable[[str, int, int], None] | None = None,
                 advance: Callable[[str, int, Mapping[str, float] | None], None] | None = None,
                 message: Callable[[str], None] | None = None) -> None:
        self._start, self._advance, self._message = start, advance, message

    def start(self, phase: str, total: int, done: int = 0) -> None:
        if self._start is not None:
            self._start(phase, total, done)

    def advance(self, phase: str, n: int = 1, figures: Mapping[str, float] | None = None) -> None:
        if self._advance is not None:
            self._advance(phase, n, figures)

    def message(self, text: str) -> None:
        if self._message is not None:
            self._message(text)


class TqdmEvents(Events):
    """Events shown on stderr: one tqdm bar per phase (a new phase closes the bars before it), figures beside the
    bar, messages printed above the bars, and ``resuming: D of N <units> already done`` when a phase resumes.

    labels / units: per phase, the bar's label (default: the phase name) and unit (default "it").
    enabled: False shows nothing (the other ranks of a torchrun job). Use as a context manager, or call close().
    """

    def __init__(self, labels: Mapping[str, str] | None = None, units: Mapping[str, str] | None = None,
                 enabled: bool = True) -> None:
        super().__init__()
        self.labels, self.units, self.enabled = dict(labels or {}), dict(units or {}), enabled
        self.bars: dict[str, Any] = {}

    def start(self, phase: str, total: int, done: int = 0) -> None:
        from tqdm import tqdm

        self.close()
        unit = self.units.get(phase, "it")
        if done:
            self.message(f"resuming: {done} of {total} {UNIT_NOUNS.get(unit, unit)} already done")
        self.bars[phase] = tqdm(total=total, initial=done, unit=unit, desc=self.labels.get(phase, phase),
                                disable=not self.enabled, dynamic_ncols=True)

    def advance(self, phase: str, n: int = 1, figures: Mapping[str, float] | None = None) -> None:
        bar = self.bars.get(phase)
        if bar is None:
            return
        bar.update(n)
        if figures:
            bar.set_postfix({k: f"{v:.4g}" for k, v in figures.items()}, refresh=False)

    def message(self, text: str) -> None:
        if self.enabled:
            from tqdm import tqdm

            tqdm.write(text, file=sys.stderr)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()

    def __enter__(self) -> "TqdmEvents":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---- resume -------------------------------------------------------------------------------------------------------

class ResumeError(ValueError):
    """A run folder or file cannot be continued with the requested settings. One-line message."""


def resume_differences(saved: Mapping[str, Any], requested: Mapping[str, Any],
                       keys: Iterable[str] | None = None) -> list[str]:
    """``"key: saved A, requested B"`` for every key (default: those of both) whose values differ; a key missing
    on one side reads as None. A stage leaves out of ``requested`` what the user did not ask for, and passes
    ``keys=requested`` to compare only that."""
    names = list(keys) if keys is not None else sorted(set(saved) | set(requested))
    return [f"{k}: saved {saved.get(k)!r}, requested {requested.get(k)!r}" for k in names
            if saved.get(k) != requested.get(k)]


def resume_message(what: Any, differences: Iterable[str]) -> str:
    """The one line every stage says when a resume does not fit what the run was made with."""
    return (f"{what} was made with other settings ({'; '.join(differences)}); resume with the same settings or "
            f"choose a new --out")


def check_resume(what: Any, saved: Mapping[str, Any], requested: Mapping[str, Any],
                 keys: Iterable[str] | None = None, also: Iterable[str] = (),
                 error: type[Exception] = ResumeError) -> None:
    """Raise ``error`` (:func:`resume_message`) when ``saved`` and ``requested`` differ on ``keys``.

    what: the run folder or file. also: further differences the stage found itself (same wording). error: the
    stage's own exception type, so its callers keep catching what they caught; the message is the same.
    """
    differences = [*resume_differences(saved, requested, keys), *also]
    if differences:
        raise error(resume_message(what, differences))
