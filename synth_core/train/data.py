"""The training data as the trainer uses it: a held-out share, a content fingerprint, and light
augmentation for small folders."""

from __future__ import annotations

import hashlib
import os
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from synth_core.dataset import ClipSet

# Below this many training clips each batch is lightly augmented (gain, shift, pitch).
AUGMENT_BELOW_CLIPS = 256


def subset(clips: ClipSet, indices: Tensor | list[int]) -> ClipSet:
    """The clips at ``indices``, as a ClipSet."""
    idx = torch.as_tensor(indices, dtype=torch.long)
    return replace(
        clips,
        audio=clips.audio[idx],
        pitch=clips.pitch[idx],
        paths=[clips.paths[i] for i in idx.tolist()],
    )


def split_held_out(clips: ClipSet, *, fraction: float = 0.1) -> tuple[ClipSet, ClipSet]:
    """Split off a held-out set chosen by a hash of each file name (stable across runs and machines).

    No clips are held out below 10; otherwise at least one.
    """
    n = len(clips)
    if n < 10 or fraction <= 0:
        return clips, subset(clips, [])
    # fsencode: a name that is not UTF-8 is hashed as the bytes it is on disk
    keys = [zlib.crc32(os.fsencode(Path(p).name)) / 2**32 for p in clips.paths]
    order = sorted(range(n), key=lambda i: (keys[i], str(clips.paths[i])))
    n_held = max(1, int(round(n * fraction)))
    held = sorted(order[:n_held])
    train = sorted(order[n_held:])
    return subset(clips, train), subset(clips, held)


def fingerprint(clips: ClipSet) -> str:
    """A short content hash of the training audio and labels (detects a changed folder)."""
    digest = hashlib.sha256()
    digest.update(str(clips.sample_rate).encode())
    digest.update(clips.audio.numpy().tobytes())
    digest.update(np.nan_to_num(clips.pitch.numpy(), nan=-1).tobytes())
    return digest.hexdigest()[:16]


def augment(
    audio: Tensor, pitch: Tensor | None, generator: torch.Generator
) -> tuple[Tensor, Tensor | None]:
    """Light augmentation for small folders: ±3 dB gain, up to 5 ms later onset, ±0.3 semitones.

    The pitch shift resamples by linear interpolation (a small ratio, so its aliasing is far below
    the material's own noise) and moves the pitch labels with it.
    """
    n, length = audio.shape
    gain = 10 ** (torch.empty(n, 1).uniform_(-3, 3, generator=generator) / 20)
    semitones = torch.empty(n).uniform_(-0.3, 0.3, generator=generator)
    ratio = 2 ** (semitones / 12)
    positions = torch.arange(length, dtype=torch.float32)[None, :] * ratio[:, None]
    lo = positions.floor().long().clamp(max=length - 1)
    hi = (lo + 1).clamp(max=length - 1)
    frac = positions - positions.floor()
    shifted = torch.gather(audio, 1, lo) * (1 - frac) + torch.gather(audio, 1, hi) * frac
    shifted = torch.where(positions < length, shifted, torch.zeros_like(shifted))
    # Onsets are aligned by dataset.py; a few ms of jitter keeps the model from over-fitting the
    # exact sample position of the attack.
    max_delay = 220
    delays = torch.randint(0, max_delay + 1, (n,), generator=generator)
    out = torch.zeros_like(audio)
    for i in range(n):
        d = int(delays[i])
        out[i, d:] = shifted[i, : length - d]
    out = out * gain
    if pitch is not None:
        pitch = pitch + semitones
    return out, pitch
