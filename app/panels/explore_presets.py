"""The explore panel's preset row: save and load a setting, and drag the sound out."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QPushButton, QWidget

from app.widgets.drag_out import DragOutHandle, SoundSource


class PresetBar(QWidget):
    """Save preset…, Load preset… and the handle that drags the last sound out as a file.

    The buttons ask for a file and hand its path on; the panel saves or loads it and says what
    went wrong.

    Signals
    -------
    saveRequested(path: str)
        A ``.json`` path the user chose to save the current setting to.
    loadRequested(path: str)
        A preset file the user chose to load.
    """

    saveRequested = Signal(str)
    loadRequested = Signal(str)

    def __init__(self, sound_for_drag: SoundSource, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.save_button = QPushButton("Save preset…")
        self.load_button = QPushButton("Load preset…")
        self.drag_handle = DragOutHandle(sound_for_drag)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.save_button)
        row.addWidget(self.load_button)
        row.addStretch(1)
        row.addWidget(self.drag_handle)
        self.save_button.clicked.connect(self._save_dialog)
        self.load_button.clicked.connect(self._load_dialog)

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save preset", "", "Presets (*.json)")
        if not path:
            return
        if not path.endswith(".json"):
            path += ".json"
        self.saveRequested.emit(path)

    def _load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load preset", "", "Presets (*.json)")
        if path:
            self.loadRequested.emit(path)
