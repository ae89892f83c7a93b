"""Settings dataclasses read back from JSON: one rule for every config the project stores in a file.

``config_from_dict(GeneratorConfig, data, "generator config")`` builds the dataclass from a ``to_dict`` output and
refuses keys it does not know (they mean a file of a newer format, or a typo), in one line. ``StoredConfig`` gives a
settings dataclass its ``to_dict`` / ``from_dict`` pair by that rule. Used by ``backend.models.GeneratorConfig``
and, through ``training.engine.stage``, by every training stage's config. It lives here, below ``training``,
because the inference side reads generator configs too.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, TypeVar

T = TypeVar("T")


def config_from_dict(cls: type[T], data: Any, what: str,
                     convert: Mapping[str, Callable[[Any], Any]] | None = None) -> T:
    """``cls(**data)`` after checking that ``data`` is a JSON object with only ``cls``'s field names.

    what: the name used in errors ("GAN config"). convert: field -> function applied to that field's value first
    (nested configs, JSON lists back to tuples). Raises ValueError with a one-line message.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{what} must be a JSON object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {what} keys: {', '.join(unknown)}")
    values = dict(data)
    for name, function in (convert or {}).items():
        if name in values:
            values[name] = function(values[name])
    return cls(**values)


class StoredConfig:
    """Base of a settings dataclass stored as JSON: ``to_dict`` (``dataclasses.asdict``) and ``from_dict``
    (:func:`config_from_dict`). A subclass names itself for errors: ``class GeneratorConfig(StoredConfig,
    name="generator config")``."""

    config_name = "config"

    def __init_subclass__(cls, name: str | None = None, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if name is not None:
            cls.config_name = name

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        """Build from ``to_dict`` output; unknown keys are an error (they mean a newer format)."""
        return config_from_dict(cls, data, cls.config_name)
