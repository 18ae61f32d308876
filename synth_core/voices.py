"""Polyphonic note voices summed block by block, the way the audio callback asks for them.

A :class:`VoiceMixer` holds up to ``max_voices`` sounding notes. The audio callback calls
:meth:`VoiceMixer.mix` once per output block; any thread (a MIDI port's, an OSC server's, a
render worker's) may call :meth:`~VoiceMixer.note_on`, :meth:`~VoiceMixer.note_off` and
:meth:`~VoiceMixer.sustain`. One lock guards the voice list; the callback holds it for one
block's numpy additions (a few microseconds per voice), never for rendering.

Voices are added to each output block rather than written into the player's ring buffer: the
ring runs a few thousand frames ahead of the device, and a note queued behind it would start
that much later. Summing in the callback puts a note into the very next block.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

#: Frames per audio callback when notes are played: 256 frames are 5.8 ms at 44.1 kHz, so a
#: note waits at most that long for the block that carries its first sample.
MIX_BLOCK_FRAMES = 256
DEFAULT_MAX_VOICES = 16
RELEASE_S = 0.05
SUSTAIN_CC = 64


def velocity_gain(velocity: int) -> float:
    """Linear gain of a MIDI velocity 0–127: ``(v / 127)²``, the DLS curve (40·log10 dB)."""
    return (min(max(int(velocity), 0), 127) / 127.0) ** 2


@dataclass
class Voice:
    """One sounding note: its samples, how far it has played and how it ends.

    ``requested_at`` is the ``time.perf_counter()`` of the note-on that asked for it;
    ``release_start`` is the frame its release fade began (``None`` while held).
    """

    note: int
    samples: np.ndarray
    gain: float
    serial: int
    requested_at: float
    position: int = 0
    release_start: int | None = None
    sustained: bool = False
    first_mixed_at: float | None = field(default=None, repr=False)

    @property
    def releasing(self) -> bool:
        return self.release_start is not None


class VoiceMixer:
    """Up to ``max_voices`` notes summed into mono blocks.

    Parameters
    ----------
    sample_rate : int, keyword-only
        Rate of the samples given to :meth:`note_on` and of the blocks :meth:`mix` returns, Hz.
    max_voices : int, keyword-only
        Notes sounding at once; a note beyond that steals the oldest releasing voice, else the
        oldest voice.
    release_s : float, keyword-only
        Length of the linear fade after note-off, s.
    """

    def __init__(
        self,
        *,
        sample_rate: int = 44100,
        max_voices: int = DEFAULT_MAX_VOICES,
        release_s: float = RELEASE_S,
    ) -> None:
        if max_voices < 1:
            raise ValueError(f"max_voices must be at least 1, not {max_voices}")
        self.sample_rate = int(sample_rate)
        self.max_voices = int(max_voices)
        self.release_s = float(release_s)
        self._voices: list[Voice] = []
        self._serial = 0
        self._sustain = False
        self._lock = threading.Lock()
        #: note-on → first mixed sample, s, of the latest notes (newest last)
        self.latencies_s: deque[float] = deque(maxlen=512)
        self.stolen = 0

    # --- any thread --------------------------------------------------------------------------
    @property
    def active(self) -> int:
        """Voices sounding now."""
        return len(self._voices)

    @property
    def sounding_notes(self) -> list[int]:
        """MIDI notes of the voices sounding now, oldest first."""
        with self._lock:
            return [voice.note for voice in self._voices]

    @property
    def held_notes(self) -> list[int]:
        """MIDI notes sounding and not yet released (sustained ones included), oldest first."""
        with self._lock:
            return [voice.note for voice in self._voices if not voice.releasing]

    @property
    def sustain_down(self) -> bool:
        return self._sustain

    def set_sample_rate(self, sample_rate: int) -> None:
        """Mix at ``sample_rate`` from now on; voices at the old rate are dropped."""
        with self._lock:
            if int(sample_rate) != self.sample_rate:
                self._voices.clear()
            self.sample_rate = int(sample_rate)

    def note_on(
        self,
        note: int,
        samples: np.ndarray,
        *,
        velocity: int = 100,
        requested_at: float | None = None,
    ) -> None:
        """Start ``samples`` (mono float32 at :attr:`sample_rate`) as ``note``.

        A voice of the same note still sounding is released first, so a repeated key restarts
        the sound without cutting it off. ``requested_at`` (``time.perf_counter()``) is when
        the note was asked for, for :attr:`latencies_s`; by default now.
        """
        requested = time.perf_counter() if requested_at is None else requested_at
        data = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        with self._lock:
            for voice in self._voices:
                if voice.note == note and not voice.releasing:
                    self._release(voice)
            if len(self._voices) >= self.max_voices:
                self._steal()
            self._serial += 1
            self._voices.append(
                Voice(int(note), data, velocity_gain(velocity), self._serial, requested)
            )

    def note_off(self, note: int) -> None:
        """Release ``note`` (held on while the sustain pedal is down)."""
        with self._lock:
            for voice in self._voices:
                if voice.note == note and not voice.releasing:
                    if self._sustain:
                        voice.sustained = True
                    else:
                        self._release(voice)

    def sustain(self, down: bool) -> None:
        """Sustain pedal (CC 64): while down, note-offs wait; lifting it releases them."""
        with self._lock:
            self._sustain = bool(down)
            if not down:
                for voice in self._voices:
                    if voice.sustained and not voice.releasing:
                        self._release(voice)

    def all_notes_off(self) -> None:
        """Silence every voice at once (panic, a model change)."""
        with self._lock:
            self._voices.clear()
            self._sustain = False

    # --- the audio callback ------------------------------------------------------------------
    def mix(self, frames: int) -> np.ndarray:
        """The next ``frames`` of all voices summed, float32 ``[frames]`` (not clipped)."""
        out = np.zeros(frames, dtype=np.float32)
        if not self._voices:
            return out
        release_frames = max(1, round(self.release_s * self.sample_rate))
        now = time.perf_counter()
        with self._lock:
            kept: list[Voice] = []
            for voice in self._voices:
                start = voice.position
                n = min(frames, len(voice.samples) - start)
                if n > 0:
                    chunk = voice.samples[start : start + n] * voice.gain
                    if voice.release_start is not None:
                        done = np.arange(start, start + n) - voice.release_start
                        envelope = np.clip(1.0 - done / release_frames, 0.0, 1.0)
                        chunk *= envelope.astype(np.float32)
                    out[:n] += chunk
                    if voice.first_mixed_at is None:
                        voice.first_mixed_at = now
                        self.latencies_s.append(now - voice.requested_at)
                    voice.position = start + n
                finished = voice.position >= len(voice.samples) or (
                    voice.release_start is not None
                    and voice.position - voice.release_start >= release_frames
                )
                if not finished:
                    kept.append(voice)
            self._voices = kept
        return out

    # --- internals (lock held) ---------------------------------------------------------------
    def _release(self, voice: Voice) -> None:
        voice.release_start = voice.position
        voice.sustained = False

    def _steal(self) -> None:
        releasing = [v for v in self._voices if v.releasing]
        victim = min(releasing or self._voices, key=lambda v: v.serial)
        self._voices.remove(victim)
        self.stolen += 1
