"""The registry of model families: ``FAMILIES`` maps a family name to its description and class.

A family module registers itself by calling :func:`register` at import time; :func:`get_family`
imports the module on first use, so asking for one family never loads the others.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from synth_core.errors import ModelConfigError
from synth_core.models.base import FAMILY_NAMES


@dataclass(frozen=True)
class Family:
    """A family as the GUI and CLI list it.

    name : registry key ("vae").
    title : short human name ("Variational autoencoder").
    summary : one line on what it is.
    good_for : one line on what material it suits (the GUI's tooltip).
    model_class : the SoundModel/Learner class; must offer ``from_config(config, **kw)`` and
        ``config_class``.
    """

    name: str
    title: str
    summary: str
    good_for: str
    model_class: type


FAMILIES: dict[str, Family] = {}

_MODULES = {name: f"synth_core.models.{name}" for name in FAMILY_NAMES}


def register(family: Family) -> Family:
    FAMILIES[family.name] = family
    return family


def get_family(name: str) -> Family:
    """Return the registered family ``name``, importing its module on first use."""
    if name not in FAMILIES:
        module = _MODULES.get(name)
        if module is None:
            raise ModelConfigError(
                f"unknown model family {name!r}; choose one of: {', '.join(FAMILY_NAMES)}"
            )
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name != module:
                raise
            raise ModelConfigError(f"model family {name!r} is not available yet") from None
    return FAMILIES[name]


def available_families() -> list[Family]:
    """Every family whose module is present, in the registry's canonical order."""
    found = []
    for name in FAMILY_NAMES:
        try:
            found.append(get_family(name))
        except ModelConfigError:
            continue
    return found
