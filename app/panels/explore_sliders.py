"""The explore panel's sliders: one :class:`~app.widgets.control_row.ControlRow` per control of
the loaded model, in a scrolling list."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QScrollArea, QVBoxLayout, QWidget

from app.widgets.control_row import ControlRow
from synth_core.models.base import Control


class SliderList(QScrollArea):
    """A scrolling column of slider rows, rebuilt for each model (or primer) by :meth:`build`.

    Signals
    -------
    valueChanged(name: str, value: float)
        A slider moved (each step of a drag).
    valueCommitted(name: str, before: float, after: float)
        A gesture ended: one undoable change.
    learnRequested(target: str)
        MIDI learn asked for on a slider (``control:<name>``).
    """

    valueChanged = Signal(str, float)
    valueCommitted = Signal(str, float, float)
    learnRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        #: the rows by control name; one dict for the list's life, so a reference stays current
        self.rows: dict[str, ControlRow] = {}
        box = QWidget()
        self._layout = QVBoxLayout(box)
        self._layout.setContentsMargins(4, 4, 4, 4)
        self._layout.addStretch(1)
        self.setWidgetResizable(True)
        self.setWidget(box)
        self.setMinimumHeight(80)

    def build(self, controls: list[Control]) -> None:
        """One row per control, in order, replacing the rows shown."""
        for row in self.rows.values():
            row.deleteLater()
        self.rows.clear()
        for control in controls:
            row = ControlRow(control)
            row.valueChanged.connect(self.valueChanged)
            row.valueCommitted.connect(self.valueCommitted)
            row.learnRequested.connect(self.learnRequested)
            self._layout.insertWidget(self._layout.count() - 1, row)
            self.rows[control.name] = row

    def show_values(self, values: Mapping[str, float]) -> None:
        """Move every row to its value in ``values`` (which names every control), silently."""
        for name, row in self.rows.items():
            row.set_value(values[name])
