"""Driving Timbre Lab from code: real OSC packets over UDP on 127.0.0.1 change the app."""

from __future__ import annotations

import logging
import socket

import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient

from app.settings import AppSettings
from synth_core.control_values import random_values
from tests.support.live import WAIT_MS, live_string


@pytest.fixture
def osc(qtbot, app_settings):
    """(LiveControl with its OSC server on a free port, a client, the model ids asked for)."""
    app_settings.osc_port = 0
    with live_string(qtbot, app_settings) as (live, opened):
        assert not live.osc.running  # off by default
        live.osc_action.setChecked(True)
        assert live.osc.running and AppSettings().osc_enabled
        client = SimpleUDPClient("127.0.0.1", live.osc.port)
        yield live, client, opened


def test_a_control_message_moves_the_slider_and_renders(qtbot, osc):
    live, client, _ = osc
    panel = live.explore
    with qtbot.waitSignal(panel.soundGenerated, timeout=WAIT_MS):
        client.send_message("/timbrelab/control/brightness", 0.25)
    assert panel.values["brightness"] == 0.25
    assert panel._rows["brightness"].value == 0.25


def test_xy_moves_the_morph_pad(qtbot, osc):
    live, client, _ = osc
    client.send_message("/timbrelab/xy", [1.0, 0.0])
    qtbot.waitUntil(lambda: live.explore.pad.position == (1.0, 0.0), timeout=WAIT_MS)


def test_play_starts_a_voice_at_the_pitch_and_velocity_asked(qtbot, osc):
    live, client, _ = osc
    client.send_message("/timbrelab/play", [67, 127])
    qtbot.waitUntil(lambda: 67 in live.player.voices.held_notes, timeout=WAIT_MS)
    client.send_message("/timbrelab/play", [])  # defaults: middle C
    qtbot.waitUntil(lambda: 60 in live.player.voices.held_notes, timeout=WAIT_MS)


def test_randomize_with_a_seed_draws_that_setting(qtbot, osc):
    live, client, _ = osc
    panel = live.explore
    expected = random_values(panel.model.controls(), seed=7)
    client.send_message("/timbrelab/randomize", 7)
    qtbot.waitUntil(lambda: panel.values == expected, timeout=WAIT_MS)


def test_model_opens_by_id_or_title(qtbot, osc):
    live, client, opened = osc
    client.send_message("/timbrelab/model", "physical:string")
    qtbot.waitUntil(lambda: opened == ["physical:string"], timeout=WAIT_MS)


def test_controls_request_is_answered_with_names_and_ranges(qtbot, osc):
    live, _, _ = osc
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        sock.sendto(
            OscMessageBuilder("/timbrelab/controls").build().dgram, ("127.0.0.1", live.osc.port)
        )
        replies: list[bytes] = []

        def answered() -> bool:
            try:
                replies.append(sock.recv(65536))
            except BlockingIOError:
                return False
            return True

        qtbot.waitUntil(answered, timeout=WAIT_MS)
    reply = OscMessage(replies[0])
    assert reply.address == "/timbrelab/controls"
    expected = []
    for control in live.explore.model.controls():
        expected += [control.name, control.minimum, control.maximum]
    assert reply.params[::3] == expected[::3]
    assert reply.params[1::3] == pytest.approx(expected[1::3])
    assert reply.params[2::3] == pytest.approx(expected[2::3])


def test_bad_addresses_and_values_are_logged_and_ignored(qtbot, osc, caplog):
    live, client, opened = osc
    panel = live.explore
    before = panel.values
    caplog.set_level(logging.WARNING)
    bad = [
        ("/nowhere", 1.0),
        ("/timbrelab/volume", 1.0),
        ("/timbrelab/control/brightness", "loud"),
        ("/timbrelab/control/brightness", [0.1, 0.2]),
        ("/timbrelab/control/no_such_slider", 0.5),
        ("/timbrelab/control/brightness", 7.0),
        ("/timbrelab/xy", [2.0, 0.0]),
        ("/timbrelab/play", [60.5]),
        ("/timbrelab/play", [200]),
        ("/timbrelab/randomize", -3),
        ("/timbrelab/model", "no such model"),
    ]
    for address, value in bad:
        client.send_message(address, value)
    client._sock.sendto(b"\x00not osc at all", ("127.0.0.1", live.osc.port))
    # a good message sent last arrives after every bad one: the server is still working
    client.send_message("/timbrelab/control/decay", 2.0)
    qtbot.waitUntil(lambda: panel.values["decay"] == 2.0, timeout=WAIT_MS)

    assert {k: v for k, v in panel.values.items() if k != "decay"} == {
        k: v for k, v in before.items() if k != "decay"
    }
    assert opened == []
    assert live.player.voices.sounding_notes == []
    reasons = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    for expected in (
        "unknown address '/nowhere'",
        "unknown address '/timbrelab/volume'",
        "brightness value must be a finite number, not 'loud'",
        "takes 1 arguments, not 2",
        "no control named 'no_such_slider'",
        "7 is outside brightness's range 0–1",
        "x and y must be within 0–1",
        "pitch must be a whole number 0–127, not 60.5",
        "pitch must be a whole number 0–127, not 200",
        "seed must be a whole number",
        "no model called 'no such model'",
        "is not OSC",
    ):
        assert any(expected in reason for reason in reasons), (expected, reasons)


def test_a_taken_port_is_reported_and_the_server_stays_off(qtbot, app_settings):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        app_settings.osc_port = taken.getsockname()[1]
        with live_string(qtbot, app_settings) as (live, _):
            with qtbot.waitSignal(live.statusChanged) as status:
                live.osc_action.setChecked(True)
            assert "cannot listen for OSC" in status.args[0]
            assert not live.osc.running
            assert not live.osc_action.isChecked()
