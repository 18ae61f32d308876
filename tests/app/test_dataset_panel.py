"""The Sounds panel on its own: scan a generated folder, read the rows, audition a file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt

from app.panels.dataset import DatasetPanel
from app.panels.dataset_models import COLUMNS, note_name
from tests.app.conftest import WAIT_MS
from tests.support.sounds import SoundFolder, tone


@pytest.fixture
def panel(qtbot) -> DatasetPanel:
    widget = DatasetPanel()
    qtbot.addWidget(widget)
    widget.resize(520, 640)
    widget.show()
    yield widget
    widget.shutdown()


def scan_and_wait(qtbot, panel: DatasetPanel, folder: Path):
    with qtbot.waitSignal(panel.folderScanned, timeout=WAIT_MS) as blocker:
        panel.open_folder(folder)
    return blocker.args[0]


def table_rows(panel: DatasetPanel) -> list[list[str]]:
    model = panel.model
    return [
        [model.index(row, column).data() for column in range(len(COLUMNS))]
        for row in range(model.rowCount())
    ]


def test_folder_scan_lists_usable_files_and_says_why_others_are_skipped(
    qtbot, panel: DatasetPanel, sound_folder: SoundFolder
):
    report = scan_and_wait(qtbot, panel, sound_folder.root)

    rows = {row[0]: row for row in table_rows(panel)}
    assert set(rows) == set(sound_folder.good)
    for name, (seconds, rate, channels) in sound_folder.good.items():
        assert rows[name][1] == f"{seconds:.2f} s"
        assert rows[name][2] == str(rate)
        assert rows[name][3] == str(channels)
    assert rows["pluck__p60.wav"][4] == "C4"
    assert rows["bell long.flac"][4] == "—"

    assert panel.skipped_box.text() == f"Skipped ({len(sound_folder.bad)})"
    skipped = dict(panel.skipped_model.rows())
    assert set(skipped) == set(sound_folder.bad)
    for name, word in sound_folder.bad.items():
        assert word.lower() in skipped[name].lower(), (name, skipped[name])
    assert panel.progress.isHidden()
    assert str(len(report.usable)) in panel.summary_label.text()


def test_columns_sort_by_value_not_by_text(qtbot, panel: DatasetPanel, tmp_path: Path):
    folder = tmp_path / "lengths"
    folder.mkdir()
    for name, seconds in (("a", 2.0), ("b", 0.3), ("c", 10.5)):
        sf.write(folder / f"{name}.wav", tone(220.0, seconds=seconds, decay_s=None), 22050)
    scan_and_wait(qtbot, panel, folder)

    panel.table.sortByColumn(1, Qt.SortOrder.AscendingOrder)
    assert [row[0] for row in table_rows(panel)] == ["b.wav", "a.wav", "c.wav"]
    panel.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    assert [row[0] for row in table_rows(panel)] == ["c.wav", "a.wav", "b.wav"]


def test_clicking_a_file_loads_it(qtbot, panel: DatasetPanel, sound_folder: SoundFolder):
    scan_and_wait(qtbot, panel, sound_folder.root)
    names = [row[0] for row in table_rows(panel)]
    row = names.index("bell long.flac")
    rect = panel.table.visualRect(panel.model.index(row, 0))

    with qtbot.waitSignal(panel.soundLoaded, timeout=WAIT_MS) as blocker:
        qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())

    audio = blocker.args[0]
    assert audio.path.name == "bell long.flac"
    assert audio.samples.shape == (round(1.2 * 48000), 2)
    assert audio.sample_rate == 48000


def test_arrow_keys_move_through_the_files_and_load_each(
    qtbot, panel: DatasetPanel, sound_folder: SoundFolder
):
    scan_and_wait(qtbot, panel, sound_folder.root)
    names = [row[0] for row in table_rows(panel)]
    with qtbot.waitSignal(panel.soundLoaded, timeout=WAIT_MS):
        panel.select_row(0)
    panel.table.setFocus()

    with qtbot.waitSignal(panel.soundLoaded, timeout=WAIT_MS) as blocker:
        qtbot.keyClick(panel.table, Qt.Key.Key_Down)

    assert panel.selected_file().path.name == names[1]
    assert blocker.args[0].path.name == names[1]


def test_name_filter_hides_other_files(qtbot, panel: DatasetPanel, sound_folder: SoundFolder):
    scan_and_wait(qtbot, panel, sound_folder.root)
    qtbot.keyClicks(panel.filter_edit, "BELL")
    assert [row[0] for row in table_rows(panel)] == ["bell long.flac"]


def test_cancelled_scan_shows_the_files_looked_at_so_far(qtbot, panel: DatasetPanel, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    click = tone(1000.0, seconds=0.05)
    for i in range(400):
        sf.write(folder / f"click{i:03d}.wav", click, 22050)

    with qtbot.waitSignal(panel.folderScanned, timeout=WAIT_MS) as blocker:
        panel.open_folder(folder)
        assert panel.is_scanning
        assert panel.progress.isVisible() and panel.cancel_button.isVisible()
        panel.cancel_scan()

    report = blocker.args[0]
    assert report.stopped
    assert panel.model.rowCount() == len(report.usable) < 400
    assert "stopped early" in panel.summary_label.text()
    assert not panel.is_scanning and panel.progress.isHidden()


def test_opening_a_second_folder_replaces_the_first(
    qtbot, panel: DatasetPanel, sound_folder: SoundFolder, tmp_path: Path
):
    other = tmp_path / "other"
    other.mkdir()
    sf.write(other / "only.wav", tone(550.0), 44100)
    panel.open_folder(sound_folder.root)
    report = scan_and_wait(qtbot, panel, other)
    assert report.folder == other.absolute()
    assert [row[0] for row in table_rows(panel)] == ["only.wav"]


def test_missing_folder_is_reported_not_raised(qtbot, panel: DatasetPanel, tmp_path: Path):
    with qtbot.waitSignal(
        panel.statusMessage, timeout=WAIT_MS, check_params_cb=lambda t: "no such" in t
    ):
        panel.open_folder(tmp_path / "nowhere")
    assert "no such folder" in panel.summary_label.text()
    assert panel.model.rowCount() == 0


def test_unloadable_file_is_reported_in_the_status(qtbot, panel: DatasetPanel, tmp_path: Path):
    folder = tmp_path / "vanishing"
    folder.mkdir()
    sf.write(folder / "gone.wav", tone(440.0), 44100)
    scan_and_wait(qtbot, panel, folder)
    (folder / "gone.wav").unlink()
    with qtbot.waitSignal(
        panel.statusMessage,
        timeout=WAIT_MS,
        check_params_cb=lambda t: "gone.wav" in t and "Loading" not in t,
    ) as blocker:
        panel.select_row(0)
    assert "gone.wav" in blocker.args[0]


@pytest.mark.parametrize(
    ("midi", "name"), [(60.0, "C4"), (69.0, "A4"), (61.0, "C♯4"), (69.2, "A4 +20¢"), (21.0, "A0")]
)
def test_pitches_read_as_note_names(midi: float, name: str):
    assert note_name(midi) == name


def test_stereo_file_keeps_both_channels(qtbot, panel: DatasetPanel, tmp_path: Path):
    folder = tmp_path / "stereo"
    folder.mkdir()
    left, right = tone(300.0), tone(600.0, amplitude=0.25)
    sf.write(folder / "lr.wav", np.stack([left, right], axis=1), 44100)
    scan_and_wait(qtbot, panel, folder)
    with qtbot.waitSignal(panel.soundLoaded, timeout=WAIT_MS) as blocker:
        panel.select_row(0)
    samples = blocker.args[0].samples
    assert samples.shape[1] == 2
    assert np.abs(samples[:, 0]).max() > 1.5 * np.abs(samples[:, 1]).max()


def test_rescan_keeps_the_selected_file(qtbot, panel: DatasetPanel, sound_folder: SoundFolder):
    scan_and_wait(qtbot, panel, sound_folder.root)
    with qtbot.waitSignal(panel.soundLoaded, timeout=WAIT_MS):
        panel.select_row(2)
    chosen = panel.selected_file().path
    sf.write(sound_folder.root / "0 new first.wav", tone(700.0), 44100)  # shifts every row down

    with qtbot.waitSignal(panel.soundLoaded, timeout=WAIT_MS) as blocker:
        panel.rescan()
    assert panel.model.rowCount() == len(sound_folder.good) + 1
    assert panel.selected_file().path == chosen
    assert blocker.args[0].path == chosen


def test_a_table_prepared_for_another_sort_order_is_re_sorted(qtbot, tmp_path: Path):
    from app.panels.dataset_models import FileTable, SoundFileTableModel
    from synth_core.dataset import SoundFile

    folder = tmp_path
    files = [
        SoundFile(folder / "sub" / f"{name}.wav", seconds, 44100, 1, 1, 0.5, None)
        for name, seconds in (("b", 1.0), ("a", 3.0), ("c", 2.0))
    ]
    by_name = FileTable.build(folder, files)
    assert [by_name.names[i] for i in by_name.order] == ["sub/a.wav", "sub/b.wav", "sub/c.wav"]

    model = SoundFileTableModel()
    model.sort(1, Qt.SortOrder.DescendingOrder)
    model.set_table(by_name)  # prepared by name, shown by duration, longest first
    assert [model.name_at(row) for row in range(3)] == ["sub/a.wav", "sub/c.wav", "sub/b.wav"]
    assert model.row_of(folder / "sub" / ".." / "sub" / "c.wav") == 1
