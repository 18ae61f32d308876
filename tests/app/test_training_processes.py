"""The training panel's "processes: N": offered where several processes help, passed to the
child as ``--nproc``; a 2-process run from the panel trains, pauses as a whole (the launcher
and its training processes), and stops with a checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from app.panels.training import TrainingPanel
from app.panels.training_process import descendants
from synth_core import checkpoint, cli, distributed
from synth_core.progress import DoneEvent

TINY_CNN = "channels=16 latent_channels=2 n_controls=2 batch_size=4 clip_seconds=0.25"


@pytest.fixture
def tiny_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "sounds"
    folder.mkdir()
    t = np.arange(11025) / 44100
    for i in range(8):
        tone = 0.5 * np.sin(2 * np.pi * 110 * 2 ** (i / 12) * t) * np.exp(-t * (3 + i))
        soundfile.write(folder / f"tone{i}__p{45 + i:03d}.wav", tone.astype(np.float32), 44100)
    return folder


def make_panel(qtbot, tmp_path: Path, folder: Path) -> TrainingPanel:
    widget = TrainingPanel(runs_folder=tmp_path / "runs")
    qtbot.addWidget(widget)
    widget.set_data_folder(folder)
    widget.set_family("cnn")
    widget.run_dir = tmp_path / "run"
    return widget


def parsed(panel: TrainingPanel):
    return cli.build_parser().parse_args(panel.command()[3:])


def test_on_a_small_machine_processes_are_shown_disabled_with_the_reason(
    qtbot, tmp_path, tiny_folder, monkeypatch
):
    monkeypatch.setattr(
        distributed, "useful_processes", lambda: (1, "2 CPU cores: more would share them")
    )
    panel = make_panel(qtbot, tmp_path, tiny_folder)
    panel.set_custom(steps=3, settings=TINY_CNN)
    box = panel.choices.processes_box
    assert not box.isEnabled()
    assert "2 CPU cores" in box.toolTip()
    assert parsed(panel).nproc == 1


def test_with_cores_to_spare_the_chosen_processes_reach_the_command(
    qtbot, tmp_path, tiny_folder, monkeypatch
):
    monkeypatch.setattr(distributed, "useful_processes", lambda: (4, "8 CPU cores"))
    panel = make_panel(qtbot, tmp_path, tiny_folder)
    panel.set_custom(steps=3, settings=TINY_CNN)
    box = panel.choices.processes_box
    assert box.isEnabled() and box.maximum() == 4
    box.setValue(2)
    assert parsed(panel).nproc == 2
    panel.choices.preset_box.setCurrentIndex(0)  # a panel preset trains in 2 processes too
    assert (parsed(panel).preset, parsed(panel).nproc) == ("quick", 2)

    panel.set_family("physical")  # a per-clip table: one process, and the tooltip says why
    assert not box.isEnabled() and "per-clip table" in box.toolTip()
    assert parsed(panel).nproc == 1


@pytest.mark.slow
def test_two_processes_from_the_panel_train_pause_together_and_stop_with_a_checkpoint(
    qtbot, tmp_path, tiny_folder, monkeypatch
):
    monkeypatch.setattr(distributed, "useful_processes", lambda: (2, "test"))
    panel = make_panel(qtbot, tmp_path, tiny_folder)
    panel.set_custom(steps=100_000, settings=TINY_CNN)
    panel.choices.processes_box.setValue(2)
    panel.start()
    try:
        qtbot.waitUntil(lambda: bool(panel.loss_points()), timeout=90_000)
        panel.toggle_pause()
        launcher = int(panel.process.processId())
        workers = descendants(launcher)
        assert len(workers) >= 2  # torchrun's two training processes

        def state(pid: int) -> str:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]

        qtbot.waitUntil(lambda: all(state(p) == "T" for p in [launcher, *workers]), timeout=5000)
        panel.toggle_pause()
        panel.stop()
        qtbot.waitUntil(lambda: not panel.is_running(), timeout=60_000)
    finally:
        if panel.is_running():
            panel.process.kill()
    assert isinstance(panel.last_event, DoneEvent), panel.state_label.text()
    assert panel.last_event.stopped
    assert checkpoint.read_record(panel.run_dir).step == panel.last_event.step > 0
