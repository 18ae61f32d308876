"""The training panel's loss plot: one coloured curve per loss the learner reports, by step."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QCheckBox, QVBoxLayout, QWidget

LOSS_COLOURS = ("#e07b39", "#3a9ad9", "#5cb85c", "#b05cc6", "#d9534f", "#8a8a8a")
EMPTY_TITLE = "Loss curves appear here during training"


class LossCurves(QWidget):
    """A plot of every loss against the step, on a log scale unless the user turns it off.

    Points that cannot be drawn are left out: non-finite values, and zero or negative ones
    while the scale is logarithmic.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._losses: dict[str, tuple[list[int], list[float]]] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(100)
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        # a translucent legend box: the curves stay readable where they pass behind it
        self.plot.addLegend(offset=(-10, 10), brush=pg.mkBrush(20, 20, 24, 190))
        self.plot.setTitle(EMPTY_TITLE, size="9pt")
        self.log_scale = QCheckBox("Log scale")
        self.log_scale.setChecked(True)
        self.plot.setLogMode(y=True)
        self.log_scale.toggled.connect(lambda on: self.plot.setLogMode(y=on))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.log_scale)

    def add(self, step: int, losses: Mapping[str, float]) -> None:
        """Extend each named curve by its value at ``step`` (a new name starts a new curve)."""
        if self._losses == {} and losses:
            self.plot.setTitle(None)
        for name, value in losses.items():
            if value is None or not np.isfinite(value) or value <= 0 and self.log_scale.isChecked():
                continue
            steps, values = self._losses.setdefault(name, ([], []))
            steps.append(step)
            values.append(float(value))
            curve = self.curves.get(name)
            if curve is None:
                colour = LOSS_COLOURS[len(self.curves) % len(LOSS_COLOURS)]
                curve = self.plot.plot(name=name, pen=pg.mkPen(colour, width=2))
                self.curves[name] = curve
            curve.setData(steps, values)

    def points(self) -> dict[str, int]:
        """How many points each curve holds."""
        return {name: len(steps) for name, (steps, _) in self._losses.items()}

    def clear(self) -> None:
        """Remove every curve (a new run starts)."""
        for curve in self.curves.values():
            self.plot.removeItem(curve)
        self.curves.clear()
        self._losses.clear()
