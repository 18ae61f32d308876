"""The transport bar: play/stop, loop, position, volume, level meter and output device.

It drives a :class:`~app.player.Player` (Qt-free, in :mod:`app.player`) and polls it about 30
times a second while something plays, turning what it reads into signals for the sound view's
playhead and the status bar. Without an audio output the bar is disabled and says why.
"""

from __future__ import annotations

import logging

import numpy as np
import qtawesome as qta
from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSlider,
    QToolButton,
    QWidget,
)
from superqt import QElidingLabel

from app.player import LEVEL_FLOOR_DB, OutputDevice, Player, RingBuffer

__all__ = ["OutputDevice", "Player", "RingBuffer", "TransportBar"]

log = logging.getLogger(__name__)


def _format_time(seconds: float) -> str:
    minutes, rest = divmod(max(0.0, seconds), 60.0)
    return f"{int(minutes)}:{rest:05.2f}"


class TransportBar(QWidget):
    """Play/stop, loop, position, volume, level meter and output device for one sound.

    Parameters
    ----------
    player : Player
        The player to drive; the bar does not close it.
    parent : QWidget or None
        Qt parent.

    Signals
    -------
    positionChanged(seconds)
        The playhead moved (about 30 times a second while playing).
    playingChanged(playing)
        Playback started or ended.
    statusMessage(text)
        Something the user should know (a device error).
    """

    positionChanged = Signal(float)
    playingChanged = Signal(bool)
    statusMessage = Signal(str)
    loopChanged = Signal(bool)
    volumeChanged = Signal(float)
    deviceChanged = Signal(str)

    POLL_MS = 33

    def __init__(self, player: Player, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.player = player
        self._samples: np.ndarray | None = None
        self._rate = 0
        self._start_s = 0.0
        self._was_playing = False
        self._level_db = LEVEL_FLOOR_DB

        self.play_action = QAction(qta.icon("fa5s.play", color="#e3e5e8"), "Play / Stop", self)
        self.play_action.setShortcut(QKeySequence(Qt.Key.Key_Space))
        self.play_action.setToolTip("Play or stop the current sound (Space)")
        self.play_action.triggered.connect(self.toggle)
        self.loop_action = QAction(qta.icon("fa5s.redo", color="#e3e5e8"), "Loop", self)
        self.loop_action.setCheckable(True)
        self.loop_action.setShortcut(QKeySequence(Qt.Key.Key_L))
        self.loop_action.setToolTip("Play the sound over and over (L)")
        self.loop_action.toggled.connect(self._set_loop)
        self.rewind_action = QAction(
            qta.icon("fa5s.step-backward", color="#e3e5e8"), "To Start", self
        )
        self.rewind_action.setShortcut(QKeySequence(Qt.Key.Key_Home))
        self.rewind_action.setToolTip("Move the playhead to the start (Home)")
        self.rewind_action.triggered.connect(lambda: self.seek(0.0))
        for action in (self.play_action, self.loop_action, self.rewind_action):
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            self.addAction(action)

        self.play_button = QToolButton(self)
        self.play_button.setDefaultAction(self.play_action)
        self.rewind_button = QToolButton(self)
        self.rewind_button.setDefaultAction(self.rewind_action)
        self.loop_button = QToolButton(self)
        self.loop_button.setDefaultAction(self.loop_action)
        self.time_label = QLabel(_format_time(0.0), self)
        self.time_label.setToolTip("Playhead / length of the current sound")
        self.time_label.setMinimumWidth(
            self.time_label.fontMetrics().horizontalAdvance("00:00.00 / 00:00.00") + 8
        )

        self.volume_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.volume_slider.setRange(0, 100)
        self.volume_slider.setValue(round(player.volume * 100))
        self.volume_slider.setFixedWidth(90)
        self.volume_slider.setToolTip("Volume")
        self.volume_slider.valueChanged.connect(self._set_volume)
        self.level_meter = QProgressBar(self)
        self.level_meter.setObjectName("levelMeter")
        self.level_meter.setRange(0, 1000)
        self.level_meter.setTextVisible(False)
        self.level_meter.setFixedSize(80, 10)
        self.level_meter.setToolTip("Output level (peak, -60 to 0 dBFS)")
        self.device_combo = QComboBox(self)
        self.device_combo.setToolTip("Audio output device")
        self.device_combo.setMinimumContentsLength(10)
        self.device_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.device_combo.activated.connect(self._choose_device)
        self.reason_label = QElidingLabel(self)
        self.reason_label.setObjectName("transportReason")
        self.reason_label.setMinimumWidth(120)
        self.reason_label.hide()

        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.setSpacing(6)
        for widget in (self.rewind_button, self.play_button, self.loop_button, self.time_label):
            layout.addWidget(widget)
        speaker = QLabel(self)
        speaker.setPixmap(qta.icon("fa5s.volume-up", color="#b8bcc4").pixmap(16, 16))
        layout.addSpacing(8)
        layout.addWidget(speaker)
        layout.addWidget(self.volume_slider)
        layout.addWidget(self.level_meter)
        layout.addSpacing(8)
        layout.addWidget(self.device_combo)
        layout.addWidget(self.reason_label, 1)
        layout.addStretch(0)

        self._set_controls_enabled(False)
        self.reason_label.setText("Starting audio output…")
        self.reason_label.show()
        self._timer = QTimer(self)
        self._timer.setInterval(self.POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._timer.start()

    # --- public API for panels ------------------------------------------------------------
    @property
    def available(self) -> bool:
        """True when sounds can be played."""
        return self.player.state == "ready"

    @property
    def unavailable_reason(self) -> str:
        """Why playback is off ("" when it works)."""
        return self.player.reason if self.player.state == "unavailable" else ""

    def set_sound(self, samples: np.ndarray, sample_rate: int) -> None:
        """Make ``samples`` the current sound without playing it; the playhead goes to 0."""
        if self.player.is_playing:
            self.player.stop()
        self._samples = samples
        self._rate = int(sample_rate)
        self._start_s = 0.0
        self._show_position(0.0)

    def play(self, samples: np.ndarray, sample_rate: int, *, start_s: float = 0.0) -> None:
        """Make ``samples`` the current sound and play it from ``start_s`` seconds."""
        self.set_sound(samples, sample_rate)
        self._start_s = start_s
        self._play_current()

    def toggle(self) -> None:
        """Stop when playing, otherwise play the current sound from the playhead."""
        if self.player.is_playing:
            self.stop()
        else:
            self._play_current()

    def stop(self) -> None:
        """Stop playback; the playhead stays where it was."""
        self._start_s = self.player.position_s
        self.player.stop()
        self._wake()

    def seek(self, seconds: float) -> None:
        """Move the playhead to ``seconds`` (playback continues from there when playing)."""
        duration = self.duration_s
        seconds = min(max(0.0, seconds), duration) if duration else 0.0
        self._start_s = seconds
        if self.player.is_playing:
            self.player.seek(seconds)
        self._show_position(seconds)

    @property
    def duration_s(self) -> float:
        """Length of the current sound, seconds (0 without one)."""
        return len(self._samples) / self._rate if self._samples is not None and self._rate else 0.0

    def shutdown(self) -> None:
        """Stop polling and stop playback (the window is closing)."""
        self._timer.stop()
        self.player.stop()

    # --- internals -------------------------------------------------------------------------
    def _play_current(self) -> None:
        if self._samples is None:
            self.statusMessage.emit("Nothing to play yet: pick a sound first.")
            return
        if not self.available:
            self.statusMessage.emit(f"Cannot play: {self.unavailable_reason or 'audio starting'}")
            return
        start = self._start_s if self._start_s < self.duration_s - 1e-3 else 0.0
        self.player.play(self._samples, self._rate, start_s=start)
        self._wake()

    def _wake(self) -> None:
        """Poll the player again (the timer sleeps while nothing plays)."""
        if not self._timer.isActive():
            self._timer.start()

    def _set_controls_enabled(self, enabled: bool) -> None:
        for action in (self.play_action, self.loop_action, self.rewind_action):
            action.setEnabled(enabled)
        for widget in (self.volume_slider, self.device_combo, self.level_meter):
            widget.setEnabled(enabled)

    def _on_backend_started(self) -> None:
        if self.player.state == "ready":
            self.device_combo.clear()
            for device in self.player.devices:
                self.device_combo.addItem(device.name, device.name)
            if self.player.device is not None:
                self.device_combo.setCurrentIndex(
                    self.device_combo.findData(self.player.device.name)
                )
            self.reason_label.hide()
            self._set_controls_enabled(True)
        else:
            self.reason_label.setText(f"No playback: {self.player.reason}")
            self.reason_label.setToolTip(self.player.reason)
            self.reason_label.show()
            self.device_combo.addItem("No output device")
            self._set_controls_enabled(False)

    @Slot()
    def _poll(self) -> None:
        if self.player.state != "starting" and not self.device_combo.count():
            self._on_backend_started()
        for error in self.player.take_errors():
            self.statusMessage.emit(error)
        playing = self.player.is_playing
        if playing:
            self._show_position(self.player.position_s)
        if playing != self._was_playing:
            self._was_playing = playing
            self.play_action.setIcon(
                qta.icon("fa5s.stop" if playing else "fa5s.play", color="#e3e5e8")
            )
            if not playing:
                self._start_s = self.player.position_s
                self._show_position(self._start_s)
            self.playingChanged.emit(playing)
        # A peak meter with a falling ballistic: 30 dB per second down, instant up.
        self._level_db = max(self.player.take_peak(), self._level_db - 30.0 * self.POLL_MS / 1000)
        fraction = (self._level_db - LEVEL_FLOOR_DB) / -LEVEL_FLOOR_DB
        self.level_meter.setValue(round(1000 * min(max(fraction, 0.0), 1.0)))
        if not playing and self.player.state != "starting" and fraction <= 0.0:
            self._timer.stop()  # nothing moves until the next play, seek or device change

    def _show_position(self, seconds: float) -> None:
        self.time_label.setText(f"{_format_time(seconds)} / {_format_time(self.duration_s)}")
        self.positionChanged.emit(seconds)

    @Slot(bool)
    def _set_loop(self, loop: bool) -> None:
        self.player.loop = loop
        self.loopChanged.emit(loop)

    @Slot(int)
    def _set_volume(self, value: int) -> None:
        self.player.volume = value / 100.0
        self.volumeChanged.emit(value / 100.0)

    @Slot(int)
    def _choose_device(self, index: int) -> None:
        name = self.device_combo.itemData(index)
        if name:
            self.player.set_device(name)
            self.deviceChanged.emit(name)
            self._wake()
