"""How long a model's clips are: chosen from the folder it learns from, so sounds come back whole.

A model renders clips of one length (``clip_seconds``). A fixed 1 s cuts the last third off
1.5-second notes, and a two-sample test then tells every generated note from a real one at once;
a length fitted to the longest file wastes compute on silence and lets one stray long file set it.
So the length is a high percentile of the sounds' own durations, measured the way the clip loader
cuts them (from the onset, see :func:`synth_core.dataset.prepare_clip`) up to where the sound has
decayed to :data:`END_DB` below its loudest moment, rounded up to :data:`STEP_S` and kept within
the family's minimum and :data:`MAX_CLIP_S`. ``--set clip_seconds=…`` (or the training panel's
field) overrides it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synth_core import audio as audio_io
from synth_core.errors import DatasetError, TimbreLabError

log = logging.getLogger(__name__)

PERCENTILE = 90.0
"""The clip holds this percentage of the folder's sounds whole; the longest tenth is cut."""
STEP_S = 0.25
"""Clip lengths are whole multiples of this (seconds), rounded up."""
MAX_CLIP_S = 4.0
"""Longest automatic clip (seconds): cost grows with length, and one-shots rarely need more."""
END_DB = -60.0
"""A sound ends at its last 10 ms frame within this level (dB RMS) of its loudest frame."""
FRAME_S = 0.01
"""Frame length (seconds) of the RMS envelope that finds the end."""
SLACK_S = 0.02
"""Durations this much (seconds) above a step round down to it: a 1.51 s sound fits 1.5 s, less
two fade lengths of :data:`synth_core.dataset.FADE_OUT_S`."""


@dataclass(frozen=True)
class ClipLengthChoice:
    """The clip length picked for a folder, with what it was picked from.

    Parameters
    ----------
    seconds : float
        The clip length, seconds.
    measured_s : float
        The :data:`PERCENTILE`-th percentile of the sounds' durations, seconds (NaN: none).
    sounds : int
        How many sounds were measured.
    limited_by : str
        "" when ``seconds`` is ``measured_s`` rounded up, else what set it instead
        ("the family's minimum", "the 4 s cap", "no usable sounds").
    """

    seconds: float
    measured_s: float
    sounds: int
    limited_by: str = ""

    def describe(self) -> str:
        """One line for the terminal and the training panel."""
        if not self.sounds:
            return f"clip length {self.seconds:g} s (no usable sounds to measure)"
        text = (
            f"clip length {self.seconds:g} s: {PERCENTILE:.0f}% of the {self.sounds} sounds last "
            f"up to {self.measured_s:.2f} s"
        )
        if self.limited_by:
            text += f" ({self.limited_by})"
        return text + "; override with --set clip_seconds=SECONDS"


def sound_duration(samples: np.ndarray, sample_rate: int) -> float:
    """Seconds from the onset to where the sound has decayed to :data:`END_DB` below its loudest
    10 ms frame; the onset is found as the clip loader finds it (first sample within
    :data:`synth_core.dataset.ONSET_DB` of the peak, less the pre-roll). 0 for silence.

    Parameters
    ----------
    samples : np.ndarray
        ``[frames]`` mono.
    sample_rate : int
        Hz.
    """
    from synth_core.dataset import ONSET_DB, PRE_ROLL_S

    samples = np.asarray(samples, dtype=np.float64)
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    if peak <= 0.0:
        return 0.0
    onset = int(np.argmax(np.abs(samples) >= peak * 10.0 ** (ONSET_DB / 20.0)))
    start = max(0, onset - int(PRE_ROLL_S * sample_rate))
    frame = max(1, int(FRAME_S * sample_rate))
    count = math.ceil(samples.shape[0] / frame)
    padded = np.zeros(count * frame)
    padded[: samples.shape[0]] = samples
    rms = np.sqrt((padded.reshape(count, frame) ** 2).mean(-1))
    loud = np.flatnonzero(rms >= rms.max() * 10.0 ** (END_DB / 20.0))
    end = min(samples.shape[0], (int(loud[-1]) + 1) * frame)
    return max(0, end - start) / sample_rate


def choose_clip_seconds(
    durations: Sequence[float], *, minimum: float = STEP_S, maximum: float = MAX_CLIP_S
) -> ClipLengthChoice:
    """The clip length for sounds of these ``durations`` (seconds): their :data:`PERCENTILE`-th
    percentile rounded up to :data:`STEP_S`, at least ``minimum`` and at most ``maximum``.

    With no durations the answer is ``max(minimum, 1 s)``, the length models used before.
    """
    if not minimum <= maximum:
        raise DatasetError(f"clip length range {minimum}–{maximum} s is empty")
    values = np.asarray([d for d in durations if math.isfinite(d) and d > 0], dtype=np.float64)
    if values.size == 0:
        return ClipLengthChoice(max(minimum, 1.0), math.nan, 0, "no usable sounds")
    measured = float(np.percentile(values, PERCENTILE, method="nearest"))
    steps = max(1, math.ceil((measured - SLACK_S) / STEP_S - 1e-9))
    seconds, limited_by = steps * STEP_S, ""
    if seconds < minimum:
        seconds, limited_by = float(minimum), "the family's minimum"
    elif seconds > maximum:
        seconds, limited_by = float(maximum), f"the {maximum:g} s cap"
    return ClipLengthChoice(round(seconds, 6), measured, int(values.size), limited_by)


def folder_durations(folder: str | Path) -> list[float]:
    """:func:`sound_duration` of every usable sound in ``folder`` (as :func:`scan` finds them;
    a file that fails to decode now is left out, as the clip loader would skip it)."""
    from synth_core.dataset import scan

    durations = []
    for sound in scan(folder).usable:
        try:
            loaded = audio_io.load(sound.path)
        except TimbreLabError as error:
            log.info("clip length: %s left out (%s)", sound.path, error)
            continue
        durations.append(sound_duration(loaded.samples, int(loaded.sample_rate)))
    return durations


def clip_length_for_folder(
    folder: str | Path, *, minimum: float = STEP_S, maximum: float = MAX_CLIP_S
) -> ClipLengthChoice:
    """The clip length for a model learning from ``folder``; see the module docstring."""
    return choose_clip_seconds(folder_durations(folder), minimum=minimum, maximum=maximum)


def clip_length_for_family(family_name: str, folder: str | Path) -> ClipLengthChoice:
    """The clip length for a new ``family_name`` model learning from ``folder``, at least the
    family's :attr:`~synth_core.models.base.ModelConfig.min_clip_seconds`."""
    from synth_core.models import get_family

    config_class = get_family(family_name).model_class.config_class
    return clip_length_for_folder(folder, minimum=float(config_class.min_clip_seconds))
