"""Note-on → first sample in the mix, cached and uncached (``timbrelab bench --family notes``).

The path measured is the app's: a :class:`~synth_core.notes.NotePlayer` over a
:class:`~synth_core.voices.VoiceMixer`, with a thread standing in for the audio callback that
asks for one :data:`~synth_core.voices.MIX_BLOCK_FRAMES` block per block period, in real time.
The latency of a note is from ``note_on`` to the start of the first block its samples are mixed
into, so it includes the wait for that block (up to one block period) but not the device's own
output latency. A cached note was rendered in the background beforehand; an uncached one is
rendered on the worker when the key goes down (the cache is switched off for that half).
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections.abc import Sequence

from synth_core.benchmarks.measure import BenchResult, app_threads
from synth_core.models.base import SoundModel, resolve_values
from synth_core.notes import NotePlayer, note_range
from synth_core.runs import open_model
from synth_core.voices import MIX_BLOCK_FRAMES, VoiceMixer

DEFAULT_MODELS = ("physical:string", "builtin-vae")


class _AudioClock:
    """Calls ``mixer.mix`` once per block period on its own thread, like a sound card would."""

    def __init__(self, mixer: VoiceMixer, block_frames: int) -> None:
        self.mixer = mixer
        self.period_s = block_frames / mixer.sample_rate
        self.block_frames = block_frames
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="timbrelab-bench-clock")

    def __enter__(self) -> _AudioClock:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        deadline = time.perf_counter()
        while not self._stop.is_set():
            self.mixer.mix(self.block_frames)
            deadline += self.period_s
            delay = deadline - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            else:
                deadline = time.perf_counter()  # fell behind (a busy machine): do not burst


def _percentiles(seconds: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return 1000 * statistics.median(ordered), 1000 * p95


def note_latency_ms(
    model: SoundModel,
    *,
    cached: bool,
    notes: int = 60,
    block_frames: int = MIX_BLOCK_FRAMES,
    seed: int = 0,
) -> tuple[float, float]:
    """Median and 95th-percentile note-on → first mixed sample, ms.

    Parameters
    ----------
    cached : bool
        True: the notes played were rendered in the background first. False: the cache is off,
        every note is rendered when its key goes down.
    notes : int
        Notes played, one at a time, at random moments within the block period.
    """
    mixer = VoiceMixer(sample_rate=model.sample_rate)
    player = NotePlayer(mixer, capacity=12 if cached else 0)
    values = resolve_values(model.controls(), None)
    low, high = note_range(model)
    chooser = random.Random(seed)
    try:
        with _AudioClock(mixer, block_frames) as clock:
            player.set_sound(model, values, seed)
            if cached:
                player.wait_idle(120.0)
                keys = player.cached_notes
            else:
                keys = list(range(max(low, 48), min(high, 72) + 1))
            for _ in range(notes):
                note = chooser.choice(keys)
                heard = len(mixer.latencies_s)
                time.sleep(chooser.uniform(0.0, clock.period_s))
                player.note_on(note, 100)
                while len(mixer.latencies_s) == heard:
                    time.sleep(0.0002)
                player.note_off(note)
                player.wait_idle(60.0)
            latencies = list(mixer.latencies_s)[-notes:]
    finally:
        player.close()
    return _percentiles(latencies)


def bench_note_latency(models: Sequence[str] = DEFAULT_MODELS) -> list[BenchResult]:
    """Cached and uncached note latency of ``models``, rendered with the app's thread count."""
    results = []
    with app_threads():
        for model_id in models:
            model = open_model(model_id)
            for cached in (True, False):
                median, p95 = note_latency_ms(model, cached=cached)
                kind = "cached" if cached else "uncached"
                results.append(
                    BenchResult(
                        "notes",
                        model_id,
                        f"note-on→sound p95 {kind}",
                        p95,
                        "ms",
                        {
                            "p50 ms": round(median, 2),
                            "block": f"{MIX_BLOCK_FRAMES} frames at {model.sample_rate} Hz",
                        },
                    )
                )
    return results
