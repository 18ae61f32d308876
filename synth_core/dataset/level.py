"""Whether a readable file's samples are usable, decided once for the scan and the clip loader.

Silence and a constant (DC-only) signal are skipped; float files that go over full scale (a
render at ±1000) are used, scaled down to a 0 dBFS peak, with a note the scan shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SILENCE_DBFS = -80.0
"""A file whose peak is below this level (dBFS) counts as silent."""


@dataclass(frozen=True)
class LevelVerdict:
    """What :func:`judge_level` decided about a file's samples.

    ``skip`` is the reason the file is not used, or None; ``gain`` the linear gain the clip
    loader applies; ``note`` what the scan shows about a file it uses ("" when nothing).
    """

    skip: str | None
    gain: float = 1.0
    note: str = ""


def judge_level(peak: float, swing: float) -> LevelVerdict:
    """Whether, and at what gain, a file with these sample statistics is used.

    The one decision the scan and the clip loader share, so what ``timbrelab scan`` reports is
    what training loads.

    Parameters
    ----------
    peak : float
        Largest absolute sample over every channel (full scale is 1).
    swing : float
        Largest half peak-to-peak range of any one channel: the level left once a constant
        offset is removed, so a DC-only signal has swing 0 whatever its peak.

    Returns
    -------
    LevelVerdict
        Skipped when silent (peak below :data:`SILENCE_DBFS`) or constant (swing below it: DC
        only, or every sample the same value). A peak over full scale, which only float files
        can hold, is scaled to 0 dBFS (``gain = 1 / peak``) rather than clipped or skipped:
        the recording is intact, only its level is wrong.
    """
    floor = 10.0 ** (SILENCE_DBFS / 20.0)
    if peak == 0.0:
        return LevelVerdict("silent (every sample is zero)")
    if peak < floor:
        return LevelVerdict(
            f"silent (peak {20 * np.log10(peak):.0f} dBFS is below {SILENCE_DBFS:g} dBFS)"
        )
    if swing < floor:
        return LevelVerdict(
            f"constant signal (DC only: every sample is about {peak:.3g}); nothing to hear"
        )
    if peak > 1.0:
        times = f"{peak:,.0f}" if peak >= 10.0 else f"{peak:.2f}"
        return LevelVerdict(
            None,
            gain=1.0 / peak,
            note=f"peaks at {times}× full scale (+{20 * np.log10(peak):.1f} dB): "
            "normalised to 0 dBFS for training",
        )
    return LevelVerdict(None)


def measure_level(samples: np.ndarray) -> tuple[float, float]:
    """``(peak, swing)`` of ``[frames]`` or ``[frames, channels]`` samples, for
    :func:`judge_level`."""
    data = samples.reshape(samples.shape[0], -1)
    if data.size == 0:
        return 0.0, 0.0
    low, high = data.min(axis=0), data.max(axis=0)
    peak = float(max(np.abs(low).max(), np.abs(high).max()))
    return peak, float((high.astype(np.float64) - low).max() / 2.0)
