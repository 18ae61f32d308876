"""A lasso selection of the Sound Map opened as a folder view of its own, in a new window.

The map's "Open as Folder" makes a folder of links to the selected files
(:func:`synth_core.maps.selection_folder`, under the cache) and shows it here, in the same
sounds list the main window's Sounds panel uses: click a sound to see and hear it in the main
window's sound view, train on the subset, save it as real copies somewhere of the user's choosing,
or open it in the main window after all. The main window keeps its folder and its map: closing this
window is going back. The user's files are never moved; the links point at them where they lie.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.panels.dataset import DatasetPanel
from synth_core.errors import TimbreLabError


class SelectionWindow(QWidget):
    """A window listing the sounds of one map selection (``folder``: links to ``sources``).

    Parameters
    ----------
    folder : Path
        The folder of links the map made for the selection.
    sources : sequence of Path
        The selected files themselves (what "Save as Folder…" copies).
    origin : str
        Where they were selected (the main window's folder), for the title.
    parent : QWidget or None
        The map panel: the window closes with it.

    Signals
    -------
    soundChosen(samples, rate, title)
        A sound of the selection was clicked: show it in the sound view and play it.
    trainRequested(folder)
        Train on the selection's folder.
    folderRequested(folder)
        Open the selection's folder in the main window's Sounds panel instead.
    statusMessage(text)
    closed()
        The window was closed.
    """

    soundChosen = Signal(object, int, str)
    trainRequested = Signal(str)
    folderRequested = Signal(str)
    statusMessage = Signal(str)
    closed = Signal()

    def __init__(
        self,
        folder: Path,
        sources: Sequence[Path],
        *,
        origin: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setObjectName("mapSelectionWindow")
        self.folder = Path(folder)
        self.sources = [Path(p) for p in sources]
        where = f" from {origin}" if origin else ""
        self.setWindowTitle(f"Selection: {len(self.sources)} sounds{where} — Timbre Lab")

        self.sounds = DatasetPanel(self)
        self.sounds.open_button.hide()  # this window shows the selection, not another folder
        self.sounds.soundLoaded.connect(
            lambda audio: self.soundChosen.emit(
                audio.samples, audio.sample_rate, audio.path.name if audio.path else ""
            )
        )
        self.sounds.statusMessage.connect(self.statusMessage)
        self.note = QLabel(
            f"{len(self.sources)} sounds selected on the map{where}. This folder holds links "
            "to them; your files stay where they are. Close this window to go back.",
            self,
        )
        self.note.setWordWrap(True)
        self.train_button = QPushButton("Train on These", self)
        self.train_button.setToolTip("Use these sounds as the Train panel's data")
        self.train_button.clicked.connect(lambda: self.trainRequested.emit(str(self.folder)))
        self.save_button = QPushButton("Save as Folder…", self)
        self.save_button.setToolTip("Copy these sounds into a folder you choose")
        self.save_button.clicked.connect(lambda: self.save_copies())
        self.main_button = QPushButton("Open in Main Window", self)
        self.main_button.setToolTip("Show this selection in the main window's Sounds panel")
        self.main_button.clicked.connect(lambda: self.folderRequested.emit(str(self.folder)))
        self.close_button = QPushButton("Close", self)
        self.close_button.clicked.connect(self.close)
        QShortcut(QKeySequence.StandardKey.Close, self, self.close)

        buttons = QHBoxLayout()
        for button in (self.train_button, self.save_button, self.main_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.note)
        layout.addWidget(self.sounds, 1)
        layout.addLayout(buttons)
        self.resize(560, 520)
        self.sounds.open_folder(self.folder)

    def save_copies(self, folder: str | Path | None = None) -> list[Path]:
        """Copy the selected files (not the links) into ``folder`` (ask which when None)."""
        from synth_core import maps

        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Save the selected sounds to")
            if not folder:
                return []
        try:
            written = maps.copy_files(self.sources, folder)
        except TimbreLabError as error:
            self.statusMessage.emit(str(error))
            return []
        self.statusMessage.emit(f"Copied {len(written)} sounds to {folder}")
        return written

    def closeEvent(self, event: QCloseEvent) -> None:
        self.sounds.shutdown()
        self.closed.emit()
        super().closeEvent(event)
