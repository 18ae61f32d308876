"""Notes from the current sound: rendered on a worker, cached, and started in a voice mixer.

:class:`NotePlayer` is what a MIDI keyboard or an OSC ``/play`` talks to. It keeps the notes of
the current slider setting in a small cache that its worker thread fills in the background,
nearest pitches to the recently played ones first; a slider move (a new :meth:`set_sound`)
empties it. A cached note starts at once (a dictionary look-up and a list append under the
mixer's lock); an uncached one is rendered next on the worker and starts when ready.

How a model plays a note depends on what it learnt (:func:`note_mode`): a physical instrument
sets its ``pitch`` slider, a pitch-conditioned family renders that pitch; any other family plays
its current sound transposed, resampled by the equal-tempered ratio from :data:`ROOT_NOTE`.

Nothing here imports Qt: ``timbrelab bench`` measures the same path the app plays through.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

import numpy as np
import torch

from synth_core.models.base import SoundModel
from synth_core.voices import VoiceMixer

log = logging.getLogger(__name__)

PITCH_CONTROL = "pitch"
ROOT_NOTE = 60
LOWEST_NOTE = 21
HIGHEST_NOTE = 108
DEFAULT_CAPACITY = 24
RECENT_NOTES = 4

PITCHED = "pitched"
TRANSPOSED = "transposed"


def note_mode(model: SoundModel) -> str:
    """:data:`PITCHED` when the model renders a given pitch itself (a ``pitch`` slider, or it
    learnt from pitch labels), else :data:`TRANSPOSED` (its sound resampled to the note)."""
    if any(c.name == PITCH_CONTROL for c in model.controls()):
        return PITCHED
    return PITCHED if model.pitch_conditioned else TRANSPOSED


def note_range(model: SoundModel) -> tuple[int, int]:
    """Lowest and highest MIDI note the model plays (its ``pitch`` slider's range if it has one)."""
    for control in model.controls():
        if control.name == PITCH_CONTROL:
            return max(LOWEST_NOTE, round(control.minimum)), min(
                HIGHEST_NOTE, round(control.maximum)
            )
    return LOWEST_NOTE, HIGHEST_NOTE


def transpose(samples: np.ndarray, semitones: float) -> np.ndarray:
    """``samples`` played ``semitones`` higher by resampling (shorter when higher), float32.

    Linear interpolation: cheap enough to run per note, and the aliasing it adds above a few
    semitones up is below what a one-clip sampler is expected to deliver.
    """
    ratio = 2.0 ** (semitones / 12.0)
    if ratio == 1.0 or len(samples) < 2:
        return np.asarray(samples, dtype=np.float32)
    positions = np.arange(0.0, len(samples) - 1, ratio)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)


def _resample_linear(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return samples
    positions = np.arange(0.0, len(samples) - 1, rate / target)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)


def render_note(model: SoundModel, values: Mapping[str, float], seed: int, note: int) -> np.ndarray:
    """One note of the sound ``values``/``seed``, mono float32 at ``model.sample_rate``."""
    params = dict(values)
    pitch: float | None = None
    mode = note_mode(model)
    if mode == PITCHED and PITCH_CONTROL in {c.name for c in model.controls()}:
        low, high = note_range(model)
        params[PITCH_CONTROL] = float(min(max(note, low), high))
    elif mode == PITCHED:
        pitch = float(note)
    with torch.no_grad():
        audio = model.generate(params, n=1, seed=seed, pitch=pitch)
    samples = audio[0].detach().cpu().numpy().astype(np.float32, copy=False)
    return samples if mode == PITCHED else transpose(samples, note - ROOT_NOTE)


