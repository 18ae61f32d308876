"""The sound view: waveform, spectrogram and overview strip of one sound, with a playhead.

Three pyqtgraph plots share one time axis: the waveform and the spectrogram show the span chosen
by the zoom region (a ``LinearRegionItem``) on the overview strip below them, and an
``InfiniteLine`` in each marks the playhead. Everything costly (envelopes, spectrograms) is
computed by :mod:`app.views.analysis` on worker threads; on the GUI thread a redraw is a slice of
a precomputed envelope, a few thousand points whatever the file's length.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app import style
from app.views.analysis import SoundAnalysis, Spectrogram, analyse, mono, spectrogram
from app.workers import LatestOnlyWorker

log = logging.getLogger(__name__)

AXIS_WIDTH = 52
SPECTROGRAM_FLOOR_DB = -80.0
FREQUENCY_TICKS_HZ = (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000)
# A zoomed-in span gets its own spectrogram once the whole-file one has fewer columns than this.
MIN_SPECTROGRAM_COLUMNS = 400


def _frequency_label(hz: float) -> str:
    return f"{hz / 1000:g}k" if hz >= 1000 else f"{hz:g}"


class SoundView(QWidget):
    """Waveform, spectrogram and overview of one sound.

    Parameters
    ----------
    parent : QWidget or None
        Qt parent.

    Signals
    -------
    seekRequested(seconds)
        The user clicked a plot or dragged the playhead to ``seconds``.
    analysisReady()
        The waveform and spectrogram of the sound given to :meth:`set_audio` are drawn.
    viewRangeChanged(start_s, end_s)
        The visible time span changed.
    """

    seekRequested = Signal(float)
    analysisReady = Signal()
    viewRangeChanged = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._analysis: SoundAnalysis | None = None
        self._shown_spectrogram: Spectrogram | None = None
        self._generation = 0
        self._duration_s = 0.0
        self._syncing = False
        self._analyser = LatestOnlyWorker("timbrelab-sound-analysis", self)
        self._analyser.finished.connect(self._on_analysis)
        self._analyser.failed.connect(self._on_analysis_failed)
        self._zoomer = LatestOnlyWorker("timbrelab-spectrogram-zoom", self)
        self._zoomer.finished.connect(self._on_zoomed_spectrogram)
        self._zoom_timer = QTimer(self)
        self._zoom_timer.setSingleShot(True)
        self._zoom_timer.setInterval(80)
        self._zoom_timer.timeout.connect(self._request_zoomed_spectrogram)

        self.title_label = QLabel("No sound", self)
        self.title_label.setObjectName("soundTitle")
        self.title_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.graphics.setBackground(style.PLOT_BACKGROUND)
        self.graphics.ci.setSpacing(2)

        pen = pg.mkPen(style.WAVEFORM_PEN, width=1)
        self.waveform_plot = self.graphics.addPlot(row=0, col=0)
        self.waveform_curve = pg.PlotDataItem(pen=pen)
        self.waveform_curve.setClipToView(True)
        self.waveform_curve.setDownsampling(auto=True, method="peak")
        self.waveform_plot.addItem(self.waveform_curve)
        self.waveform_plot.setYRange(-1.0, 1.0, padding=0.02)
        self.waveform_plot.setMouseEnabled(x=True, y=False)
        self.waveform_plot.hideButtons()
        self.waveform_plot.getAxis("bottom").setStyle(showValues=False)
        self.waveform_plot.getAxis("left").setTicks([[(-1, "-1"), (0, "0"), (1, "1")]])
        self.empty_text = pg.TextItem(
            "Open a folder of sounds (Ctrl+O) and pick one",
            color=style.PLOT_FOREGROUND,
            anchor=(0.5, 0.5),
        )
        self.waveform_plot.addItem(self.empty_text)
        self.empty_text.setPos(0.5, 0.0)
        self.waveform_plot.setXRange(0.0, 1.0, padding=0)

        self.spectrogram_plot = self.graphics.addPlot(row=1, col=0)
        self.spectrogram_image = pg.ImageItem(axisOrder="row-major")
        self.spectrogram_image.setColorMap(pg.colormap.get(style.SPECTROGRAM_COLORMAP))
        self.spectrogram_plot.addItem(self.spectrogram_image)
        self.spectrogram_plot.setXLink(self.waveform_plot)
        self.spectrogram_plot.setMouseEnabled(x=True, y=False)
        self.spectrogram_plot.hideButtons()
        self.spectrogram_plot.setLabel("bottom", "Time", units="s")
        self.spectrogram_plot.getAxis("left").setLabel("Hz")

        self.overview_plot = self.graphics.addPlot(row=2, col=0)
        self.overview_curve = pg.PlotDataItem(pen=pg.mkPen(style.OVERVIEW_PEN, width=1))
        self.overview_plot.addItem(self.overview_curve)
        self.overview_plot.setMouseEnabled(x=False, y=False)
        self.overview_plot.hideButtons()
        self.overview_plot.setMenuEnabled(False)
        self.overview_plot.setYRange(-1.0, 1.0, padding=0.05)
        self.overview_plot.getAxis("left").setTicks([[]])
        self.overview_plot.getAxis("bottom").setStyle(showValues=False)
        self.region = pg.LinearRegionItem(
            values=(0.0, 1.0),
            brush=style.REGION_BRUSH,
            pen=pg.mkPen(style.REGION_EDGE, width=2),
            hoverPen=pg.mkPen(style.REGION_EDGE_HOVER, width=3),
        )
        self.region.setToolTip("Drag to move the zoomed span; drag an edge to zoom")
        self.region.setZValue(10)
        self.overview_plot.addItem(self.region)

        self.playheads: list[pg.InfiniteLine] = []
        for plot, movable in (
            (self.waveform_plot, True),
            (self.spectrogram_plot, True),
            (self.overview_plot, False),
        ):
            line = pg.InfiniteLine(
                0.0, angle=90, movable=movable, pen=pg.mkPen(style.PLAYHEAD_PEN, width=2)
            )
            line.setZValue(20)
            if movable:
                line.sigPositionChanged.connect(self._on_playhead_dragged)
                line.sigPositionChangeFinished.connect(self._on_playhead_dropped)
            plot.addItem(line)
            self.playheads.append(line)
            plot.getAxis("left").setWidth(AXIS_WIDTH)
            plot.getAxis("left").setTextPen(style.PLOT_FOREGROUND)
            plot.getAxis("bottom").setTextPen(style.PLOT_FOREGROUND)
        self.graphics.ci.layout.setRowStretchFactor(0, 3)
        self.graphics.ci.layout.setRowStretchFactor(1, 4)
        self.graphics.ci.layout.setRowStretchFactor(2, 1)

        self.region.sigRegionChanged.connect(self._on_region_changed)
        self.waveform_plot.sigXRangeChanged.connect(self._on_x_range_changed)
        self.graphics.scene().sigMouseClicked.connect(self._on_scene_clicked)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.title_label)
        layout.addWidget(self.graphics, 1)
        self.setToolTip("")
        self.graphics.setToolTip(
            "Click to move the playhead · wheel over the waveform to zoom · drag to pan"
        )

    # --- public API -----------------------------------------------------------------------
    def set_audio(self, samples: np.ndarray, sample_rate: int, *, title: str = "") -> None:
        """Show ``samples`` (``[frames]`` or ``[frames, channels]`` float32) at ``sample_rate`` Hz.

        Returns at once; the drawing follows when the analysis thread is done
        (:attr:`analysisReady`). The array is read, not copied, on that thread: do not change it
        afterwards.
        """
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        frames = len(samples)
        self._generation += 1
        self._duration_s = frames / sample_rate
        seconds = (
            f"{self._duration_s:.2f} s"
            if self._duration_s < 60
            else f"{self._duration_s / 60:.1f} min"
        )
        self.title_label.setText(f"{title or 'Sound'} — {seconds}, {sample_rate} Hz")
        self.empty_text.hide()
        self.set_playhead(0.0)
        self._analyser.submit(self._analyse, samples, int(sample_rate), self._generation)

    def clear(self) -> None:
        """Show nothing (the empty-state hint)."""
        self._generation += 1
        self._analysis = None
        self._shown_spectrogram = None
        self._duration_s = 0.0
        self.waveform_curve.setData([], [])
        self.overview_curve.setData([], [])
        self.spectrogram_image.clear()
        self.title_label.setText("No sound")
        self.empty_text.show()
        self.set_playhead(0.0)

    @property
    def duration_s(self) -> float:
        """Length of the sound shown, seconds (0 when empty)."""
        return self._duration_s

    @property
    def analysis(self) -> SoundAnalysis | None:
        """Envelopes and spectrogram of the sound shown, once computed."""
        return self._analysis

    @property
    def playhead_s(self) -> float:
        """Where the playhead is, seconds."""
        return float(self.playheads[0].value())

    def set_playhead(self, seconds: float, *, follow: bool = False) -> None:
        """Move the playhead to ``seconds`` (does not emit :attr:`seekRequested`).

        With ``follow``, a zoomed view turns the page when the playhead leaves it, as it does
        during playback.
        """
        self._syncing = True
        try:
            for line in self.playheads:
                line.setValue(seconds)
        finally:
            self._syncing = False
        if follow and self._analysis is not None:
            start, end = self.view_range()
            if not start <= seconds <= end:
                span = end - start
                new_start = min(max(0.0, seconds), max(0.0, self._duration_s - span))
                self.set_view_range(new_start, new_start + span)

    def view_range(self) -> tuple[float, float]:
        """The visible time span, seconds."""
        start, end = self.waveform_plot.getViewBox().viewRange()[0]
        return float(start), float(end)

    def set_view_range(self, start_s: float, end_s: float) -> None:
        """Zoom the waveform and spectrogram to ``start_s … end_s`` seconds."""
        self.waveform_plot.setXRange(start_s, end_s, padding=0)

    def shutdown(self) -> None:
        """Stop the analysis threads (the window is closing)."""
        self._zoom_timer.stop()
        self._analyser.shutdown()
        self._zoomer.shutdown()

    # --- analysis results --------------------------------------------------------------------
    @staticmethod
    def _analyse(
        samples: np.ndarray, sample_rate: int, generation: int
    ) -> tuple[int, SoundAnalysis]:
        return generation, analyse(samples, sample_rate)

    @Slot(object)
    def _on_analysis(self, result: tuple[int, SoundAnalysis]) -> None:
        generation, analysis = result
        if generation != self._generation:
            return
        self._analysis = analysis
        duration = analysis.waveform.duration_s
        x, y = analysis.waveform.view(0.0, duration, max_points=2 * max(self.width(), 800))
        self.overview_curve.setData(x, y)
        self.overview_plot.setXRange(0.0, duration, padding=0)
        self.overview_plot.setLimits(xMin=0.0, xMax=duration)
        spec = analysis.spectrogram
        low, high = math.log10(spec.f_min_hz), math.log10(spec.f_max_hz)
        self.spectrogram_plot.setLimits(yMin=low, yMax=high)
        self.spectrogram_plot.setYRange(low, high, padding=0)
        ticks = [
            (math.log10(f), _frequency_label(f))
            for f in FREQUENCY_TICKS_HZ
            if spec.f_min_hz <= f <= spec.f_max_hz
        ]
        self.spectrogram_plot.getAxis("left").setTicks([ticks])
        self._show_spectrogram(spec)
        min_span = 64 / analysis.waveform.sample_rate
        self.waveform_plot.setLimits(xMin=0.0, xMax=duration, minXRange=min(min_span, duration))
        self.region.setBounds((0.0, duration))
        self._syncing = True
        try:
            self.region.setRegion((0.0, duration))
        finally:
            self._syncing = False
        self.set_view_range(0.0, duration)
        self._refresh_waveform()
        self.analysisReady.emit()

    @Slot(object)
    def _on_analysis_failed(self, error: object) -> None:
        log.error("could not analyse the sound: %s", error)
        self.title_label.setText(f"Could not draw this sound: {error}")

    def _show_spectrogram(self, spec: Spectrogram) -> None:
        self._shown_spectrogram = spec
        self.spectrogram_image.setImage(
            spec.image, autoLevels=False, levels=(SPECTROGRAM_FLOOR_DB, 0.0)
        )
        low, high = math.log10(spec.f_min_hz), math.log10(spec.f_max_hz)
        # Columns are frame centres: the image starts half a hop before the first one.
        self.spectrogram_image.setRect(
            QRectF(spec.start_s - spec.hop_s / 2, low, spec.image.shape[1] * spec.hop_s, high - low)
        )

    def _request_zoomed_spectrogram(self) -> None:
        analysis = self._analysis
        if analysis is None:
            return
        start, end = self.view_range()
        span = end - start
        full = analysis.spectrogram
        if span <= 0:
            return
        if span / full.hop_s >= MIN_SPECTROGRAM_COLUMNS:
            if self._shown_spectrogram is not full:
                self._show_spectrogram(full)
            return
        shown = self._shown_spectrogram
        if (
            shown is not None
            and shown is not full
            and shown.start_s <= start
            and shown.end_s >= end
            and span / shown.hop_s >= MIN_SPECTROGRAM_COLUMNS
        ):
            return
        margin = span / 2
        self._zoomer.submit(
            self._zoomed_spectrogram,
            analysis.waveform.samples,
            analysis.waveform.sample_rate,
            max(0.0, start - margin),
            end + margin,
            self._generation,
        )

    @staticmethod
    def _zoomed_spectrogram(
        samples: np.ndarray, sample_rate: int, start_s: float, end_s: float, generation: int
    ) -> tuple[int, Spectrogram]:
        return generation, spectrogram(mono(samples), sample_rate, start_s=start_s, end_s=end_s)

    @Slot(object)
    def _on_zoomed_spectrogram(self, result: tuple[int, Spectrogram]) -> None:
        generation, spec = result
        if generation == self._generation and self._analysis is not None:
            self._show_spectrogram(spec)

    # --- interaction ---------------------------------------------------------------------------
    def _refresh_waveform(self) -> None:
        if self._analysis is None:
            return
        start, end = self.view_range()
        max_points = 2 * max(self.waveform_plot.getViewBox().width(), 400)
        x, y = self._analysis.waveform.view(start, end, max_points=int(max_points))
        self.waveform_curve.setData(x, y)

    @Slot(object)
    def _on_region_changed(self, region: pg.LinearRegionItem) -> None:
        if self._syncing:
            return
        start, end = region.getRegion()
        self.set_view_range(start, end)

    @Slot(object, object)
    def _on_x_range_changed(self, _view: object, x_range: object) -> None:
        start, end = (float(v) for v in x_range)
        if self._analysis is not None and not self._syncing:
            self._syncing = True
            try:
                self.region.setRegion((max(0.0, start), min(self._duration_s, end)))
            finally:
                self._syncing = False
        self._refresh_waveform()
        self._zoom_timer.start()
        self.viewRangeChanged.emit(start, end)

    @Slot(object)
    def _on_playhead_dragged(self, line: pg.InfiniteLine) -> None:
        if self._syncing:
            return
        self.set_playhead(min(max(0.0, line.value()), self._duration_s))

    @Slot(object)
    def _on_playhead_dropped(self, line: pg.InfiniteLine) -> None:
        if self._analysis is not None:
            self.seekRequested.emit(self.playhead_s)

    @Slot(object)
    def _on_scene_clicked(self, event: object) -> None:
        if self._analysis is None or event.button() != Qt.MouseButton.LeftButton or event.double():
            return
        position = event.scenePos()
        for plot in (self.waveform_plot, self.spectrogram_plot, self.overview_plot):
            box = plot.getViewBox()
            if box.sceneBoundingRect().contains(position):
                seconds = min(max(0.0, box.mapSceneToView(position).x()), self._duration_s)
                self.set_playhead(seconds)
                self.seekRequested.emit(seconds)
                return
