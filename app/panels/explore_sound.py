"""The model work behind the explore panel: a sound for a setting, a setting for a sound file.

:func:`render_setting` runs on the panel's worker thread; :func:`values_for_file` on the GUI
thread when a sound is dropped on the panel or on a corner of the morph pad.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synth_core.control_values import fill_values
from synth_core.errors import TimbreLabError
from synth_core.models.base import SoundModel


def render_setting(
    model: SoundModel, values: dict[str, float], seed: int, pitch: float | None, started: float
) -> tuple[np.ndarray, int, float]:
    """One sound for ``values`` at ``seed`` and ``pitch`` (MIDI or None): ``(samples [float32
    mono], sample_rate, started)``, ``started`` handed back so the panel can time the request."""
    # one worker thread, so torch's own pool does the parallel work
    audio = model.generate(values, n=1, seed=seed, pitch=pitch)
    return (
        audio[0].detach().cpu().numpy().astype(np.float32, copy=False),
        model.sample_rate,
        started,
    )


def values_for_file(model: SoundModel, path: str | Path) -> dict[str, float]:
    """The slider setting at which ``model`` plays something like the sound in ``path``.

    Raises
    ------
    TimbreLabError
        When the file cannot be read (the message names it) or the model has no encoder.
    """
    from synth_core import audio as audio_io

    clip = audio_io.load(path, sample_rate=model.sample_rate, mono=True)
    import torch

    values = model.values_from_audio(torch.as_tensor(clip.samples, dtype=torch.float32))
    if values is None:
        raise TimbreLabError(
            f"the {model.family} family has no encoder: it cannot turn a sound into slider settings"
        )
    return fill_values(model.controls(), values)
