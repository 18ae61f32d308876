"""Control values: the slider settings of one model, drawn, filled in, morphed and saved.

The Qt-free logic behind the explore panel (``app/panels/explore.py``; the app's wiring is
``app/studio.py``): a random setting (:func:`random_values`), a complete setting from a partial
one (:func:`fill_values`), the four-corner morph (:func:`morph_values`) and explore presets, a
setting saved as JSON (:class:`Preset`). Everything works on control values (each in its
control's unit), so it serves every family the same way: for the learned families the controls
are latent PCA axes in σ, so mixing control values mixes latents; for the physical family it
mixes physical parameters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from synth_core import safe_io
from synth_core.errors import ModelConfigError
from synth_core.models.base import Control, resolve_values, seeded_generator

PRESET_VERSION = 1
#: The largest seed a preset may hold: the explore panel's seed box stops here.
MAX_PRESET_SEED = 2**31 - 1
RANDOM_SIGMAS = 2.0
# The app renders one clip per slider move; one intra-op thread keeps that quick while a training
# child process (or anything else) keeps the cores busy: measured p95 40-50 ms with one thread
# against seconds with two on a loaded 2-core machine.
APP_TORCH_THREADS = 1


def random_values(controls: Sequence[Control], *, seed: int) -> dict[str, float]:
    """A random slider setting, reproducible from ``seed``.

    Each control gets a standard normal draw truncated to ±2 σ. Controls measured in σ (latent
    axes) take it as their value; the others map it onto their travel so that ±2 σ spans the
    whole slider (centre at mid-travel), then clamp to the range.
    """
    generator = seeded_generator(seed)
    draws = torch.randn(len(controls), generator=generator, dtype=torch.float64)
    draws = draws.clamp(-RANDOM_SIGMAS, RANDOM_SIGMAS)
    values = {}
    for control, z in zip(controls, draws.tolist(), strict=True):
        if control.unit == "σ":
            value = min(max(z, control.minimum), control.maximum)
        else:
            value = control.from_normalised(0.5 + z / (2 * RANDOM_SIGMAS))
        values[control.name] = value
    return values


def fill_values(controls: Sequence[Control], values: Mapping[str, float]) -> dict[str, float]:
    """``values`` for exactly ``controls``: defaults for missing names, unknown names dropped,
    out-of-range values clamped; values in range are kept bit for bit."""
    filled = {}
    for control in controls:
        value = float(values.get(control.name, control.default))
        filled[control.name] = min(max(value, control.minimum), control.maximum)
    return filled


def morph_weights(x: float, y: float) -> tuple[float, float, float, float]:
    """Bilinear weights of the corners 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right
    for a pad position ``x``, ``y`` in 0–1 (y down); they sum to 1."""
    x = min(max(float(x), 0.0), 1.0)
    y = min(max(float(y), 0.0), 1.0)
    return ((1 - x) * (1 - y), x * (1 - y), (1 - x) * y, x * y)


def morph_values(
    controls: Sequence[Control], corners: Sequence[Mapping[str, float]], x: float, y: float
) -> dict[str, float]:
    """Mix four corner settings at pad position ``x``, ``y``.

    Values are mixed on each slider's 0–1 travel (so a log control such as decay morphs
    evenly in ratio). At a corner the corner's setting comes back exactly, not a rounded copy.
    """
    if len(corners) != 4:
        raise ModelConfigError(f"the morph pad needs 4 corners, got {len(corners)}")
    weights = morph_weights(x, y)
    resolved = [fill_values(controls, c) for c in corners]
    for weight, corner in zip(weights, resolved, strict=True):
        if weight == 1.0:
            return dict(corner)
    mixed = {}
    for control in controls:
        position = sum(
            w * control.to_normalised(c[control.name])
            for w, c in zip(weights, resolved, strict=True)
        )
        mixed[control.name] = control.from_normalised(position)
    return mixed


@dataclass(frozen=True)
class Preset:
    """An explore preset: a saved slider state of one model. ``model`` is its model id (see
    :func:`synth_core.runs.open_model`), kept under that name because it is the file's field."""

    model: str
    family: str
    values: dict[str, float]
    seed: int = 0
    pitch: float | None = None
    name: str = ""


def save_preset(preset: Preset, path: str | Path) -> Path:
    """Write ``preset`` as JSON to ``path``."""
    path = Path(path)
    data: dict[str, Any] = {"format_version": PRESET_VERSION, **preset.__dict__}
    try:
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    except OSError as error:
        raise ModelConfigError(f"cannot write the preset: {error.strerror}", path=path) from None
    return path


def load_preset(
    path: str | Path, *, model: str, family: str, controls: Sequence[Control]
) -> Preset:
    """Read a preset saved for ``model`` and check it fits.

    The file is read through :mod:`synth_core.safe_io` (a regular file of at most 16 MiB
    holding one JSON object, nesting bounded) and every field is checked by its policy there:
    ``format_version`` 1 up to :data:`PRESET_VERSION` (absent means 1), ``model``, ``family``
    and ``name`` strings, ``values`` finite numbers each inside its control's range (refused,
    not clamped), ``seed`` a whole number 0–:data:`MAX_PRESET_SEED` (what the explore panel's
    seed box holds), ``pitch`` absent/null or a MIDI note 0–127.

    Raises
    ------
    ModelConfigError
        The file is unreadable or not a preset, it belongs to another model, or a value does not
        fit this model's controls; the message names the file and the field.
    """
    path = Path(path)
    data = safe_io.read_json_object(path, error=ModelConfigError, what="a Timbre Lab preset file")
    if "model" not in data or "values" not in data:
        raise ModelConfigError("not a Timbre Lab preset file (no model or values)", path=path)
    safe_io.format_version(
        data, "format_version", current=PRESET_VERSION, path=path, error=ModelConfigError,
        default=PRESET_VERSION,
    )  # fmt: skip
    preset = Preset(
        model=safe_io.text(data, "model", path=path, error=ModelConfigError),
        family=safe_io.text(data, "family", path=path, error=ModelConfigError),
        values=safe_io.control_values(data["values"], "values", path=path, error=ModelConfigError),
        seed=safe_io.seed(
            data.get("seed", 0), path=path, error=ModelConfigError, highest=MAX_PRESET_SEED
        ),
        pitch=safe_io.pitch(data.get("pitch"), path=path, error=ModelConfigError),
        name=safe_io.text(data, "name", path=path, error=ModelConfigError, default=""),
    )
    if preset.model != model or preset.family != family:
        raise ModelConfigError(
            f"this preset belongs to the model {preset.model!r} ({preset.family}), "
            f"not to {model!r} ({family}); open that model first",
            path=path,
        )
    try:
        resolve_values(list(controls), preset.values, strict=True)
    except ModelConfigError as error:
        raise ModelConfigError(f"the preset does not fit this model: {error}", path=path) from None
    return preset
