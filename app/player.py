"""Playback without Qt: a :class:`Player` over a sounddevice stream, fed through a ring buffer.

The player owns one thread that does everything slow or blocking: it initialises PortAudio,
opens and restarts the output stream, resamples when the device refuses the sound's rate, and
keeps a :class:`RingBuffer` topped up. The audio callback only copies from the ring, applies the
volume, adds the notes of the :class:`~synth_core.voices.VoiceMixer` (:attr:`Player.voices`,
what a MIDI keyboard plays) and notes the level and position. Callers (the GUI thread) only post
commands and read a few numbers, so playback never stalls the window and the window never
stalls playback.

sounddevice is imported on the player thread: a missing PortAudio library (``OSError``) or a
machine with no output device (``PortAudioError``) turns the player ``unavailable`` with a reason
to show, and the rest of the app works as usual.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from synth_core.errors import DeviceError
from synth_core.voices import MIX_BLOCK_FRAMES, VoiceMixer

log = logging.getLogger(__name__)

BLOCK_FRAMES = MIX_BLOCK_FRAMES  # small blocks: a played note waits at most one block
RING_FRAMES = 8192
LEVEL_FLOOR_DB = -60.0
#: Output latency asked of PortAudio, s: "low" with 256-frame blocks underruns on a busy machine
#: (PulseAudio through ALSA). 0.05 s underran in the playback test on this 2-core machine even
#: when idle (3 runs of 3, session 10); 0.1 s did not (2 of 2, then all of tests/app). A played
#: MIDI note waits about this long more than the block.
OUTPUT_LATENCY_S = 0.1
#: The stream stays open this long after the last note-on, so the next note does not wait for
#: the device to start again.
VOICE_HOLD_S = 30.0


@dataclass(frozen=True)
class OutputDevice:
    """An audio output PortAudio can open.

    Parameters
    ----------
    index : int
        PortAudio device index.
    name : str
        Name as the system reports it.
    channels : int
        Maximum output channels.
    default_rate : float
        The device's preferred sample rate, Hz.
    """

    index: int
    name: str
    channels: int
    default_rate: float


class RingBuffer:
    """Fixed-size ring of float32 frames, each tagged with the source frame it came from.

    One thread writes, the audio callback reads; a lock keeps index updates consistent (both
    sides hold it for a copy of at most one block).

    Parameters
    ----------
    capacity : int
        Frames the ring holds.
    channels : int
        Samples per frame.
    """

    def __init__(self, capacity: int, channels: int) -> None:
        self.capacity = capacity
        self.channels = channels
        self._data = np.zeros((capacity, channels), dtype=np.float32)
        self._positions = np.zeros(capacity, dtype=np.int64)
        self._read = 0
        self._count = 0
        self._lock = threading.Lock()

    @property
    def available(self) -> int:
        """Frames waiting to be read."""
        return self._count

    @property
    def space(self) -> int:
        """Frames that can be written now."""
        return self.capacity - self._count

    def clear(self) -> None:
        """Drop everything waiting."""
        with self._lock:
            self._read = 0
            self._count = 0

    def write(self, frames: np.ndarray, positions: np.ndarray) -> int:
        """Append ``frames`` ``[n, channels]`` with their source ``positions`` ``[n]``.

        Returns
        -------
        int
            Frames written (fewer than ``n`` when the ring is nearly full).
        """
        with self._lock:
            n = min(len(frames), self.capacity - self._count)
            start = (self._read + self._count) % self.capacity
            first = min(n, self.capacity - start)
            self._data[start : start + first] = frames[:first]
            self._positions[start : start + first] = positions[:first]
            self._data[: n - first] = frames[first:n]
            self._positions[: n - first] = positions[first:n]
            self._count += n
            return n

    def read_into(self, out: np.ndarray) -> tuple[int, int]:
        """Fill ``out`` ``[m, channels]`` with up to ``m`` frames; the rest is zeroed.

        Returns
        -------
        tuple of int
            Frames read, and the source position of the last one (-1 when none was read).
        """
        with self._lock:
            n = min(len(out), self._count)
            first = min(n, self.capacity - self._read)
            out[:first] = self._data[self._read : self._read + first]
            out[first:n] = self._data[: n - first]
            last = -1
            if n:
                last = int(self._positions[(self._read + n - 1) % self.capacity])
            self._read = (self._read + n) % self.capacity
            self._count -= n
        out[n:] = 0.0
        return n, last


def _import_sounddevice() -> Any:
    try:
        import sounddevice
    except OSError as error:
        raise DeviceError(
            f"the PortAudio library is missing ({error}); install libportaudio2 to hear sounds"
        ) from error
    return sounddevice


def list_output_devices(sd: Any) -> list[OutputDevice]:
    """The output devices PortAudio reports, the system default first."""
    try:
        default = sd.query_devices(kind="output")
    except sd.PortAudioError as error:
        raise DeviceError(f"no audio output device found ({error})") from error
    devices = [
        OutputDevice(
            index=int(info["index"]),
            name=str(info["name"]),
            channels=int(info["max_output_channels"]),
            default_rate=float(info["default_samplerate"]),
        )
        for info in sd.query_devices()
        if int(info["max_output_channels"]) > 0
    ]
    devices.sort(key=lambda device: device.index != default["index"])
    return devices


def _as_frames(samples: np.ndarray, channels: int) -> np.ndarray:
    """``samples`` as float32 ``[frames, channels]``, mono spread to all, extra channels mixed."""
    data = np.asarray(samples, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    if data.shape[1] == channels:
        return np.ascontiguousarray(data)
    if data.shape[1] == 1:
        return np.ascontiguousarray(np.repeat(data, channels, axis=1))
    if channels == 1:
        return np.ascontiguousarray(data.mean(axis=1, keepdims=True))
    return np.ascontiguousarray(data[:, :channels])


class Player:
    """Plays float32 arrays through a sounddevice output stream.

    Parameters
    ----------
    device : str or None, keyword-only
        Output device name; ``None`` is the system default.
    block_frames : int, keyword-only
        Frames per audio callback.
    ring_frames : int, keyword-only
        Frames buffered ahead of the device (latency versus safety against stalls).

    Notes
    -----
    ``state`` is ``"starting"`` until PortAudio is initialised on the player thread, then
    ``"ready"`` or ``"unavailable"`` (``reason`` says why). Commands sent before that are
    carried out once it is ready.
    """

    def __init__(
        self,
        *,
        device: str | None = None,
        block_frames: int = BLOCK_FRAMES,
        ring_frames: int = RING_FRAMES,
    ) -> None:
        self.block_frames = block_frames
        self.ring_frames = ring_frames
        self.state = "starting"
        self.reason = ""
        self.devices: list[OutputDevice] = []
        self.loop = False
        self.volume = 1.0
        self._device_name = device
        self._device: OutputDevice | None = None
        self._cond = threading.Condition()
        self._commands: deque[tuple[str, tuple]] = deque()
        self._errors: deque[str] = deque(maxlen=8)
        self._sd: Any = None
        self._stream: Any = None
        self._ring: RingBuffer | None = None
        self._source: np.ndarray | None = None
        self._rate = 0
        self._next_frame = 0
        self._source_done = False
        self._playing = False
        self._position_s = 0.0
        self._last_frame = -1
        self._peak = 0.0
        self._closed = False
        #: notes (MIDI, OSC) summed into every output block; see :meth:`start_voices`
        self.voices = VoiceMixer()
        self._voices_until = 0.0
        self._thread = threading.Thread(target=self._run, name="timbrelab-player", daemon=True)
        self._thread.start()

    # --- what the GUI thread calls -------------------------------------------------------
    def play(self, samples: np.ndarray, sample_rate: int, *, start_s: float = 0.0) -> None:
        """Play ``samples`` (``[frames]`` or ``[frames, channels]``) from ``start_s`` seconds."""
        self._playing = True
        self._source_done = False  # so the callback does not end the new sound for the old one
        self._position_s = max(0.0, float(start_s))
        self._post("play", samples, int(sample_rate), float(start_s))

    def stop(self) -> None:
        """Stop at once (the buffered audio is dropped)."""
        self._playing = False
        self._post("stop")

    def seek(self, seconds: float) -> None:
        """Continue playback from ``seconds`` (or start there on the next play)."""
        self._position_s = max(0.0, float(seconds))
        self._post("seek", float(seconds))

    def start_voices(self, sample_rate: int) -> None:
        """Keep the output running for notes in :attr:`voices` (for :data:`VOICE_HOLD_S` after
        each call). With no stream open yet it opens one at ``sample_rate``; an open stream keeps
        its rate, and :attr:`voices`'s ``sample_rate`` says which rate notes must be given at."""
        self._voices_until = time.monotonic() + VOICE_HOLD_S
        self._post("voices", int(sample_rate))

    def set_device(self, name: str | None) -> None:
        """Use the output device called ``name`` (``None``: the system default) from now on."""
        self._post("device", name)

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop playback, close the stream and end the player thread."""
        self._playing = False
        self._post("close")
        self._thread.join(timeout_s)

    @property
    def is_playing(self) -> bool:
        """True from :meth:`play` until the sound ends (never, when looping) or :meth:`stop`."""
        return self._playing

    @property
    def position_s(self) -> float:
        """Where in the sound the listener is now, seconds (output latency allowed for)."""
        return self._position_s

    @property
    def device(self) -> OutputDevice | None:
        """The output device in use, once ready."""
        return self._device

    def take_peak(self) -> float:
        """Peak output level since the last call, dBFS (``LEVEL_FLOOR_DB`` for silence)."""
        peak, self._peak = self._peak, 0.0
        return 20.0 * math.log10(peak) if peak > 10 ** (LEVEL_FLOOR_DB / 20) else LEVEL_FLOOR_DB

    def take_errors(self) -> list[str]:
        """Problems met since the last call (a stream that failed to open, an underrun…)."""
        errors = list(self._errors)
        self._errors.clear()
        return errors

    def wait_ready(self, timeout_s: float = 5.0) -> str:
        """Block until the player has left the ``starting`` state; returns the state."""
        with self._cond:
            self._cond.wait_for(lambda: self.state != "starting", timeout_s)
        return self.state

    def _post(self, command: str, *args: Any) -> None:
        with self._cond:
            if command in ("play", "stop", "seek"):
                # Only the newest transport command matters; device changes are kept in order.
                kept = [c for c in self._commands if c[0] not in ("play", "stop", "seek")]
                self._commands = deque(kept)
            self._commands.append((command, args))
            self._cond.notify_all()

    # --- the player thread -----------------------------------------------------------------
    def _run(self) -> None:
        self._start_backend()
        while True:
            with self._cond:
                self._cond.wait_for(self._has_work, timeout=0.1)
                commands = list(self._commands)
                self._commands.clear()
            for command, args in commands:
                if command == "close":
                    self._close_stream()
                    self._closed = True
                    return
                try:
                    getattr(self, f"_do_{command}")(*args)
                except DeviceError as error:
                    log.warning("playback: %s", error)
                    self._errors.append(str(error))
                    self._playing = False
            self._feed()
            stream = self._stream
            if not self._playing and stream is not None and stream.active and not self._voicing():
                stream.abort()

    def _voicing(self) -> bool:
        return self.voices.active > 0 or time.monotonic() < self._voices_until

    def _has_work(self) -> bool:
        if self._commands:
            return True
        # Once the whole sound is in the ring there is nothing to feed: waking for ring space
        # then would spin this thread, holding the GIL the audio callback needs, for as long as
        # the ring takes to drain, and starve the callback into underruns at every sound's end.
        ring = self._ring
        return (
            ring is not None
            and self._playing
            and not self._source_done
            and ring.space >= self.block_frames
        )

    def _start_backend(self) -> None:
        try:
            self._sd = _import_sounddevice()
            self.devices = list_output_devices(self._sd)
            self._device = self._find_device(self._device_name)
            state = "ready"
        except DeviceError as error:
            log.info("audio output unavailable: %s", error)
            self.reason = str(error)
            state = "unavailable"
        with self._cond:
            self.state = state
            self._cond.notify_all()

    def _find_device(self, name: str | None) -> OutputDevice:
        if not self.devices:
            raise DeviceError("no audio output device found")
        if name is None:
            return self.devices[0]
        for device in self.devices:
            if device.name == name:
                return device
        known = ", ".join(repr(d.name) for d in self.devices)
        raise DeviceError(f"audio output device {name!r} not found (available: {known})")

    def _require_ready(self) -> None:
        if self.state != "ready":
            raise DeviceError(f"audio output unavailable: {self.reason}")

    def _do_device(self, name: str | None) -> None:
        self._require_ready()
        self._device_name = name
        self._device = self._find_device(name)
        self._playing = False
        self._close_stream()

    def _do_play(self, samples: np.ndarray, sample_rate: int, start_s: float) -> None:
        self._require_ready()
        assert self._device is not None
        channels = min(2, self._device.channels)
        source = _as_frames(samples, channels)
        rate = self._open_stream(sample_rate, channels)
        if rate != sample_rate:
            from synth_core.audio import resample

            source = _as_frames(resample(source, sample_rate, rate), channels)
        self._source = source
        self._rate = rate
        self._playing = True
        self._do_seek(start_s)
        self._feed()
        if not self._stream.active:
            self._stream.start()

    def _do_voices(self, sample_rate: int) -> None:
        self._require_ready()
        assert self._device is not None
        if self._stream is None:
            self._open_stream(sample_rate, min(2, self._device.channels))
        if not self._stream.active:
            self._stream.start()

    def _do_stop(self) -> None:
        self._source_done = True
        if self._ring is not None:
            self._ring.clear()

    def _do_seek(self, seconds: float) -> None:
        if self._source is None or self._ring is None:
            return
        self._next_frame = min(max(0, round(seconds * self._rate)), len(self._source))
        self._last_frame = -1
        self._source_done = False
        self._ring.clear()

    def _open_stream(self, sample_rate: int, channels: int) -> int:
        """Make the stream match the sound; returns the rate it runs at."""
        stream = self._stream
        if (
            stream is not None
            and stream.samplerate == sample_rate
            and stream.channels == channels
            and stream.device == self._device.index
        ):
            return sample_rate
        self._close_stream()
        sd = self._sd
        for rate in dict.fromkeys((sample_rate, int(self._device.default_rate))):
            try:
                self._stream = sd.OutputStream(
                    samplerate=rate,
                    blocksize=self.block_frames,
                    device=self._device.index,
                    channels=channels,
                    dtype="float32",
                    latency=OUTPUT_LATENCY_S,
                    callback=self._callback,
                )
            except sd.PortAudioError as error:
                log.info("output at %d Hz refused: %s", rate, error)
                continue
            self._ring = RingBuffer(self.ring_frames, channels)
            self.voices.set_sample_rate(rate)
            return rate
        raise DeviceError(
            f"cannot open audio output {self._device.name!r} at {sample_rate} Hz "
            f"or {int(self._device.default_rate)} Hz"
        )

    def _close_stream(self) -> None:
        if self._stream is not None:
            try:
                self._stream.abort()
                self._stream.close()
            except self._sd.PortAudioError as error:
                log.info("closing the output stream: %s", error)
            self._stream = None
            self._ring = None

    def _feed(self) -> None:
        ring, source = self._ring, self._source
        if ring is None or source is None or not self._playing:
            return
        while ring.space >= self.block_frames and not self._source_done:
            if self._next_frame >= len(source):
                if not self.loop or len(source) == 0:
                    self._source_done = True
                    break
                self._next_frame = 0
            stop = min(self._next_frame + self.block_frames, len(source))
            positions = np.arange(self._next_frame, stop, dtype=np.int64)
            ring.write(source[self._next_frame : stop], positions)
            self._next_frame = stop

    def _callback(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        ring = self._ring
        if ring is None:
            outdata.fill(0.0)
            return
        n, last = ring.read_into(outdata)
        if self.volume != 1.0:
            outdata *= self.volume
        if self.voices.active:
            notes = self.voices.mix(frames) * self.volume
            outdata += notes[:, None]
            np.clip(outdata, -1.0, 1.0, out=outdata)
            self._peak = max(self._peak, float(np.abs(outdata).max()))
        if n:
            self._peak = max(self._peak, float(np.abs(outdata[:n]).max()))
            # Clamped: some host APIs report no timing (0) or nonsense.
            latency = min(max(0.0, time.outputBufferDacTime - time.currentTime), 0.5)
            position = max(0.0, (last + 1) / self._rate - latency)
            if last >= self._last_frame:  # no seek or loop wrap since the last block:
                position = max(position, self._position_s)  # latency jitter must not go back
            self._last_frame = last
            self._position_s = position
        elif self._source_done and self._playing:
            self._position_s = len(self._source) / self._rate if self._source is not None else 0.0
            self._playing = False
        if status.output_underflow:
            self._errors.append("playback underrun: the computer was too busy to feed the audio")
        with self._cond:
            self._cond.notify_all()
