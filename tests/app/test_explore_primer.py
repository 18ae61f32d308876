"""Explore ▸ Primer…: an rnn model continues a recording the user picks; other families hide it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.panels.explore import ExplorePanel
from app.settings import AppSettings
from synth_core.errors import TimbreLabError
from synth_core.runs import open_model

WAIT_MS = 20_000


@pytest.fixture
def panel(qtbot, app_settings: AppSettings) -> ExplorePanel:
    widget = ExplorePanel(settings=app_settings)
    widget.autoplay.setChecked(False)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.soundGenerated, timeout=WAIT_MS):
        widget.set_model(open_model("builtin-rnn"), "builtin-rnn")
    yield widget
    widget.shutdown()


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    """Half a second of a decaying 220 Hz tone with a few harmonics, as a real WAV file."""
    folder = tmp_path / "recordings"
    folder.mkdir()
    t = np.arange(22050) / 44100
    tone = sum(np.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 6)) * np.exp(-4 * t)
    path = folder / "hum.wav"
    soundfile.write(path, (0.3 * tone).astype(np.float32), 44100)
    return path


def choose_in_dialog(monkeypatch, answer: Path | str) -> list[str]:
    """Make the file dialog answer ``answer``; returns the start folders it was opened on."""
    starts: list[str] = []

    def fake(parent, caption, start, filters):
        starts.append(start)
        return str(answer), filters

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(fake))
    return starts


def test_primer_button_continues_the_recording_and_remembers_its_folder(
    qtbot, panel, recording, app_settings, monkeypatch
):
    assert not panel.primer_box.isHidden() and panel.primer_label.text() == "no primer"
    assert not panel.clear_primer_button.isEnabled()
    with qtbot.waitSignal(panel.soundGenerated, timeout=WAIT_MS) as done:
        panel._rows["temperature"].field.setValue(0.3)
    plain_length = len(done.args[0])
    starts = choose_in_dialog(monkeypatch, recording)
    with qtbot.waitSignal(panel.soundGenerated, timeout=WAIT_MS) as done:
        panel.primer_button.click()
    assert starts == [""]
    assert app_settings.primer_folder == recording.parent
    assert panel.primer_label.text() == "hum.wav" and panel.clear_primer_button.isEnabled()
    # Primer length now runs up to the recording's 0.5 s and uses all of it; the other slider
    # keeps what the user set.
    primer_row = panel._rows["primer_seconds"]
    assert primer_row.control.maximum == pytest.approx(0.5)
    assert panel.values["primer_seconds"] == pytest.approx(0.5)
    assert panel.values["temperature"] == 0.3
    # The sound is the primer (whole 4 × 256-sample steps: 21 of them) and then one clip.
    samples, rate = done.args
    assert plain_length == rate and len(samples) == 21 * 1024 + rate
    expected = panel.model.generate(panel.values, seed=panel.seed)[0].numpy()
    np.testing.assert_array_equal(samples, expected)

    with qtbot.waitSignal(panel.soundGenerated, timeout=WAIT_MS):
        panel.primer_button.click()
    assert starts[-1] == str(recording.parent)  # the dialog opens where the last primer was

    with qtbot.waitSignal(panel.soundGenerated, timeout=WAIT_MS) as done:
        panel.clear_primer_button.click()
    assert panel.model.primer is None and panel.primer_label.text() == "no primer"
    assert len(done.args[0]) == rate and "primer_seconds" not in panel.values
    assert "primer_seconds" not in panel._rows  # no slider for a primer that is not there


def test_an_unreadable_primer_is_named_in_a_warning_and_changes_nothing(
    panel, tmp_path, monkeypatch
):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really")
    choose_in_dialog(monkeypatch, broken)
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    panel.primer_button.click()
    assert len(warnings) == 1 and "broken.wav" in warnings[0]
    assert panel.model.primer is None and panel.primer_label.text() == "no primer"


def test_families_that_cannot_continue_a_recording_have_no_primer_button(qtbot):
    widget = ExplorePanel()
    qtbot.addWidget(widget)
    widget.autoplay.setChecked(False)
    with qtbot.waitSignal(widget.soundGenerated, timeout=WAIT_MS):
        widget.set_model(open_model("physical:string"), "physical:string")
    assert widget.primer_box.isHidden()
    with pytest.raises(TimbreLabError, match="only rnn"):
        widget.set_primer_file("anything.wav")
    widget.shutdown()
