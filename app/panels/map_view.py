"""The plot of the sound map: clips as points, generated sounds as stars, lasso and path strokes.

Ten thousand points stay interactive because the scatter draws in pixel mode from a cached symbol
atlas (``pxMode``, ``useCache``): colours come from a 64-step table of shared brushes and sizes
from four steps, so the atlas holds a few hundred symbols however many points there are, and past
:data:`OUTLINE_LIMIT` points the outlines (a second paint per point) are dropped.
:func:`measure_frame_times` is what ``timbrelab bench --family map`` reports.
"""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QApplication, QWidget

COLOUR_STEPS = 64
SIZE_STEPS = (5.0, 7.0, 9.0, 12.0)  # px, short to long clips
OUTLINE_LIMIT = 2000  # points; above it no outline is drawn
HOVER_PX = 8.0  # a point counts as under the mouse within this many pixels
MISSING = QColor(140, 140, 140)  # NaN values (an unpitched sound coloured by pitch)


def _colour_table() -> list[QBrush]:
    lookup = pg.colormap.get("viridis").getLookupTable(nPts=COLOUR_STEPS, alpha=False)
    return [QBrush(QColor(int(r), int(g), int(b), 220)) for r, g, b in lookup]


def colour_steps(values: np.ndarray, *, categorical: bool = False) -> np.ndarray:
    """Index into the colour table ``[n]`` (``-1`` for NaN): values by their 2nd–98th
    percentile range, categories spread over the table."""
    values = np.asarray(values, dtype=np.float64)
    steps = np.full(values.shape, -1, dtype=np.int64)
    finite = np.isfinite(values)
    if not finite.any():
        return steps
    if categorical:
        count = int(values[finite].max()) + 1
        spread = np.linspace(0, COLOUR_STEPS - 1, max(count, 2)).astype(np.int64)
        steps[finite] = spread[values[finite].astype(np.int64)]
        return steps
    low, high = np.percentile(values[finite], [2, 98])
    scaled = (values[finite] - low) / (high - low) if high > low else np.zeros(finite.sum())
    steps[finite] = np.clip(np.round(scaled * (COLOUR_STEPS - 1)), 0, COLOUR_STEPS - 1)
    return steps


def size_steps(durations: np.ndarray) -> np.ndarray:
    """Point sizes ``[n]`` in px from clip durations in seconds, in :data:`SIZE_STEPS`."""
    durations = np.nan_to_num(np.asarray(durations, dtype=np.float64), nan=0.0)
    edges = np.array([0.5, 1.0, 2.0])  # seconds
    return np.asarray(SIZE_STEPS)[np.searchsorted(edges, durations)]


class MapViewBox(pg.ViewBox):
    """A view box whose left drag draws a stroke (a lasso or a path) instead of panning when
    :attr:`mode` is ``"lasso"`` or ``"path"``; left clicks are reported in map coordinates.

    Signals
    -------
    strokeFinished(points)
        ``np.ndarray [m, 2]`` of the stroke in map coordinates, with the mode it was drawn in.
    clicked(x, y)
        A left click at map position (x, y).
    """

    strokeFinished = Signal(object, str)
    clicked = Signal(float, float)

    def __init__(self) -> None:
        super().__init__()
        self.mode = "pan"
        self._stroke: list[tuple[float, float]] = []
        self.stroke_item = pg.PlotDataItem(pen=pg.mkPen((250, 200, 80), width=2, style=Qt.DashLine))
        self.stroke_item.setZValue(10)

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: ANN001 - pyqtgraph's signature
        if self.mode == "pan" or ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if ev.isStart():
            start = self.mapSceneToView(ev.buttonDownScenePos())
            self._stroke = [(start.x(), start.y())]
        here = self.mapSceneToView(ev.scenePos())
        self._stroke.append((here.x(), here.y()))
        stroke = np.asarray(self._stroke)
        shown = np.vstack([stroke, stroke[:1]]) if self.mode == "lasso" else stroke
        self.stroke_item.setData(shown[:, 0], shown[:, 1])
        if ev.isFinish():
            self.strokeFinished.emit(stroke, self.mode)

    def mouseClickEvent(self, ev) -> None:  # noqa: ANN001 - pyqtgraph's signature
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            here = self.mapSceneToView(ev.scenePos())
            self.clicked.emit(here.x(), here.y())
        else:
            super().mouseClickEvent(ev)


