"""Small folders of short built-in sounds for the comparison tests: a few clips of every kind,
cut to half a second, so training and scoring two cheap families is quick. Scoring is what costs
(evaluate's Griffin-Lim baselines grow with the number and length of test clips)."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

from synth_core.builtin import builtin_clips


def write_compare_data(
    root: Path, *, train: int = 16, test: int = 4, seconds: float = 0.5
) -> tuple[Path, Path]:
    """Write ``root/train`` (every ``len // train``-th built-in training clip) and ``root/test``
    (the same from the built-in test split), each cut to ``seconds``, as WAV files; returns both
    folders."""
    folders = []
    for split, count in (("train", train), ("test", test)):
        clips = builtin_clips(split)
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        step = max(1, len(clips) // count)
        samples = int(seconds * clips.sample_rate)
        for i in range(0, step * count, step):
            audio = clips.audio[i, :samples].numpy()
            sf.write(folder / clips.paths[i].name, audio, clips.sample_rate)
        folders.append(folder)
    return folders[0], folders[1]
