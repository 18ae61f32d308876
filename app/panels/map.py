"""The Sound Map panel: every clip of the open folder as a point, and a model's latent space.

Opening a folder analyses its clips on a background thread (:func:`synth_core.maps.
folder_features`, cached by content) and shows the PCA layout at once; t-SNE then runs in the
background with a progress bar and a Cancel button, and replaces it when done. Hovering a point
plays its first moments (a new hover cuts the last one off); a click selects it and shows it in
the sound view; a lasso selects a subset to train on, export, or open as a folder view of its
own in a new window (:mod:`app.panels.map_selection`), which the user closes to go back.

In the model's space (a model whose latents decode, ``model.can_decode``), the points are the
clips' latents by PCA; a click away from every point plays the inverse-distance blend of the
nearest clips' latents (:func:`synth_core.maps.blend_latents`) and leaves a star there, and a
drawn path plays a morph along it that can be exported as one file.

``synth_core.maps`` (and with it torch) is imported only when the panel first maps something.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.panels.map_view import MapView, colour_steps, size_steps
from app.workers import BackgroundTask, LatestOnlyWorker
from synth_core.errors import TimbreLabError

log = logging.getLogger(__name__)

HOVER_SECONDS = 0.6  # a hover plays this much of a clip, then fades out
FADE_SECONDS = 0.05
CLUSTERS = 8
COLOUR_CHOICES = {
    "Brightness": "brightness",
    "Loudness": "loudness",
    "Noisiness": "noisiness",
    "Decay": "decay",
    "Pitch": "pitch",
    "Cluster": "cluster",
}
MORPH_STEPS = 8


def _hover_clip(path: Path) -> tuple[np.ndarray, int]:
    """The first :data:`HOVER_SECONDS` of ``path`` with a short fade-out (no click at the cut)."""
    with sf.SoundFile(str(path)) as handle:
        rate = handle.samplerate
        samples = handle.read(int(HOVER_SECONDS * rate), dtype="float32", always_2d=True)
    samples = samples.mean(axis=1)
    fade = min(int(FADE_SECONDS * rate), samples.size)
    if fade:
        samples[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return samples, rate


def _whole_clip(path: Path) -> tuple[np.ndarray, int]:
    samples, rate = sf.read(str(path), dtype="float32")
    return samples, rate


def _map_folder(paths: list[Path], progress: Callable, should_stop: Callable) -> dict[str, Any]:
    from synth_core import maps

    features = maps.folder_features(paths, progress=progress, should_stop=should_stop)
    x = features.embedding_input()
    return {
        "features": features,
        "pca": maps.cached_layout(features, "pca"),
        "clusters": maps.clusters(x, CLUSTERS),
    }


class MapPanel(QWidget):
    """The Sound Map dock.

    Parameters
    ----------
    parent : QWidget or None
    model_source : callable or None, keyword-only
        Returns the model being played (or None); asked when the user switches to its space.

    Signals
    -------
    hoverSound(samples, rate)
        A short audition of the hovered clip.
    soundChosen(samples, rate, title)
        A clicked clip, generated blend or morph: to show in the sound view and play.
    trainRequested(folder)
        Train on this folder (the selection, as links).
    folderRequested(folder)
        Open this folder in the Sounds panel (a selection window's "Open in Main Window").
    statusMessage(text)
    """

    hoverSound = Signal(object, int)
    soundChosen = Signal(object, int, str)
    trainRequested = Signal(str)
    folderRequested = Signal(str)
    statusMessage = Signal(str)

    def __init__(
        self, parent: QWidget | None = None, *, model_source: Callable[[], Any] | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("mapPanel")
        self.model_source = model_source
        self.paths: list[Path] = []
        self.features: Any = None
        self.layouts: dict[str, np.ndarray] = {}
        self.cluster_labels = np.zeros(0, dtype=np.int64)
        self.layout_name = ""
        self.space = "sounds"
        self.model: Any = None
        self.latents: Any = None
        self.latent_coords = np.zeros((0, 2), dtype=np.float32)
        self.generated_points: list[tuple[float, float]] = []
        self.selection = np.zeros(0, dtype=bool)
        self.selection_windows: list[Any] = []
        self.last_morph: tuple[np.ndarray, int] | None = None
        self._features_task: BackgroundTask | None = None
        self._layout_task: BackgroundTask | None = None
        self._model_task: BackgroundTask | None = None
        self._old_tasks: set[BackgroundTask] = set()
        self._pending: list[Path] | None = None
        self._hover = LatestOnlyWorker("map-hover", self)
        self._hover.finished.connect(lambda result: self.hoverSound.emit(*result))
        self._loader = LatestOnlyWorker("map-load", self)
        self._loader.finished.connect(lambda result: self.soundChosen.emit(*result))
        self._loader.finished.connect(lambda _result: self._update_buttons())
        self._loader.failed.connect(lambda error: self.statusMessage.emit(str(error)))
        self._build()

    # building ---------------------------------------------------------------------------------

    def _build(self) -> None:
        self.view = MapView(self)
        self.colour_box = QComboBox(self)
        self.colour_box.addItems(list(COLOUR_CHOICES))
        self.colour_box.setToolTip("What the colour of a point shows (size shows duration)")
        self.colour_box.currentTextChanged.connect(lambda _text: self._recolour())
        self.space_box = QComboBox(self)
        self.space_box.addItems(["Sounds", "Model space"])
        self.space_box.setToolTip(
            "Sounds: the folder by its audio features. Model space: the model's latents of the "
            "same clips; click between points to generate there, draw a path to morph"
        )
        self.space_box.currentIndexChanged.connect(self._space_chosen)
        self.mode_buttons = QButtonGroup(self)
        modes = QHBoxLayout()
        for mode, text, tip in (
            ("pan", "Browse", "Hover to hear, click to select, drag to pan, wheel to zoom"),
            ("lasso", "Lasso", "Draw around sounds to select them"),
            ("path", "Path", "In the model's space: draw a path to hear a morph along it"),
        ):
            button = QToolButton(self)
            button.setText(text)
            button.setToolTip(tip)
            button.setCheckable(True)
            button.setChecked(mode == "pan")
            button.setProperty("mode", mode)
            self.mode_buttons.addButton(button)
            modes.addWidget(button)
        self.mode_buttons.buttonClicked.connect(lambda b: self.set_mode(b.property("mode")))
        self.progress = QProgressBar(self)
        self.progress.setMaximumHeight(14)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop the layout; the instant PCA layout stays")
        self.cancel_button.clicked.connect(self.cancel_layout)
        self.cancel_button.hide()
        self.layout_label = QLabel("Open a folder of sounds to map it", self)
        self.train_button = QPushButton("Train on Selection", self)
        self.train_button.clicked.connect(self.train_on_selection)
        self.export_button = QPushButton("Export Selection…", self)
        self.export_button.clicked.connect(lambda: self.export_selection())
        self.open_button = QPushButton("Open as Folder", self)
        self.open_button.setToolTip(
            "Open the selection as a folder of its own in a new window; close it to go back"
        )
        self.open_button.clicked.connect(self.open_selection_as_folder)
        self.morph_button = QPushButton("Export Morph…", self)
        self.morph_button.clicked.connect(lambda: self.export_morph())

        # two short rows rather than one long one: the dock may share a narrow side area
        top = QHBoxLayout()
        top.addWidget(self.colour_box)
        top.addWidget(self.space_box)
        modes.addStretch(1)
        status = QHBoxLayout()
        self.layout_label.setWordWrap(True)
        self.layout_label.setMinimumWidth(60)
        status.addWidget(self.layout_label, 1)
        status.addWidget(self.progress)
        status.addWidget(self.cancel_button)
        actions = QGridLayout()
        buttons = (self.train_button, self.export_button, self.open_button, self.morph_button)
        for index, button in enumerate(buttons):
            actions.addWidget(button, index // 2, index % 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addLayout(modes)
        layout.addWidget(self.view, 1)
        layout.addLayout(status)
        layout.addLayout(actions)
        self.view.hovered.connect(self._hovered)
        self.view.box.clicked.connect(self._clicked)
        self.view.box.strokeFinished.connect(self._stroke_finished)
        self._update_buttons()

    # mapping a folder -------------------------------------------------------------------------

    def set_files(self, paths: list[Path] | list[str]) -> None:
        """Map these files (a scanned folder's usable files), replacing what is shown; while
        the panel is hidden only remember them (a hidden view does no work)."""
        if not self.isVisible():
            self._pending = [Path(p) for p in paths]
            return
        self._pending = None
        self._drop_tasks()
        self.paths = [Path(p) for p in paths]
        self.features, self.layouts, self.latents = None, {}, None
        self.selection = np.zeros(len(self.paths), dtype=bool)
        self.generated_points = []
        self._set_space("sounds")
        if not self.paths:
            self.view.set_points(np.zeros((0, 2)), np.zeros(0, dtype=int), np.zeros(0))
            self.layout_label.setText("No usable sounds to map")
            return
        self.layout_label.setText(f"Analysing {len(self.paths)} sounds…")
        self._features_task = self._start(
            lambda progress, stop: _map_folder(self.paths, progress, stop),
            self._features_ready,
            "Cannot map the folder",
        )

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._pending is not None:
            self.set_files(self._pending)

    def _start(self, job: Callable, done: Callable, failure: str) -> BackgroundTask:
        task = BackgroundTask(job, self)
        task.progressed.connect(self._progressed)
        task.succeeded.connect(done)
        task.failed.connect(lambda error: self._failed(failure, error))
        self.progress.setRange(0, 0)
        self.progress.show()
        task.start()
        return task

    @Slot(int, int)
    def _progressed(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def _failed(self, what: str, error: object) -> None:
        self.progress.hide()
        self.cancel_button.hide()
        text = str(error) if isinstance(error, TimbreLabError) else f"{what}: {error}"
        if not isinstance(error, TimbreLabError):
            log.warning("%s", text)
        self.layout_label.setText(text)
        self.statusMessage.emit(text)

    def _features_ready(self, result: dict[str, Any]) -> None:
        self.features = result["features"]
        self.cluster_labels = result["clusters"]
        self.layouts["pca"] = result["pca"]
        self._show_layout("pca")
        self.layout_label.setText(f"{len(self.paths)} sounds · PCA layout · t-SNE running…")
        features = self.features
        self.cancel_button.show()

        def job(progress: Callable, should_stop: Callable) -> np.ndarray:
            from synth_core import maps

            return maps.cached_layout(features, "tsne", progress=progress, should_stop=should_stop)

        self._layout_task = self._start(job, self._tsne_ready, "Cannot lay out the map")

    def _tsne_ready(self, coords: np.ndarray) -> None:
        self.progress.hide()
        self.cancel_button.hide()
        self.layouts["tsne"] = coords
        if self.space == "sounds":
            self._show_layout("tsne")
        self.layout_label.setText(f"{len(self.paths)} sounds · t-SNE layout")

    @Slot()
    def cancel_layout(self) -> None:
        """Stop the t-SNE layout; the PCA layout stays."""
        if self._layout_task is not None:
            self._layout_task.cancel()

    def _show_layout(self, name: str) -> None:
        self.layout_name = name
        coords = self.layouts[name] if name != "model" else self.latent_coords
        durations = self.features.values["duration"] if self.features is not None else []
        self.view.set_points(coords, self._colour_steps(), size_steps(np.asarray(durations)))
        self.view.set_selected(self.selection)
        self.view.set_generated(
            np.asarray(self.generated_points) if name == "model" else np.zeros((0, 2))
        )

    def _colour_steps(self) -> np.ndarray:
        name = COLOUR_CHOICES[self.colour_box.currentText()]
        if self.features is None:
            return np.zeros(0, dtype=np.int64)
        if name == "cluster":
            return colour_steps(self.cluster_labels, categorical=True)
        return colour_steps(self.features.values[name])

    def _recolour(self) -> None:
        if self.features is not None and self.layout_name:
            self.view.set_colours(self._colour_steps())

    def coords(self) -> np.ndarray:
        """The positions shown now, ``[n, 2]``."""
        return self.view.coords

    # the model's space -------------------------------------------------------------------------

    def set_model(self, model: Any) -> None:
        """Map ``model``'s latent space over the clips shown (when it decodes latents)."""
        self.model = model
        self.latents = None
        self.generated_points = []
        if model is None or not model.can_decode:
            which = "no model" if model is None else f"the {model.family} model"
            self.statusMessage.emit(
                f"{which} cannot generate from a point on the map; open a vae, cnn or gan "
                "model to map its space"
            )
            self._set_space("sounds")
            return
        if not self.paths:
            self.statusMessage.emit("open a folder of sounds first: the map lays out its clips")
            self._set_space("sounds")
            return
        paths = list(self.paths)
        self.layout_label.setText(f"Encoding {len(paths)} sounds with the {model.family} model…")

        def job(_progress: Callable, _should_stop: Callable) -> tuple[Any, np.ndarray]:
            from synth_core import maps

            latents = maps.encode_files(model, paths)
            return latents, maps.pca_layout(latents.numpy())

        self._model_task = self._start(job, self._model_ready, "Cannot map the model")

    def _model_ready(self, result: tuple[Any, np.ndarray]) -> None:
        self.progress.hide()
        self.latents, self.latent_coords = result
        self.layout_label.setText(
            f"{self.model.family} model space · click between points to generate, "
            "draw a path to morph"
        )
        self._set_space("model")

    @Slot(int)
    def _space_chosen(self, index: int) -> None:
        wanted = "model" if index == 1 else "sounds"
        if wanted == self.space:
            return
        if wanted == "sounds":
            self._set_space("sounds")
        elif self.latents is not None:
            self._set_space("model")
        else:
            self.set_model(self.model_source() if self.model_source is not None else None)

    def _set_space(self, space: str) -> None:
        self.space = space
        self.space_box.blockSignals(True)
        self.space_box.setCurrentIndex(1 if space == "model" else 0)
        self.space_box.blockSignals(False)
        if space == "model":
            self._show_layout("model")
        elif self.layouts:
            self._show_layout("tsne" if "tsne" in self.layouts else "pca")
        self._update_buttons()

    def generate_at(self, x: float, y: float) -> None:
        """Play the blend of the nearest clips' latents at map position (x, y); a star marks it."""
        from synth_core import maps

        model, coords, latents = self.model, self.latent_coords, self.latents
        z = maps.blend_latents(np.array([[x, y]]), coords, latents)
        self.generated_points.append((x, y))
        self.view.set_generated(np.asarray(self.generated_points))
        self._loader.submit(
            lambda: (model.decode_latents(z)[0].numpy(), model.sample_rate, "map blend")
        )

    def morph_along(self, path: np.ndarray, *, steps: int = MORPH_STEPS) -> None:
        """Play a morph along ``path`` ``[m, 2]`` in the model's space; keep it for export."""
        from synth_core import maps

        model, coords, latents = self.model, self.latent_coords, self.latents

        def job() -> tuple[np.ndarray, int, str]:
            sounds = maps.morph(model, path, coords, latents, steps=steps)
            audio = sounds.reshape(-1).numpy()
            self.last_morph = (sounds.numpy(), model.sample_rate)
            return audio, model.sample_rate, f"morph, {steps} steps"

        self._loader.submit(job)
        self._update_buttons()

    def export_morph(self, path: str | Path | None = None) -> Path | None:
        """Write the last morph as one file (ask where when ``path`` is None)."""
        from synth_core import maps
        from synth_core.export import ExportSettings

        if self.last_morph is None:
            self.statusMessage.emit("draw a path in the model's space first")
            return None
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(self, "Export the morph", "morph.wav")
            if not chosen:
                return None
            path = chosen
        sounds, rate = self.last_morph
        try:
            written = maps.write_sequence(sounds, rate, path, ExportSettings())
        except TimbreLabError as error:
            self.statusMessage.emit(str(error))
            return None
        self.statusMessage.emit(f"Wrote the morph to {written}")
        return written

    # interaction ------------------------------------------------------------------------------

    def set_mode(self, mode: str) -> None:
        """``"pan"`` (hover, click), ``"lasso"`` (select) or ``"path"`` (morph)."""
        self.view.box.mode = mode
        for button in self.mode_buttons.buttons():
            button.setChecked(button.property("mode") == mode)
        self.view.clear_stroke()

    @Slot(int)
    def _hovered(self, index: int) -> None:
        if 0 <= index < len(self.paths):
            self._hover.submit(_hover_clip, self.paths[index])

    @Slot(float, float)
    def _clicked(self, x: float, y: float) -> None:
        index = self.view.nearest(x, y)
        if index >= 0:
            self.select_index(index)
        elif self.space == "model" and self.latents is not None:
            self.generate_at(x, y)

    def select_index(self, index: int) -> None:
        """Select clip ``index`` and show it in the sound view."""
        self.selection = np.zeros(len(self.paths), dtype=bool)
        self.selection[index] = True
        self.view.set_selected(self.selection)
        path = self.paths[index]
        self._loader.submit(lambda: (*_whole_clip(path), path.name))
        self._update_buttons()

    @Slot(object, str)
    def _stroke_finished(self, stroke: np.ndarray, mode: str) -> None:
        if mode == "lasso":
            from synth_core import maps

            self.select_mask(maps.inside_polygon(self.coords(), stroke))
        elif mode == "path":
            if self.space != "model" or self.latents is None:
                self.statusMessage.emit("paths morph in the model's space: choose Model space")
                return
            self.morph_along(stroke)

    def select_mask(self, mask: np.ndarray) -> None:
        """Select the clips where ``mask`` is true."""
        self.selection = np.asarray(mask, dtype=bool)
        self.view.set_selected(self.selection)
        self.statusMessage.emit(f"{int(self.selection.sum())} sounds selected")
        self._update_buttons()

    def selected_paths(self) -> list[Path]:
        return [p for p, chosen in zip(self.paths, self.selection, strict=False) if chosen]

    def train_on_selection(self) -> Path | None:
        """Make a folder of links to the selection and ask the Train panel to use it."""
        folder = self._selection_folder()
        if folder is not None:
            self.trainRequested.emit(str(folder))
            self.statusMessage.emit(f"Training data: {len(self.selected_paths())} sounds")
        return folder

    def open_selection_as_folder(self) -> Any:
        """Open the selection as a folder view of its own: a new window listing a folder of links
        to the selected files (the files stay where they are), whose sounds play in the sound
        view. The main window keeps its folder and this map, so closing the window is going
        back. Returns the :class:`~app.panels.map_selection.SelectionWindow` (None when nothing
        is selected or the links cannot be written)."""
        import os

        from app.panels.map_selection import SelectionWindow

        sources = self.selected_paths()
        folder = self._selection_folder()
        if folder is None:
            return None
        parents = {str(p.parent) for p in sources}
        origin = Path(os.path.commonpath(sorted(parents))).name if parents else ""
        window = SelectionWindow(folder, sources, origin=origin, parent=self)
        window.soundChosen.connect(self.soundChosen)
        window.trainRequested.connect(self.trainRequested)
        window.folderRequested.connect(self.folderRequested)
        window.statusMessage.connect(self.statusMessage)
        window.closed.connect(lambda w=window: self._selection_closed(w))
        self.selection_windows.append(window)
        window.show()
        window.raise_()
        self.statusMessage.emit(f"Opened {len(sources)} selected sounds in a new window")
        return window

    def _selection_closed(self, window: Any) -> None:
        if window in self.selection_windows:
            self.selection_windows.remove(window)

    def export_selection(self, folder: str | Path | None = None) -> list[Path]:
        """Copy the selected files into ``folder`` (ask which when None)."""
        from synth_core import maps

        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Export the selected sounds to")
            if not folder:
                return []
        try:
            written = maps.copy_files(self.selected_paths(), folder)
        except TimbreLabError as error:
            self.statusMessage.emit(str(error))
            return []
        self.statusMessage.emit(f"Copied {len(written)} sounds to {folder}")
        return written

    def _selection_folder(self) -> Path | None:
        from synth_core import maps

        try:
            return maps.selection_folder(self.selected_paths())
        except TimbreLabError as error:
            self.statusMessage.emit(str(error))
            return None

    def _update_buttons(self) -> None:
        chosen = bool(self.selection.any()) if self.selection.size else False
        for button in (self.train_button, self.export_button, self.open_button):
            button.setEnabled(chosen)
        self.morph_button.setEnabled(self.last_morph is not None)

    # closing ---------------------------------------------------------------------------------

    def _drop_tasks(self) -> None:
        for name in ("_features_task", "_layout_task", "_model_task"):
            task = getattr(self, name)
            setattr(self, name, None)
            if task is None:
                continue
            task.cancel()
            for signal in (task.progressed, task.succeeded, task.failed):
                signal.disconnect()
            self._old_tasks.add(task)
            task.finished.connect(lambda t=task: self._old_tasks.discard(t))
        self.progress.hide()
        self.cancel_button.hide()

    def shutdown(self) -> None:
        """Stop the background work and close the selection windows (the window is closing)."""
        for window in list(self.selection_windows):
            window.close()
        self._drop_tasks()
        for task in list(self._old_tasks):
            task.wait(10_000)
        self._hover.shutdown()
        self._loader.shutdown()