class NotePlayer:
    """Plays notes of one model's current sound into a :class:`VoiceMixer`.

    Parameters
    ----------
    mixer : VoiceMixer
        Where notes sound; its ``sample_rate`` is the rate notes are rendered for.
    capacity : int, keyword-only
        Notes kept rendered for the current sound.
    on_error : callable(str) or None, keyword-only
        Told (on the worker thread) when a note cannot be rendered.

    Notes
    -----
    Thread-safe: ``note_on``/``note_off``/``sustain`` may come from a MIDI or OSC thread while
    the GUI thread calls :meth:`set_sound`. :meth:`close` ends the worker.
    """

    def __init__(
        self,
        mixer: VoiceMixer,
        *,
        capacity: int = DEFAULT_CAPACITY,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.mixer = mixer
        self.capacity = int(capacity)
        self.on_error = on_error
        self._cond = threading.Condition()
        self._model: SoundModel | None = None
        self._values: dict[str, float] = {}
        self._seed = 0
        self._key: tuple | None = None
        self._generation = 0
        self._failed_generation = -1
        self._cache: dict[int, tuple[int, np.ndarray]] = {}
        self._base: tuple[int, np.ndarray] | None = None  # transposed mode: the untransposed sound
        self._urgent: deque[tuple[int, int, float]] = deque()
        self._held: set[int] = set()
        self._recent: deque[int] = deque([ROOT_NOTE], maxlen=RECENT_NOTES)
        self._busy = False
        self._closed = False
        self.rendered = 0
        self._thread = threading.Thread(target=self._run, name="timbrelab-notes", daemon=True)
        self._thread.start()

    # --- any thread ------------------------------------------------------------------------
    @property
    def mode(self) -> str | None:
        """:data:`PITCHED` or :data:`TRANSPOSED` for the current model, None without one."""
        model = self._model
        return None if model is None else note_mode(model)

    @property
    def cached_notes(self) -> list[int]:
        with self._cond:
            rate = self.mixer.sample_rate
            return sorted(note for note, (r, _) in self._cache.items() if r == rate)

    def cached(self, note: int) -> np.ndarray | None:
        """The rendered samples of ``note`` for the current sound, or None if not rendered."""
        with self._cond:
            entry = self._cache.get(int(note))
            return entry[1] if entry is not None and entry[0] == self.mixer.sample_rate else None

    def set_sound(self, model: SoundModel, values: Mapping[str, float], seed: int) -> None:
        """Notes come from ``model`` at ``values``/``seed`` from now on; a change empties the
        cache and starts filling it again in the background."""
        key = (id(model), tuple(sorted((k, float(v)) for k, v in values.items())), int(seed))
        with self._cond:
            if key == self._key:
                return
            self._key = key
            self._model = model
            self._values = dict(values)
            self._seed = int(seed)
            self._generation += 1
            self._cache.clear()
            self._base = None
            self._cond.notify_all()

    def note_on(self, note: int, velocity: int = 100, *, requested_at: float | None = None) -> bool:
        """Start ``note``; True when it came from the cache, False when it is being rendered
        (it starts when ready) or there is no sound to play. Velocity 0 is a note-off."""
        if velocity <= 0:
            self.note_off(note)
            return False
        requested = time.perf_counter() if requested_at is None else requested_at
        note = int(note)
        with self._cond:
            if self._model is None:
                return False
            self._held.add(note)
            if note in self._recent:
                self._recent.remove(note)
            self._recent.append(note)
            cached = self._cache.get(note)
            if cached is None or cached[0] != self.mixer.sample_rate:
                self._urgent.append((note, int(velocity), requested))
                self._cond.notify_all()
                return False
            self._cond.notify_all()  # the recent notes moved: prefetch around them
        self.mixer.note_on(note, cached[1], velocity=velocity, requested_at=requested)
        return True

    def note_off(self, note: int) -> None:
        with self._cond:
            self._held.discard(int(note))
        self.mixer.note_off(int(note))

    def sustain(self, down: bool) -> None:
        self.mixer.sustain(down)

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Block until nothing is left to render (the cache is full); False on timeout."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._closed or (not self._busy and self._next_job() is None), timeout_s
            )

    def close(self, timeout_s: float = 5.0) -> None:
        """End the worker thread (a render in progress finishes first)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout_s)

    # --- the worker --------------------------------------------------------------------------
    def _prefetch_order(self) -> list[int]:
        assert self._model is not None
        low, high = note_range(self._model)
        return sorted(range(low, high + 1), key=self._distance)[: self.capacity]

    def _distance(self, note: int) -> tuple[float, int]:
        """How far ``note`` is from the recently played ones (ties: the newer one is nearer);
        the prefetch fills, and eviction drops, in this order, so the two never fight."""
        newest_first = reversed(self._recent)
        return min(abs(note - r) + 0.01 * age for age, r in enumerate(newest_first)), note

    def _next_job(self) -> tuple[int, int, float] | None:
        """(note, velocity, requested_at) to render next; velocity 0 for a prefetch."""
        if self._urgent:
            return self._urgent[0]
        if self._model is None or self._failed_generation == self._generation:
            return None
        rate = self.mixer.sample_rate
        for note in self._prefetch_order():
            cached = self._cache.get(note)
            if cached is None or cached[0] != rate:
                return note, 0, 0.0
        return None

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or self._next_job() is not None)
                if self._closed:
                    return
                job = self._next_job()
                assert job is not None and self._model is not None
                if job[1]:
                    self._urgent.popleft()
                model, values, seed = self._model, dict(self._values), self._seed
                generation, base = self._generation, self._base
                rate = self.mixer.sample_rate
                self._busy = True
            note, velocity, requested = job
            try:
                samples, base = self._render(model, values, seed, note, base, rate)
            except Exception as error:  # a broken model must not end the note worker
                log.warning("cannot render note %d: %s", note, error, exc_info=True)
                samples = None
                if self.on_error is not None:
                    self.on_error(f"cannot play note {note}: {error}")
            with self._cond:
                self._busy = False
                if samples is not None and generation == self._generation:
                    self.rendered += 1
                    self._base = base
                    self._cache[note] = (rate, samples)
                    self._evict()
                still_held = note in self._held
                self._cond.notify_all()
            if samples is None:
                with self._cond:
                    self._failed_generation = generation  # no prefetch of a failing sound
                continue
            if velocity:
                self.mixer.note_on(note, samples, velocity=velocity, requested_at=requested)
                if not still_held:
                    self.mixer.note_off(note)

    def _render(
        self,
        model: SoundModel,
        values: dict[str, float],
        seed: int,
        note: int,
        base: tuple[int, np.ndarray] | None,
        rate: int,
    ) -> tuple[np.ndarray, tuple[int, np.ndarray] | None]:
        if note_mode(model) == TRANSPOSED:
            if base is None or base[0] != rate:
                sound = render_note(model, values, seed, ROOT_NOTE)
                base = (rate, _resample_linear(sound, model.sample_rate, rate))
            return transpose(base[1], note - ROOT_NOTE), base
        sound = render_note(model, values, seed, note)
        return _resample_linear(sound, model.sample_rate, rate), base

    def _evict(self) -> None:
        if len(self._cache) <= self.capacity:
            return
        for note in sorted(self._cache, key=self._distance, reverse=True):
            if len(self._cache) <= self.capacity:
                break
            del self._cache[note]
