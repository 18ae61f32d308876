"""``timbrelab bench``: speed and memory numbers per family, printed, never asserted.

Families plug in either by registering a function here (:func:`register_bench`) or by giving
their module a ``bench(options: BenchOptions) -> list[BenchResult]`` function; a family with
neither gets the generic measurement of its untrained default model's ``generate``. The helpers
(:func:`real_time_factor`, :func:`latency_ms`, :func:`peak_memory_mb`) are what every bench uses,
so numbers from different families mean the same thing.
"""

from __future__ import annotations

import importlib
import json
import logging
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from synth_core.errors import ModelConfigError, TimbreLabError

log = logging.getLogger(__name__)


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
BENCHES: dict[str, BenchFn] = {}


def register_bench(family: str) -> Callable[[BenchFn], BenchFn]:
    """Decorator: ``@register_bench("vae") def bench_vae(options): ...``."""

    def add(function: BenchFn) -> BenchFn:
        BENCHES[family] = function
        return function

    return add


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


def generic_bench(family_name: str, options: BenchOptions) -> list[BenchResult]:
    """Generation speed of a family's untrained default model (families without a bench)."""
    from synth_core.train import build_learner

    model = build_learner(family_name)
    seconds = float(getattr(model.config, "clip_seconds", options.seconds))
    results = []
    for batch in options.batches:

        def render(batch: int = batch) -> None:
            with torch.no_grad():
                model.generate(n=batch, seed=0)

        rtf, median = real_time_factor(
            render, batch * seconds, repeats=options.repeats, warmup=options.warmup
        )
        results.append(
            BenchResult(
                family_name,
                "untrained",
                f"generate RTF, batch {batch}",
                rtf,
                "x real time",
                {"ms per call": round(1000 * median, 2)},
            )
        )
    return results


def bench_function(family_name: str) -> BenchFn:
    """The family's bench: registered here, else its module's ``bench``, else the generic one."""
    from synth_core.models import get_family

    family = get_family(family_name)
    if family_name not in BENCHES:
        module_name = family.model_class.__module__
        for candidate in (module_name, module_name.rsplit(".", 1)[0]):
            hook = getattr(importlib.import_module(candidate), "bench", None)
            if callable(hook):
                return hook
    return BENCHES.get(family_name, lambda options: generic_bench(family_name, options))


def run_bench(family_name: str, options: BenchOptions | None = None) -> list[BenchResult]:
    """Every number one family reports, plus this process's peak memory afterwards."""
    options = options or BenchOptions()
    results = list(bench_function(family_name)(options))
    results.append(BenchResult(family_name, "process", "peak memory", peak_memory_mb(), "MiB"))
    return results


def cli_bench(args: Any) -> int:
    """``timbrelab bench [--family F] [--json]``."""
    from synth_core.models import available_families

    if args.family == "studio":
        names = []
    elif args.family is not None:
        names = [args.family]
    else:
        names = [family.name for family in available_families()]
    results: list[BenchResult] = []
    failures: dict[str, str] = {}
    for name in names:
        try:
            results.extend(run_bench(name))
        except TimbreLabError as error:
            if args.family is not None:
                raise
            failures[name] = str(error)
        except Exception as error:  # one family's broken bench must not hide the others' numbers
            if args.family is not None:
                raise
            log.warning("bench of %s failed", name, exc_info=True)
            failures[name] = f"{type(error).__name__}: {error}"
        if not args.json:
            for result in (r for r in results if r.family == name):
                sys.stdout.write(result.line() + "\n")
            if name in failures:
                sys.stdout.write(f"{name:<9} skipped: {failures[name]}\n")
            sys.stdout.flush()
    if args.family in (None, "studio"):
        # slider → sound in the explore panel, for the models the app opens (synth_core.studio)
        from synth_core.studio import bench_slider_latency

        studio = bench_slider_latency()
        results.extend(studio)
        if not args.json:
            sys.stdout.write("".join(result.line() + "\n" for result in studio))
    if args.json:
        report = {
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "results": [asdict(r) for r in results],
            "skipped": failures,
        }
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    if not results:
        raise ModelConfigError(f"no family could be benchmarked: {failures}")
    return 0
