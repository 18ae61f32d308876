"""A DDSP-style partials-plus-filtered-noise synthesiser and the analysis that feeds it.

:mod:`synth_core.render` turns spectrograms back into audio for the spectral families; this is
the other renderer, with the analysis that feeds it: the gmm, hmm and rnn families describe a
sound as :class:`Frames` and render it with :func:`synthesize`.

A sound is a sum of sinusoidal partials plus noise shaped by a bank of mel-spaced bands, in the
spirit of DDSP (Engel et al., 2020, "DDSP: Differentiable Digital Signal Processing"). The
partials sit at ``f0_hz * ratios``: for a harmonic sound the ratios are 1, 2, 3, …; for a bell or a
bar they are the measured mode ratios, so the same synthesiser renders both. One-shots hold their
pitch, so each partial keeps one frequency for the whole sound and only its amplitude moves from
frame to frame.

Everything is batched torch and runs on whatever device its inputs are on.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from synth_core.errors import ModelConfigError

logger = logging.getLogger(__name__)

#: Amplitude floor used wherever a level is put on a log scale (−100 dB).
AMPLITUDE_FLOOR = 1e-5


@dataclass(frozen=True)
class DDSPSettings:
    """Frame layout shared by analysis and synthesis.

    Parameters
    ----------
    sample_rate : int, Hz
    hop : int > 0, samples between frames (256 at 44.1 kHz ≈ 5.8 ms keeps attacks sharp).
    n_fft : int, samples; analysis window (2048 at 44.1 kHz resolves partials 21.5 Hz apart).
    noise_fft : int, samples; window of the noise filter.
    n_partials : int, sinusoids per sound.
    n_bands : int, mel-spaced noise bands.
    fmin_hz : float, Hz; lowest noise band centre and lowest partial considered.
    """

    sample_rate: int = 44100
    hop: int = 256
    n_fft: int = 2048
    noise_fft: int = 1024
    n_partials: int = 32
    n_bands: int = 40
    fmin_hz: float = 30.0

    def __post_init__(self) -> None:
        if self.hop <= 0 or self.n_fft < 2 * self.hop or self.noise_fft < 2 * self.hop:
            raise ModelConfigError(
                f"DDSP frames: hop {self.hop} must be positive and at most half of n_fft "
                f"{self.n_fft} and noise_fft {self.noise_fft}"
            )
        if self.n_partials < 1 or self.n_bands < 2:
            raise ModelConfigError(
                f"DDSP frames: need at least 1 partial and 2 noise bands, got "
                f"{self.n_partials} and {self.n_bands}"
            )

    def n_frames(self, samples: int) -> int:
        """Frames that cover ``samples`` (one every ``hop``, the first centred on sample 0)."""
        return samples // self.hop + 1


@dataclass
class Frames:
    """A batch of sounds as synthesiser parameters.

    f0_hz : Tensor [B], Hz; reference frequency the ratios are relative to (the pitch label, or
        the lowest partial when there is none).
    ratios : Tensor [B, K]; partial frequency divided by ``f0_hz``.
    amplitudes : Tensor [B, T, K]; linear sinusoid amplitude of each partial per frame.
    noise : Tensor [B, T, M]; linear noise level per band and frame, relative to white noise of
        unit variance.
    """

    f0_hz: Tensor
    ratios: Tensor
    amplitudes: Tensor
    noise: Tensor

    @property
    def n_frames(self) -> int:
        return int(self.amplitudes.shape[1])


def _mel(hz: Tensor) -> Tensor:
    # HTK mel scale: m = 2595 log10(1 + f / 700)
    return 2595.0 * torch.log10(1.0 + hz / 700.0)


@functools.lru_cache(maxsize=16)
def band_weights(n_bands: int, n_fft: int, sample_rate: int, fmin_hz: float) -> Tensor:
    """Interpolation weights between mel-spaced band centres and STFT bins.

    Returns
    -------
    Tensor [n_fft // 2 + 1, n_bands]
        Row ``b`` holds the piecewise-linear (in mel) interpolation weights of bin ``b`` between
        its two neighbouring band centres; every row sums to 1, except the rows of bins below
        ``fmin_hz``, which are 0: no band reaches down there. Read as columns, the same matrix
        gives each band its triangular window over bins.

    Bins below ``fmin_hz`` belong to no band because what is there is rarely noise: a DC offset
    (the built-in "hit" clips end on −69 dBFS of DC) or rumble. Measured as the lowest band's
    level, it came back from the synthesiser as sub-100 Hz noise that lasted the whole clip.
    """
    bins = torch.linspace(0.0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    centres = torch.linspace(
        float(_mel(torch.tensor(fmin_hz))), float(_mel(torch.tensor(sample_rate / 2.0))), n_bands
    ).double()
    position = (_mel(bins) - centres[0]) / (centres[1] - centres[0])
    position = position.clamp(0.0, n_bands - 1.0)
    lower = position.floor().long().clamp(max=n_bands - 2)
    upper_weight = position - lower
    weights = torch.zeros(bins.numel(), n_bands, dtype=torch.float64)
    rows = torch.arange(bins.numel())
    weights[rows, lower] = 1.0 - upper_weight
    weights[rows, lower + 1] += upper_weight
    weights[bins < fmin_hz] = 0.0
    return weights.float()


def _stft(audio: Tensor, n_fft: int, hop: int) -> Tensor:
    window = torch.hann_window(n_fft, device=audio.device, dtype=audio.dtype)
    return torch.stft(
        audio, n_fft, hop, window=window, center=True, pad_mode="constant", return_complex=True
    )


def _find_partials(
    mean_power: Tensor, settings: DDSPSettings, *, prominence_db: float = 10.0
) -> tuple[Tensor, Tensor]:
    """Frequencies of the strongest prominent spectral peaks of one clip.

    Returns ``(freqs_hz [K], found [K] bool)``, sorted by frequency; slots without a peak carry
    continued harmonic positions and ``found = False``.
    """
    k = settings.n_partials
    bin_hz = settings.sample_rate / settings.n_fft
    db = 10.0 * torch.log10(mean_power + 1e-12)
    # A peak must stand out from its neighbourhood (mean dB over ±15 bins ≈ ±320 Hz at 44.1 kHz),
    # so broadband noise hits yield no partials instead of random ringing ones.
    padded = F.pad(db[None, None], (15, 15), mode="replicate")
    local = F.avg_pool1d(padded, 31, stride=1)[0, 0]
    is_peak = torch.ones_like(db, dtype=torch.bool)
    for shift in (1, 2):
        is_peak &= db >= torch.roll(db, shift)
        is_peak &= db >= torch.roll(db, -shift)
    is_peak[:2] = False
    is_peak[-2:] = False
    lowest = max(2, int(math.ceil(settings.fmin_hz / bin_hz)))
    is_peak[:lowest] = False
    is_peak &= db - local >= prominence_db
    is_peak &= db >= db.max() - 70.0
    candidates = torch.nonzero(is_peak).flatten()
    if candidates.numel() > k:
        strongest = torch.topk(db[candidates], k).indices
        candidates = candidates[strongest]
    candidates = candidates.sort().values
    # Parabolic interpolation of the log spectrum around each peak (Smith, "Spectral Audio
    # Signal Processing", quadratic peak interpolation): offset = (a - c) / (2 (a - 2b + c)).
    a, b, c = db[candidates - 1], db[candidates], db[candidates + 1]
    denominator = a - 2 * b + c
    offset = torch.where(denominator.abs() > 1e-9, 0.5 * (a - c) / denominator, 0.0)
    freqs = (candidates.double() + offset.clamp(-0.5, 0.5).double()) * bin_hz
    found = torch.zeros(k, dtype=torch.bool)
    found[: freqs.numel()] = True
    out = torch.zeros(k, dtype=torch.float64)
    out[: freqs.numel()] = freqs
    return out, found


def analyse(audio: Tensor, settings: DDSPSettings, *, pitch_midi: Tensor | None = None) -> Frames:
    """Describe each clip as partials plus band-limited noise.

    Parameters
    ----------
    audio : Tensor [B, samples], float32, at ``settings.sample_rate``.
    settings : DDSPSettings
    pitch_midi : Tensor [B] or None
        MIDI note numbers used as each clip's reference frequency; NaN or None where unknown, in
        which case the lowest partial found (or 440 Hz for pure noise) is the reference.

    Returns
    -------
    Frames with ``settings.n_frames(samples)`` frames.
    """
    if audio.ndim != 2:
        raise ModelConfigError(f"analyse expects audio [batch, samples], got {tuple(audio.shape)}")
    audio = audio.float()
    batch = audio.shape[0]
    k = settings.n_partials
    spectrum = _stft(audio, settings.n_fft, settings.hop).abs()  # [B, F, T]
    power = spectrum.square()
    window = torch.hann_window(settings.n_fft, dtype=torch.float64)
    # A sinusoid of amplitude A peaks at |X| = A * sum(w) / 2 under window w.
    amplitude_scale = 2.0 / float(window.sum())
    # White noise of unit variance has E|X|^2 = sum(w^2) in every bin.
    noise_scale = 1.0 / math.sqrt(float(window.square().sum()))
    bin_hz = settings.sample_rate / settings.n_fft
    n_bins = spectrum.shape[1]

    f0 = torch.full((batch,), float("nan"), dtype=torch.float64)
    if pitch_midi is not None:
        f0 = 440.0 * 2.0 ** ((pitch_midi.double().cpu() - 69.0) / 12.0)
    ratios = torch.zeros(batch, k, dtype=torch.float64)
    amplitudes = torch.zeros(batch, spectrum.shape[2], k)
    keep = torch.ones(batch, n_bins, dtype=torch.bool)
    mean_power = power.mean(dim=-1).cpu()
    bins = torch.arange(n_bins)
    for i in range(batch):
        freqs, found = _find_partials(mean_power[i], settings)
        n_found = int(found.sum())
        if not math.isfinite(float(f0[i])):
            f0[i] = freqs[0] if n_found else 440.0
        if n_found < k:
            # Unused slots continue a harmonic series above the last partial, silent.
            start = float(freqs[n_found - 1] / f0[i]) if n_found else 0.0
            freqs[n_found:] = f0[i] * (math.floor(start) + torch.arange(1, k - n_found + 1))
        ratios[i] = freqs / f0[i]
        if n_found:
            position = freqs[:n_found] / bin_hz
            centre = position.round().long().clamp(1, n_bins - 2)
            # A Hann window's response at delta bins off-centre is sinc(delta) / (1 - delta^2)
            # of its peak, so dividing by it undoes the scalloping loss of off-bin partials.
            delta = (position - centre).float()
            response = torch.sinc(delta) / (1.0 - delta.square())
            peak = spectrum[i, centre.to(spectrum.device)] / response[:, None].to(spectrum.device)
            amplitudes[i, :, :n_found] = (peak * amplitude_scale).T.cpu()
            # The residual leaves out each partial's main lobe (±2 bins for a Hann window).
            near = (bins[None, :] - centre[:, None]).abs() <= 3
            keep[i] = ~near.any(dim=0)

    weights = band_weights(settings.n_bands, settings.n_fft, settings.sample_rate, settings.fmin_hz)
    weights = weights.to(audio.device)
    keep = keep.to(audio.device).float()  # [B, F]
    weighted = torch.einsum("bft,fm->btm", power * keep[:, :, None], weights)
    coverage = torch.einsum("bf,fm->bm", keep, weights)[:, None, :]
    noise = (weighted / coverage.clamp_min(1e-3)).sqrt() * noise_scale
    # Windows that run past the end see the cut as broadband noise; they may only keep or lower
    # the noise level of the last window that fits.
    last_full = (audio.shape[-1] - settings.n_fft // 2) // settings.hop
    if 0 <= last_full < noise.shape[1] - 1:
        noise[:, last_full + 1 :] = torch.minimum(
            noise[:, last_full + 1 :], noise[:, last_full : last_full + 1]
        )
    return Frames(
        f0_hz=f0.float().to(audio.device),
        ratios=ratios.float().to(audio.device),
        amplitudes=amplitudes.to(audio.device),
        noise=noise,
    )


def harmonic_part(
    frames: Frames, samples: int, settings: DDSPSettings, *, generator: torch.Generator | None
) -> Tensor:
    """Sum of the partials, ``[B, samples]``; partials at or above 0.95 × Nyquist are silent."""
    freqs = (frames.f0_hz[:, None] * frames.ratios).double()  # [B, K]
    audible = (freqs > 0) & (freqs < 0.95 * settings.sample_rate / 2)
    phase0 = torch.rand(freqs.shape, generator=generator, dtype=torch.float64).to(freqs.device)
    amplitudes = frames.amplitudes * audible[:, None, :]
    # Partials silent in every sound cost nothing.
    sounding = amplitudes.amax(dim=(0, 1)) > AMPLITUDE_FLOOR
    batch = freqs.shape[0]
    if not bool(sounding.any()):
        return torch.zeros(batch, samples, device=frames.amplitudes.device)
    freqs, phase0, amplitudes = freqs[:, sounding], phase0[:, sounding], amplitudes[:, :, sounding]
    # Work in segments of one hop between frame centres: segment q runs from frame q to q + 1 and
    # the amplitude ramps linearly across it. With theta the segment's start phase and w the
    # partial's step, sin(theta + r w) = sin(theta) cos(r w) + cos(theta) sin(r w), so the whole
    # sum over partials is four small matrix products per sound instead of a sine per sample and
    # partial; phases are computed in float64, so long sounds stay in tune.
    hop = settings.hop
    n_segments = -(-samples // hop)
    amplitudes = torch.cat([amplitudes, amplitudes[:, -1:]], dim=1)[:, : n_segments + 1]
    if amplitudes.shape[1] < n_segments + 1:
        raise ModelConfigError(
            f"harmonic_part: {amplitudes.shape[1] - 1} frames cannot cover {samples} samples"
        )
    start = amplitudes[:, :-1]  # [B, Q, K]
    slope = amplitudes[:, 1:] - amplitudes[:, :-1]
    step = (2 * math.pi / settings.sample_rate) * freqs  # radians per sample [B, K]
    segment_starts = torch.arange(n_segments, dtype=torch.float64, device=freqs.device) * hop
    theta = torch.remainder(
        segment_starts[None, :, None] * step[:, None, :] + (2 * math.pi) * phase0[:, None, :],
        2 * math.pi,
    )  # [B, Q, K]
    sin_theta, cos_theta = torch.sin(theta).float(), torch.cos(theta).float()
    ramp = torch.arange(hop, dtype=torch.float64, device=freqs.device)
    rotation = step[:, :, None] * ramp  # [B, K, hop]
    basis = torch.cat([torch.cos(rotation), torch.sin(rotation)], dim=1).float()  # [B, 2K, hop]
    level = torch.bmm(torch.cat([start * sin_theta, start * cos_theta], dim=2), basis)
    change = torch.bmm(torch.cat([slope * sin_theta, slope * cos_theta], dim=2), basis)
    segments = level + change * (ramp.float() / hop)  # [B, Q, hop]
    return segments.flatten(1)[:, :samples]


def noise_part(
    frames: Frames, samples: int, settings: DDSPSettings, *, generator: torch.Generator | None
) -> Tensor:
    """White noise shaped per frame by the noise bands, ``[B, samples]``."""
    batch = frames.noise.shape[0]
    device = frames.noise.device
    white = torch.randn(batch, samples, generator=generator).to(device)
    spectrum = _stft(white, settings.noise_fft, settings.hop)  # [B, F, T]
    n_stft_frames = spectrum.shape[-1]
    levels = frames.noise
    if levels.shape[1] != n_stft_frames:
        levels = F.interpolate(
            levels.transpose(1, 2), size=n_stft_frames, mode="linear", align_corners=True
        ).transpose(1, 2)
    weights = band_weights(
        settings.n_bands, settings.noise_fft, settings.sample_rate, settings.fmin_hz
    ).to(device)
    gain = torch.einsum("fm,btm->bft", weights, levels)
    window = torch.hann_window(settings.noise_fft, device=device)
    return torch.istft(
        spectrum * gain,
        settings.noise_fft,
        settings.hop,
        window=window,
        center=True,
        length=samples,
    )


def synthesize(
    frames: Frames,
    samples: int,
    settings: DDSPSettings,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Render ``frames`` to audio.

    Parameters
    ----------
    frames : Frames
        Frame values are spread evenly over ``samples`` when their count does not match
        ``settings.n_frames(samples)``.
    samples : int, length of the output in samples.
    settings : DDSPSettings
    generator : torch.Generator or None
        Source of the noise and the initial partial phases; a seeded one makes output repeatable.

    Returns
    -------
    Tensor [B, samples], float32 (not normalised).
    """
    expected = settings.n_frames(samples)
    if frames.n_frames != expected:
        frames = Frames(
            frames.f0_hz,
            frames.ratios,
            _resample_frames(frames.amplitudes, expected),
            _resample_frames(frames.noise, expected),
        )
    harmonic = harmonic_part(frames, samples, settings, generator=generator)
    return harmonic + noise_part(frames, samples, settings, generator=generator)


def _resample_frames(values: Tensor, frames: int) -> Tensor:
    return F.interpolate(
        values.transpose(1, 2), size=frames, mode="linear", align_corners=True
    ).transpose(1, 2)
