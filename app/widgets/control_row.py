"""One slider row built from a :class:`~synth_core.models.base.Control`.

Label (tooltip: the control's help), a slider over the control's 0–1 travel (linear or log, as
the control says), a value field in the control's unit. Double-clicking the slider or the label
resets to the default. ``valueChanged`` fires while dragging; ``valueCommitted`` once per gesture
(release, Enter, reset) with the value before and after, which is what undo records.
Right-clicking the row offers MIDI learn (``learnRequested``).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QContextMenuEvent, QMouseEvent
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QMenu, QSlider, QWidget

from synth_core.models.base import Control

SLIDER_STEPS = 1000


class _ResettableSlider(QSlider):
    resetRequested = Signal()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        self.resetRequested.emit()
        event.accept()


class _ResettableLabel(QLabel):
    resetRequested = Signal()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        self.resetRequested.emit()
        event.accept()


class ControlRow(QWidget):
    """A labelled slider and value field for one control.

    Signals
    -------
    valueChanged(name: str, value: float)
        Every change, in the control's unit.
    valueCommitted(name: str, before: float, after: float)
        Once per finished gesture, for undo.
    learnRequested(target: str)
        "MIDI Learn" from the context menu; ``target`` is ``control:<name>``.
    """

    valueChanged = Signal(str, float)
    valueCommitted = Signal(str, float, float)
    learnRequested = Signal(str)

    def __init__(self, control: Control, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.control = control
        self._value = control.default
        self._gesture_start: float | None = None
        self._updating = False

        # keep "(r = +0.81)" in one piece when a long label wraps
        self.label = _ResettableLabel(control.label.replace(" = ", "\u00a0=\u00a0"))
        self.label.setToolTip(self._tooltip())
        self.label.setMinimumWidth(110)
        self.label.setWordWrap(True)
        self.slider = _ResettableSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setToolTip(self._tooltip())
        self.slider.setAccessibleName(control.label)
        self.field = QDoubleSpinBox()
        self.field.setRange(control.minimum, control.maximum)
        span = control.maximum - control.minimum
        self.field.setDecimals(3 if span < 10 else 1)
        self.field.setSingleStep(span / 100)
        self.field.setKeyboardTracking(False)
        self.field.setSuffix(f" {control.unit}" if control.unit else "")
        self.field.setMinimumWidth(84)
        self.field.setAccessibleName(f"{control.label} value")

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 3)
        layout.addWidget(self.slider, 5)
        layout.addWidget(self.field, 2)

        self.slider.valueChanged.connect(self._slider_moved)
        self.slider.sliderPressed.connect(self._begin_gesture)
        self.slider.sliderReleased.connect(self._end_gesture)
        self.slider.resetRequested.connect(self.reset)
        self.label.resetRequested.connect(self.reset)
        self.field.valueChanged.connect(self._field_changed)
        self._show(self._value)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:  # noqa: N802 (Qt override)
        menu = QMenu(self)
        menu.addAction(
            "MIDI Learn (move a knob next)",
            lambda: self.learnRequested.emit(f"control:{self.control.name}"),
        )
        menu.addAction("Reset to default", self.reset)
        menu.exec(event.globalPos())

    def _tooltip(self) -> str:
        c = self.control
        unit = f" {c.unit}" if c.unit else ""
        text = f"{c.help}\n" if c.help else ""
        return f"{text}{c.minimum:g}–{c.maximum:g}{unit}, default {c.default:g}{unit}. Double-click to reset."

    @property
    def value(self) -> float:
        """Current value in the control's unit."""
        return self._value

    def set_value(self, value: float, *, emit: bool = False) -> None:
        """Show ``value`` (clamped to the range); signals only when ``emit``."""
        value = min(max(float(value), self.control.minimum), self.control.maximum)
        changed = value != self._value
        self._value = value
        self._show(value)
        if emit and changed:
            self.valueChanged.emit(self.control.name, value)

    def reset(self) -> None:
        """Back to the default, as one undoable change."""
        before = self._value
        self.set_value(self.control.default, emit=True)
        if before != self._value:
            self.valueCommitted.emit(self.control.name, before, self._value)

    def _show(self, value: float) -> None:
        self._updating = True
        try:
            self.slider.setValue(round(self.control.to_normalised(value) * SLIDER_STEPS))
            self.field.setValue(value)
        finally:
            self._updating = False

    def _begin_gesture(self) -> None:
        self._gesture_start = self._value

    def _end_gesture(self) -> None:
        before, self._gesture_start = self._gesture_start, None
        if before is not None and before != self._value:
            self.valueCommitted.emit(self.control.name, before, self._value)

    def _slider_moved(self, position: int) -> None:
        if self._updating:
            return
        before = self._value
        self._value = self.control.from_normalised(position / SLIDER_STEPS)
        self._updating = True
        self.field.setValue(self._value)
        self._updating = False
        self.valueChanged.emit(self.control.name, self._value)
        # keyboard and wheel steps are gestures of their own
        if not self.slider.isSliderDown() and before != self._value:
            self.valueCommitted.emit(self.control.name, before, self._value)

    def _field_changed(self, value: float) -> None:
        if self._updating:
            return
        before = self._value
        self.set_value(value, emit=True)
        if before != self._value:
            self.valueCommitted.emit(self.control.name, before, self._value)
