"""Spectral analysis in torch: STFT, mel, loudness and the descriptors sliders are named after.

Every function takes audio ``[..., samples]`` float32 and works batched on any device. Nothing here
imports librosa (its first call compiles for ~13 s); the formulas are the textbook ones, each cited.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from synth_core.errors import ModelConfigError

EPS = 1e-5  # amplitude floor before a log (−100 dB)


@functools.lru_cache(maxsize=16)
def _hann(n_fft: int, device: str) -> Tensor:
    return torch.hann_window(n_fft, device=device)


def stft(audio: Tensor, *, n_fft: int = 1024, hop: int = 256) -> Tensor:
    """Complex STFT with a Hann window, frames centred on ``hop``-spaced samples.

    Parameters
    ----------
    audio : Tensor
        ``[..., samples]`` float32.
    n_fft : int, keyword-only
        FFT and window length, samples.
    hop : int, keyword-only
        Frame spacing, samples.

    Returns
    -------
    Tensor
        complex64 ``[..., n_fft // 2 + 1, 1 + samples // hop]``.
    """
    shape = audio.shape
    flat = audio.reshape(-1, shape[-1])
    spec = torch.stft(
        flat,
        n_fft,
        hop,
        window=_hann(n_fft, str(audio.device)),
        center=True,
        return_complex=True,
    )
    return spec.reshape(*shape[:-1], *spec.shape[-2:])


def istft(spec: Tensor, *, n_fft: int = 1024, hop: int = 256, length: int) -> Tensor:
    """Inverse of :func:`stft` (weighted overlap-add), ``[..., length]`` float32."""
    shape = spec.shape
    flat = spec.reshape(-1, *shape[-2:])
    audio = torch.istft(
        flat, n_fft, hop, window=_hann(n_fft, str(spec.device)), center=True, length=length
    )
    return audio.reshape(*shape[:-2], length)


def magnitude(audio: Tensor, *, n_fft: int = 1024, hop: int = 256) -> Tensor:
    """``|STFT|``, ``[..., n_fft // 2 + 1, frames]``."""
    return stft(audio, n_fft=n_fft, hop=hop).abs()


def log_magnitude(audio: Tensor, *, n_fft: int = 1024, hop: int = 256) -> Tensor:
    """Natural log of ``|STFT| + 1e-5``."""
    return torch.log(magnitude(audio, n_fft=n_fft, hop=hop) + EPS)


def hz_to_mel(hz: Tensor | float) -> Tensor:
    """HTK mel scale: 2595 log10(1 + f / 700) (O'Shaughnessy, 1987)."""
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(hz, dtype=torch.float32) / 700.0)


def mel_to_hz(mel: Tensor) -> Tensor:
    return 700.0 * (10 ** (mel / 2595.0) - 1.0)


@functools.lru_cache(maxsize=16)
def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float = 20.0, fmax: float | None = None
) -> Tensor:
    """Triangular mel filters ``[n_mels, n_fft // 2 + 1]``, each peaking at 1 (HTK style).

    Raises
    ------
    ModelConfigError
        When the band edges do not fit below the Nyquist frequency.
    """
    fmax = sample_rate / 2 if fmax is None else fmax
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ModelConfigError(f"mel band {fmin}–{fmax} Hz does not fit at {sample_rate} Hz")
    bins_hz = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(torch.linspace(float(hz_to_mel(fmin)), float(hz_to_mel(fmax)), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins_hz[None, :] - lower) / (centre - lower)
    falling = (upper - bins_hz[None, :]) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0)


def log_mel(
    audio: Tensor, sample_rate: int, *, n_fft: int = 1024, hop: int = 256, n_mels: int = 64
) -> Tensor:
    """Log mel power spectrogram, ``[..., n_mels, frames]`` (natural log of power + 1e-10)."""
    power = magnitude(audio, n_fft=n_fft, hop=hop) ** 2
    bank = mel_filterbank(sample_rate, n_fft, n_mels).to(audio.device)
    return torch.log(torch.einsum("mf,...ft->...mt", bank, power) + 1e-10)


# Descriptors -----------------------------------------------------------------------------------


