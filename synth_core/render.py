"""From a magnitude spectrogram back to audio: phase initialisation and fast Griffin-Lim.

Rendering is part of the speed budget (DESIGN.md): plain Griffin-Lim from random phase needs ~100
iterations to stop sounding phasey, at ~2 ms per iteration for one second of audio. Starting from
a phase that is already nearly consistent — each bin advancing at the frequency of the spectral
peak it belongs to, as a phase vocoder with identity phase locking would (Laroche & Dolson, 1999)
— lets a handful of fast Griffin-Lim iterations (Perraudin et al., 2013) finish the job.

The DDSP-style harmonic-plus-noise synthesiser lives in :mod:`synth_core.ddsp`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from synth_core import dsp


def peak_locked_phase(mag: Tensor, *, n_fft: int, hop: int) -> Tensor:
    """A phase for ``mag`` ``[..., bins, frames]`` in which every bin follows its nearest peak.

    Each frame's local maxima get a frequency from quadratic interpolation of the log magnitude
    (Smith & Serra, 1987); every bin takes the frequency of its nearest peak and its phase
    advances by ``2π f hop`` per frame. A Hann-windowed sinusoid at frequency ω in a frame that
    starts ``n_fft/2`` before its centre has phase ``ω m hop − π k`` in bin k, hence the ``π k``.
    """
    bins, frames = mag.shape[-2:]
    log_mag = torch.log(mag + dsp.EPS)
    left = torch.nn.functional.pad(log_mag, (0, 0, 1, 0), value=-1e9)[..., :-1, :]
    right = torch.nn.functional.pad(log_mag, (0, 0, 0, 1), value=-1e9)[..., 1:, :]
    is_peak = (log_mag > left) & (log_mag >= right)
    denominator = left - 2 * log_mag + right
    offset = torch.where(
        is_peak & (denominator < -1e-9),
        0.5 * (left - right) / denominator,
        torch.zeros_like(log_mag),
    ).clamp(-0.5, 0.5)
    k = torch.arange(bins, device=mag.device, dtype=mag.dtype)
    k_col = k[:, None].expand(bins, frames)
    # nearest peak to the left and to the right of every bin
    left_peak = torch.where(is_peak, k_col, torch.full_like(k_col, -1e9)).cummax(-2).values
    right_peak = torch.where(is_peak, k_col, torch.full_like(k_col, 1e9))
    right_peak = right_peak.flip(-2).cummin(-2).values.flip(-2)
    nearest = torch.where((k_col - left_peak) <= (right_peak - k_col), left_peak, right_peak)
    nearest = nearest.clamp(0, bins - 1).long()
    true_bin = nearest.to(mag.dtype) + torch.gather(offset, -2, nearest)
    omega = 2 * math.pi * true_bin / n_fft  # radians per sample
    advance = omega * hop
    phase = torch.cumsum(advance, dim=-1) - math.pi * k[:, None]
    return torch.remainder(phase, 2 * math.pi)


def griffin_lim(
    mag: Tensor,
    *,
    n_fft: int = 1024,
    hop: int = 256,
    length: int,
    n_iter: int = 8,
    momentum: float = 0.99,
    phase: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fast Griffin-Lim (Perraudin, Balazs & Søndergaard, 2013) from ``phase`` or random phase.

    Parameters
    ----------
    mag : Tensor
        ``[..., n_fft // 2 + 1, frames]`` linear magnitude.
    n_fft, hop : int, keyword-only
        STFT layout, samples (as in :func:`synth_core.dsp.stft`).
    length : int, keyword-only
        Output length, samples.
    n_iter : int, keyword-only
        Iterations; 0 returns the inverse STFT of the initial phase.
    momentum : float, keyword-only
        0 is classic Griffin-Lim; 0.99 converges several times faster.
    phase : Tensor or None, keyword-only
        Initial phase, radians, shaped like ``mag``; None draws uniform random phase.
    generator : torch.Generator or None, keyword-only
        For the random phase (reproducible output).

    Returns
    -------
    Tensor
        ``[..., length]`` float32.
    """
    if phase is None:
        phase = (
            2 * math.pi * torch.rand(mag.shape, generator=generator, device="cpu").to(mag.device)
        )
    angles = torch.polar(torch.ones_like(mag), phase)
    rebuilt = torch.zeros_like(angles)
    for _ in range(n_iter):
        previous = rebuilt
        audio = dsp.istft(mag * angles, n_fft=n_fft, hop=hop, length=length)
        rebuilt = dsp.stft(audio, n_fft=n_fft, hop=hop)
        angles = rebuilt - previous * (momentum / (1 + momentum))
        angles = angles / (angles.abs() + 1e-16)
    return dsp.istft(mag * angles, n_fft=n_fft, hop=hop, length=length)


def render_magnitude(
    mag: Tensor,
    *,
    n_fft: int = 1024,
    hop: int = 256,
    length: int,
    n_iter: int = 8,
    init: str = "peaks",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Magnitude spectrogram → audio: peak-locked (``init="peaks"``) or random initial phase, then
    ``n_iter`` fast Griffin-Lim iterations. ``[..., length]`` float32."""
    phase = peak_locked_phase(mag, n_fft=n_fft, hop=hop) if init == "peaks" else None
    return griffin_lim(
        mag, n_fft=n_fft, hop=hop, length=length, n_iter=n_iter, phase=phase, generator=generator
    )
