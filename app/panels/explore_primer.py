"""The explore panel's primer row: a recording for the model to continue (rnn models).

Shown only for models that take a primer (``model.takes_primer``). The folder a primer was last
chosen from is remembered in the settings, so the next dialog opens there.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from app.settings import AppSettings
from synth_core.audio import FORMAT_BY_SUFFIX


class PrimerBar(QWidget):
    """Primer…, the primer's file name and No primer, in one row.

    Signals
    -------
    fileChosen(path: str)
        A recording the user chose; the panel sets it and calls :meth:`remember` when it works.
    cleared()
        The user asked for no primer.
    """

    fileChosen = Signal(str)
    cleared = Signal()

    def __init__(self, settings: AppSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self.primer_button = QPushButton("Primer…")
        self.primer_button.setToolTip(
            "A recording for the model to continue: each sound starts with it, as the model "
            "hears it, and goes on from there"
        )
        self.primer_label = QLabel("no primer")
        self.primer_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.clear_primer_button = QPushButton("No primer")
        self.clear_primer_button.setToolTip("Start from the model's own sounds again")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.primer_button)
        row.addWidget(self.primer_label, 1)
        row.addWidget(self.clear_primer_button)
        self.primer_button.clicked.connect(self._dialog)
        self.clear_primer_button.clicked.connect(self.cleared)

    def show_primer(self, path: Path | None) -> None:
        """Name the primer in use (None: no primer)."""
        self.primer_label.setText("no primer" if path is None else path.name)
        self.primer_label.setToolTip("" if path is None else str(path))
        self.clear_primer_button.setEnabled(path is not None)

    def remember(self, path: str | Path) -> None:
        """Open the next dialog in the folder of ``path``, a primer that worked."""
        if self._settings is not None:
            self._settings.primer_folder = Path(path).parent

    def _dialog(self) -> None:
        start = ""
        if self._settings is not None and self._settings.primer_folder is not None:
            start = str(self._settings.primer_folder)
        patterns = " ".join(f"*{suffix}" for suffix in FORMAT_BY_SUFFIX)
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a recording to continue", start, f"Sounds ({patterns})"
        )
        if path:
            self.fileChosen.emit(path)
