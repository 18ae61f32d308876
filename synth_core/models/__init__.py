"""The registry of model families: ``FAMILIES`` maps a family name to its description and class.

A family module registers itself by calling :func:`register` at import time; :func:`get_family`
imports the module on first use, so asking for one family never loads the others. A family that
lives elsewhere (a plugin, a test) is added by that one ``register(Family(...))`` line and is then
found by name and listed after the built-in ones.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from synth_core.errors import ModelConfigError
from synth_core.models.base import FAMILY_NAMES, BuiltinModel, TrainableModel


@dataclass(frozen=True)
class Family:
    """A family as the GUI and CLI list it.

    name : registry key ("vae").
    title : short human name ("Variational autoencoder").
    summary : one line on what it is.
    good_for : one line on what material it suits (the GUI's tooltip).
    model_class : the family's class, a :class:`~synth_core.models.base.TrainableModel`.
    """

    name: str
    title: str
    summary: str
    good_for: str
    model_class: type[TrainableModel]


FAMILIES: dict[str, Family] = {}

_MODULES = {name: f"synth_core.models.{name}" for name in FAMILY_NAMES}


def register(family: Family) -> Family:
    """Add ``family`` to the registry (one call in the family's module, at import time)."""
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
    return found + [family for name, family in FAMILIES.items() if name not in FAMILY_NAMES]


def builtin_models() -> list[BuiltinModel]:
    """Every model that plays without training (``physical:string``, …), family by family."""
    return [
        entry for family in available_families() for entry in family.model_class.builtin_models()
    ]


def resolve_builtin(name: str) -> TrainableModel | None:
    """The built-in model ``name`` (``FAMILY:NAME``, e.g. ``physical:string``), or None when
    ``name`` is not of that form for a family that has built-in models (a path, a run name).

    Raises
    ------
    ModelConfigError
        The family has built-in models but none called ``NAME``; the message lists them.
    """
    prefix, sep, short = name.partition(":")
    if not sep or (prefix not in FAMILIES and prefix not in _MODULES):
        return None
    model_class = get_family(prefix).model_class
    if not model_class.builtin_models():
        return None
    return model_class.from_builtin(short)
