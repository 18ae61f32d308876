"""What the sound view draws, computed off the GUI thread: waveform envelopes and spectrograms.

Pure numpy, no Qt, so it runs on a worker thread and is tested without a display.

A waveform is kept as a pyramid of min/max envelopes (bins of 16, 64, 256… samples). Drawing a
time span picks the coarsest level that still gives about two points per pixel, so a 10-minute
file costs the same few thousand points as a one-second one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

FIRST_BIN = 16
BIN_FACTOR = 4
# The pyramid stops once a level has fewer bins than this (fewer than a wide screen's pixels).
COARSEST_BINS = 2048


def mono(samples: np.ndarray) -> np.ndarray:
    """``samples`` (``[frames]`` or ``[frames, channels]``) as contiguous float32 ``[frames]``."""
    data = np.asarray(samples, dtype=np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1, dtype=np.float32)
    elif data.ndim != 1:
        raise ValueError(f"audio must be [frames] or [frames, channels], got shape {data.shape}")
    return np.ascontiguousarray(data)


def _minmax(data: np.ndarray, bin_size: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(data) // bin_size * bin_size
    blocks = data[:n].reshape(-1, bin_size)
    mins, maxs = blocks.min(axis=1), blocks.max(axis=1)
    if n < len(data):  # the ragged tail is one more bin
        tail = data[n:]
        mins = np.append(mins, tail.min())
        maxs = np.append(maxs, tail.max())
    return mins, maxs


@dataclass(frozen=True)
class WaveformPyramid:
    """Min/max envelopes of one mono signal at several resolutions.

    Parameters
    ----------
    samples : np.ndarray
        float32 ``[frames]``.
    sample_rate : int
        Hz.
    levels : list of (int, np.ndarray, np.ndarray)
        ``(bin_size, mins, maxs)`` from fine to coarse; bin ``k`` covers samples
        ``k*bin_size … (k+1)*bin_size - 1``.
    """

    samples: np.ndarray
    sample_rate: int
    levels: list[tuple[int, np.ndarray, np.ndarray]] = field(default_factory=list)

    @classmethod
    def build(cls, samples: np.ndarray, sample_rate: int) -> WaveformPyramid:
        """Compute the envelopes of ``samples`` (mono float32) at ``sample_rate`` Hz."""
        levels: list[tuple[int, np.ndarray, np.ndarray]] = []
        if len(samples) > COARSEST_BINS * 2:
            bin_size = FIRST_BIN
            mins, maxs = _minmax(samples, bin_size)
            levels.append((bin_size, mins, maxs))
            while len(mins) > COARSEST_BINS:
                lo, _ = _minmax(mins, BIN_FACTOR)
                _, hi = _minmax(maxs, BIN_FACTOR)
                bin_size *= BIN_FACTOR
                mins, maxs = lo, hi
                levels.append((bin_size, mins, maxs))
        return cls(samples=samples, sample_rate=sample_rate, levels=levels)

    @property
    def duration_s(self) -> float:
        """Length, seconds."""
        return len(self.samples) / self.sample_rate

    def view(
        self, start_s: float, end_s: float, *, max_points: int = 4000
    ) -> tuple[np.ndarray, np.ndarray]:
        """Points to draw for the span ``start_s … end_s`` seconds.

        Parameters
        ----------
        start_s, end_s : float
            Span, seconds (clipped to the signal).
        max_points : int, keyword-only
            About how many points the caller can use (twice the plot width in pixels is plenty).

        Returns
        -------
        tuple of np.ndarray
            ``x`` in seconds and ``y``: the samples themselves when they fit, otherwise each bin's
            minimum and maximum in turn, which a connected line draws as the envelope.
        """
        n = len(self.samples)
        first = min(max(0, math.floor(start_s * self.sample_rate)), n)
        last = min(max(first, math.ceil(end_s * self.sample_rate) + 1), n)
        if last - first <= max_points or not self.levels:
            x = np.arange(first, last, dtype=np.float64) / self.sample_rate
            return x, self.samples[first:last]
        # The finest level that fits, else the coarsest (merged further below).
        level = next(
            (lv for lv in self.levels if 2 * (last - first) / lv[0] <= max_points), self.levels[-1]
        )
        bin_size, mins, maxs = level
        b0, b1 = first // bin_size, min(-(-last // bin_size), len(mins))
        mins, maxs = mins[b0:b1], maxs[b0:b1]
        if 2 * len(mins) > max_points:  # longer than even the coarsest level allows: merge bins
            merge = math.ceil(2 * len(mins) / max_points)
            lo, _ = _minmax(mins, merge)
            _, hi = _minmax(maxs, merge)
            mins, maxs, bin_size = lo, hi, bin_size * merge
            b1 = b0 + len(mins)
        centres = (np.arange(b0, b1, dtype=np.float64) + 0.5) * bin_size / self.sample_rate
        x = np.repeat(centres, 2)
        y = np.empty(2 * len(mins), dtype=np.float32)
        y[0::2], y[1::2] = mins, maxs
        return x, y


@dataclass(frozen=True)
class Spectrogram:
    """A log-frequency power spectrogram in dB, ready for an image item.

    Parameters
    ----------
    image : np.ndarray
        float32 ``[rows, frames]``, dB relative to the loudest cell (≤ 0), row 0 the lowest
        frequency.
    start_s : float
        Time of the first frame's centre, seconds.
    hop_s : float
        Time between frames, seconds.
    f_min_hz, f_max_hz : float
        Frequency of the bottom edge of row 0 and the top edge of the last row, Hz; rows are
        evenly spaced in log frequency.
    """

    image: np.ndarray
    start_s: float
    hop_s: float
    f_min_hz: float
    f_max_hz: float

    @property
    def end_s(self) -> float:
        """Time just past the last frame, seconds."""
        return self.start_s + self.image.shape[1] * self.hop_s


def spectrogram(
    samples: np.ndarray,
    sample_rate: int,
    *,
    start_s: float = 0.0,
    end_s: float | None = None,
    n_fft: int = 2048,
    max_frames: int = 1600,
    rows: int = 256,
    f_min_hz: float = 30.0,
    floor_db: float = -90.0,
) -> Spectrogram:
    """Log-frequency spectrogram of ``samples`` between ``start_s`` and ``end_s``.

    Parameters
    ----------
    samples : np.ndarray
        Mono float32 ``[frames]``.
    sample_rate : int
        Hz.
    start_s, end_s : float, keyword-only
        Span to analyse, seconds (``end_s=None``: to the end).
    n_fft : int, keyword-only
        FFT size, samples (Hann window of the same length).
    max_frames : int, keyword-only
        At most this many columns: the hop grows with the span (n_fft/16 at least), so a long
        file costs no more than a short one.
    rows : int, keyword-only
        Log-spaced frequency rows from ``f_min_hz`` to Nyquist.
    f_min_hz : float, keyword-only
        Lowest frequency shown, Hz.
    floor_db : float, keyword-only
        Cells quieter than this, relative to the loudest, are clipped to it.

    Returns
    -------
    Spectrogram
    """
    first = max(0, round(start_s * sample_rate))
    last = len(samples) if end_s is None else min(len(samples), round(end_s * sample_rate))
    span = max(1, last - first)
    hop = max(n_fft // 16, math.ceil(span / max_frames))
    frames = max(1, math.ceil(span / hop))
    # Frame k is centred on sample first + k*hop; the signal around the span pads the edges
    # where it exists, zeros where it does not.
    half = n_fft // 2
    lo, hi = first - half, first + (frames - 1) * hop + half
    padded = np.zeros(hi - lo, dtype=np.float32)
    src_lo, src_hi = max(lo, 0), min(hi, len(samples))
    if src_hi > src_lo:
        padded[src_lo - lo : src_hi - lo] = samples[src_lo:src_hi]
    windows = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:frames]
    power = np.abs(np.fft.rfft(windows * np.hanning(n_fft).astype(np.float32), axis=1)) ** 2

    # Average the linear bins inside each log-spaced row: a running sum read at fractional bin
    # edges gives exact means whether a row spans many bins (treble) or part of one (bass).
    nyquist = sample_rate / 2
    f_min_hz = min(f_min_hz, nyquist / 2)
    edges_hz = np.geomspace(f_min_hz, nyquist, rows + 1)
    edges = edges_hz * n_fft / sample_rate + 0.5  # bin k covers k-0.5 … k+0.5
    cumulative = np.concatenate([np.zeros((frames, 1)), np.cumsum(power, axis=1)], axis=1)
    index = np.clip(np.floor(edges).astype(int), 0, cumulative.shape[1] - 2)
    fraction = np.clip(edges - index, 0.0, 1.0)
    at_edges = cumulative[:, index] + fraction * (cumulative[:, index + 1] - cumulative[:, index])
    rows_power = np.diff(at_edges, axis=1) / np.diff(edges)
    db = 10.0 * np.log10(np.maximum(rows_power, 1e-20))
    db -= db.max()
    image = np.maximum(db, floor_db).T.astype(np.float32)
    return Spectrogram(
        image=np.ascontiguousarray(image),
        start_s=first / sample_rate,
        hop_s=hop / sample_rate,
        f_min_hz=float(f_min_hz),
        f_max_hz=float(nyquist),
    )


@dataclass(frozen=True)
class SoundAnalysis:
    """Everything the sound view draws for one sound."""

    waveform: WaveformPyramid
    spectrogram: Spectrogram


def analyse(samples: np.ndarray, sample_rate: int) -> SoundAnalysis:
    """Waveform pyramid and whole-file spectrogram of ``samples`` (any channel layout)."""
    data = mono(samples)
    return SoundAnalysis(
        waveform=WaveformPyramid.build(data, sample_rate),
        spectrogram=spectrogram(data, sample_rate),
    )
