"""A handle that drags the current sound out of the window as a WAV file.

Dropped onto a file manager or a DAW, it becomes a 24-bit WAV at the model's rate, written to a
temporary folder at the moment the drag starts (drop targets copy the file they are given).
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDrag, QMouseEvent
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from synth_core import audio as audio_io

log = logging.getLogger(__name__)

SoundSource = Callable[[], tuple[np.ndarray, int, str] | None]


class DragOutHandle(QLabel):
    """Drag me: the sound ``source()`` returns (samples, sample rate, name) leaves as a WAV."""

    def __init__(self, source: SoundSource, parent: QWidget | None = None) -> None:
        super().__init__("⇲ Drag as WAV", parent)
        self._source = source
        self._press: QPoint | None = None
        self._folder: Path | None = None
        self.setFrameShape(QLabel.Shape.StyledPanel)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMargin(4)
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        self.setToolTip("Drag the current sound onto a file manager or a DAW as a WAV file")

    def write_file(self) -> Path | None:
        """Write the current sound to a temporary WAV; None when there is no sound yet."""
        sound = self._source()
        if sound is None:
            return None
        samples, rate, name = sound
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="timbrelab-drag-"))
        stem = re.sub(r"[^\w.\-+=@ ]", "_", name).strip() or "sound"
        return audio_io.save(
            samples, self._folder / f"{stem}.wav", sample_rate=rate, subtype="PCM_24"
        )

    def mime_data(self) -> QMimeData | None:
        """What a drag carries: the URL of a freshly written WAV file."""
        path = self.write_file()
        if path is None:
            return None
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        return mime

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.position().toPoint()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if self._press is None:
            return
        moved = (event.position().toPoint() - self._press).manhattanLength()
        if moved < QApplication.startDragDistance():
            return
        self._press = None
        mime = self.mime_data()
        if mime is None:
            return
        drag = QDrag(self)
        drag.setMimeData(mime)
        drag.exec(Qt.DropAction.CopyAction)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        self._press = None
