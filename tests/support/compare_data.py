"""Small folders of built-in sounds for the comparison tests: a few clips of every kind, so
training and scoring two cheap families takes seconds, not the minutes of the full starter set."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

from synth_core.builtin import builtin_clips


def write_compare_data(root: Path, *, train: int = 24, test: int = 6) -> tuple[Path, Path]:
    """Write ``root/train`` (every ``len // train``-th built-in training clip) and ``root/test``
    (the same from the built-in test split) as WAV files; returns both folders."""
    folders = []
    for split, count in (("train", train), ("test", test)):
        clips = builtin_clips(split)
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        step = max(1, len(clips) // count)
        for i in range(0, step * count, step):
            sf.write(folder / clips.paths[i].name, clips.audio[i].numpy(), clips.sample_rate)
        folders.append(folder)
    return folders[0], folders[1]
