"""The training panel drives a real ``timbrelab train`` child process on a tiny folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PySide6.QtCore import QProcess

from app.panels.training import TrainingPanel, format_eta
from synth_core import cli
from synth_core.progress import DoneEvent, StartEvent

# A VAE small enough that a step takes well under a second on one core.
TINY_VAE = "channels=16 latent_channels=2 n_controls=4 batch_size=4 clip_seconds=0.5"


@pytest.fixture
def tiny_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "sounds"
    folder.mkdir()
    rng = np.random.default_rng(0)
    t = np.arange(22050) / 44100
    for i in range(8):
        tone = 0.5 * np.sin(2 * np.pi * 110 * 2 ** (i / 12) * t) * np.exp(-t * (3 + i))
        hit = 0.05 * rng.standard_normal(t.size) * np.exp(-t * 30)
        soundfile.write(
            folder / f"tone{i}__p{45 + i:03d}.wav", (tone + hit).astype(np.float32), 44100
        )
    return folder


@pytest.fixture
def panel(qtbot, tmp_path: Path, tiny_folder: Path) -> TrainingPanel:
    widget = TrainingPanel(runs_folder=tmp_path / "runs")
    qtbot.addWidget(widget)
    widget.set_data_folder(tiny_folder)
    widget.set_family("vae")
    yield widget
    if widget.is_running():
        widget.process.kill()
        widget.process.waitForFinished(5000)


def wait_until_finished(qtbot, panel: TrainingPanel, timeout_ms: int = 120_000) -> None:
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=timeout_ms)


def test_every_registered_family_is_offered_with_a_description(panel):
    names = [panel.choices.family_box.itemData(i) for i in range(panel.choices.family_box.count())]
    assert "vae" in names
    assert panel.choices.family_summary.text()
    assert "Good for" in panel.choices.family_box.toolTip()


@pytest.mark.slow
def test_training_from_the_panel_shows_progress_loss_curves_and_writes_a_run(qtbot, panel):
    panel.set_custom(steps=3, settings=TINY_VAE)
    with qtbot.waitSignal(panel.runningChanged, timeout=5000):
        panel.train_button.click()
    assert not panel.train_button.isEnabled()
    wait_until_finished(qtbot, panel)

    assert isinstance(panel.last_event, DoneEvent), panel.state_label.text()
    assert panel.progress.value() == 1000
    points = panel.loss_points()
    assert points.get("loss", 0) >= 3
    assert len(panel.loss_curves.curves) == len(points) >= 2
    assert panel.device_label.text() == "Device: cpu"
    assert (panel.run_dir / "model.json").is_file()
    assert panel.use_button.isEnabled()
    with qtbot.waitSignal(panel.useModel, timeout=1000) as used:
        panel.use_button.click()
    assert used.args == [str(panel.run_dir)]


@pytest.mark.slow
def test_pause_stop_and_resume_continue_the_same_run(qtbot, panel):
    panel.set_custom(steps=400, settings=TINY_VAE)
    panel.start()
    qtbot.waitUntil(lambda: bool(panel.loss_points()), timeout=60_000)

    panel.toggle_pause()
    pid = int(panel.process.processId())

    def state() -> str:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]

    qtbot.waitUntil(lambda: state() == "T", timeout=5000)
    assert panel.pause_button.text() == "Resume"
    panel.toggle_pause()

    panel.stop()
    wait_until_finished(qtbot, panel)
    assert isinstance(panel.last_event, DoneEvent) and panel.last_event.stopped
    stopped_at = panel.last_event.step
    assert (panel.run_dir / "model.json").is_file()
    assert panel.resume_button.isEnabled()

    panel.choices.steps_box.setValue(stopped_at + 2)
    started = []
    panel.eventReceived.connect(lambda e: started.append(e) if isinstance(e, StartEvent) else None)
    panel.resume_button.click()
    wait_until_finished(qtbot, panel)
    assert started and started[0].resumed_from == stopped_at
    assert isinstance(panel.last_event, DoneEvent)
    assert panel.last_event.step == stopped_at + 2


def test_a_failing_training_process_shows_its_last_error_lines(qtbot, panel, tmp_path):
    empty = tmp_path / "nothing here"
    empty.mkdir()
    panel.set_data_folder(empty)
    panel.set_custom(steps=3, settings=TINY_VAE)
    panel.start()
    wait_until_finished(qtbot, panel, timeout_ms=60_000)

    assert panel.process.exitStatus() == QProcess.ExitStatus.NormalExit
    assert panel.process.exitCode() == 2
    dialog = panel.crash_dialog
    assert "exit code 2" in dialog.text()
    assert "nothing here" in dialog.detailedText()
    assert "failed" in panel.state_label.text()
    assert panel.train_button.isEnabled()


def test_the_quick_preset_trains_the_familys_quick_preset_for_two_minutes(panel, tmp_path):
    panel.run_dir = tmp_path / "run"
    panel.choices.preset_box.setCurrentIndex(0)
    argv = panel.command()
    args = cli.build_parser().parse_args(argv[3:])
    assert (args.family, args.preset, args.max_minutes, args.steps) == ("vae", "quick", 2.0, None)
    assert (args.progress, args.out) == ("jsonl", str(tmp_path / "run"))


def test_eta_reads_as_minutes_and_seconds():
    assert format_eta(65) == "1:05 left"
    assert format_eta(None) == ""


@pytest.mark.slow
def test_closing_while_training_asks_and_stopping_keeps_the_checkpoint(qtbot, panel, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    asked = []

    def question(*args, **kwargs):
        asked.append(args[1])
        return answers[len(asked) - 1]

    monkeypatch.setattr(QMessageBox, "question", question)
    assert panel.confirm_close()  # nothing running: no question
    panel.set_custom(steps=400, settings=TINY_VAE)
    panel.start()
    qtbot.waitUntil(lambda: bool(panel.loss_points()), timeout=60_000)
    assert not panel.confirm_close()
    assert panel.is_running()
    assert panel.confirm_close()
    assert not panel.is_running()
    assert asked == ["Training is running", "Training is running"]
    assert (panel.run_dir / "model.json").is_file()


# Loaded by the training child through PYTHONPATH (test only): its disk is full, so every file
# it opens for writing with os.fdopen, as the checkpoint writer does, fails with ENOSPC.
FULL_DISK = """
import errno
import os

_fdopen = os.fdopen


def _fdopen_on_a_full_disk(fd, mode="r", *args, **kwargs):
    if "w" in mode:
        os.close(fd)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return _fdopen(fd, mode, *args, **kwargs)


os.fdopen = _fdopen_on_a_full_disk
"""


def test_a_full_disk_is_shown_as_the_trainers_own_line(qtbot, panel, tmp_path, monkeypatch):
    hook = tmp_path / "full-disk"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(FULL_DISK)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]))
    panel.set_family("gmm")
    panel.set_custom(steps=2)
    panel.start()
    wait_until_finished(qtbot, panel, timeout_ms=60_000)

    assert panel.process.exitCode() == 1
    line = (
        f"disk full while writing the checkpoint to {panel.run_dir}; no checkpoint was written yet"
    )
    assert panel.state_label.text().startswith(f"Training failed: {line}")
    assert line in panel.crash_dialog.text()
    assert panel.error_message.startswith(line)
    assert "Traceback" not in panel.crash_dialog.detailedText()
