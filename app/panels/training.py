"""The training panel: pick a family and a preset, press Train, watch it learn.

Training runs as a child process, ``python -m synth_core.cli train … --progress jsonl``, read
line by line through :class:`QProcess` (the event protocol is documented in
``synth_core/train.py``). The window stays responsive, a crash of the child cannot take it down,
and the command line and the app share one code path. Pause and resume are SIGSTOP/SIGCONT of
the child; Stop is SIGINT, on which the trainer finishes its step and writes a checkpoint.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QProcess, QProcessEnvironment, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from synth_core.errors import TimbreLabError
from synth_core.models import Family, available_families

log = logging.getLogger(__name__)

# (label, family preset name, minutes); "Custom…" exposes steps, minutes and config overrides
PRESETS = (("Quick: ~2 min", "quick", 2.0), ("Better: ~10 min", "better", 10.0))
CUSTOM = "Custom…"
STDERR_LINES = 30
LOSS_COLOURS = ("#e07b39", "#3a9ad9", "#5cb85c", "#b05cc6", "#d9534f", "#8a8a8a")
STOP_WAIT_MS = 30000


def format_eta(seconds: float | None) -> str:
    """ "1:05 left" for 65 s; "" when unknown."""
    if seconds is None or not np.isfinite(seconds):
        return ""
    seconds = max(int(round(seconds)), 0)
    return f"{seconds // 60}:{seconds % 60:02d} left"


def default_runs_folder() -> Path:
    from synth_core.paths import data_dir

    return data_dir() / "runs"


class TrainingPanel(QWidget):
    """Family, preset and data choice, the training child process, progress and loss curves.

    Signals
    -------
    useModel(run_dir: str)
        "Use this model" was pressed for a run with a checkpoint.
    previewReady(samples: np.ndarray, sample_rate: int)
        A preview sound arrived from the training process.
    previewPlayRequested(samples: np.ndarray, sample_rate: int)
        "Play preview" was pressed.
    runningChanged(running: bool)
    eventReceived(event: dict)
        Every JSON event from the child, as parsed (for tests and the status bar).
    """

    useModel = Signal(str)
    previewReady = Signal(object, int)
    previewPlayRequested = Signal(object, int)
    runningChanged = Signal(bool)
    eventReceived = Signal(object)

    def __init__(self, parent: QWidget | None = None, *, runs_folder: Path | None = None) -> None:
        super().__init__(parent)
        self.runs_folder = Path(runs_folder) if runs_folder is not None else default_runs_folder()
        self.data_folder: Path | None = None
        self.run_dir: Path | None = None
        self.process: QProcess | None = None
        self.paused = False
        self.last_checkpoint_step: int | None = None
        self.last_event: dict[str, Any] | None = None
        self._stdout_buffer = b""
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._losses: dict[str, tuple[list[int], list[float]]] = {}
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._preview: tuple[np.ndarray, int] | None = None
        self._saw_done = False
        self._stopping = False
        # the child's own one-line account of why it failed (its "error" event), if it gave one
        self.error_message: str | None = None
        self._families: list[Family] = available_families()
        self._build()
        self._update_buttons()

    # building ---------------------------------------------------------------------------------

    def _build(self) -> None:
        self.data_label = QLabel("No sounds chosen")
        self.data_label.setWordWrap(True)
        self.data_button = QPushButton("Choose folder…")
        self.data_button.setToolTip("The folder of sounds to learn from")

        self.family_box = QComboBox()
        for family in self._families:
            self.family_box.addItem(family.title, family.name)
            index = self.family_box.count() - 1
            self.family_box.setItemData(
                index, f"{family.summary}\nGood for: {family.good_for}", Qt.ItemDataRole.ToolTipRole
            )
        self.family_summary = QLabel()
        self.family_summary.setWordWrap(True)
        self.family_summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.preset_box = QComboBox()
        for label, _name, _minutes in PRESETS:
            self.preset_box.addItem(label)
        self.preset_box.addItem(CUSTOM)

        self.steps_box = QSpinBox()
        self.steps_box.setRange(0, 10_000_000)
        self.steps_box.setSpecialValueText("no limit")
        self.steps_box.setToolTip("Stop after this many steps (0: no step limit)")
        self.minutes_box = QDoubleSpinBox()
        self.minutes_box.setRange(0.0, 24 * 60)
        self.minutes_box.setValue(5.0)
        self.minutes_box.setSuffix(" min")
        self.minutes_box.setSpecialValueText("no limit")
        self.device_edit = QLineEdit()
        self.device_edit.setPlaceholderText("best available (cuda, mps, cpu)")
        self.settings_edit = QLineEdit()
        self.settings_edit.setPlaceholderText("latent_dim=16 batch_size=32")
        self.settings_edit.setToolTip("Model settings as NAME=VALUE, separated by spaces")
        custom_form = QWidget()
        form = QFormLayout(custom_form)
        form.addRow("Steps", self.steps_box)
        form.addRow("Time limit", self.minutes_box)
        form.addRow("Device", self.device_edit)
        form.addRow("Settings", self.settings_edit)
        self.custom = QCollapsible("Custom settings")
        self.custom.addWidget(custom_form)
        self.custom.setVisible(False)

        self.train_button = QPushButton("Train")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop after the current step; the last checkpoint is kept")
        self.resume_button = QPushButton("Resume run")
        self.resume_button.setToolTip("Continue the last run from its last checkpoint")
        self.use_button = QPushButton("Use this model")
        self.use_button.setToolTip("Load the latest checkpoint into the explore panel")
        self.preview_button = QPushButton("Play preview")
        buttons = QGridLayout()
        buttons.addWidget(self.train_button, 0, 0)
        buttons.addWidget(self.pause_button, 0, 1)
        buttons.addWidget(self.stop_button, 0, 2)
        buttons.addWidget(self.resume_button, 1, 0)
        buttons.addWidget(self.use_button, 1, 1)
        buttons.addWidget(self.preview_button, 1, 2)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("%p%")
        self.eta_label = QLabel("")
        self.device_label = QLabel("Device: –")
        self.state_label = QLabel("Ready")
        self.state_label.setWordWrap(True)
        self.state_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        status = QHBoxLayout()
        status.addWidget(self.eta_label)
        status.addStretch(1)
        status.addWidget(self.device_label)

        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(100)
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        # a translucent legend box: the curves stay readable where they pass behind it
        self.plot.addLegend(offset=(-10, 10), brush=pg.mkBrush(20, 20, 24, 190))
        self.plot.setTitle("Loss curves appear here during training", size="9pt")
        self.log_scale = QCheckBox("Log scale")
        self.log_scale.setChecked(True)
        self.plot.setLogMode(y=True)

        data_row = QHBoxLayout()
        data_row.addWidget(self.data_label, 1)
        data_row.addWidget(self.data_button)
        choice = QFormLayout()
        choice.addRow("Sounds", data_row)
        choice.addRow("Family", self.family_box)
        choice.addRow("", self.family_summary)
        choice.addRow("Preset", self.preset_box)

        layout = QVBoxLayout(self)
        layout.addLayout(choice)
        layout.addWidget(self.custom)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addLayout(status)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.log_scale)
        layout.addWidget(self.state_label)

        self.data_button.clicked.connect(self._choose_folder)
        self.family_box.currentIndexChanged.connect(self._family_changed)
        self.preset_box.currentIndexChanged.connect(self._preset_changed)
        self.train_button.clicked.connect(lambda: self.start())
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(lambda: self.start(resume=True))
        self.use_button.clicked.connect(self._use_model)
        self.preview_button.clicked.connect(self._play_preview)
        self.log_scale.toggled.connect(lambda on: self.plot.setLogMode(y=on))
        self._family_changed()

    # choices ----------------------------------------------------------------------------------

    def set_data_folder(self, folder: str | Path) -> None:
        """Train on the sounds in ``folder`` (the dataset panel and the built-in sounds call it)."""
        self.data_folder = Path(folder)
        self.data_label.setText(self.data_folder.name or str(self.data_folder))
        self.data_label.setToolTip(str(self.data_folder))
        self._update_buttons()

    def set_family(self, name: str) -> None:
        index = self.family_box.findData(name)
        if index < 0:
            raise TimbreLabError(f"model family {name!r} is not available")
        self.family_box.setCurrentIndex(index)

    def set_custom(self, *, steps: int = 0, minutes: float = 0.0, settings: str = "") -> None:
        """Choose "Custom…" with these limits and ``NAME=VALUE`` settings."""
        self.preset_box.setCurrentText(CUSTOM)
        self.steps_box.setValue(steps)
        self.minutes_box.setValue(minutes)
        self.settings_edit.setText(settings)
        self.settings_edit.setCursorPosition(0)

    @property
    def family(self) -> str:
        return str(self.family_box.currentData())

    def _family_changed(self) -> None:
        family = next((f for f in self._families if f.name == self.family), None)
        if family is not None:
            self.family_summary.setText(family.summary)
            self.family_summary.setToolTip(f"Good for: {family.good_for}")
            self.family_box.setToolTip(f"{family.summary}\nGood for: {family.good_for}")

    def _preset_changed(self) -> None:
        custom = self.preset_box.currentText() == CUSTOM
        self.custom.setVisible(custom)
        if custom:
            self.custom.expand(animate=False)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Sounds to learn from")
        if folder:
            self.set_data_folder(folder)

    # the child process ------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def command(self, *, resume: bool = False) -> list[str]:
        """The ``timbrelab train`` arguments for the current choices."""
        from synth_core.models import get_family
        from synth_core.train import family_presets

        if self.data_folder is None:
            raise TimbreLabError("choose a folder of sounds to learn from first")
        if self.run_dir is None:
            raise TimbreLabError("no run folder chosen")
        family = self.family
        if resume:
            from synth_core.checkpoint import read_record

            family = read_record(self.run_dir).family
        args = [
            "-m",
            "synth_core.cli",
            "train",
            str(self.data_folder),
            "--family",
            family,
            "--out",
            str(self.run_dir),
            "--progress",
            "jsonl",
        ]
        if resume:
            args.append("--resume")
        preset = self.preset_box.currentText()
        if preset == CUSTOM:
            if self.steps_box.value() > 0:
                args += ["--steps", str(self.steps_box.value())]
            if self.minutes_box.value() > 0:
                args += ["--max-minutes", f"{self.minutes_box.value():g}"]
            if self.device_edit.text().strip():
                args += ["--device", self.device_edit.text().strip()]
            if not resume:
                for pair in self.settings_edit.text().split():
                    args += ["--set", pair]
        else:
            _label, name, minutes = next(p for p in PRESETS if p[0] == preset)
            args += ["--max-minutes", f"{minutes:g}"]
            known = family_presets(get_family(family).model_class)
            if name in known and not resume:
                args += ["--preset", name]
        return args

    def start(self, *, resume: bool = False) -> None:
        """Start (or, with ``resume``, continue) training in a child process."""
        if self.is_running():
            return
        try:
            if not resume:
                stamp = time.strftime("%Y%m%d-%H%M%S")
                self.run_dir = self.runs_folder / f"{self.family}-{stamp}"
                self._clear_curves()
            args = self.command(resume=resume)
        except TimbreLabError as error:
            QMessageBox.warning(self, "Cannot start training", str(error))
            return
        self.runs_folder.mkdir(parents=True, exist_ok=True)
        process = QProcess(self)
        environment = QProcessEnvironment.systemEnvironment()
        environment.insert("PYTHONUNBUFFERED", "1")
        process.setProcessEnvironment(environment)
        process.setProgram(sys.executable)
        process.setArguments(args)
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._process_error)
        self.process = process
        self.paused = False
        self._saw_done = False
        self._stopping = False
        self.error_message = None
        self._stdout_buffer = b""
        self._stderr_tail.clear()
        self.state_label.setText(("Resuming " if resume else "Starting ") + str(self.run_dir))
        log.info("training: %s %s", sys.executable, " ".join(args))
        process.start()
        self._update_buttons()
        self.runningChanged.emit(True)

    def toggle_pause(self) -> None:
        """Pause (SIGSTOP) or resume (SIGCONT) the training process."""
        if not self.is_running():
            return
        pid = int(self.process.processId())
        os.kill(pid, signal.SIGCONT if self.paused else signal.SIGSTOP)
        self.paused = not self.paused
        self.state_label.setText("Paused" if self.paused else "Training")
        self._update_buttons()

    def stop(self) -> None:
        """Ask the child to stop after its current step; it writes a checkpoint first."""
        if not self.is_running():
            return
        pid = int(self.process.processId())
        if self.paused:
            os.kill(pid, signal.SIGCONT)
            self.paused = False
        self._stopping = True
        os.kill(pid, signal.SIGINT)
        self.state_label.setText("Stopping after this step…")
        self._update_buttons()

    def stop_and_wait(self, timeout_ms: int = STOP_WAIT_MS) -> bool:
        """Stop and block until the child is gone (killing it after ``timeout_ms``)."""
        if not self.is_running():
            return True
        self.stop()
        if not self.process.waitForFinished(timeout_ms):
            log.warning("training did not stop in %d ms; killing it", timeout_ms)
            self.process.kill()
            self.process.waitForFinished(2000)
        return True

    def confirm_close(self) -> bool:
        """Ask whether to stop a running training before the window closes; True to close."""
        if not self.is_running():
            return True
        answer = QMessageBox.question(
            self,
            "Training is running",
            "Stop training and close? The last checkpoint is kept and the run can be resumed.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return False
        return self.stop_and_wait()

    def _read_stdout(self) -> None:
        self._stdout_buffer += bytes(self.process.readAllStandardOutput().data())
        *lines, self._stdout_buffer = self._stdout_buffer.split(b"\n")
        for line in lines:
            text = line.decode("utf-8", "replace").strip()
            if not text:
                continue
            try:
                event = json.loads(text)
            except json.JSONDecodeError:
                self._stderr_tail.append(text)
                continue
            if isinstance(event, dict):
                self.handle_event(event)

    def _read_stderr(self) -> None:
        text = bytes(self.process.readAllStandardError().data()).decode("utf-8", "replace")
        for line in text.splitlines():
            if line.strip():
                self._stderr_tail.append(line.rstrip())

    def handle_event(self, event: dict[str, Any]) -> None:
        """Reflect one progress event of ``synth_core.train``'s JSON-lines protocol."""
        kind = event.get("event")
        self.last_event = event
        if kind == "start":
            self.device_label.setText(f"Device: {event.get('device', '?')}")
            resumed = event.get("resumed_from")
            self.state_label.setText(
                f"Training on {event.get('clips', '?')} sounds"
                + (f", resumed from step {resumed}" if resumed else "")
            )
        elif kind == "progress":
            self.progress.setValue(int(round(1000 * float(event.get("fraction", 0.0)))))
            eta = format_eta(event.get("eta_s"))
            self.eta_label.setText(f"step {event.get('step', 0)}" + (f" · {eta}" if eta else ""))
            self.device_label.setText(f"Device: {event.get('device', '?')}")
            self._add_losses(int(event.get("step", 0)), event.get("losses") or {})
        elif kind == "preview":
            self._load_preview(event.get("path", ""))
        elif kind == "checkpoint":
            self.last_checkpoint_step = int(event.get("step", 0))
            self.state_label.setText(f"Checkpoint at step {self.last_checkpoint_step}")
        elif kind == "warning":
            self.state_label.setText(f"Warning: {event.get('message', '')}")
        elif kind == "done":
            self._saw_done = True
            self.progress.setValue(1000 if not event.get("stopped") else self.progress.value())
            verb = "Stopped" if event.get("stopped") else "Finished"
            self.state_label.setText(f"{verb} at step {event.get('step')}: {event.get('run')}")
        elif kind == "error":
            self.error_message = str(event.get("message", "")).strip() or None
            self.state_label.setText(f"Training failed: {self.error_message or 'no reason given'}")
        self._update_buttons()
        self.eventReceived.emit(event)

    def _add_losses(self, step: int, losses: dict[str, float]) -> None:
        if self._losses == {} and losses:
            self.plot.setTitle(None)
        for name, value in losses.items():
            if value is None or not np.isfinite(value) or value <= 0 and self.log_scale.isChecked():
                continue
            steps, values = self._losses.setdefault(name, ([], []))
            steps.append(step)
            values.append(float(value))
            curve = self._curves.get(name)
            if curve is None:
                colour = LOSS_COLOURS[len(self._curves) % len(LOSS_COLOURS)]
                curve = self.plot.plot(name=name, pen=pg.mkPen(colour, width=2))
                self._curves[name] = curve
            curve.setData(steps, values)

    def loss_points(self) -> dict[str, int]:
        """How many points each loss curve holds."""
        return {name: len(steps) for name, (steps, _) in self._losses.items()}

    def _clear_curves(self) -> None:
        for curve in self._curves.values():
            self.plot.removeItem(curve)
        self._curves.clear()
        self._losses.clear()
        self.progress.setValue(0)
        self.eta_label.setText("")
        self.last_checkpoint_step = None
        self._preview = None

    def _load_preview(self, path: str) -> None:
        from synth_core import audio as audio_io

        try:
            clip = audio_io.load(path)
        except TimbreLabError as error:
            log.warning("preview unreadable: %s", error)
            return
        self._preview = (clip.samples, clip.sample_rate)
        self.previewReady.emit(clip.samples, clip.sample_rate)

    def _play_preview(self) -> None:
        if self._preview is not None:
            self.previewPlayRequested.emit(*self._preview)

    def _finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._read_stdout()
        self.paused = False
        crashed = exit_status == QProcess.ExitStatus.CrashExit and not self._stopping
        if (exit_code != 0 or crashed) and not self._saw_done:
            tail = "\n".join(self._stderr_tail) or "(no output)"
            if self.error_message:
                # the child said why in one line (a full disk names what it kept): show that,
                # not whichever stderr line happened to arrive last
                self.state_label.setText(f"Training failed: {self.error_message}")
            else:
                self.state_label.setText(
                    f"Training failed (exit code {exit_code}); the run can be resumed"
                )
            self._show_crash(exit_code, tail)
        elif not self._saw_done:
            self.state_label.setText("Training ended")
        self._stopping = False
        self._update_buttons()
        self.runningChanged.emit(False)

    def _process_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.state_label.setText("Training could not start")
            self._show_crash(-1, self.process.errorString())
            self._update_buttons()
            self.runningChanged.emit(False)

    def _show_crash(self, exit_code: int, tail: str) -> None:
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Training stopped with an error")
        last = tail.strip().splitlines()[-1] if tail.strip() else ""
        reason = self.error_message or last
        box.setText(f"The training process ended with exit code {exit_code}.\n{reason}")
        box.setInformativeText(
            "The last checkpoint is kept; press Resume run to continue."
            if self.has_checkpoint()
            else "No checkpoint was written; press Train to start again."
        )
        box.setDetailedText(tail)
        box.setModal(False)
        box.show()
        self.crash_dialog = box

    def has_checkpoint(self) -> bool:
        from synth_core.checkpoint import MODEL_FILE

        return self.run_dir is not None and (self.run_dir / MODEL_FILE).exists()

    def _use_model(self) -> None:
        if self.has_checkpoint():
            self.useModel.emit(str(self.run_dir))

    def _update_buttons(self) -> None:
        running = self.is_running()
        self.train_button.setEnabled(not running and self.data_folder is not None)
        self.pause_button.setEnabled(running and not self._stopping)
        self.pause_button.setText("Resume" if self.paused else "Pause")
        self.stop_button.setEnabled(running and not self._stopping)
        self.resume_button.setEnabled(
            not running and self.has_checkpoint() and self.data_folder is not None
        )
        self.use_button.setEnabled(self.has_checkpoint())
        self.preview_button.setEnabled(self._preview is not None)
        for widget in (self.family_box, self.preset_box, self.data_button, self.custom):
            widget.setEnabled(not running)
