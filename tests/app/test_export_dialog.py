"""The export dialog and the studio's File menu with real models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
from PySide6.QtWidgets import QMessageBox

from app.dialogs.export import ExportDialog
from synth_core.runs import open_model

WAIT_MS = 60_000


@pytest.fixture
def string_dialog(qtbot, tmp_path) -> ExportDialog:
    dialog = ExportDialog(
        open_model("physical:string"),
        model_id="physical:string",
        values={"decay": 0.5},
        seed=3,
        folder=tmp_path / "out",
    )
    qtbot.addWidget(dialog)
    return dialog


def test_export_writes_the_files_and_sidecars_asked_for(qtbot, string_dialog, tmp_path):
    dialog = string_dialog
    dialog.select(dialog.format_box, "flac")
    dialog.select(dialog.depth_box, "16")
    dialog.select(dialog.rate_box, 96000)
    dialog.select(dialog.normalise_box, "lufs")
    dialog.lufs_box.setValue(-18.0)
    dialog.pattern_edit.setText("pluck-{n}-{seed}")
    dialog.count_box.setValue(3)
    dialog.spread_box.setValue(0.3)
    dialog.export_button.click()
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=WAIT_MS)
    files = dialog.result.files
    assert [p.name for p in files] == ["pluck-001-3.flac", "pluck-002-4.flac", "pluck-003-5.flac"]
    for seed, path in enumerate(files, start=3):
        info = soundfile.info(path)
        assert (info.samplerate, info.subtype) == (96000, "PCM_16")
        sidecar = json.loads(path.with_suffix(".json").read_text())
        assert sidecar["model"] == "physical:string"
        assert sidecar["seed"] == seed
        assert sidecar["export"]["lufs"] == -18.0
    assert json.loads(files[0].with_suffix(".json").read_text())["controls"]["decay"] == 0.5
    assert dialog.progress.value() == 3
    assert "Wrote 3 sound(s)" in dialog.message.text()


def test_bad_file_name_pattern_is_reported_in_the_dialog(string_dialog):
    string_dialog.pattern_edit.setText("{model}/{velocity}")
    string_dialog.start()
    assert "velocity" in string_dialog.message.text()
    assert string_dialog.task is None


def test_flac_cannot_be_chosen_with_float_samples(string_dialog):
    string_dialog.select(string_dialog.format_box, "flac")
    string_dialog.select(string_dialog.depth_box, "32f")
    string_dialog.start()
    assert "FLAC" in string_dialog.message.text()


def test_ogg_has_no_bit_depth_and_lufs_enables_its_target(string_dialog):
    dialog = string_dialog
    dialog.select(dialog.format_box, "ogg")
    assert not dialog.depth_box.isEnabled()
    dialog.select(dialog.normalise_box, "lufs")
    assert dialog.lufs_box.isEnabled()
    dialog.select(dialog.normalise_box, "none")
    assert not dialog.lufs_box.isEnabled() and not dialog.peak_box.isEnabled()


def test_cancel_stops_a_long_batch_and_keeps_the_files_written(qtbot, string_dialog, tmp_path):
    dialog = string_dialog
    # the most the box allows: a loaded machine's worker thread rendered all of 200 strings
    # before the window thread handled the click (seen once, both cores busy)
    dialog.count_box.setValue(dialog.count_box.maximum())
    dialog.start()
    qtbot.waitUntil(lambda: dialog.progress.value() >= 1, timeout=WAIT_MS)
    assert dialog.cancel_button.isEnabled() and not dialog.close_button.isEnabled()
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=WAIT_MS)
    assert dialog.result.cancelled
    written = list((tmp_path / "out").glob("*.wav"))
    assert 1 <= len(written) < dialog.count_box.maximum()
    assert "Cancelled after" in dialog.message.text()
    assert dialog.close_button.isEnabled()


def test_ctrl_e_in_the_window_exports_the_sound_being_played(qtbot, main_window, tmp_path):
    studio = main_window.studio
    qtbot.waitUntil(lambda: studio.explore.last_sound is not None, timeout=WAIT_MS)
    assert studio.export_action.shortcut().toString() == "Ctrl+E"
    studio.export_action.trigger()
    dialog = studio.export_dialog
    assert dialog.isVisible()
    assert dialog.model_id == studio.explore.model_id
    dialog.folder_edit.setText(str(tmp_path / "pack"))
    dialog.start()
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=WAIT_MS)
    [path] = dialog.result.files
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["controls"] == pytest.approx(studio.explore.values)
    assert sidecar["seed"] == studio.explore.seed
    dialog.reject()


def test_a_broken_model_folder_gives_a_dialog_not_a_traceback(
    qtbot, main_window, tmp_path, monkeypatch
):
    shown = []
    monkeypatch.setattr(
        QMessageBox, "warning", lambda parent, title, text: shown.append((title, text))
    )
    broken = tmp_path / "broken run"
    broken.mkdir()
    (broken / "model.json").write_text("{ this is not json")
    main_window.studio.open_model(str(broken))
    qtbot.waitUntil(lambda: bool(shown), timeout=WAIT_MS)
    title, text = shown[0]
    assert title == "Cannot open this model"
    assert "broken run" in text
    foreign = tmp_path / "holiday photos"
    foreign.mkdir()
    main_window.studio.open_model(str(foreign))
    qtbot.waitUntil(lambda: len(shown) == 2, timeout=WAIT_MS)
    assert "no model.json" in shown[1][1]


def test_save_model_as_copies_the_run_folder(tmp_path):
    from app.model_library import save_model_as
    from synth_core.errors import CheckpointError

    run = tmp_path / "run"
    run.mkdir()
    (run / "model.json").write_text("{}")
    (run / "weights.safetensors").write_bytes(b"x")
    copy = save_model_as(run, tmp_path / "copy")
    assert sorted(p.name for p in copy.iterdir()) == ["model.json", "weights.safetensors"]
    with pytest.raises(CheckpointError, match="already exists"):
        save_model_as(run, copy)
    with pytest.raises(CheckpointError, match="not a run directory"):
        save_model_as(tmp_path / "nothing", tmp_path / "other")


def test_the_drag_handle_carries_the_current_sound_as_a_wav(qtbot, main_window):
    explore = main_window.studio.explore
    qtbot.waitUntil(lambda: explore.last_sound is not None, timeout=WAIT_MS)
    mime = explore.preset_bar.drag_handle.mime_data()
    [url] = mime.urls()
    samples, rate = soundfile.read(url.toLocalFile(), dtype="float32")
    expected, expected_rate = explore.last_sound
    assert rate == expected_rate
    np.testing.assert_allclose(samples, expected, atol=2e-6 * 8)


@pytest.mark.slow
def test_open_built_in_sounds_fills_the_sounds_panel_and_the_training_folder(qtbot, main_window):
    studio = main_window.studio
    assert studio.builtin_action in main_window.file_menu.actions()
    with qtbot.waitSignal(main_window.dataset_panel.folderScanned, timeout=WAIT_MS) as scanned:
        studio.builtin_action.trigger()
    report = scanned.args[0]
    assert report.folder.name == "train"
    assert len(report.usable) > 200
    assert studio.training.data_folder == report.folder
    assert studio.training.train_button.isEnabled()


def test_first_launch_plays_the_flagship_starter_and_lists_every_model(qtbot, main_window):
    explore = main_window.studio.explore
    qtbot.waitUntil(lambda: explore.last_sound is not None, timeout=WAIT_MS)
    assert explore.model_id == "builtin-vae"
    assert explore.reset_button.isEnabled() and len(explore._rows) >= 2
    listed = [explore.model_box.itemData(i) for i in range(explore.model_box.count())]
    assert listed[:2] == ["builtin-vae", "builtin-cnn"]
    assert "physical:string" in listed and "physical:tube" in listed
    assert main_window.sound_view.duration_s > 0


def answer_next_question(monkeypatch, button_text: str) -> list[str]:
    """Make the next question box answer itself by clicking ``button_text``; returns the
    questions asked."""
    asked = []

    def click(box: QMessageBox) -> int:
        asked.append(box.text())
        [button] = [b for b in box.buttons() if b.text().replace("&", "") == button_text]
        button.click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", click)
    return asked


def test_exporting_over_files_already_there_asks_first(qtbot, string_dialog, tmp_path, monkeypatch):
    dialog = string_dialog
    out = tmp_path / "out"
    out.mkdir()
    (out / "take-001.wav").write_bytes(b"my own take")
    dialog.pattern_edit.setText("take-{n}")
    dialog.count_box.setValue(2)

    asked = answer_next_question(monkeypatch, "Cancel")
    dialog.start()
    assert asked and "take-001.wav" in asked[0] and str(out) in asked[0]
    assert dialog.task is None and "Nothing written" in dialog.message.text()
    assert sorted(p.name for p in out.iterdir()) == ["take-001.wav"]

    answer_next_question(monkeypatch, "Keep both")
    dialog.start()
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=WAIT_MS)
    assert [p.name for p in dialog.result.files] == ["take-001-2.wav", "take-002.wav"]
    assert (out / "take-001.wav").read_bytes() == b"my own take"

    dialog.result = None
    answer_next_question(monkeypatch, "Replace")
    dialog.start()
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=WAIT_MS)
    assert [p.name for p in dialog.result.files] == ["take-001.wav", "take-002.wav"]
    assert soundfile.info(out / "take-001.wav").frames > 0
    assert len(list(out.glob("*.wav"))) == 3 and "Wrote 2 sound(s)" in dialog.message.text()
