"""Speed of every model family: generation real-time factor, slider latency, training step time.

Which bench a family gets is one table, :data:`BENCHES`: the spectral families (cnn, vae, gan)
and the frame families (gmm, hmm, rnn) share one bench each, the physical family has its own
(:mod:`synth_core.benchmarks.physical`), and a family not in the table gets
:func:`generic_bench`, the generation speed of its untrained default model. Each bench first
gives its model what training would (fitted statistics, latents, a few steps), because these
families cannot generate before they have seen sounds and speed does not depend on how well they
learned.
"""

from __future__ import annotations

import math
import statistics

import torch

from synth_core import dsp
from synth_core.benchmarks import physical
from synth_core.benchmarks.measure import (
    BenchFn,
    BenchOptions,
    BenchResult,
    app_threads,
    latency_ms,
    peak_memory_mb,
    real_time_factor,
    timings,
)
from synth_core.dataset import ClipSet
from synth_core.models import get_family
from synth_core.models.base import Batch, SoundModel
from synth_core.train import build_learner

# train steps a frame family takes before it is timed (they fit their statistics in ``begin``)
FRAME_FAMILY_STEPS = 5


def frame_clips(*, n: int = 24, sample_rate: int = 44100, seconds: float = 1.0) -> ClipSet:
    """A small ClipSet of plucks and noise hits, made in code, for benchmarks without data."""
    generator = torch.Generator().manual_seed(0)
    samples = int(round(sample_rate * seconds))
    t = torch.arange(samples, dtype=torch.float64) / sample_rate
    audio, pitch = [], []
    for i in range(n):
        midi = 45.0 + 3 * i
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        if i % 2 == 0:
            sound = sum(
                (0.4 / k) * torch.sin(2 * math.pi * k * f0 * t) * torch.exp(-4.0 * k * t)
                for k in range(1, 13)
            )
        else:
            sound = 0.3 * torch.randn(samples, generator=generator, dtype=torch.float64)
            sound = sound * torch.exp(-12.0 * t)
            midi = float("nan")
        audio.append(sound)
        pitch.append(midi)
    return ClipSet(
        audio=torch.stack(audio).float(),
        pitch=torch.tensor(pitch, dtype=torch.float32),
        paths=[],
        sample_rate=sample_rate,
    )


def tone_clips(*, count: int = 16, samples: int, sample_rate: int) -> ClipSet:
    """``count`` decaying sines with a little noise, MIDI 48 upwards, labelled with their pitch."""
    generator = torch.Generator().manual_seed(0)
    t = torch.arange(samples) / sample_rate
    notes = torch.arange(count) + 48.0
    tones = torch.sin(2 * math.pi * dsp.midi_to_hz(notes)[:, None] * t) * torch.exp(-4 * t)
    noise = 0.05 * torch.randn(tones.shape, generator=generator)
    return ClipSet(0.3 * tones + noise, notes, [f"c{i}" for i in range(count)], sample_rate)


def _generation_rtf(
    family_name: str, model: SoundModel, seconds: float, options: BenchOptions, *, subject: str
) -> list[BenchResult]:
    """RTF of ``model.generate`` (clips of ``seconds``) at each of ``options.batches``, with all
    of torch's threads, as ``timbrelab generate`` and an export render; the app's one-clip case
    is the slider figure, timed with the app's thread count (:func:`app_threads`)."""
    results = []
    threads = torch.get_num_threads()
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
                subject,
                f"generate RTF, batch {batch}",
                rtf,
                "x real time",
                {"ms per call": round(1000 * median, 2), "threads": threads},
            )
        )
    return results


def generic_bench(family_name: str, options: BenchOptions) -> list[BenchResult]:
    """Generation speed of a family's untrained default model (families without a bench)."""
    model = build_learner(family_name)
    seconds = float(model.config.to_dict().get("clip_seconds", options.seconds))
    return _generation_rtf(family_name, model, seconds, options, subject="untrained")