def rms_envelope(audio: Tensor, *, frame: int = 1024, hop: int = 256) -> Tensor:
    """RMS per frame, ``[..., frames]`` (frames centred like :func:`stft`)."""
    padded = F.pad(audio.reshape(-1, 1, audio.shape[-1]), (frame // 2, frame // 2)).squeeze(1)
    frames = padded.unfold(-1, frame, hop)
    rms = frames.pow(2).mean(-1).sqrt()
    return rms.reshape(*audio.shape[:-1], rms.shape[-1])


def loudness_db(audio: Tensor) -> Tensor:
    """Level of each clip's loudest 100 ms region in dBFS (RMS), ``[...]``.

    A one-shot is mostly decay and silence, so a whole-clip RMS would rank a short loud hit below
    a long quiet one; the peak short-term level is what a listener calls "loud".
    """
    envelope = rms_envelope(audio, frame=4096, hop=1024)
    return 20 * torch.log10(envelope.amax(-1) + EPS)


def spectral_centroid_hz(audio: Tensor, sample_rate: int, *, n_fft: int = 1024) -> Tensor:
    """Energy-weighted mean frequency over the whole clip, Hz, ``[...]`` ("brightness")."""
    power = magnitude(audio, n_fft=n_fft, hop=n_fft // 4).pow(2).sum(-1)
    freqs = torch.linspace(0, sample_rate / 2, power.shape[-1], device=audio.device)
    return (power * freqs).sum(-1) / (power.sum(-1) + 1e-12)


def spectral_flatness(audio: Tensor, *, n_fft: int = 1024) -> Tensor:
    """Energy-weighted mean over frames of geometric/arithmetic mean of the power spectrum
    (Wiener entropy; Johnston 1988), 0 for a pure tone, near 1 for white noise, ``[...]``."""
    power = magnitude(audio, n_fft=n_fft, hop=n_fft // 4).pow(2) + 1e-10
    per_frame = torch.exp(torch.log(power).mean(-2)) / power.mean(-2)
    weight = power.sum(-2)
    return (per_frame * weight).sum(-1) / weight.sum(-1)


def decay_time_s(audio: Tensor, sample_rate: int) -> Tensor:
    """Seconds from the loudest frame until the level stays 20 dB below it, ``[...]``.

    A T20-style measure (ISO 3382 uses the slope from −5 to −25 dB); clipped to the clip length.
    """
    hop = 256
    env_db = 20 * torch.log10(rms_envelope(audio, frame=1024, hop=hop) + EPS)
    peak_db, peak_at = env_db.max(-1)
    frames = env_db.shape[-1]
    idx = torch.arange(frames, device=audio.device)
    above = (env_db > (peak_db[..., None] - 20)) & (idx >= peak_at[..., None])
    # last frame still within 20 dB of the peak
    last = torch.where(above, idx.expand_as(above), torch.zeros_like(idx).expand_as(above)).amax(-1)
    return (last - peak_at).clamp(min=0).float() * hop / sample_rate


def f0_hz(
    audio: Tensor,
    sample_rate: int,
    *,
    fmin: float = 40.0,
    fmax: float = 2000.0,
    threshold: float = 0.15,
    start_s: float = 0.03,
    window: int = 2048,
) -> Tensor:
    """Fundamental frequency of each clip by YIN (de Cheveigné & Kawahara, 2002), Hz, ``[...]``.

    One estimate per clip, from a window starting ``start_s`` after the clip begins (past the
    attack of an onset-aligned one-shot). NaN where no period falls below ``threshold``.
    """
    flat = audio.reshape(-1, audio.shape[-1])
    tau_max = min(int(sample_rate / fmin), flat.shape[-1] // 2)
    tau_min = max(2, int(sample_rate / fmax))
    start = min(int(start_s * sample_rate), max(0, flat.shape[-1] - window - tau_max))
    segment = flat[:, start : start + window + tau_max]
    if segment.shape[-1] < window + tau_max:
        segment = F.pad(segment, (0, window + tau_max - segment.shape[-1]))
    x = segment[:, :window]
    # d(tau) = sum (x_t - x_{t+tau})^2 over the window, via energies and an FFT cross-correlation
    n = 1 << math.ceil(math.log2(window + tau_max + window))
    cross = torch.fft.irfft(torch.fft.rfft(segment, n) * torch.fft.rfft(x, n).conj(), n)[
        :, : tau_max + 1
    ]
    sq = F.pad(segment.pow(2).cumsum(-1), (1, 0))
    taus = torch.arange(tau_max + 1, device=audio.device)
    energy_shifted = sq[:, taus + window] - sq[:, taus]
    energy = sq[:, window : window + 1]
    diff = (energy + energy_shifted - 2 * cross).clamp(min=0)
    # cumulative mean normalised difference, YIN step 3
    cumulative = diff[:, 1:].cumsum(-1) / taus[1:]
    cmnd = torch.ones_like(diff)
    cmnd[:, 1:] = diff[:, 1:] / (cumulative + 1e-12)
    cmnd[:, :tau_min] = 1.0
    below = cmnd < threshold
    # first dip below the threshold, then walk to its local minimum (YIN step 4)
    has = below.any(-1)
    first = torch.where(has, below.float().argmax(-1), cmnd.argmin(-1))
    result = torch.empty(flat.shape[0], device=audio.device)
    for i in range(flat.shape[0]):
        tau = int(first[i])
        while tau + 1 <= tau_max and cmnd[i, tau + 1] < cmnd[i, tau]:
            tau += 1
        if 1 <= tau < tau_max:  # parabolic interpolation, YIN step 5
            a, b, c = cmnd[i, tau - 1], cmnd[i, tau], cmnd[i, tau + 1]
            denominator = a - 2 * b + c
            offset = 0.5 * (a - c) / denominator if float(denominator) > 0 else 0.0
        else:
            offset = 0.0
        period = tau + float(offset)
        ok = bool(has[i]) or float(cmnd[i, tau]) < 2 * threshold
        result[i] = sample_rate / period if ok and period > 0 else float("nan")
    return result.reshape(audio.shape[:-1])


def hz_to_midi(hz: Tensor) -> Tensor:
    return 69.0 + 12.0 * torch.log2(hz / 440.0)


def midi_to_hz(midi: Tensor | float) -> Tensor:
    return 440.0 * 2 ** ((torch.as_tensor(midi, dtype=torch.float32) - 69.0) / 12.0)


DESCRIPTOR_NAMES = ("loudness", "brightness", "noisiness", "decay", "pitch")


def descriptors(audio: Tensor, sample_rate: int, pitch: Tensor | None = None) -> dict[str, Tensor]:
    """Per-clip descriptors that latent axes are named after, each ``[N]``.

    loudness : dBFS of the loudest 100 ms. brightness : log2 of the spectral centroid in Hz.
    noisiness : spectral flatness. decay : seconds to fall 20 dB. pitch : MIDI note, from
    ``pitch`` labels where given, else estimated (NaN where unpitched).
    """
    if pitch is None or not bool(torch.isfinite(pitch).any()):
        pitch = hz_to_midi(f0_hz(audio, sample_rate))
    return {
        "loudness": loudness_db(audio),
        "brightness": torch.log2(spectral_centroid_hz(audio, sample_rate) + 1.0),
        "noisiness": spectral_flatness(audio),
        "decay": decay_time_s(audio, sample_rate),
        "pitch": pitch.to(audio.device).float(),
    }


LIMIT_BLOCK = 64  # samples (1.5 ms at 44.1 kHz)
LIMIT_BLOCKS = 4  # look-ahead and hold, in blocks, each side of a peak


def peak_limit(audio: Tensor, ceiling: float = 1.0) -> Tensor:
    """A look-ahead peak limiter: ``audio`` ``[..., samples]`` with every ``|sample|`` ≤ ``ceiling``,
    turned down only around the peaks that go over (unchanged where none does).

    The gain each sample needs (``ceiling / |x|``, at most 1) is taken per block of 64 samples,
    held as the minimum over ±4 blocks, smoothed by a moving average over ±2 blocks and
    interpolated linearly between block centres. Every value that reaches a sample comes from a
    minimum whose window covers that sample, so the limit holds exactly (a final clamp only absorbs
    rounding), while the gain changes over ~6 ms rather than in steps. Scaling the whole clip
    instead, as a plain normaliser does, turns a sustained tone whose rendered phases happen to
    peak 1.6× higher down by 4 dB everywhere.
    """
    audio = torch.nan_to_num(audio.float(), nan=0.0, posinf=0.0, neginf=0.0)
    if audio.numel() == 0 or float(audio.detach().abs().max()) <= ceiling:
        return audio
    shape = audio.shape
    flat = audio.reshape(-1, shape[-1])
    samples = shape[-1]
    blocks = -(-samples // LIMIT_BLOCK)
    padded = F.pad(flat.abs(), (0, blocks * LIMIT_BLOCK - samples))
    need = (ceiling / padded.clamp_min(1e-12)).clamp(max=1.0)
    need = need.view(flat.shape[0], blocks, LIMIT_BLOCK).amin(-1)[:, None]  # [n, 1, blocks]
    hold, smooth = LIMIT_BLOCKS, LIMIT_BLOCKS // 2
    held = -F.max_pool1d(-need, 2 * hold + 1, stride=1, padding=hold)
    gain = F.avg_pool1d(F.pad(held, (smooth, smooth), mode="replicate"), 2 * smooth + 1, stride=1)
    # block centres → samples, linearly; before the first and after the last centre the end values
    per_sample = F.interpolate(gain, size=blocks * LIMIT_BLOCK, mode="linear")[:, 0, :samples]
    # interpolating between gains of exactly 1 can round to 1 − 6e-8: leave those samples as they are
    per_sample = torch.where(per_sample > 1 - 1e-6, torch.ones_like(per_sample), per_sample)
    limited = (flat * per_sample).clamp(-ceiling, ceiling)
    return limited.reshape(shape)
