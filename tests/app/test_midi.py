"""Playing from a MIDI keyboard: notes, velocity, sustain, MIDI learn, and no MIDI at all.

Where the machine has the ALSA sequencer (``/dev/snd/seq``) a real rtmidi virtual port carries
the messages; elsewhere (most containers) that test is skipped with the reason, and the same
handler the port calls is fed real ``mido`` messages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import mido
import numpy as np
import pytest

from app.dialogs.midi_mappings import MidiMappingsDialog
from app.midi import MidiPortBox, input_port_names
from app.settings import AppSettings
from synth_core.errors import DeviceError
from synth_core.voices import velocity_gain
from tests.support.live import WAIT_MS, live_string

ALSA_SEQUENCER = "/dev/snd/seq"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def live(qtbot, app_settings):
    with live_string(qtbot, app_settings) as (control, _opened):
        yield control


def voices(live) -> dict[int, tuple[float, bool]]:
    """note → (gain, released) of the voices sounding in the player's mixer."""
    with live.player.voices._lock:
        return {v.note: (v.gain, v.releasing) for v in live.player.voices._voices}


def test_keys_play_notes_with_velocity_and_release_on_note_off(qtbot, live):
    handler = live.midi.handler
    handler(mido.Message("note_on", note=64, velocity=100))
    qtbot.waitUntil(lambda: 64 in voices(live), timeout=WAIT_MS)  # rendered on the worker
    assert voices(live)[64] == (pytest.approx(velocity_gain(100)), False)

    handler(mido.Message("note_off", note=64))
    assert voices(live)[64][1] is True  # releasing
    handler(mido.Message("note_on", note=67, velocity=0))  # running status: a note-off
    assert 67 not in live.player.voices.held_notes


def test_sustain_pedal_holds_notes_until_lifted(qtbot, live):
    handler = live.midi.handler
    live.sync_sound()
    assert live.notes.wait_idle(30)  # the notes around C4 are rendered
    handler(mido.Message("control_change", control=64, value=127))
    handler(mido.Message("note_on", note=60, velocity=90))
    handler(mido.Message("note_on", note=62, velocity=90))
    handler(mido.Message("note_off", note=60))
    handler(mido.Message("note_off", note=62))
    assert live.player.voices.held_notes == [60, 62]

    handler(mido.Message("control_change", control=64, value=0))

    assert live.player.voices.held_notes == []


def test_a_cached_note_is_in_the_mixer_when_note_on_returns(live):
    live.sync_sound()
    assert live.notes.wait_idle(30)
    assert 61 in live.notes.cached_notes
    live.midi.handler(mido.Message("note_on", note=61, velocity=127))
    assert live.player.voices.held_notes == [61]
    assert live.mode_text[0] == "keys: notes"  # a string plays each key's pitch


def test_midi_learn_maps_a_knob_to_a_slider_and_remembers_it(qtbot, live):
    panel = live.explore
    panel._rows["brightness"].learnRequested.emit("control:brightness")  # right-click ▸ Learn
    assert live.learning == "control:brightness"

    live.midi.handler(mido.Message("control_change", control=21, value=127))
    qtbot.waitUntil(lambda: panel.values["brightness"] == 1.0, timeout=WAIT_MS)
    live.midi.handler(mido.Message("control_change", control=21, value=0))
    qtbot.waitUntil(lambda: panel.values["brightness"] == 0.0, timeout=WAIT_MS)
    live.midi.handler(mido.Message("control_change", control=22, value=127))  # not learnt
    assert AppSettings().midi_mappings == {21: "control:brightness"}

    dialog = MidiMappingsDialog(live)
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == 1
    assert dialog.table.item(0, 0).text() == "CC 21"
    assert dialog.table.item(0, 1).text() == panel.model.controls()[2].label
    dialog.forget_all()
    assert dialog.table.rowCount() == 0
    assert AppSettings().midi_mappings == {}


def test_midi_learn_drives_a_morph_pad_axis(qtbot, live):
    panel = live.explore
    panel.pad.learnRequested.emit("pad:y")
    live.midi.handler(mido.Message("control_change", control=7, value=127))
    qtbot.waitUntil(lambda: panel.pad.position[1] == 1.0, timeout=WAIT_MS)
    assert live.mappings == {7: "pad:y"}


def test_a_bad_message_or_a_failing_note_never_escapes_the_handler(live, caplog):
    live.midi.handler(mido.Message("note_on", note=60, velocity=10))
    live.midi.handler(object())  # not a MIDI message at all
    assert "not handled" in caplog.text


def test_without_midi_the_transport_says_why_and_the_app_carries_on(qtbot, live):
    box = MidiPortBox(live.midi, lambda name: None)
    qtbot.addWidget(box)
    names, reason = live.midi.ports()
    if not names:
        assert box.status_label.text() == f"No MIDI: {reason}"
        assert box.combo.count() == 1 and box.combo.itemText(0) == "MIDI off"

    assert box.choose("Timbre Lab test port that does not exist") is False

    assert "MIDI port" in box.status_label.text() or "No MIDI" in box.status_label.text()
    assert live.midi.port_name is None
    live.midi.handler(mido.Message("note_on", note=60, velocity=100))  # still plays
    qtbot.waitUntil(lambda: 60 in live.player.voices.held_notes, timeout=WAIT_MS)


