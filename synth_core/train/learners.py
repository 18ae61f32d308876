"""A fresh learner for a training run: a family's defaults, one of its presets, ``--set``
overrides."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from synth_core.errors import ModelConfigError
from synth_core.models.base import TrainableModel


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    """``["latent_dim=16", "pitch_conditioning=false"]`` → ``{"latent_dim": 16, ...}``.

    Values are read as JSON where they parse (numbers, true/false, lists), else kept as strings.
    """
    settings: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            raise ModelConfigError(f"--set {pair!r}: expected NAME=VALUE")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        settings[name.strip()] = value
    return settings


def family_presets(model_class: type[TrainableModel]) -> dict[str, dict[str, Any]]:
    """The family's named presets (its class's ``PRESETS``)."""
    return dict(model_class.PRESETS)


def build_learner(
    family_name: str, *, preset: str | None = None, settings: Mapping[str, Any] | None = None
) -> TrainableModel:
    """A fresh model of ``family_name`` from its defaults, a preset, and overrides."""
    from synth_core.models import get_family

    family = get_family(family_name)
    model_class = family.model_class
    values: dict[str, Any] = {}
    if preset is not None:
        presets = family_presets(model_class)
        if preset not in presets:
            known = ", ".join(presets) or "none"
            raise ModelConfigError(
                f"family {family_name!r} has no preset {preset!r}; known: {known}"
            )
        values.update(presets[preset])
    values.update(settings or {})
    config = model_class.config_class.from_dict(values)
    return model_class.from_config(config)
