"""Small, exactly known training sets for the gmm, hmm, rnn and gan tests (no files needed)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path

import torch

from synth_core.dataset import ClipSet


def tiny_clip_set(*, n: int = 12, sample_rate: int = 16000, seconds: float = 0.25) -> ClipSet:
    """Decaying harmonic plucks at a few pitches alternating with noise bursts.

    Even clips are plucks (``name__pNN`` style pitch labels), odd clips unpitched noise hits.
    """
    generator = torch.Generator().manual_seed(1234)
    samples = int(sample_rate * seconds)
    t = torch.arange(samples, dtype=torch.float64) / sample_rate
    audio, pitch = [], []
    for i in range(n):
        if i % 2 == 0:
            midi = 48.0 + 5 * ((i // 2) % 4)
            f0 = 440.0 * 2 ** ((midi - 69) / 12)
            decay = 6.0 + (i % 3)
            tone = sum(
                (0.5 / k) * torch.sin(2 * math.pi * k * f0 * t + k) * torch.exp(-decay * k * t)
                for k in range(1, 9)
            )
            audio.append(tone)
            pitch.append(midi)
        else:
            burst = torch.randn(samples, generator=generator, dtype=torch.float64)
            audio.append(0.3 * burst * torch.exp(-(20.0 + i) * t))
            pitch.append(float("nan"))
    return ClipSet(
        audio=torch.stack(audio).float(),
        pitch=torch.tensor(pitch, dtype=torch.float32),
        paths=[Path(f"clip{i:02d}.wav") for i in range(n)],
        sample_rate=sample_rate,
    )


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Train tiny models on one thread: with small matrices and a busy machine, extra OpenMP
    threads only wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
