"""The training panel: pick a family and a preset, press Train, watch it learn.

What to train is chosen in :class:`~app.panels.training_choices.TrainingChoices`; training
runs as a child process (:class:`~app.panels.training_process.TrainingProcess`) whose typed
events (:mod:`synth_core.progress`) move the progress bar, the loss curves
(:class:`~app.panels.loss_curves.LossCurves`) and the status line.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QProcess, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.panels.loss_curves import LossCurves
from app.panels.training_choices import TrainingChoices
from app.panels.training_process import STOP_WAIT_MS, TrainingProcess
from synth_core.errors import TimbreLabError
from synth_core.models import Family, available_families
from synth_core.progress import (
    CheckpointEvent,
    DoneEvent,
    ErrorEvent,
    Event,
    PreviewEvent,
    ProgressEvent,
    StartEvent,
    WarningEvent,
    train_argv,
)

log = logging.getLogger(__name__)


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
    """Family, preset and data choice; Train, Pause, Stop and Resume of the training process;
    its progress, loss curves, previews and failures.

    Signals
    -------
    useModel(run_dir: str)
        "Use this model" was pressed for a run with a checkpoint.
    previewReady(samples: np.ndarray, sample_rate: int)
        A preview sound arrived from the training process.
    previewPlayRequested(samples: np.ndarray, sample_rate: int)
        "Play preview" was pressed.
    runningChanged(running: bool)
    eventReceived(event)
        Every event from the child, a :mod:`synth_core.progress` dataclass (for tests and the
        status bar).
    """

    useModel = Signal(str)
    previewReady = Signal(object, int)
    previewPlayRequested = Signal(object, int)
    runningChanged = Signal(bool)
    eventReceived = Signal(object)

    def __init__(self, parent: QWidget | None = None, *, runs_folder: Path | None = None) -> None:
        super().__init__(parent)
        self.runs_folder = Path(runs_folder) if runs_folder is not None else default_runs_folder()
        self.run_dir: Path | None = None
        self.runner = TrainingProcess(self)
        self.runner.eventReceived.connect(self.handle_event)
        self.runner.ended.connect(self._finished)
        self.runner.failedToStart.connect(self._failed_to_start)
        self.last_checkpoint_step: int | None = None
        self.last_event: Event | None = None
        self._preview: tuple[np.ndarray, int] | None = None
        self._saw_done = False
        # the child's own one-line account of why it failed (its "error" event), if it gave one
        self.error_message: str | None = None
        self._families: list[Family] = available_families()
        self._build()
        self._update_buttons()

    # building ---------------------------------------------------------------------------------

    def _build(self) -> None:
        self.choices = TrainingChoices(self._families)

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

        self.loss_curves = LossCurves()

        layout = QVBoxLayout(self)
        layout.addWidget(self.choices)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addLayout(status)
        layout.addWidget(self.loss_curves, 1)
        layout.addWidget(self.state_label)

        self.choices.dataFolderChanged.connect(lambda _folder: self._update_buttons())
        self.train_button.clicked.connect(lambda: self.start())
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(lambda: self.start(resume=True))
        self.use_button.clicked.connect(self._use_model)
        self.preview_button.clicked.connect(self._play_preview)

    # choices ----------------------------------------------------------------------------------

    @property
    def data_folder(self) -> Path | None:
        return self.choices.data_folder

    def set_data_folder(self, folder: str | Path) -> None:
        """Train on the sounds in ``folder`` (the dataset panel and the built-in sounds call it)."""
        self.choices.set_data_folder(folder)

    def set_family(self, name: str) -> None:
        self.choices.set_family(name)

    def set_custom(self, *, steps: int = 0, minutes: float = 0.0, settings: str = "") -> None:
        """Choose "Custom…" with these limits and ``NAME=VALUE`` settings."""
        self.choices.set_custom(steps=steps, minutes=minutes, settings=settings)

    @property
    def family(self) -> str:
        return self.choices.family

    # the child process ------------------------------------------------------------------------

    @property
    def process(self) -> QProcess | None:
        """The current (or last) training child, None before the first start."""
        return self.runner.process

    @property
    def paused(self) -> bool:
        return self.runner.paused

    def is_running(self) -> bool:
        return self.runner.is_running()

    def command(self, *, resume: bool = False) -> list[str]:
        """The child's argv (interpreter first) for the current choices."""
        if self.data_folder is None:
            raise TimbreLabError("choose a folder of sounds to learn from first")
        if self.run_dir is None:
            raise TimbreLabError("no run folder chosen")
        family = self.family
        if resume:
            from synth_core.checkpoint import read_record

            family = read_record(self.run_dir).family
        return train_argv(
            self.data_folder,
            family,
            self.run_dir,
            resume=resume,
            **self.choices.train_options(family, resume=resume),
        )

    def start(self, *, resume: bool = False) -> None:
        """Start (or, with ``resume``, continue) training in a child process."""
        if self.is_running():
            return
        try:
            if not resume:
                stamp = time.strftime("%Y%m%d-%H%M%S")
                self.run_dir = self.runs_folder / f"{self.family}-{stamp}"
                self._clear_curves()
            argv = self.command(resume=resume)
        except TimbreLabError as error:
            QMessageBox.warning(self, "Cannot start training", str(error))
            return
        self.runs_folder.mkdir(parents=True, exist_ok=True)
        self._saw_done = False
        self.error_message = None
        self.state_label.setText(("Resuming " if resume else "Starting ") + str(self.run_dir))
        self.runner.start(argv)
        self._update_buttons()
        self.runningChanged.emit(True)

    def toggle_pause(self) -> None:
        """Pause (SIGSTOP) or resume (SIGCONT) the training process."""
        if not self.is_running():
            return
        self.runner.set_paused(not self.paused)
        self.state_label.setText("Paused" if self.paused else "Training")
        self._update_buttons()

    def stop(self) -> None:
        """Ask the child to stop after its current step; it writes a checkpoint first."""
        if not self.is_running():
            return
        self.runner.stop()
        self.state_label.setText("Stopping after this step…")
        self._update_buttons()

    def stop_and_wait(self, timeout_ms: int = STOP_WAIT_MS) -> bool:
        """Stop and block until the child is gone (killing it after ``timeout_ms``)."""
        if self.is_running():
            self.state_label.setText("Stopping after this step…")
            self.runner.stop_and_wait(timeout_ms)
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

    def handle_event(self, event: Event) -> None:
        """Reflect one event of the training process (:mod:`synth_core.progress`)."""
        self.last_event = event
        if isinstance(event, StartEvent):
            self.device_label.setText(f"Device: {event.device}")
            resumed = event.resumed_from
            self.state_label.setText(
                f"Training on {event.clips} sounds"
                + (f", clips of {event.clip_seconds:g} s" if event.clip_seconds else "")
                + (f", resumed from step {resumed}" if resumed else "")
            )
        elif isinstance(event, ProgressEvent):
            self.progress.setValue(int(round(1000 * event.fraction)))
            eta = format_eta(event.eta_s)
            self.eta_label.setText(f"step {event.step}" + (f" · {eta}" if eta else ""))
            self.device_label.setText(f"Device: {event.device}")
            self.loss_curves.add(event.step, event.losses)
        elif isinstance(event, PreviewEvent):
            self._load_preview(event.path)
        elif isinstance(event, CheckpointEvent):
            self.last_checkpoint_step = event.step
            self.state_label.setText(f"Checkpoint at step {event.step}")
        elif isinstance(event, WarningEvent):
            self.state_label.setText(f"Warning: {event.message}")
        elif isinstance(event, DoneEvent):
            self._saw_done = True
            self.progress.setValue(1000 if not event.stopped else self.progress.value())
            verb = "Stopped" if event.stopped else "Finished"
            self.state_label.setText(f"{verb} at step {event.step}: {event.run}")
        elif isinstance(event, ErrorEvent):
            self.error_message = event.message.strip() or None
            self.state_label.setText(f"Training failed: {self.error_message or 'no reason given'}")
        self._update_buttons()
        self.eventReceived.emit(event)

    def loss_points(self) -> dict[str, int]:
        """How many points each loss curve holds."""
        return self.loss_curves.points()

    def _clear_curves(self) -> None:
        self.loss_curves.clear()
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

    def _finished(self, exit_code: int, crashed: bool) -> None:
        if (exit_code != 0 or crashed) and not self._saw_done:
            tail = self.runner.stderr_tail() or "(no output)"
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
        self._update_buttons()
        self.runningChanged.emit(False)

    def _failed_to_start(self, reason: str) -> None:
        self.state_label.setText("Training could not start")
        self._show_crash(-1, reason)
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
        self.pause_button.setEnabled(running and not self.runner.stopping)
        self.pause_button.setText("Resume" if self.paused else "Pause")
        self.stop_button.setEnabled(running and not self.runner.stopping)
        self.resume_button.setEnabled(
            not running and self.has_checkpoint() and self.data_folder is not None
        )
        self.use_button.setEnabled(self.has_checkpoint())
        self.preview_button.setEnabled(self._preview is not None)
        self.choices.set_locked(running)
