"""What every bench measures with: timed repeats, real-time factor, latency, peak memory.

Results are :class:`BenchResult` rows (one number with its unit), so the command can print a
table or JSON for any subject without knowing what was measured.
"""

from __future__ import annotations

import contextlib
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from synth_core.control_values import APP_TORCH_THREADS


@dataclass(frozen=True)
class BenchOptions:
    """What to measure: clip length in s, batch sizes, timed repeats (the median is reported)."""

    seconds: float = 1.0
    batches: tuple[int, ...] = (1, 64)
    repeats: int = 5
    warmup: int = 1


@dataclass(frozen=True)
class BenchResult:
    """One number: ``value`` in ``unit`` for ``subject`` (an instrument, a preset…)."""

    family: str
    subject: str
    metric: str
    value: float
    unit: str
    detail: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        extra = ", ".join(f"{k} {v}" for k, v in self.detail.items())
        value = f"{self.value:,.1f}" if abs(self.value) >= 10 else f"{self.value:.3g}"
        return f"{self.family:<9} {self.subject:<10} {self.metric:<28} {value:>10} {self.unit}" + (
            f"   ({extra})" if extra else ""
        )


BenchFn = Callable[[BenchOptions], list[BenchResult]]


@contextlib.contextmanager
def app_threads() -> Iterator[int]:
    """Torch's intra-op threads set to the app's (:data:`APP_TORCH_THREADS`, as
    ``app/studio.py`` renders a slider move or a note) for the block, then restored: what the
    app renders one clip with is what a one-clip figure measures. Yields the count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(APP_TORCH_THREADS)
    try:
        yield APP_TORCH_THREADS
    finally:
        torch.set_num_threads(threads)


def timings(
    function: Callable[[], Any], *, repeats: int = 5, warmup: int = 1, min_seconds: float = 0.0
) -> list[float]:
    """Wall-clock seconds of at least ``repeats`` calls of ``function`` after ``warmup`` untimed
    ones; fast calls repeat until ``min_seconds`` have been timed (at most 500 calls), so a
    median of a few-millisecond call is not five samples of scheduler noise."""
    for _ in range(warmup):
        function()
    seconds: list[float] = []
    while len(seconds) < max(1, repeats) or (sum(seconds) < min_seconds and len(seconds) < 500):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return seconds


def real_time_factor(
    render: Callable[[], Any],
    audio_seconds: float,
    *,
    repeats: int = 5,
    warmup: int = 1,
) -> tuple[float, float]:
    """Seconds of audio made per second of computing, and the median call time in s.

    Parameters
    ----------
    render : callable
        Makes ``audio_seconds`` of audio in total (all the notes of a batch together).
    audio_seconds : float
        s of audio one call produces.
    """
    median = statistics.median(timings(render, repeats=repeats, warmup=warmup, min_seconds=0.5))
    return audio_seconds / max(median, 1e-12), median


def latency_ms(
    function: Callable[[], Any], *, repeats: int = 20, warmup: int = 2
) -> tuple[float, float]:
    """Median and 95th-percentile time of one call, in ms (a slider move → new sound)."""
    seconds = sorted(timings(function, repeats=repeats, warmup=warmup))
    p95 = seconds[min(len(seconds) - 1, int(round(0.95 * (len(seconds) - 1))))]
    return 1000 * statistics.median(seconds), 1000 * p95


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
