"""A one-row piano keyboard for choosing the pitch of pitch-conditioned models."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

_BLACK = {1, 3, 6, 8, 10}
_NAMES = ("C", "C♯", "D", "D♯", "E", "F", "F♯", "G", "G♯", "A", "A♯", "B")


def note_name(midi: int) -> str:
    """ "C4" for MIDI 60 (scientific pitch notation)."""
    return f"{_NAMES[midi % 12]}{midi // 12 - 1}"


class KeyboardStrip(QWidget):
    """Piano keys from ``low`` to ``high`` (MIDI, inclusive); click or arrow keys choose a note.

    Signals
    -------
    noteChosen(midi: int)
    """

    noteChosen = Signal(int)

    def __init__(self, low: int = 36, high: int = 96, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        while low % 12 in _BLACK:
            low -= 1
        while high % 12 in _BLACK:
            high += 1
        self.low, self.high = low, high
        self._note: int | None = None
        self.setMinimumHeight(32)
        self.setMaximumHeight(64)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName("Pitch keyboard")
        self.setToolTip("Click a key to set the pitch; ←/→ move by a semitone.")

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(420, 52)

    @property
    def note(self) -> int | None:
        return self._note

    def set_note(self, midi: int | None, *, emit: bool = False) -> None:
        if midi is not None:
            midi = min(max(int(midi), self.low), self.high)
        self._note = midi
        self.update()
        if emit and midi is not None:
            self.noteChosen.emit(midi)

    def _white_keys(self) -> list[int]:
        return [m for m in range(self.low, self.high + 1) if m % 12 not in _BLACK]

    def _key_rects(self) -> list[tuple[int, QRectF]]:
        whites = self._white_keys()
        width = self.width() / len(whites)
        height = self.height() - 1
        rects = [(m, QRectF(i * width, 0, width, height)) for i, m in enumerate(whites)]
        for i, m in enumerate(whites):
            if (m + 1) % 12 in _BLACK and m + 1 <= self.high:
                rects.append((m + 1, QRectF((i + 0.65) * width, 0, width * 0.7, height * 0.6)))
        return rects

    def note_at(self, point: QPointF) -> int | None:
        """The key under a widget coordinate; black keys win where they overlap white ones."""
        for midi, rect in reversed(self._key_rects()):
            if rect.contains(point):
                return midi
        return None

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        palette = self.palette()
        highlight = palette.highlight().color()
        outline = QPen(Qt.GlobalColor.darkGray, 1)
        for midi, rect in self._key_rects():
            black = midi % 12 in _BLACK
            if midi == self._note:
                painter.setBrush(highlight)
            else:
                painter.setBrush(Qt.GlobalColor.black if black else Qt.GlobalColor.white)
            painter.setPen(outline)
            painter.drawRect(rect)
            if midi % 12 == 0:
                painter.setPen(Qt.GlobalColor.darkGray)
                painter.drawText(
                    rect.adjusted(0, 0, 0, -3),
                    int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom),
                    note_name(midi),
                )
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        midi = self.note_at(event.position())
        if midi is not None:
            self.set_note(midi, emit=True)
            event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        step = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1}.get(Qt.Key(event.key()))
        if step is None or self._note is None:
            super().keyPressEvent(event)
            return
        self.set_note(self._note + step, emit=True)
