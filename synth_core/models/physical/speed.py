"""The physical family's entries in ``timbrelab bench``: real-time factor per instrument at each
batch size, slider-to-audio latency through ``generate``, and the cost of sound matching."""

from __future__ import annotations

import statistics

import torch

from synth_core.bench import BenchOptions, BenchResult, latency_ms, real_time_factor, timings
from synth_core.models.base import Batch
from synth_core.models.physical.model import (
    INSTRUMENT_TABLE,
    PhysicalConfig,
    PhysicalModel,
    instrument_model,
)


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
