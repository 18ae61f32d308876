"""Child process for the played-notes test: notes through the Player's voices, the sink recorded.

Run as ``python -m tests.support.play_notes OUT.json`` with a PulseAudio null sink as default
(``tests.support.pulse``). Plays a held tone (note-on, 0.6 s, note-off), then a plucked string
from the NotePlayer (its cache filling while the stream runs), and writes what the sink's monitor
heard to ``OUT.json``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from tests.support.play_and_record import dominant_frequency

RATE = 48000
FREQUENCY_HZ = 440.0
AMPLITUDE = 0.5
HELD_S = 0.6
GAP_S = 0.8


def wait_until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def main(out_path: str) -> int:
    import sounddevice as sd

    from app.player import Player
    from synth_core.notes import NotePlayer
    from synth_core.runs import open_model

    model = open_model("physical:string")  # torch loaded before the stream starts, as in the app
    result: dict[str, object] = {}
    player = Player()
    if player.wait_ready(10.0) != "ready":
        Path(out_path).write_text(json.dumps({"error": player.reason}))
        return 3
    t = np.arange(3 * RATE) / RATE
    tone = (AMPLITUDE * np.sin(2 * np.pi * FREQUENCY_HZ * t)).astype(np.float32)
    blocks: list[np.ndarray] = []
    with sd.InputStream(
        samplerate=RATE,
        channels=1,
        dtype="float32",
        callback=lambda data, frames, when, status: blocks.append(data[:, 0].copy()),
    ):
        player.start_voices(RATE)
        # a fresh PulseAudio server can take a second to start moving audio: wait for it
        flowing = wait_until(lambda: len(blocks) >= 3, 10.0)
        result["flowing"] = flowing
        player.voices.note_on(69, tone, velocity=127)
        time.sleep(HELD_S)
        player.voices.note_off(69)
        result["released"] = wait_until(lambda: player.voices.active == 0, 5.0)
        time.sleep(GAP_S)

        notes = NotePlayer(player.voices)
        notes.set_sound(model, {c.name: c.default for c in model.controls()}, 0)
        notes.wait_idle(60.0)
        result["string_cached"] = notes.note_on(64, 127)
        wait_until(lambda: player.voices.active == 0, 5.0)
        notes.close()
        time.sleep(1.0)  # the monitor delivers in large blocks: let the last ones in
    result["rate"] = player.voices.sample_rate
    result["errors"] = player.take_errors()
    player.close()

    recorded = np.concatenate(blocks) if blocks else np.zeros(1, np.float32)
    loud = np.flatnonzero(np.abs(recorded) > AMPLITUDE / 4)
    if len(loud) > RATE // 4:
        # the held tone is the first loud stretch; the string starts after the silent gap
        breaks = np.flatnonzero(np.diff(loud) > RATE * GAP_S / 2)
        end = loud[breaks[0]] if len(breaks) else loud[-1]
        result["loud_seconds"] = float((end - loud[0]) / RATE)
        middle = recorded[loud[0] : end]
        middle = middle[len(middle) // 4 : 3 * len(middle) // 4]
        result["frequency_hz"] = dominant_frequency(middle, RATE)
        result["amplitude"] = float(np.sqrt(2.0 * np.mean(middle.astype(np.float64) ** 2)))
        result["string_peak"] = float(np.abs(recorded[end + round(GAP_S * RATE / 2) :]).max())
    Path(out_path).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
