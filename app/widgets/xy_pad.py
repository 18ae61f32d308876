"""The four-corner morph pad: a puck dragged between four sounds.

Corners are numbered 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right; the puck position
is ``(x, y)`` in 0–1 with y growing downwards, so corner ``k`` sits at
``(k % 2, k // 2)``. The pad only draws and reports: which sounds the corners hold and how they
mix is the explore panel's business (``synth_core.latent``).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QContextMenuEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import QMenu, QSizePolicy, QWidget

CORNER_NAMES = ("A", "B", "C", "D")
CORNER_COLOURS = ("#e07b39", "#3a9ad9", "#5cb85c", "#b05cc6")
CORNER_ACTIONS = {"current": "Hold the current sound", "random": "Hold a random sound"}
_MARGIN = 14.0
_PUCK_RADIUS = 9.0


class XYPad(QWidget):
    """Square pad with a draggable puck and four labelled corners.

    Signals
    -------
    moved(x: float, y: float)
        While the puck moves, 0–1 each.
    released(x: float, y: float)
        When a drag ends (for undo and auto-play).
    cornerAction(corner: int, action: str)
        From the corner's context menu: "current" or "random".
    fileDropped(corner: int, path: str)
        An audio file dropped onto the pad; ``corner`` is the nearest one.
    learnRequested(target: str)
        "MIDI Learn" for an axis from the context menu: ``pad:x`` or ``pad:y``.
    """

    moved = Signal(float, float)
    released = Signal(float, float)
    cornerAction = Signal(int, str)
    fileDropped = Signal(int, str)
    learnRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._x = 0.5
        self._y = 0.5
        self._labels = ["", "", "", ""]
        self._dragging = False
        self.setMinimumSize(110, 110)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAcceptDrops(True)
        self.setAccessibleName("Morph pad")
        self.setToolTip(
            "Drag to morph between the four corner sounds. Right-click a corner to choose its "
            "sound; drop an audio file on a corner to hold that sound."
        )

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(220, 220)

    @property
    def position(self) -> tuple[float, float]:
        return self._x, self._y

    def set_position(self, x: float, y: float, *, emit: bool = False) -> None:
        """Place the puck (clamped to 0–1); signals ``moved`` only when ``emit``."""
        self._x = min(max(float(x), 0.0), 1.0)
        self._y = min(max(float(y), 0.0), 1.0)
        self.update()
        if emit:
            self.moved.emit(self._x, self._y)

    def set_corner_label(self, corner: int, text: str) -> None:
        """Short description of what ``corner`` holds ("current", "seed 12", a file name)."""
        self._labels[corner] = text
        self.update()

    def corner_label(self, corner: int) -> str:
        return self._labels[corner]

    def _square(self) -> QRectF:
        side = min(self.width(), self.height()) - 2 * _MARGIN
        left = (self.width() - side) / 2
        top = (self.height() - side) / 2
        return QRectF(left, top, side, side)

    def _to_pad(self, point: QPointF) -> tuple[float, float]:
        square = self._square()
        return (
            (point.x() - square.left()) / max(square.width(), 1.0),
            (point.y() - square.top()) / max(square.height(), 1.0),
        )

    def corner_at(self, point: QPointF) -> int:
        """The corner nearest to a widget coordinate."""
        x, y = self._to_pad(point)
        return (1 if x >= 0.5 else 0) + (2 if y >= 0.5 else 0)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        square = self._square()
        palette = self.palette()
        painter.fillRect(square, palette.base())
        grid = QPen(palette.mid().color(), 1, Qt.PenStyle.DotLine)
        painter.setPen(grid)
        for k in (1, 2, 3):
            painter.drawLine(
                QPointF(square.left() + square.width() * k / 4, square.top()),
                QPointF(square.left() + square.width() * k / 4, square.bottom()),
            )
            painter.drawLine(
                QPointF(square.left(), square.top() + square.height() * k / 4),
                QPointF(square.right(), square.top() + square.height() * k / 4),
            )
        painter.setPen(QPen(palette.text().color(), 1))
        painter.drawRect(square)
        metrics = painter.fontMetrics()
        for corner in range(4):
            cx = square.left() + square.width() * (corner % 2)
            cy = square.top() + square.height() * (corner // 2)
            colour = QColor(CORNER_COLOURS[corner])
            painter.setBrush(colour)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawEllipse(QPointF(cx, cy), 7, 7)
            text = CORNER_NAMES[corner]
            if self._labels[corner]:
                text += f" · {self._labels[corner]}"
            text = metrics.elidedText(
                text, Qt.TextElideMode.ElideRight, int(square.width() / 2 - 24)
            )
            width = metrics.horizontalAdvance(text)
            tx = cx + 10 if corner % 2 == 0 else cx - 10 - width
            ty = cy + metrics.ascent() + 6 if corner // 2 == 0 else cy - metrics.descent() - 6
            painter.setPen(palette.text().color())
            painter.drawText(QPointF(tx, ty), text)
        puck = QPointF(
            square.left() + self._x * square.width(), square.top() + self._y * square.height()
        )
        painter.setPen(QPen(palette.highlight().color().darker(130), 2))
        painter.setBrush(palette.highlight())
        painter.drawEllipse(puck, _PUCK_RADIUS, _PUCK_RADIUS)
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() == Qt.MouseButton.LeftButton:
            self._dragging = True
            self.set_position(*self._to_pad(event.position()), emit=True)
            event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if self._dragging:
            self.set_position(*self._to_pad(event.position()), emit=True)
            event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if self._dragging and event.button() == Qt.MouseButton.LeftButton:
            self._dragging = False
            self.released.emit(self._x, self._y)
            event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        step = 0.1 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 0.02
        moves = {
            Qt.Key.Key_Left: (-step, 0.0),
            Qt.Key.Key_Right: (step, 0.0),
            Qt.Key.Key_Up: (0.0, -step),
            Qt.Key.Key_Down: (0.0, step),
        }
        move = moves.get(Qt.Key(event.key()))
        if move is None:
            super().keyPressEvent(event)
            return
        self.set_position(self._x + move[0], self._y + move[1], emit=True)
        self.released.emit(self._x, self._y)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:  # noqa: N802 (Qt override)
        corner = self.corner_at(QPointF(event.pos()))
        menu = QMenu(self)
        menu.setTitle(f"Corner {CORNER_NAMES[corner]}")
        for action, text in CORNER_ACTIONS.items():
            menu.addAction(text, lambda a=action: self.cornerAction.emit(corner, a))
        menu.addSeparator()
        for axis in ("x", "y"):
            menu.addAction(
                f"MIDI Learn {axis.upper()} Axis",
                lambda a=axis: self.learnRequested.emit(f"pad:{a}"),
            )
        menu.exec(event.globalPos())

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if not urls:
            return
        corner = self.corner_at(event.position())
        self.fileDropped.emit(corner, str(Path(urls[0].toLocalFile())))
        event.acceptProposedAction()
