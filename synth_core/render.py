"""From a magnitude spectrogram back to audio: phase initialisation and fast Griffin-Lim.

Rendering is part of the speed budget (DESIGN.md): plain Griffin-Lim from random phase needs ~100
iterations to stop sounding phasey. Starting from a phase that is already nearly consistent —
each bin advancing at the frequency of the strongest bin within the window's main lobe, so bins
around a partial move together as in a phase-locked vocoder (Laroche & Dolson, 1999) while noise
stays noise (:func:`peak_locked_phase`) — lets a handful of fast Griffin-Lim iterations
(Perraudin et al., 2013) finish the job.

Speed: everything here works on *frame-major* spectra ``[..., frames, bins]``, the layout in which
``torch.fft.rfft`` of framed audio arrives, with its own STFT pair (:func:`frame_stft`,
:func:`frame_istft`: reflect-padded, Hann, overlap-add by ``n_fft / hop`` shifted adds over a
cached window envelope). ``torch.istft`` and arithmetic on the transposed ``[bins, frames]``
views cost ~3× more per iteration (strided element-wise kernels), and a fresh complex tensor per
step costs more than the FFTs, so the loop updates in place. One iteration on one second of
audio at 44.1 kHz (1024/256) takes ~0.8 ms on one laptop-class core, down from ~2.3 ms.

The DDSP-style harmonic-plus-noise synthesiser lives in :mod:`synth_core.ddsp`.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from synth_core import dsp

CHUNK = 8  # spectra rendered together (64 one-second clips at once: 733 ms; in eights: 440 ms)


@functools.lru_cache(maxsize=16)
def _window(n_fft: int, device: str, dtype: torch.dtype) -> Tensor:
    return torch.hann_window(n_fft, device=device, dtype=dtype)


def _overlap_add(frames: Tensor, hop: int) -> Tensor:
    """``[..., F, n_fft]`` windowed frames → ``[..., (F − 1)·hop + n_fft]``; ``hop`` divides
    ``n_fft``, so frame f's j-th chunk of ``hop`` samples lands on output block ``f + j``."""
    count, n_fft = frames.shape[-2:]
    ratio = n_fft // hop
    chunks = frames.reshape(*frames.shape[:-2], count, ratio, hop)
    out = frames.new_zeros(*frames.shape[:-2], count + ratio - 1, hop)
    for j in range(ratio):  # add_ on the view: ``+=`` on a slice would copy it back as well
        out[..., j : j + count, :].add_(chunks[..., :, j, :])
    return out.flatten(-2)


@functools.lru_cache(maxsize=16)
def _envelope(n_fft: int, hop: int, count: int, device: str, dtype: torch.dtype) -> Tensor:
    """Overlap-added squared window: what :func:`frame_istft` divides by."""
    squared = _window(n_fft, device, dtype).square().expand(count, n_fft)
    return _overlap_add(squared, hop).clamp_min(1e-11)