def test_notes_through_a_real_virtual_port_and_a_port_that_disappears(qtbot, live):
    if not os.path.exists(ALSA_SEQUENCER):
        pytest.skip(
            f"{ALSA_SEQUENCER} is missing (no ALSA sequencer, as in most containers): rtmidi "
            "cannot make a virtual port; the handler tests above feed it real mido messages"
        )
    try:
        input_port_names()
    except DeviceError as error:
        pytest.skip(f"rtmidi cannot reach the ALSA sequencer: {error}")
    keyboard = mido.open_output("Timbre Lab Test Keyboard", virtual=True)
    try:
        qtbot.waitUntil(
            lambda: any("Timbre Lab Test Keyboard" in n for n in input_port_names()),
            timeout=WAIT_MS,
        )
        name = next(n for n in input_port_names() if "Timbre Lab Test Keyboard" in n)
        assert live.midi.open(name)
        keyboard.send(mido.Message("note_on", note=65, velocity=127))
        qtbot.waitUntil(lambda: 65 in live.player.voices.held_notes, timeout=WAIT_MS)
        keyboard.send(mido.Message("note_off", note=65))
        qtbot.waitUntil(lambda: 65 not in live.player.voices.held_notes, timeout=WAIT_MS)
    finally:
        keyboard.close()
    time.sleep(0.2)
    live.midi._check_port()  # what its timer does every two seconds
    assert "disappeared" in live.midi.status
    assert live.midi.port_name is None


def test_the_window_offers_midi_ports_says_how_keys_play_and_lists_osc(qtbot, main_window):
    studio = main_window.studio
    qtbot.waitUntil(lambda: studio.explore.model is not None, timeout=WAIT_MS)
    with qtbot.waitSignal(studio.explore.soundGenerated, timeout=WAIT_MS):
        studio.explore.request_sound()
    box = main_window.midi_box
    assert box.isVisibleTo(main_window)
    assert box.combo.itemText(0) == "MIDI off"
    mode = "keys: notes" if studio.explore.model.pitch_conditioned else "keys: transposed"
    assert box.mode_label.text() == mode
    actions = [a.text() for a in main_window.playback_menu.actions()]
    assert "Listen for &OSC" in actions and "MIDI &Mappings…" in actions
    assert not main_window.live.osc.running  # off by default


@pytest.mark.slow
def test_played_notes_reach_the_sound_server_and_stop_after_the_release(pulse_server, tmp_path):
    from tests.support import play_notes as probe

    out = tmp_path / "notes.json"
    completed = subprocess.run(
        [sys.executable, "-m", "tests.support.play_notes", str(out)],
        cwd=REPO,
        env=pulse_server.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    result = json.loads(out.read_text())

    assert result["errors"] == [], result
    assert result["rate"] == probe.RATE
    assert result["frequency_hz"] == pytest.approx(probe.FREQUENCY_HZ, abs=1.0)
    assert 20 * np.log10(result["amplitude"] / probe.AMPLITUDE) == pytest.approx(0.0, abs=0.5)
    # held for HELD_S, then a 50 ms fade: the tone is not heard much longer than the key is down
    assert result["loud_seconds"] == pytest.approx(probe.HELD_S, abs=0.08)
    assert result["flowing"] and result["released"]
    assert result["string_cached"] is True
    assert result["string_peak"] > 0.05


def test_a_port_that_disappears_mid_play_is_reported_and_notes_go_on(qtbot, live, monkeypatch):
    """Without a sequencer here, the backend's port list is stood in for (a keyboard that is
    there, then unplugged); the port check and what the app shows are the real ones."""
    import app.midi as midi_module

    ports = ["USB Keyboard"]

    class Backend:
        def get_input_names(self):
            return list(ports)

        def open_input(self, name, callback):
            assert name in ports
            return mido.ports.BaseInput(name)

    monkeypatch.setattr(midi_module, "_mido", Backend)
    box = MidiPortBox(live.midi, lambda name: None)
    qtbot.addWidget(box)
    assert box.choose("USB Keyboard")
    assert box.combo.currentText() == "USB Keyboard"
    assert box.status_label.text() == "MIDI: USB Keyboard"

    ports.clear()  # unplugged
    live.midi._check_port()  # what its timer does every two seconds

    assert live.midi.port_name is None
    assert box.status_label.text() == "MIDI port 'USB Keyboard' disappeared; playing on without it"

    live.midi.handler(mido.Message("note_on", note=62, velocity=100))  # the app carries on
    qtbot.waitUntil(lambda: 62 in live.player.voices.held_notes, timeout=WAIT_MS)
