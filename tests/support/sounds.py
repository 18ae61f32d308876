"""Generated folders of sounds for app tests: a few good files and a few that must be skipped.

Written with soundfile at test time; no audio binaries are committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf


def tone(
    frequency_hz: float,
    *,
    seconds: float = 0.5,
    sample_rate: int = 44100,
    amplitude: float = 0.5,
    decay_s: float | None = 0.3,
) -> np.ndarray:
    """A sine ``[frames]`` float32 with an optional exponential decay (time constant, s)."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    envelope = np.exp(-t / decay_s) if decay_s else 1.0
    return (amplitude * envelope * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)


@dataclass
class SoundFolder:
    """What :func:`write_sound_folder` wrote.

    Parameters
    ----------
    root : Path
        The folder.
    good : dict
        File name → (duration s, sample rate Hz, channels) of the files that must be usable.
    bad : dict
        File name → a word the skip reason must contain.
    """

    root: Path
    good: dict[str, tuple[float, int, int]] = field(default_factory=dict)
    bad: dict[str, str] = field(default_factory=dict)


def write_sound_folder(root: Path) -> SoundFolder:
    """Write three good sounds (different lengths, rates, channels) and four bad files."""
    root.mkdir(parents=True, exist_ok=True)
    folder = SoundFolder(root)
    sf.write(root / "pluck__p60.wav", tone(261.63, seconds=0.4), 44100)
    folder.good["pluck__p60.wav"] = (0.4, 44100, 1)
    stereo = np.stack([tone(440.0, seconds=1.2, sample_rate=48000)] * 2, axis=1)
    sf.write(root / "bell long.flac", stereo, 48000, subtype="PCM_24")
    folder.good["bell long.flac"] = (1.2, 48000, 2)
    sf.write(root / "äther hit.wav", tone(110.0, seconds=0.25, sample_rate=22050), 22050)
    folder.good["äther hit.wav"] = (0.25, 22050, 1)

    (root / "notes.wav").write_text("this is not audio\n", encoding="utf-8")
    folder.bad["notes.wav"] = "unreadable"
    (root / "empty.wav").write_bytes(b"")
    folder.bad["empty.wav"] = "empty"
    sf.write(root / "silence.wav", np.zeros(22050, dtype=np.float32), 44100)
    folder.bad["silence.wav"] = "silent"
    broken = tone(330.0, seconds=0.3)
    broken[100:200] = np.nan
    sf.write(root / "nan.wav", broken, 44100, subtype="FLOAT")
    folder.bad["nan.wav"] = "nan"
    return folder
