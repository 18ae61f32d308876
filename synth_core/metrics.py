"""Numbers for how good a model is: reconstruction distances and two-sample tests on clip sets.

Reconstruction metrics compare each clip ``x`` with its rebuilt ``y`` (``[n, samples]``, same
rate) and return one value per clip. Generation metrics compare two *sets* of clips through
per-clip feature vectors (:func:`clip_features`).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import Tensor

from synth_core import dsp

MR_RESOLUTIONS = ((2048, 512), (1024, 256), (512, 128))


def mr_stft_distance(x: Tensor, y: Tensor) -> Tensor:
    """Multi-resolution STFT distance per clip, ``[n]``: the mean over three resolutions (FFT 2048,
    1024, 512; hop a quarter) of spectral convergence plus mean absolute log-magnitude
    difference (Yamamoto et al., 2020, Parallel WaveGAN). 0 for identical clips."""
    total = torch.zeros(x.shape[0])
    for n_fft, hop in MR_RESOLUTIONS:
        mx = dsp.magnitude(x, n_fft=n_fft, hop=hop)
        my = dsp.magnitude(y, n_fft=n_fft, hop=hop)
        sc = (my - mx).flatten(1).norm(dim=-1) / mx.flatten(1).norm(dim=-1).clamp_min(1e-8)
        log_l1 = (torch.log(my + dsp.EPS) - torch.log(mx + dsp.EPS)).abs().flatten(1).mean(-1)
        total += (sc + log_l1).cpu()
    return total / len(MR_RESOLUTIONS)


def spectral_convergence_db(x: Tensor, y: Tensor, *, n_fft: int = 1024, hop: int = 256) -> Tensor:
    """``20 log10(‖|Y| − |X|‖_F / ‖|X|‖_F)`` per clip, dB, ``[n]``; lower is better."""
    mx = dsp.magnitude(x, n_fft=n_fft, hop=hop)
    my = dsp.magnitude(y, n_fft=n_fft, hop=hop)
    ratio = (my - mx).flatten(1).norm(dim=-1) / mx.flatten(1).norm(dim=-1).clamp_min(1e-8)
    return 20 * torch.log10(ratio.clamp_min(1e-8)).cpu()


def log_spectral_distance(x: Tensor, y: Tensor, *, n_fft: int = 1024, hop: int = 256) -> Tensor:
    """Log-spectral distance per clip, dB, ``[n]``: per frame the RMS over bins of
    ``10 log10(P_x / P_y)``, averaged over frames (power floored at −100 dB)."""
    px = dsp.magnitude(x, n_fft=n_fft, hop=hop).pow(2) + 1e-10
    py = dsp.magnitude(y, n_fft=n_fft, hop=hop).pow(2) + 1e-10
    per_frame = (10 * torch.log10(px / py)).pow(2).mean(-2).sqrt()
    return per_frame.mean(-1).cpu()


def pitch_error_cents(audio: Tensor, midi: Tensor, sample_rate: int) -> Tensor:
    """``|1200 log2(f0 / f_label)|`` per clip, cents, ``[n]``; NaN where unlabelled or no f0."""
    f0 = dsp.f0_hz(audio, sample_rate).cpu()
    target = dsp.midi_to_hz(midi.float().cpu())
    return (1200 * torch.log2(f0 / target)).abs()


N_MELS = 64
ENVELOPE_POINTS = 32


def clip_features(audio: Tensor, sample_rate: int) -> Tensor:
    """Per-clip feature vectors for two-sample tests, ``[n, 2·64 + 2·64 + 32 + 2]``.

    Log-mel (64 bands) mean and standard deviation over time; mean and standard deviation over
    time of its frame-to-frame change; the loudness envelope (RMS, dB) at 32 points; spectral
    flatness mean and standard deviation over frames.
    """
    mel = dsp.log_mel(audio, sample_rate, n_mels=N_MELS)
    change = mel.diff(dim=-1)
    envelope = 20 * torch.log10(dsp.rms_envelope(audio) + dsp.EPS)
    envelope = F.interpolate(envelope[:, None], size=ENVELOPE_POINTS, mode="area")[:, 0]
    power = dsp.magnitude(audio).pow(2) + 1e-10
    flatness = torch.exp(torch.log(power).mean(-2)) / power.mean(-2)
    return torch.cat(
        [
            mel.mean(-1),
            mel.std(-1),
            change.mean(-1),
            change.std(-1),
            envelope,
            flatness.mean(-1, keepdim=True),
            flatness.std(-1, keepdim=True),
        ],
        dim=-1,
    ).cpu()


def log_mel_statistics(audio: Tensor, sample_rate: int) -> Tensor:
    """Per-clip log-mel statistics, ``[n, 2·64]``: each band's mean and standard deviation over
    time, the space in which :func:`memorisation_ratio` measures how near a clip is to another.

    They are the first 128 of :func:`clip_features`; the rest (change over time, envelope,
    flatness) say how a clip moves, and two takes of one sound differ there more than in timbre.
    """
    mel = dsp.log_mel(audio, sample_rate, n_mels=N_MELS)
    return torch.cat([mel.mean(-1), mel.std(-1)], dim=-1).cpu()


def memorisation_ratio(generated: Tensor, held_out: Tensor, train: Tensor) -> float:
    """How much nearer generated clips sit to the training clips than new real clips do.

    The median distance from a generated clip to its nearest training clip over the same median
    for held-out real clips, on feature vectors (``[n, d]``, e.g. :func:`log_mel_statistics`)
    standardised by the training set's per-feature mean and deviation. About 1.0: as novel as a
    new recording; below about 0.8: generation copies training clips; NaN when the held-out
    clips are themselves training clips (distance 0).
    """
    mean, std = train.double().mean(0), train.double().std(0).clamp_min(1e-8)

    def nearest(features: Tensor) -> float:
        scaled = (features.double() - mean) / std
        return float(torch.cdist(scaled, (train.double() - mean) / std).min(-1).values.median())

    reference = nearest(held_out)
    return nearest(generated) / reference if reference > 0 else float("nan")


def one_nn_accuracy(real: Tensor, generated: Tensor, *, paired: bool = False) -> float:
    """Leave-one-out 1-nearest-neighbour two-sample accuracy (Lopez-Paz & Oquab, 2017).

    Both sets' feature vectors are standardised together (per feature, pooled mean and
    deviation); each vector is classified by its nearest other vector (Euclidean). 0.5 means the
    sets are indistinguishable, 1.0 fully separable. ``paired``: ``generated[i]`` was made from
    ``real[i]`` (a reconstruction), so each pair is left out together — otherwise a good
    reconstruction's nearest neighbour is its own original and the test reads "distinguishable"
    for being faithful.
    """
    pooled = torch.cat([real, generated]).double()
    labels = torch.cat([torch.zeros(len(real)), torch.ones(len(generated))])
    pooled = (pooled - pooled.mean(0)) / pooled.std(0).clamp_min(1e-8)
    distances = torch.cdist(pooled, pooled)
    distances.fill_diagonal_(float("inf"))
    if paired:
        if len(real) != len(generated):
            raise ValueError(f"paired sets differ in size: {len(real)} and {len(generated)}")
        index = torch.arange(len(real))
        distances[index, index + len(real)] = float("inf")
        distances[index + len(real), index] = float("inf")
    nearest = distances.argmin(-1)
    return float((labels[nearest] == labels).double().mean())


def frechet_distance(real: Tensor, generated: Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (Heusel et al., 2017),
    ``‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½)``, on features standardised by ``real``'s mean and
    deviation so no feature dominates by its unit."""
    mean, std = real.double().mean(0), real.double().std(0).clamp_min(1e-8)
    a = ((real.double() - mean) / std).numpy()
    b = ((generated.double() - mean) / std).numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b)
    if np.iscomplexobj(root):
        root = root.real
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))
    return max(value, 0.0)
