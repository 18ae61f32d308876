"""Child process for the playback test: play a tone with the app's Player, record the sink.

Run as ``python -m tests.support.play_and_record OUT.json`` in an environment whose default
PulseAudio sink is a null sink and default source its monitor (``tests.support.pulse``).
PortAudio reads that environment when it initialises, which is why this is a separate process.
Writes what it measured to ``OUT.json``; the test decides what is right.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

RATE = 48000
FREQUENCY_HZ = 1000.0
AMPLITUDE = 0.5
VOLUME = 0.5
SECONDS = 1.5
LOOP_SOUND_SECONDS = 0.2  # 200 whole cycles of the tone, so the loop point is seamless
LOOP_SECONDS = 0.8


def dominant_frequency(signal: np.ndarray, rate: int) -> float:
    """Frequency of the strongest FFT peak, Hz, refined by parabolic interpolation of log
    magnitudes (Smith & Serra, "PARSHL", 1987)."""
    window = np.hanning(len(signal))
    spectrum = np.abs(np.fft.rfft(signal * window, n=4 * len(signal)))
    k = int(np.argmax(spectrum[1:-1])) + 1
    a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-12)
    offset = 0.5 * (a - c) / (a - 2 * b + c)
    return (k + offset) * rate / (4 * len(signal))


def main(out_path: str) -> int:
    import sounddevice as sd

    from app.player import Player

    t = np.arange(round(SECONDS * RATE)) / RATE
    tone = (AMPLITUDE * np.sin(2 * np.pi * FREQUENCY_HZ * t)).astype(np.float32)
    result: dict[str, object] = {}
    player = Player()
    player.volume = VOLUME
    if player.wait_ready(10.0) != "ready":
        result["error"] = player.reason
        Path(out_path).write_text(json.dumps(result))
        return 3
    phases: dict[str, list[np.ndarray]] = {"tone": [], "loop": [], "other device": []}
    phase = ["tone"]
    positions: list[float] = []
    with sd.InputStream(
        samplerate=RATE,
        channels=1,
        dtype="float32",
        callback=lambda data, frames, when, status: phases[phase[0]].append(data[:, 0].copy()),
    ):
        # a PulseAudio record stream delivers its first blocks some time after it starts (0.3 s
        # of sleep was sometimes not enough, and the tone's first 0.15 s went unrecorded): play
        # once 0.3 s of silence has arrived
        deadline = time.monotonic() + 10.0
        while sum(len(b) for b in phases["tone"]) < 0.3 * RATE and time.monotonic() < deadline:
            time.sleep(0.01)
        player.play(tone, RATE)
        deadline = time.monotonic() + 10 * SECONDS
        while player.is_playing and time.monotonic() < deadline:
            positions.append(player.position_s)
            time.sleep(0.02)
        time.sleep(0.3)
        result["still_playing"] = player.is_playing
        # Loop a short sound (a whole number of cycles) for LOOP_SECONDS, then stop.
        phase[0] = "loop"
        player.loop = True
        player.play(tone[: round(LOOP_SOUND_SECONDS * RATE)], RATE)
        time.sleep(LOOP_SECONDS)
        player.stop()
        time.sleep(0.3)
        result["device"] = player.device.name if player.device else None
        # The same sound through another output device (ALSA's "pulse" next to "default").
        others = [d.name for d in player.devices if d.name != result["device"]]
        result["other_devices"] = others
        if others:
            phase[0] = "other device"
            player.loop = False
            player.set_device(others[0])
            player.play(tone[: RATE // 2], RATE)
            deadline = time.monotonic() + 5.0
            while player.is_playing and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.3)
            result["other_device_used"] = player.device.name if player.device else None
    other = np.concatenate(phases["other device"] or [np.zeros(1, np.float32)])
    result["other_device_peak"] = float(np.abs(other).max())
    result["errors"] = player.take_errors()
    player.close()

    looped = np.concatenate(phases["loop"]) if phases["loop"] else np.zeros(1, np.float32)
    loud = np.flatnonzero(np.abs(looped) > VOLUME * AMPLITUDE / 4)
    result["loop_loud_seconds"] = (loud[-1] - loud[0]) / RATE if len(loud) else 0.0
    result["loop_longest_gap_s"] = float(np.diff(loud).max() / RATE) if len(loud) > 1 else 0.0

    recorded = np.concatenate(phases["tone"]) if phases["tone"] else np.zeros(1, np.float32)
    loud = np.flatnonzero(np.abs(recorded) > VOLUME * AMPLITUDE / 4)
    result["loud_seconds"] = (loud[-1] - loud[0]) / RATE if len(loud) else 0.0
    result["tone_longest_gap_s"] = float(np.diff(loud).max() / RATE) if len(loud) > 1 else 0.0
    if len(loud) > RATE // 2:
        middle = recorded[loud[0] : loud[-1]]
        middle = middle[len(middle) // 4 : 3 * len(middle) // 4]  # away from the edges
        result["frequency_hz"] = dominant_frequency(middle, RATE)
        result["amplitude"] = float(np.sqrt(2.0) * np.sqrt(np.mean(middle.astype(np.float64) ** 2)))
    result["positions"] = positions
    Path(out_path).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
