"""Slider → sound latency of the models the app opens (``timbrelab bench --family studio``).

The explore panel renders one clip per slider move on a worker thread; this measures that render,
model by model, with the thread count the app uses
(:data:`synth_core.control_values.APP_TORCH_THREADS`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from synth_core.benchmarks.measure import BenchResult, app_threads, latency_ms
from synth_core.models.base import SoundModel, resolve_values
from synth_core.runs import RESOURCES_MODELS, open_model


def slider_latency_ms(model: SoundModel, *, moves: int = 40, seed: int = 0) -> tuple[float, float]:
    """Median and 95th-percentile time, ms, from a slider move to the new sound in memory.

    Each call moves one control (taking turns) to a new position and renders one sound, as the
    explore panel's worker does for every slider change; the seed stays fixed.
    """
    controls = model.controls()
    values = resolve_values(controls, None)
    pitch = 60.0 if model.pitch_conditioned else None
    state = {"i": 0}

    def move() -> None:
        i = state["i"]
        state["i"] += 1
        control = controls[i % len(controls)]
        values[control.name] = control.from_normalised((0.37 * (i + 1)) % 1.0)
        with torch.no_grad():
            model.generate(values, n=1, seed=seed, pitch=pitch)

    return latency_ms(move, repeats=moves, warmup=2)


def bench_slider_latency(models: Sequence[str] | None = None) -> list[BenchResult]:
    """:func:`slider_latency_ms` of ``models`` (default: the starter models and a physical
    string, what the app opens on launch), rendered with :data:`APP_TORCH_THREADS` threads."""
    if models is None:
        starters = sorted(
            p.name for p in RESOURCES_MODELS.glob("*") if (p / "model.json").is_file()
        )
        models = [*starters, "physical:string"]
    results = []
    with app_threads():
        measured = [(model_id, open_model(model_id)) for model_id in models]
        timings = [(model_id, model, *slider_latency_ms(model)) for model_id, model in measured]
    for model_id, model, median, p95 in timings:
        results.append(
            BenchResult(
                "studio",
                model_id,
                "slider→sound latency p95",
                p95,
                "ms",
                {"median ms": round(median, 1), "family": model.family},
            )
        )
    return results
