"""The main window: menus, opening folders (menu, drop, recent), showing sounds, remembering."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QLabel

from app.main_window import MainWindow
from app.settings import MAX_RECENT_FOLDERS, AppSettings
from app.transport import Player
from tests.app.conftest import WAIT_MS
from tests.support.sounds import SoundFolder, tone


def menu_titles(window: MainWindow) -> list[str]:
    return [action.text().replace("&", "") for action in window.menuBar().actions()]


def test_window_has_the_menus_and_shortcuts_a_musician_expects(main_window: MainWindow):
    assert menu_titles(main_window) == ["File", "Playback", "View", "Help"]
    shortcuts = dict(main_window.shortcut_table())
    assert shortcuts["Open Folder…"] == "Ctrl+O"
    assert shortcuts["Quit"] == "Ctrl+Q"
    assert shortcuts["Play / Stop"] == "Space"
    assert shortcuts["Keyboard Shortcuts"] == "F1"
    assert main_window.recent_menu.title().replace("&", "") == "Open Recent"


def test_opening_a_folder_and_selecting_a_file_shows_its_waveform(
    qtbot, main_window: MainWindow, sound_folder: SoundFolder
):
    panel, view = main_window.dataset_panel, main_window.sound_view
    with qtbot.waitSignal(panel.folderScanned, timeout=WAIT_MS):
        main_window.open_folder(sound_folder.root)
    assert "sounds" in main_window.windowTitle()

    with qtbot.waitSignal(view.analysisReady, timeout=WAIT_MS):
        panel.select_row(0)
    first_duration, first_y = view.duration_s, view.waveform_curve.getOriginalDataset()[1].copy()
    with qtbot.waitSignal(view.analysisReady, timeout=WAIT_MS):
        panel.select_row(1)

    assert view.duration_s != first_duration
    assert not np.array_equal(view.waveform_curve.getOriginalDataset()[1], first_y)
    assert main_window.transport.duration_s == pytest.approx(view.duration_s)
    assert panel.selected_file().path.name in view.title_label.text()


def test_dropping_a_folder_on_the_window_opens_it(
    qtbot, main_window: MainWindow, sound_folder: SoundFolder
):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(sound_folder.root))])
    event = QDropEvent(
        QPointF(200, 200),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(main_window.dataset_panel.folderScanned, timeout=WAIT_MS) as blocker:
        main_window.dropEvent(event)
    assert event.isAccepted()
    assert blocker.args[0].folder == sound_folder.root.absolute()
    assert main_window.settings.recent_folders[0] == sound_folder.root.absolute()


def test_dropping_a_sound_file_opens_its_folder_and_selects_it(
    qtbot, main_window: MainWindow, sound_folder: SoundFolder
):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(sound_folder.root / "pluck__p60.wav"))])
    event = QDropEvent(
        QPointF(200, 200),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(main_window.dataset_panel.soundLoaded, timeout=WAIT_MS) as blocker:
        main_window.dropEvent(event)
    assert blocker.args[0].path.name == "pluck__p60.wav"
    assert main_window.dataset_panel.selected_file().path.name == "pluck__p60.wav"


def test_dropping_text_is_refused(main_window: MainWindow):
    mime = QMimeData()
    mime.setText("not a folder")
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    main_window.dropEvent(event)
    assert not event.isAccepted()
    assert main_window.dataset_panel.folder is None


def test_recent_menu_lists_opened_folders_and_reopens_them(
    qtbot, main_window: MainWindow, sound_folder: SoundFolder
):
    with qtbot.waitSignal(main_window.dataset_panel.folderScanned, timeout=WAIT_MS):
        main_window.open_folder(sound_folder.root)
    main_window.recent_menu.aboutToShow.emit()
    entries = [a for a in main_window.recent_menu.actions() if str(sound_folder.root) in a.text()]
    assert len(entries) == 1

    with qtbot.waitSignal(main_window.dataset_panel.folderScanned, timeout=WAIT_MS):
        entries[0].trigger()


def test_layout_docks_and_folders_are_remembered_between_sessions(
    qtbot, app_settings: AppSettings, sound_folder: SoundFolder
):
    first = MainWindow(app_settings)
    qtbot.addWidget(first)
    first.restore_layout()
    first.show()
    # Smallest size, moved off the default place: inside the offscreen screen (800x800), so
    # restoring it needs no clamping to the screen.
    first.resize(first.minimumSizeHint())
    first.move(3, 30)
    with qtbot.waitSignal(first.dataset_panel.folderScanned, timeout=WAIT_MS):
        first.open_folder(sound_folder.root)
    first.dataset_dock.hide()
    first.transport.volume_slider.setValue(35)
    first.transport.loop_action.setChecked(True)
    geometry = first.geometry()
    first.close()
    assert app_settings.window_geometry is not None

    settings = AppSettings()  # a fresh read of the same file, as on the next launch
    second = MainWindow(settings)
    qtbot.addWidget(second)
    second.restore_layout()
    second.show()
    if second.screen().availableGeometry().contains(first.frameGeometry()):
        assert second.geometry() == geometry
    else:  # the panels' minimum sizes outgrew the offscreen screen: it was clamped
        assert second.screen().availableGeometry().contains(second.geometry())
    assert not second.dataset_dock.isVisible()
    assert settings.last_folder == sound_folder.root.absolute()
    assert settings.volume == pytest.approx(0.35)
    assert second.player.loop and second.transport.loop_action.isChecked()
    second.close()


def test_a_panel_added_later_gets_a_view_toggle_and_is_shut_down(qtbot, main_window: MainWindow):
    class Panel(QLabel):
        stopped = False

        def shutdown(self) -> None:
            Panel.stopped = True

    dock = main_window.add_panel(Panel("extra"), "Extra", object_name="extraDock")
    toggle = next(a for a in main_window.view_menu.actions() if a.text() == "Extra")
    assert dock.isVisible()
    toggle.trigger()
    assert not dock.isVisible()
    main_window.close()
    assert Panel.stopped


def test_a_late_panel_hidden_last_time_stays_hidden(qtbot, app_settings: AppSettings):
    first = MainWindow(app_settings)
    qtbot.addWidget(first)
    first.restore_layout()
    first.show()
    first.add_panel(QLabel("late"), "Late", object_name="lateDock").hide()
    first.close()

    second = MainWindow(AppSettings())
    qtbot.addWidget(second)
    second.restore_layout()
    second.show()
    dock = second.add_panel(QLabel("late"), "Late", object_name="lateDock")
    assert not dock.isVisible()
    second.close()


def test_show_sound_draws_generated_audio_for_other_panels(qtbot, main_window: MainWindow):
    samples = tone(880.0, seconds=0.75, sample_rate=32000)
    with qtbot.waitSignal(main_window.sound_view.analysisReady, timeout=WAIT_MS):
        main_window.show_sound(samples, 32000, title="generated", play=False)
    assert main_window.sound_view.duration_s == pytest.approx(0.75)
    assert "generated" in main_window.sound_view.title_label.text()


def test_settings_round_trip(tmp_path):
    path = tmp_path / "settings.ini"
    settings = AppSettings(path)
    folders = [tmp_path / f"folder {i}" for i in range(MAX_RECENT_FOLDERS + 2)]
    for folder in folders:
        settings.remember_folder(folder)
    settings.remember_folder(folders[3])
    settings.volume = 0.25
    settings.loop = True
    settings.output_device = "Speakers"
    settings.sync()

    again = AppSettings(path)
    assert again.last_folder == folders[3]
    recent = again.recent_folders
    assert recent[0] == folders[3] and len(recent) == MAX_RECENT_FOLDERS
    assert len(set(recent)) == len(recent)
    assert recent[1] == folders[-1]
    assert again.volume == 0.25 and again.loop is True and again.output_device == "Speakers"
    again.clear_recent_folders()
    assert AppSettings(path).recent_folders == []


def test_corrupt_settings_values_fall_back_to_defaults(tmp_path):
    path = tmp_path / "settings.ini"
    path.write_text("[transport]\nvolume=loud\n[window]\ngeometry=nonsense\n", encoding="utf-8")
    settings = AppSettings(path)
    assert settings.volume == 0.8
    assert settings.window_geometry is None


def test_unavailable_audio_output_leaves_the_window_usable(qtbot, app_settings: AppSettings):
    player = Player(device="no such output device")
    window = MainWindow(app_settings, player=player)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(
        lambda: (
            window.transport.reason_label.isVisible()
            and "No playback" in window.transport.reason_label.text()
        ),
        timeout=WAIT_MS,
    )
    assert not window.transport.play_action.isEnabled()
    with qtbot.waitSignal(window.sound_view.analysisReady, timeout=WAIT_MS):
        window.show_sound(tone(440.0), 44100)
    window.close()


def test_space_reaches_the_transport_while_the_file_list_has_focus(
    qtbot, main_window: MainWindow, sound_folder: SoundFolder
):
    panel = main_window.dataset_panel
    with qtbot.waitSignal(panel.folderScanned, timeout=WAIT_MS):
        main_window.open_folder(sound_folder.root)
    with qtbot.waitSignal(main_window.sound_view.analysisReady, timeout=WAIT_MS):
        panel.select_row(0)
    main_window.activateWindow()
    panel.table.setFocus()
    qtbot.waitUntil(panel.table.hasFocus, timeout=WAIT_MS)
    # This machine may have no audio output; the shortcut must still reach the transport.
    main_window.transport.play_action.setEnabled(True)

    with qtbot.waitSignal(main_window.transport.play_action.triggered, timeout=WAIT_MS):
        qtbot.keyClick(panel.table, Qt.Key.Key_Space)
    assert panel.selected_file() is not None


def test_window_shows_before_the_studio_and_gains_its_panels_after(
    qtbot, app_settings: AppSettings
):
    from app.main import _attach_studio_when_imported

    window = MainWindow(app_settings, studio=False)
    qtbot.addWidget(window)
    window.restore_layout()
    window.show()
    assert window.studio is None
    assert [a.text() for a in window.view_menu.actions() if a.text()] == ["Transport", "Sounds"]

    task = _attach_studio_when_imported(window)
    qtbot.waitUntil(lambda: window.studio is not None, timeout=60_000)
    task.wait()
    toggles = [a.text() for a in window.view_menu.actions() if a.text()]
    assert "Explore" in toggles and "Train" in toggles
    window.close()
