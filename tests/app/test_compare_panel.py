"""The Compare panel: a teacher opens a finished comparison, reads the scores and clicks a
family's sounds to hear them; a running comparison shows its progress and ETA."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from app.main_window import MainWindow
from app.panels.compare import ComparePanel
from synth_core.compare import CompareSettings, compare, read_compare
from synth_core.report_html import write_report
from tests.support.compare_data import write_compare_data

WAIT_MS = 120_000
# a real comparison trains and scores two families: minutes on a busy 2-core machine
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real comparison: gmm and hmm, 3 steps each, on a few built-in sounds."""
    root = tmp_path_factory.mktemp("compare")
    data, test = write_compare_data(root / "data")
    out = root / "out"
    compare(CompareSettings(data=data, test=test, families=("gmm", "hmm"), steps=3, out=out))
    write_report(out)
    return out


def test_a_finished_comparison_shows_one_row_per_family_and_plays_its_sounds(
    qtbot, comparison: Path, artifacts_dir: Path
) -> None:
    panel = ComparePanel()
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    panel.load_comparison(comparison)
    data = read_compare(comparison)

    assert panel.table.rowCount() == 3  # gmm, hmm and the eigen-sounds baseline
    labels = [panel.table.verticalHeaderItem(r).text() for r in range(3)]
    assert labels == ["Gaussian mixture", "Hidden Markov model", "eigen-sounds (PCA-32)"]
    assert panel.table.item(0, 0).text() == f"{data['rows'][0]['one_nn']:.3f}"
    assert panel.table.item(1, 6).text() == "3"  # steps
    assert panel.report_button.isEnabled()
    assert list(panel.sound_buttons) == [
        "Real clips", "Gaussian mixture", "Hidden Markov model", "eigen-sounds (PCA-32)"
    ]  # fmt: skip
    assert all(len(buttons) == 4 for buttons in panel.sound_buttons.values())

    with qtbot.waitSignal(panel.soundChosen, timeout=5000) as heard:
        panel.sound_buttons["Hidden Markov model"][1].click()
    samples, rate, title = heard.args
    clip = int(data["rows"][1]["clip_seconds"] * 44100)
    assert rate == 44100 and samples.shape == (clip,) and title == "Hidden Markov model 2"
    assert float(abs(samples).max()) > 0.0

    qtbot.wait(50)
    assert panel.grab().save(str(artifacts_dir / "compare_panel.png"))


def test_progress_events_move_the_bar_and_say_the_time_left(qtbot) -> None:
    panel = ComparePanel()
    qtbot.addWidget(panel)
    panel.handle_event({"event": "family", "family": "vae", "index": 1, "of": 3})
    assert "vae (2 of 3)" in panel.status.text()
    panel.handle_event({"event": "progress", "family": "vae", "fraction": 0.5, "eta_s": 95.0})
    assert panel.progress.value() == 500
    assert "about 1 min 35 s left" in panel.status.text()


def test_the_panel_runs_the_compare_command_with_the_chosen_families(qtbot, tmp_path) -> None:
    panel = ComparePanel(python="py")
    qtbot.addWidget(panel)
    panel.start()  # nothing chosen yet: it says what is missing and starts nothing
    assert not panel.running and "output folder" in panel.status.text()
    panel.data_edit.setText(str(tmp_path))
    panel.out_edit.setText(str(tmp_path / "out"))
    panel.family_boxes["vae"].setChecked(True)
    panel.minutes.setValue(2)
    assert panel.argv() == [
        "py", "-m", "synth_core", "compare", str(tmp_path), "--families", "gmm,hmm,vae",
        "--minutes", "2", "--out", str(tmp_path / "out"), "--progress", "jsonl",
    ]  # fmt: skip
    panel.lesson_box.setChecked(True)
    assert all(box.isChecked() for box in panel.family_boxes.values())
    assert panel.argv()[4:] == ["--lesson", str(tmp_path / "out"), "--progress", "jsonl"]


def test_a_cancelled_run_keeps_what_it_wrote_and_the_panel_is_ready_again(qtbot, tmp_path) -> None:
    """The real child process: Cancel (SIGTERM) during training ends it cleanly."""
    data, test = write_compare_data(tmp_path / "data", train=12, test=2)
    panel = ComparePanel(python=sys.executable)
    qtbot.addWidget(panel)
    panel.data_edit.setText(str(data))
    panel.test_edit.setText(str(test))
    panel.out_edit.setText(str(tmp_path / "out"))
    panel.family_boxes["hmm"].setChecked(False)
    panel.minutes.setValue(5)
    panel.start()
    assert panel.running and panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: "Training gmm" in panel.status.text(), timeout=WAIT_MS)
    panel.cancel()
    qtbot.waitUntil(lambda: not panel.running, timeout=WAIT_MS)
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert read_compare(tmp_path / "out")["stopped"] is True


def test_the_window_has_a_compare_dock_and_menu_entry(qtbot, main_window: MainWindow) -> None:
    qtbot.waitUntil(lambda: main_window.studio is not None, timeout=WAIT_MS)
    assert "Compare" in [a.text() for a in main_window.view_menu.actions()]
    assert main_window.compare_action in main_window.file_menu.actions()
    main_window.compare_action.trigger()
    assert main_window.compare_dock.isVisible()
