"""Which models the studio can play: starter models, recent runs, physical instruments.

A model is named by the same string everywhere (presets, export sidecars, the command line):
a run directory path, the name of a starter model in ``resources/models/``, or
``physical:INSTRUMENT``. Opening goes through :func:`synth_core.runs.open_model`, which reads
no code from disk (safetensors + JSON).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSettings

from synth_core.errors import CheckpointError
from synth_core.models.base import SoundModel
from synth_core.paths import resources_dir
from synth_core.starter import STARTERS

log = logging.getLogger(__name__)

STARTER_FOLDER = resources_dir() / "models"
RECENT_KEY = "models/recent"
MAX_RECENT = 8


@dataclass(frozen=True)
class ModelEntry:
    """One playable model as the model list shows it.

    id : what :func:`load` and the CLI accept. title : what the list shows.
    kind : "starter", "run", or the family of a built-in model ("physical").
    description : tooltip text.
    """

    id: str
    title: str
    kind: str
    description: str = ""


def starter_models(folder: Path = STARTER_FOLDER) -> list[ModelEntry]:
    """The starter models shipped in ``resources/models/`` (folders with a ``model.json``)."""
    from synth_core.checkpoint import MODEL_FILE, read_record

    entries = []
    if not folder.is_dir():
        return entries
    # the order of synth_core.starter.STARTERS: the flagship first, as the app opens the first
    order = {spec.name: i for i, spec in enumerate(STARTERS)}
    runs = [p for p in folder.iterdir() if (p / MODEL_FILE).is_file()]
    for run in sorted(runs, key=lambda p: (order.get(p.name, len(order)), p.name)):
        try:
            record = read_record(run)
        except CheckpointError as error:
            log.warning("starter model %s is unreadable: %s", run.name, error)
            continue
        entries.append(
            ModelEntry(
                id=run.name,
                title=f"{run.name} (starter {record.family})",
                kind="starter",
                description=f"Trained on the built-in sounds for {record.step} steps",
            )
        )
    return entries


def builtin_entries() -> list[ModelEntry]:
    """Every model that plays without training (the physical instruments), as the registry
    lists them."""
    from synth_core.models import builtin_models

    return [
        ModelEntry(
            id=builtin.id,
            title=f"{builtin.title} ({builtin.family})",
            kind=builtin.family,
            description=builtin.description,
        )
        for builtin in builtin_models()
    ]


def is_builtin(model_id: str) -> bool:
    """True for a model that plays without training: it has no folder to save or reveal."""
    return any(entry.id == model_id for entry in builtin_entries())


def recent_runs(settings: QSettings) -> list[ModelEntry]:
    """Run directories opened or trained before, newest first, that still exist."""
    from synth_core.checkpoint import MODEL_FILE

    entries = []
    for text in _recent_list(settings):
        path = Path(text)
        if (path / MODEL_FILE).is_file():
            entries.append(ModelEntry(id=str(path), title=path.name, kind="run", description=text))
    return entries


def _recent_list(settings: QSettings) -> list[str]:
    value = settings.value(RECENT_KEY, [])
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value or []]


def remember_run(settings: QSettings, run_dir: str | Path) -> None:
    """Put ``run_dir`` at the top of the recent models."""
    text = str(Path(run_dir).resolve())
    recent = [text] + [r for r in _recent_list(settings) if r != text]
    settings.setValue(RECENT_KEY, recent[:MAX_RECENT])


def all_models(settings: QSettings | None = None) -> list[ModelEntry]:
    """Starter models, then recent runs, then physical instruments."""
    entries = starter_models()
    if settings is not None:
        entries += recent_runs(settings)
    return entries + builtin_entries()


def open_model(model_id: str) -> SoundModel:
    """Open the model ``model_id`` names (run directory, starter name or
    ``physical:INSTRUMENT``; :func:`synth_core.runs.open_model`), refusing one that would play
    silence.

    Raises
    ------
    CheckpointError
        For a broken, foreign or missing run directory (the message names it), or one whose
        weights hold NaN: it would play silence, as ``timbrelab generate`` refuses to.
    ModelConfigError
        For an unknown instrument or family.
    """
    from synth_core import runs

    model = runs.open_model(model_id)
    runs.check_finite_weights(model, model_id)
    return model


def save_model_as(run_dir: str | Path, destination: str | Path) -> Path:
    """Copy the run directory ``run_dir`` to ``destination`` (which must not exist yet)."""
    from synth_core.checkpoint import MODEL_FILE

    source, destination = Path(run_dir), Path(destination)
    if not (source / MODEL_FILE).is_file():
        raise CheckpointError(
            "is not a run directory (no model.json); nothing to save", path=source
        )
    if destination.exists():
        raise CheckpointError("already exists; choose a new folder name", path=destination)
    try:
        shutil.copytree(source, destination)
    except OSError as error:
        shutil.rmtree(destination, ignore_errors=True)
        raise CheckpointError(
            f"cannot copy the model: {error.strerror}", path=destination
        ) from None
    return destination
