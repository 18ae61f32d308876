"""Sound matching: which instrument and which parameters best reproduce a target sound.

Three pieces: a multi-resolution STFT distance (the loss), a quick f0 estimate (pitch is found by
analysis, not by gradient descent, whose spectral loss surface is full of octave traps), and a
random search over the remaining parameters that seeds the per-clip gradient descent.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from synth_core.models.physical.common import Instrument, from_normalised, hz_to_midi

FFT_SIZES = (2048, 512, 128)
# Magnitudes this far below a unit-RMS signal (about -60 dB per bin) count as silence, so a
# faint noise floor between partials does not outweigh the partials themselves.
LOG_FLOOR = 1e-3


def mrstft_distance(
    audio: Tensor, target: Tensor, *, fft_sizes: tuple[int, ...] = FFT_SIZES
) -> Tensor:
    """Multi-resolution STFT distance per clip, ``[batch]``; level-independent.

    Both signals are scaled to unit RMS, then for each FFT size (Hann window, hop n/4) the sum of
    spectral convergence ||Y| - |X||_F / ||Y||_F and mean |log |X| - log |Y||
    (Yamamoto et al., "Parallel WaveGAN", 2020, eq. 3-5), averaged over sizes.
    """
    audio = audio.float()
    target = target.float()
    audio = audio / audio.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-8)
    target = target / target.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-8)
    total = torch.zeros(audio.shape[0])
    for size in fft_sizes:
        window = torch.hann_window(size)
        spec = [
            torch.stft(x, size, size // 4, window=window, return_complex=True).abs()
            for x in (audio, target)
        ]
        x, y = spec
        convergence = (x - y).pow(2).sum((-2, -1)).sqrt() / y.pow(2).sum((-2, -1)).sqrt().clamp_min(
            1e-8
        )
        log_distance = (torch.log(x + LOG_FLOOR) - torch.log(y + LOG_FLOOR)).abs().mean((-2, -1))
        total = total + convergence + log_distance
    return total / len(fft_sizes)


def estimate_first_partial(audio: Tensor, sample_rate: int, *, floor_db: float = -30.0) -> Tensor:
    """MIDI note of the lowest prominent spectral peak of each clip, ``[batch]`` (NaN if none).

    The lowest peak within ``floor_db`` of the strongest one, between 30 Hz and 5 kHz, refined
    by parabolic interpolation of the log magnitude (Smith, "Spectral Audio Signal Processing",
    quadratic interpolation of spectral peaks). For strings and tubes that is the fundamental,
    for bars, bells and drums the first mode: exactly what the instruments' ``pitch`` means.
    """
    audio = audio.double()
    length = min(audio.shape[-1], int(0.5 * sample_rate))
    # Nuttall window: its sidelobes (-93 dB) cannot pass for a partial below the strongest one,
    # as a Hann window's (-31 dB) can.
    window = torch.signal.windows.nuttall(length, dtype=torch.float64)
    segment = audio[:, :length] * window
    size = 1 << max(16, math.ceil(math.log2(length)) + 2)
    magnitude = torch.fft.rfft(segment, n=size).abs().clamp_min(1e-12)
    level = 20.0 * torch.log10(magnitude)
    freqs = torch.arange(magnitude.shape[-1], dtype=torch.float64) * sample_rate / size
    band = (freqs > 30.0) & (freqs < 5000.0)
    centre = level[:, 1:-1]
    is_peak = (centre > level[:, :-2]) & (centre >= level[:, 2:]) & band[None, 1:-1]
    strongest = torch.where(band[None, :], level, torch.full_like(level, -1e9)).amax(-1)
    is_peak &= centre > (strongest[:, None] + floor_db)
    result = torch.full((audio.shape[0],), float("nan"), dtype=torch.float64)
    for row in range(audio.shape[0]):
        found = torch.nonzero(is_peak[row]).flatten()
        if found.numel() == 0:
            continue
        # The strongest bin within a semitone of the lowest peak: vibrato sidebands and
        # leakage skirts sit just below a partial and must not be taken for it.
        lowest = int(found[0]) + 1
        span = max(2, int(lowest * (2 ** (1 / 12) - 1)))
        window = level[row, max(1, lowest - span) : lowest + span + 1]
        i = max(1, lowest - span) + int(window.argmax())
        a, b, c = (float(level[row, j]) for j in (i - 1, i, i + 1))
        denominator = a - 2.0 * b + c
        offset = 0.5 * (a - c) / denominator if denominator != 0 else 0.0
        result[row] = float(hz_to_midi(torch.tensor((i + offset) * sample_rate / size)))
    return result


def estimate_decay(audio: Tensor, sample_rate: int, *, frame_s: float = 0.01) -> Tensor:
    """T60 in seconds of each clip's overall level, ``[batch]``: a line fitted to the dB RMS
    envelope from its peak down to 40 dB below it (or the clip's end)."""
    hop = max(1, int(frame_s * sample_rate))
    frames = audio.shape[-1] // hop
    power = audio[:, : frames * hop].double().reshape(audio.shape[0], frames, hop).pow(2).mean(-1)
    db = 10.0 * torch.log10(power.clamp_min(1e-20))
    t = torch.arange(frames, dtype=torch.float64) * frame_s
    result = torch.full((audio.shape[0],), 1.0, dtype=torch.float64)
    for row in range(audio.shape[0]):
        top = int(db[row].argmax())
        below = torch.nonzero(db[row, top:] < db[row, top] - 40.0).flatten()
        stop = top + (int(below[0]) if below.numel() else frames - top)
        if stop - top < 3:
            continue
        x, y = t[top:stop], db[row, top:stop]
        slope = ((x - x.mean()) * (y - y.mean())).sum() / (x - x.mean()).pow(2).sum()
        if slope < 0:
            result[row] = -60.0 / slope
        else:
            result[row] = 20.0
    return result.clamp(0.05, 20.0)


def estimate_hold(
    audio: Tensor, sample_rate: int, *, frame_s: float = 0.01
) -> tuple[Tensor, Tensor]:
    """Attack (time to reach 3 dB below the peak) and hold (last time within 12 dB of the peak)
    of each clip's RMS envelope, in seconds, ``([batch], [batch])``; for sustained notes."""
    hop = max(1, int(frame_s * sample_rate))
    frames = audio.shape[-1] // hop
    power = audio[:, : frames * hop].double().reshape(audio.shape[0], frames, hop).pow(2).mean(-1)
    db = 10.0 * torch.log10(power.clamp_min(1e-20))
    top = db.amax(-1, keepdim=True)
    index = torch.arange(frames, dtype=torch.float64)
    attack = torch.where(db >= top - 3.0, index, torch.inf).amin(-1) * frame_s
    hold = torch.where(db >= top - 12.0, index, -torch.inf).amax(-1) * frame_s
    return attack.clamp_min(0.005), hold.clamp_min(0.05)


def positions_to_params(instrument: Instrument, positions: Tensor) -> dict[str, Tensor]:
    """Turn 0–1 slider positions ``[batch, width]`` into the instrument's parameter dict."""
    return {
        control.name: from_normalised(control, positions[:, i].double())
        for i, control in enumerate(instrument.controls)
    }


def trainable_mask(instrument: Instrument, width: int) -> Tensor:
    """1 where gradient descent may move a column of the position table, else 0."""
    mask = torch.zeros(width)
    for i, control in enumerate(instrument.controls):
        if control.name != "pitch" and control.name not in instrument.fixed:
            mask[i] = 1.0
    return mask
