"""The physical instruments: speed, the cost of sound matching, and how accuracy is measured.

:func:`bench` gives ``timbrelab bench --family physical``: real-time factor per instrument at each
batch size, slider-to-audio latency through ``generate``, and the cost of sound matching.
:func:`measured_hz` and :func:`measured_t60` are the pitch and decay estimators that the tests
(``tests/core/test_physical.py``) and ``bench/physical_report.py`` judge the instruments with:
pitch and decay are measured from the audio, never read back from the synthesis parameters.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
import scipy.signal
import torch

from synth_core.benchmarks.measure import (
    BenchOptions,
    BenchResult,
    latency_ms,
    real_time_factor,
    timings,
)
from synth_core.models.base import Batch
from synth_core.models.physical.model import (
    INSTRUMENT_TABLE,
    PhysicalConfig,
    PhysicalModel,
    instrument_model,
)

SAMPLE_RATE = 44100


def hz(midi: float) -> float:
    """Frequency in Hz of MIDI note ``midi`` (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def cents(measured: float, target: float) -> float:
    """How far ``measured`` lies from ``target`` (both Hz), in cents."""
    return 1200.0 * math.log2(measured / target)


def measured_hz(
    audio: np.ndarray,
    near: float,
    *,
    start: float = 0.3,
    length: float = 0.5,
    rate: int = SAMPLE_RATE,
) -> float:
    """Frequency (Hz) of the strongest peak within half a semitone of ``near``.

    Hann window over ``start``…``start + length`` s, zero-padded to 2^20 points (0.04 Hz bins,
    about 47 times the segment), parabolic interpolation of the log magnitude (error far below
    0.01 cent).
    """
    segment = np.asarray(audio, dtype=np.float64)[int(start * rate) : int((start + length) * rate)]
    size = 1 << 20
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment)), size))
    freqs = np.arange(len(spectrum)) * rate / size
    band = np.flatnonzero((freqs > near * 2 ** (-0.5 / 12)) & (freqs < near * 2 ** (0.5 / 12)))
    i = band[np.argmax(spectrum[band])]
    a, b, c = np.log(spectrum[i - 1 : i + 2])
    return (i + 0.5 * (a - c) / (a - 2 * b + c)) * rate / size


def measured_t60(
    audio: np.ndarray, partial_hz: float, *, start: float = 0.1, rate: int = SAMPLE_RATE
) -> float:
    """T60 (s) of one partial: mix it down to DC, low-pass with an 8-period Blackman-Harris
    window (sidelobes -92 dB, so other partials do not leak in), fit dB against time over the
    first 40 dB of fall."""
    x = np.asarray(audio, dtype=np.float64)
    n = np.arange(len(x))
    base = x * np.exp(-2j * np.pi * partial_hz * n / rate)
    width = int(8 * rate / partial_hz) | 1
    window = scipy.signal.windows.blackmanharris(width)
    envelope = np.abs(np.convolve(base, window / window.sum(), mode="valid"))
    t = (np.arange(len(envelope)) + width // 2) / rate
    db = 20 * np.log10(envelope + 1e-300)
    after = t > start
    top = db[after].max()
    fallen = np.flatnonzero(after & (db < top - 40))
    stop = fallen[0] if len(fallen) else len(db)
    fit = after & (np.arange(len(db)) < stop)
    slope = np.polyfit(t[fit], db[fit], 1)[0]
    return -60.0 / slope


def bench(options: BenchOptions) -> list[BenchResult]:
    """RTF of every instrument rendering ``options.seconds`` notes (median of
    ``options.repeats``), batch by batch, and the p95 time of one ``generate`` call."""
    results = []
    for name in INSTRUMENT_TABLE:
        model = instrument_model(name, clip_seconds=options.seconds)
        for batch in options.batches:

            def render(model: PhysicalModel = model, batch: int = batch) -> None:
                with torch.no_grad():
                    model.generate(n=batch, seed=0)

            rtf, median = real_time_factor(
                render, batch * options.seconds, repeats=options.repeats, warmup=options.warmup
            )
            results.append(
                BenchResult(
                    "physical",
                    name,
                    f"RTF, batch {batch}",
                    rtf,
                    "x real time",
                    {"ms per call": round(1000 * median, 2)},
                )
            )
        control = model.controls()[1]
        positions = iter([control.minimum, control.maximum] * 1000)

        def slider_move(
            model: PhysicalModel = model, name: str = control.name, positions=positions
        ) -> None:
            with torch.no_grad():
                model.generate({name: next(positions)}, n=1, seed=0)

        p50, p95 = latency_ms(slider_move, repeats=max(5, 4 * options.repeats), warmup=1)
        results.append(
            BenchResult(
                "physical",
                name,
                "slider-to-audio latency p95",
                p95,
                "ms",
                {"median ms": round(p50, 2), "note s": options.seconds},
            )
        )
    results.extend(_matching(options))
    return results


def _matching(options: BenchOptions) -> list[BenchResult]:
    """Sound-matching cost: the search in ``begin`` per clip, and one Adam step on 16 clips."""
    count = 16
    maker = instrument_model("string", clip_seconds=options.seconds)
    notes = [maker.generate(n=1, seed=i, pitch=48 + i)[0] for i in range(count)]

    class Clips:
        audio = torch.stack(notes)
        pitch = torch.full((count,), float("nan"))

    model = PhysicalModel(PhysicalConfig(clip_seconds=options.seconds))
    search_s = min(timings(lambda: model.begin(Clips), repeats=1, warmup=0))
    batch = Batch(Clips.audio, None, torch.arange(count))
    step_s = timings(lambda: model.step(batch), repeats=options.repeats, warmup=options.warmup)
    return [
        BenchResult(
            "physical",
            "matching",
            "search per clip (begin)",
            1000 * search_s / count,
            "ms",
            {"candidates": model.config.candidates, "instruments": len(INSTRUMENT_TABLE)},
        ),
        BenchResult(
            "physical",
            "matching",
            f"Adam step, batch {count}",
            1000 * statistics.median(step_s),
            "ms",
            {"match s": model.config.match_seconds},
        ),
    ]