def spectral_bench(family_name: str, options: BenchOptions) -> list[BenchResult]:
    """Numbers of a spectral family (cnn, vae, gan): generation RTF at each batch size, slider
    latency, the decode split into network and rendering, and training throughput.

    The model is untrained but has fitted latents (from a few synthetic clips), so generation
    takes the same path and time as a trained one: neighbour draw → network → rendering.
    """
    model = build_learner(family_name)
    cfg = model.config
    clips = tone_clips(samples=cfg.clip_samples, sample_rate=cfg.sample_rate)
    model.begin(clips)
    model.eval()
    model.end(clips)
    results = _generation_rtf(family_name, model, cfg.clip_seconds, options, subject="default")
    position = iter(torch.linspace(-3, 3, 64).tolist() * 4)
    with app_threads():
        p50, p95 = latency_ms(lambda: model.generate({"axis_1": next(position)}, n=1, seed=0))
    results.append(
        BenchResult(
            family_name, "default", "slider → audio p95", p95, "ms", {"median ms": round(p50, 2)}
        )
    )
    z = model.train_latents[:1]
    with torch.no_grad():
        spec = model.decode(z)
        network = statistics.median(timings(lambda: model.decode(z), repeats=options.repeats))
        pitch = torch.full((1,), 60.0)  # on the harmonic axis the render stretches back to it
        rendering = statistics.median(
            timings(lambda: model.render(spec, pitch), repeats=options.repeats)
        )
    results.append(
        BenchResult(family_name, "default", "decode one clip: network", 1000 * network, "ms")
    )
    results.append(
        BenchResult(
            family_name, "default", "decode one clip: rendering", 1000 * rendering, "ms",
            {"Griffin-Lim iterations": cfg.render_iterations},
        )
    )  # fmt: skip
    batch = Batch(clips.audio[: cfg.batch_size], clips.pitch[: cfg.batch_size])
    step = statistics.median(timings(lambda: model.step(batch), repeats=3, warmup=1))
    results.append(
        BenchResult(
            family_name, "default", "training throughput", cfg.batch_size / step, "clips/s",
            {"ms per step": round(1000 * step, 1), "batch": cfg.batch_size},
        )
    )  # fmt: skip
    return results


def frame_bench(family_name: str, options: BenchOptions) -> list[BenchResult]:
    """Numbers of a frame family (gmm, hmm, rnn): training step time, generation RTF at each
    batch size, and slider-to-sound latency (one sound after a control change).

    The model is the family's default config trained for :data:`FRAME_FAMILY_STEPS` steps on
    :func:`frame_clips`.
    """
    model = build_learner(family_name)
    clips = frame_clips(sample_rate=model.sample_rate, seconds=model.config.clip_seconds)
    model.begin(clips)
    batch = Batch(clips.audio, clips.pitch, torch.arange(len(clips)))
    step_s = timings(lambda: model.step(batch), repeats=FRAME_FAMILY_STEPS, warmup=1)
    with torch.no_grad():
        model.end(clips)
    results = [
        BenchResult(
            family_name,
            "default",
            f"train step, batch {len(clips)}",
            1000 * statistics.median(step_s),
            "ms",
        )
    ]
    seconds = float(model.config.clip_seconds)
    results += _generation_rtf(family_name, model, seconds, options, subject="default")
    control = model.controls()[0]
    positions = iter(torch.rand(1000, generator=torch.Generator().manual_seed(1)).tolist())

    def slider_move() -> None:
        value = control.from_normalised(next(positions))
        model.generate({control.name: value}, n=1, seed=0)

    with app_threads():
        median, p95 = latency_ms(slider_move)
    results.append(
        BenchResult(
            family_name,
            "default",
            "slider to sound (p95)",
            p95,
            "ms",
            {"median ms": round(median, 2), "control": control.name},
        )
    )
    return results


#: family name -> its bench; a family not listed gets :func:`generic_bench`
BENCHES: dict[str, BenchFn] = {
    "physical": physical.bench,
    "gmm": lambda options: frame_bench("gmm", options),
    "hmm": lambda options: frame_bench("hmm", options),
    "rnn": lambda options: frame_bench("rnn", options),
    "cnn": lambda options: spectral_bench("cnn", options),
    "vae": lambda options: spectral_bench("vae", options),
    "gan": lambda options: spectral_bench("gan", options),
}


def run_bench(family_name: str, options: BenchOptions | None = None) -> list[BenchResult]:
    """Every number one family reports, plus this process's peak memory afterwards."""
    options = options or BenchOptions()
    get_family(family_name)  # an unknown name is a ModelConfigError naming the valid ones
    bench = BENCHES.get(family_name, lambda options: generic_bench(family_name, options))
    results = list(bench(options))
    results.append(BenchResult(family_name, "process", "peak memory", peak_memory_mb(), "MiB"))
    return results