def frame_stft(audio: Tensor, *, n_fft: int, hop: int) -> Tensor:
    """Complex STFT ``[..., frames, n_fft // 2 + 1]`` of ``audio`` ``[..., samples]``: the same
    frames as :func:`synth_core.dsp.stft` (centred, reflect-padded, Hann), frame-major."""
    shape = audio.shape
    flat = audio.reshape(-1, 1, shape[-1])
    padded = F.pad(flat, (n_fft // 2, n_fft // 2), mode="reflect")[:, 0]
    window = _window(n_fft, str(audio.device), audio.dtype)
    spec = torch.fft.rfft(padded.unfold(-1, n_fft, hop) * window, dim=-1)
    return spec.reshape(*shape[:-1], *spec.shape[-2:])


def frame_istft(spec: Tensor, *, n_fft: int, hop: int, length: int) -> Tensor:
    """Inverse of :func:`frame_stft` (weighted overlap-add), ``[..., length]``."""
    if n_fft % hop:
        return dsp.istft(spec.transpose(-1, -2), n_fft=n_fft, hop=hop, length=length)
    frames = torch.fft.irfft(spec, n=n_fft, dim=-1)
    window = _window(n_fft, str(frames.device), frames.dtype)
    envelope = _envelope(n_fft, hop, spec.shape[-2], str(frames.device), frames.dtype)
    audio = _overlap_add(frames * window, hop) / envelope
    audio = audio[..., n_fft // 2 : n_fft // 2 + length]
    if audio.shape[-1] < length:
        audio = F.pad(audio, (0, length - audio.shape[-1]))
    return audio


PEAK_REACH = 2  # bins: half the main lobe of a Hann window


def _strongest_nearby(log_mag: Tensor, reach: int) -> Tensor:
    """Per bin of ``log_mag`` ``[..., bins]``, the index of the strongest bin within ``reach``
    bins of it, the first of equal ones: ``argmax`` over a window, as the exports compute it.

    Written as ``2 · reach`` running comparisons in float arithmetic: on one second of audio
    here ``argmax`` over a window of 5 takes ~1.3 ms and the same running comparisons through
    boolean masks ~1.6 ms, against ~0.4 ms for this (a tenth of a batch-1 generation). A NaN bin counts as bin 0 of its
    window (the render of a NaN spectrum is refused afterwards anyway).
    """
    bins = log_mag.shape[-1]
    wide = F.pad(log_mag.detach(), (reach, reach), value=-1e30)  # an index has no gradient
    best = wide[..., :bins]
    nearest = torch.zeros_like(log_mag)  # window offset of the strongest so far, 0 … 2·reach
    for k in range(1, 2 * reach + 1):
        candidate = wide[..., k : k + bins]
        # 1 where strictly stronger (a tie keeps the first), else 0
        stronger = torch.sub(candidate, best).sign_().clamp_(min=0.0)
        nearest.addcmul_(stronger, torch.sub(float(k), nearest))  # exact: small integers
        best = torch.maximum(candidate, best)
    index = nearest.nan_to_num_(0.0).long()
    return index.add_(torch.arange(-reach, bins - reach, device=log_mag.device))


def _peak_locked_phase_frames(mag: Tensor, *, n_fft: int, hop: int) -> Tensor:
    """:func:`peak_locked_phase` on a frame-major magnitude ``[..., frames, bins]``."""
    bins = mag.shape[-1]
    log_mag = torch.log(mag + dsp.EPS)
    padded = F.pad(log_mag, (1, 1), value=-1e30)
    left, centre, right = padded[..., :-2], padded[..., 1:-1], padded[..., 2:]
    # vertex of the parabola through a bin and its neighbours, in bins from it (used at maxima)
    curvature = torch.add(left, right).sub_(centre, alpha=2).clamp_(max=-1e-9)
    offset = torch.sub(left, right).div_(curvature).mul_(0.5).clamp_(-0.5, 0.5)
    nearest = _strongest_nearby(log_mag, PEAK_REACH)
    true_bin = torch.gather(offset, -1, nearest).add_(nearest)
    phase = true_bin.mul_(2 * math.pi * hop / n_fft).cumsum(-2)
    phase.sub_(math.pi * torch.arange(bins, dtype=mag.dtype, device=mag.device))
    # wrapped, radians in [0, 2π): cos and sin of the raw sums (thousands of radians) are ~5× slower
    return torch.remainder(phase, 2 * math.pi)


def peak_locked_phase(mag: Tensor, *, n_fft: int, hop: int) -> Tensor:
    """A phase for ``mag`` ``[..., bins, frames]`` in which every bin follows the strongest bin
    within ``PEAK_REACH`` (2) bins of it — the main lobe of the Hann window.

    That bin gets a frequency from quadratic interpolation of the log magnitude (Smith & Serra,
    1987); each bin takes that frequency and its phase advances by ``2π f hop`` per frame. Bins
    near a partial lock to it; bins in a valley or in noise, with no peak in reach, keep
    (roughly) their own frequency. Locking whole valleys to the nearest peak instead, as identity
    phase locking does (Laroche & Dolson, 1999), made noise tonal: on the built-in test split,
    8 iterations from the main-lobe phase render the true magnitudes at −19.2 dB spectral
    convergence against −16.8 dB, and resynthesised training clips score 1-NN 0.56 against 0.63
    (the ceiling rows of ``timbrelab evaluate``). A Hann-windowed sinusoid at frequency ω in a
    frame that starts ``n_fft/2`` before its centre has phase ``ω m hop − π k`` in bin k, hence
    the ``π k``.
    Radians in [0, 2π).
    """
    frames_first = mag.transpose(-1, -2).contiguous()
    return _peak_locked_phase_frames(frames_first, n_fft=n_fft, hop=hop).transpose(-1, -2)


def _griffin_lim_frames(
    mag: Tensor, phase: Tensor, *, n_fft: int, hop: int, length: int, n_iter: int, momentum: float
) -> Tensor:
    """Fast Griffin-Lim on frame-major ``mag`` and initial ``phase`` ``[..., frames, bins]``."""
    spec = torch.complex(torch.cos(phase), torch.sin(phase)).mul_(mag)
    previous = torch.zeros_like(spec)
    for _ in range(n_iter):
        audio = frame_istft(spec, n_fft=n_fft, hop=hop, length=length)
        rebuilt = frame_stft(audio, n_fft=n_fft, hop=hop)
        # the momentum step, in the buffer of the step before: s = rebuilt − α · previous
        spec = previous.mul_(-momentum / (1 + momentum)).add_(rebuilt)
        previous = rebuilt
        # back onto the target magnitude: s ← mag · s / |s|
        power = torch.mul(spec, spec.conj()).real
        spec.mul_(power.add(1e-30).rsqrt_().mul_(mag))
    return frame_istft(spec, n_fft=n_fft, hop=hop, length=length)


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
    return _griffin_lim_frames(
        mag.transpose(-1, -2).contiguous(),
        phase.transpose(-1, -2).contiguous(),
        n_fft=n_fft,
        hop=hop,
        length=length,
        n_iter=n_iter,
        momentum=momentum,
    )


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
    if init != "peaks":
        return griffin_lim(
            mag, n_fft=n_fft, hop=hop, length=length, n_iter=n_iter, generator=generator
        )
    flat = mag.reshape(-1, *mag.shape[-2:])
    if flat.shape[0] > CHUNK:  # a batch's spectra stop fitting in cache: chunks are ~1.6× faster
        parts = [
            render_magnitude(
                flat[i : i + CHUNK], n_fft=n_fft, hop=hop, length=length, n_iter=n_iter
            )
            for i in range(0, flat.shape[0], CHUNK)
        ]
        return torch.cat(parts).reshape(*mag.shape[:-2], length)
    frames_first = mag.transpose(-1, -2).contiguous()
    phase = _peak_locked_phase_frames(frames_first, n_fft=n_fft, hop=hop)
    return _griffin_lim_frames(
        frames_first, phase, n_fft=n_fft, hop=hop, length=length, n_iter=n_iter, momentum=0.99
    )
