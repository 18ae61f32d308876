"""Transport pieces that need no sound server: the ring buffer, the player's refusal, the bar."""

from __future__ import annotations

import time

import numpy as np
import pytest

from app.transport import Player, RingBuffer, TransportBar
from tests.app.conftest import WAIT_MS
from tests.support.sounds import tone


def test_ring_buffer_returns_frames_in_order_across_the_wrap():
    ring = RingBuffer(8, 2)
    frames = np.arange(24, dtype=np.float32).reshape(12, 2)
    positions = np.arange(100, 112)
    assert ring.write(frames[:6], positions[:6]) == 6
    out = np.empty((4, 2), dtype=np.float32)
    assert ring.read_into(out) == (4, 103)
    np.testing.assert_array_equal(out, frames[:4])
    assert ring.write(frames[6:], positions[6:]) == 6  # wraps around the end of the array
    assert ring.space == 0
    out = np.empty((10, 2), dtype=np.float32)
    n, last = ring.read_into(out)
    assert (n, last) == (8, 111)
    np.testing.assert_array_equal(out[:8], frames[4:12])
    assert not out[8:].any(), "what the ring cannot supply is silence"


def test_ring_buffer_refuses_what_does_not_fit():
    ring = RingBuffer(4, 1)
    assert ring.write(np.ones((6, 1), np.float32), np.arange(6)) == 4
    ring.clear()
    assert ring.available == 0 and ring.space == 4


def test_player_on_a_missing_device_is_unavailable_and_says_why():
    player = Player(device="no such output device")
    try:
        assert player.wait_ready(WAIT_MS / 1000) == "unavailable"
        assert "no such output device" in player.reason or "no audio output" in player.reason
        player.play(tone(440.0), 44100)
        deadline = time.monotonic() + WAIT_MS / 1000
        while player.is_playing and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not player.is_playing
        assert any("unavailable" in error for error in player.take_errors())
    finally:
        player.close()


def test_transport_bar_without_audio_is_disabled_and_shows_the_reason(qtbot):
    player = Player(device="no such output device")
    bar = TransportBar(player)
    qtbot.addWidget(bar)
    bar.show()
    qtbot.waitUntil(lambda: bar.reason_label.text().startswith("No playback"), timeout=WAIT_MS)
    assert bar.reason_label.isVisible()
    assert bar.reason_label.toolTip() == player.reason
    assert not bar.play_action.isEnabled() and not bar.volume_slider.isEnabled()

    bar.set_sound(tone(440.0, seconds=2.0), 44100)
    with qtbot.waitSignal(bar.statusMessage, timeout=WAIT_MS) as blocker:
        bar.toggle()
    assert "Cannot play" in blocker.args[0]
    bar.shutdown()
    player.close()


def test_seeking_moves_the_playhead_within_the_sound(qtbot):
    player = Player(device="no such output device")
    bar = TransportBar(player)
    qtbot.addWidget(bar)
    bar.set_sound(tone(440.0, seconds=2.0), 44100)
    with qtbot.waitSignal(bar.positionChanged, timeout=WAIT_MS) as blocker:
        bar.seek(5.0)
    assert blocker.args[0] == pytest.approx(2.0)
    assert bar.time_label.text() == "0:02.00 / 0:02.00"
    bar.seek(0.5)
    assert bar.time_label.text().startswith("0:00.50")
    bar.shutdown()
    player.close()


def test_the_player_works_without_qt():
    import subprocess
    import sys

    code = "import app.player, sys; assert 'PySide6' not in sys.modules, 'Qt imported'"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