class MapView(pg.PlotWidget):
    """The map: :meth:`set_points` draws the clips, :meth:`set_selected` rings a subset,
    :meth:`set_generated` shows generated sounds as stars; :meth:`nearest` finds the point under
    a map position, within :data:`HOVER_PX` pixels.

    Signals
    -------
    hovered(index)
        The point under the mouse changed (``-1`` for none).
    """

    hovered = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        self.box = MapViewBox()
        super().__init__(parent, viewBox=self.box)
        self.setBackground((25, 25, 30))
        self.hideAxis("left")
        self.hideAxis("bottom")
        self.box.setAspectLocked(False)
        self.box.setMenuEnabled(False)
        self._brushes = _colour_table()
        self.coords = np.zeros((0, 2), dtype=np.float32)
        self.scatter = pg.ScatterPlotItem(pxMode=True, useCache=True, symbol="o")
        self.selected = pg.ScatterPlotItem(
            pxMode=True, symbol="o", size=14, brush=None, pen=pg.mkPen("w", width=1.5)
        )
        self.generated = pg.ScatterPlotItem(
            pxMode=True, symbol="star", size=16, brush=pg.mkBrush(255, 140, 60), pen="w"
        )
        for item in (self.scatter, self.selected, self.generated, self.box.stroke_item):
            self.addItem(item)
        self._hovered = -1
        self.scene().sigMouseMoved.connect(self._mouse_moved)
        # a click on a point is taken by the scatter before the view box sees it
        self.scatter.sigClicked.connect(self._point_clicked)

    def _point_clicked(self, _item: object, _points: object, ev: object) -> None:
        here = self.box.mapSceneToView(ev.scenePos())
        self.box.clicked.emit(here.x(), here.y())

    def set_points(
        self, coords: np.ndarray, steps: np.ndarray, sizes: np.ndarray, *, fit: bool = True
    ) -> None:
        """Draw ``coords`` ``[n, 2]`` coloured by table ``steps`` ``[n]`` (:func:`colour_steps`)
        at ``sizes`` ``[n]`` px."""
        self.coords = np.asarray(coords, dtype=np.float32).reshape(-1, 2)
        missing = QBrush(MISSING)
        brushes = [self._brushes[s] if s >= 0 else missing for s in np.asarray(steps).tolist()]
        pen = None if len(self.coords) > OUTLINE_LIMIT else pg.mkPen(0, 0, 0, 160, width=0.8)
        self.scatter.setData(
            x=self.coords[:, 0], y=self.coords[:, 1], brush=brushes, size=sizes, pen=pen
        )
        self.selected.setData([], [])
        if fit:
            self.box.autoRange(padding=0.05)

    def set_colours(self, steps: np.ndarray) -> None:
        """Recolour the points (same positions and sizes)."""
        missing = QBrush(MISSING)
        self.scatter.setBrush([self._brushes[s] if s >= 0 else missing for s in steps.tolist()])

    def set_selected(self, mask: np.ndarray) -> None:
        chosen = self.coords[np.asarray(mask, dtype=bool)]
        self.selected.setData(chosen[:, 0], chosen[:, 1])

    def set_generated(self, points: np.ndarray) -> None:
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        self.generated.setData(points[:, 0], points[:, 1])

    def clear_stroke(self) -> None:
        self.box.stroke_item.setData([], [])

    def nearest(self, x: float, y: float, *, max_px: float = HOVER_PX) -> int:
        """Index of the point nearest map position (x, y) within ``max_px`` pixels, else -1."""
        if len(self.coords) == 0:
            return -1
        px, py = self.box.viewPixelSize()
        dx = (self.coords[:, 0] - x) / max(px, 1e-12)
        dy = (self.coords[:, 1] - y) / max(py, 1e-12)
        distance = dx * dx + dy * dy
        best = int(np.argmin(distance))
        return best if distance[best] <= max_px * max_px else -1

    def map_position(self, index: int) -> QPointF:
        """Scene position of point ``index`` (for tests and tooltips)."""
        return self.box.mapViewToScene(QPointF(*map(float, self.coords[index])))

    def _mouse_moved(self, scene_pos: QPointF) -> None:
        if self.box.mode != "pan" or not self.box.sceneBoundingRect().contains(scene_pos):
            return
        here = self.box.mapSceneToView(scene_pos)
        index = self.nearest(here.x(), here.y())
        if index != self._hovered:
            self._hovered = index
            self.hovered.emit(index)


def measure_frame_times(points: int = 10_000, *, frames: int = 40) -> dict[str, float]:
    """Milliseconds to redraw a map of ``points`` random points while it pans and zooms, one
    full paint per frame (``QWidget.grab``), 800×600 px: median and 95th percentile, and the
    first draw (which fills the symbol cache). Needs a ``QApplication``."""
    app = QApplication.instance()
    assert app is not None, "measure_frame_times needs a QApplication"
    rng = np.random.default_rng(0)
    view = MapView()
    view.resize(800, 600)
    view.show()
    coords = rng.normal(size=(points, 2)).astype(np.float32)
    view.set_points(
        coords,
        colour_steps(rng.normal(size=points)),
        size_steps(rng.uniform(0.1, 3.0, size=points)),
    )
    app.processEvents()
    started = time.perf_counter()
    view.grab()
    first = time.perf_counter() - started
    times = []
    for frame in range(frames):
        zoom = 1.0 + 0.5 * np.sin(frame / 5)
        shift = 0.3 * np.cos(frame / 7)
        view.box.setRange(
            xRange=(-3 * zoom + shift, 3 * zoom + shift), yRange=(-3 * zoom, 3 * zoom), padding=0
        )
        started = time.perf_counter()
        app.processEvents()
        view.grab()
        times.append(time.perf_counter() - started)
    view.close()
    view.deleteLater()
    ms = np.asarray(times) * 1000
    return {
        "points": float(points),
        "median_ms": float(np.median(ms)),
        "p95_ms": float(np.percentile(ms, 95)),
        "first_ms": first * 1000,
    }
