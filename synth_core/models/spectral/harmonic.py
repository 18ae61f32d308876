"""The harmonic frequency axis of pitch-labelled spectral models.

A note's partials sit at multiples of its fundamental, so on a linear frequency axis two notes a
few semitones apart share almost no bins: a model that writes bins must learn every pitch's comb
separately, and a pitch it never heard (a held-out note) comes out as a blur of its neighbours'.
On the harmonic axis each clip's spectrum is stretched by ``reference / f0`` (a note at the
``reference`` pitch stays as it is, one an octave lower is stretched to twice the width), so
every note's k-th partial lands on the same bin whatever its pitch, and the PCA basis and the
decoder describe timbre instead of pitch. Rendering stretches it back by the pitch asked for.

The reference is the highest training pitch, so every training note is stretched wider (read at
less than one linear bin per harmonic bin) and none loses the peaks of its partials; only a note
played above the training range is read more coarsely. The harmonic part of the axis runs up to
a knee, half the Nyquist frequency at the reference pitch; above it the rest of the clip's
spectrum is spread evenly up to the top bin, so a note far below the reference still keeps its
highs (aligned with the other notes' only below the knee). Values between bins are read by
linear interpolation of the log magnitude; where one harmonic bin spans 2.5 linear ones or more,
it holds their maximum, so a partial between two read positions keeps its level.

Measured (docs/experiments/harmonic-axis.md): on real soundfont notes (126 training notes, 45
held-out pitches of the same 9 instruments), PCA-32 rebuilds the held-out pitches at spectral
convergence −10.2 dB on this axis against −2.3 dB on the linear one
(``bench/harmonic_axis_pca.py``), and a 5-minute vae's new sounds score 1-NN 0.667 against
0.700 with reconstructions at −14.3 dB against −12.6 dB. On the built-in sounds (4 octaves of
pitched and unpitched sounds) a 10-minute vae's new sounds score 0.617 against 0.710 on the
linear axis, once their grain is added after the stretch back (added before it, on this axis,
it landed in the wrong bands and the axis lost: 0.752). A reference at the median pitch read
notes above it too coarsely (built-in reconstructions 2.6 dB worse).

Written with plain tensor operations so that the TorchScript and ONNX exports run them too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# the widest maximum taken when one harmonic bin spans several linear ones: ±4 bins covers notes
# up to three octaves above the reference
MAX_REACH = 4


def stretch_ratio(pitch: Tensor, reference: float) -> Tensor:
    """``f0 / f_reference`` per clip for MIDI ``pitch`` ``[n]``; 1 (no stretch) where the pitch
    is unknown (NaN or below 0)."""
    # in float64: float32 exp2 may round differently in a vectorised loop and in its scalar tail,
    # and a clip must stretch by the same ratio whatever batch it is in (several processes split
    # a batch and must learn what one process learns)
    pitch = pitch.double()
    known = torch.isfinite(pitch) & (pitch >= 0)
    safe = torch.where(known, pitch, torch.full_like(pitch, reference))
    return torch.exp2((safe - reference) / 12.0).float()


def _sample_bins(spec: Tensor, positions: Tensor) -> Tensor:
    """``spec`` ``[n, bins, frames]`` read at fractional bin ``positions`` ``[n, bins]`` by linear
    interpolation; positions past either end read the end bin."""
    n, size, frames = spec.shape
    positions = positions.clamp(0.0, float(size - 1))
    low = positions.floor().clamp(max=float(size - 2))
    weight = (positions - low)[:, :, None]
    # whole rows of frames, picked from the clips' rows laid end to end: a row copy each, ~4×
    # faster than a gather with the index expanded over frames
    rows = spec.reshape(n * size, frames)
    index = (low.long() + (torch.arange(n, device=spec.device) * size)[:, None]).flatten()
    below = rows.index_select(0, index).reshape(n, -1, frames)
    above = rows.index_select(0, index + 1).reshape(n, -1, frames)
    return below + (above - below) * weight


def _knee(ratio: Tensor, bins: int) -> tuple[Tensor, Tensor]:
    """Per clip, the harmonic-axis bin and the linear bin where the harmonic part of the axis
    ends: the reference note's partials up to half the Nyquist frequency line up, and the knee
    stays below 90% of the linear axis so that the band above it keeps room."""
    top = float(bins - 1)
    harmonic_knee = torch.minimum(torch.full_like(ratio, top / 2), 0.9 * top / ratio)
    return harmonic_knee, harmonic_knee * ratio


def _peak_envelope(log_mag: Tensor, reach: int) -> Tensor:
    """``log_mag`` ``[n, bins, frames]`` → ``[reach + 1, n, bins, frames]``: the maximum over
    ±k bins for k = 0 … ``reach``."""
    levels = [log_mag]
    for k in range(1, reach + 1):
        levels.append(F.max_pool1d(log_mag.transpose(1, 2), 2 * k + 1, 1, k).transpose(1, 2))
    return torch.stack(levels)


def to_harmonic(log_mag: Tensor, ratio: Tensor) -> Tensor:
    """Log magnitude ``[n, bins, frames]`` on the linear axis → the harmonic axis: below the knee
    harmonic bin b holds linear bin ``b · ratio`` (``ratio`` from :func:`stretch_ratio`,
    ``[n]``); above it the rest of the linear axis, spread evenly up to the top bin.

    Where one harmonic bin spans several linear ones (a note above the reference; the band above
    the knee of one far below it) it holds their maximum, so that a partial between two sampled
    positions keeps its peak level instead of falling between them."""
    bins = log_mag.shape[1]
    ratio = ratio.to(log_mag)
    knee, linear_knee = _knee(ratio, bins)
    b = torch.arange(bins, dtype=log_mag.dtype, device=log_mag.device)[None, :]
    top = float(bins - 1)
    spread = (top - linear_knee) / (top - knee)
    below = b < knee[:, None]
    positions = torch.where(
        below, b * ratio[:, None], linear_knee[:, None] + (b - knee[:, None]) * spread[:, None]
    )
    # linear bins per harmonic bin, and the ± reach in bins that covers them: 0 below 2.5 bins
    # per bin, 1 up to 4.5, …; these limits fall between the ratios of whole semitones
    # (2^(16/12) = 2.52), so no clip's reach hangs on the last bit of its ratio
    step = torch.where(below, ratio[:, None].expand_as(positions), spread[:, None])
    reach = torch.floor(step / 2.0 - 0.25).clamp(min=0.0, max=float(MAX_REACH))
    # only the reaches some bin needs: training notes (all at or below the reference) need none
    levels = _peak_envelope(log_mag, int(reach.max()) if reach.numel() else 0)
    sampled = torch.stack([_sample_bins(level, positions) for level in levels.unbind(0)])
    index = reach.long()[None, :, :, None].expand(1, -1, -1, log_mag.shape[2])
    return torch.gather(sampled, 0, index)[0]


def from_harmonic(log_mag: Tensor, ratio: Tensor) -> Tensor:
    """The inverse of :func:`to_harmonic`: below the knee linear bin b holds harmonic bin
    ``b / ratio``."""
    bins = log_mag.shape[1]
    ratio = ratio.to(log_mag)
    knee, linear_knee = _knee(ratio, bins)
    b = torch.arange(bins, dtype=log_mag.dtype, device=log_mag.device)[None, :]
    top = float(bins - 1)
    above = (
        knee[:, None] + (b - linear_knee[:, None]) * ((top - knee) / (top - linear_knee))[:, None]
    )
    return _sample_bins(log_mag, torch.where(b < linear_knee[:, None], b / ratio[:, None], above))
