"""The physical family's entries in ``timbrelab bench``: real-time factor per instrument at each
batch size, and slider-to-audio latency through ``generate``."""

from __future__ import annotations

import torch

from synth_core.bench import BenchOptions, BenchResult, latency_ms, real_time_factor
from synth_core.models.physical.model import INSTRUMENT_TABLE, PhysicalModel, instrument_model


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
    return results
