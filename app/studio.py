"""The studio: training, exploring and exporting, wired into the main window.

:class:`Studio` adds the Explore and Train docks, the File menu entries (Open Built-in Sounds,
Open Model…, Save Model As…, Export… Ctrl+E), loads a model on launch (the last one played, else
the first starter model, else a physical string) and connects the panels to the sound view, the
transport and the Sounds panel. Models load on a background thread; a broken or foreign model
folder gives a dialog that says what is wrong, never a traceback.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMenu, QMessageBox, QWidget

from app import model_library
from app.dialogs.export import ExportDialog
from app.panels.explore import ExplorePanel
from app.panels.training import TrainingPanel
from app.workers import BackgroundTask, LatestOnlyWorker
from synth_core.control_values import APP_TORCH_THREADS
from synth_core.errors import TimbreLabError

if TYPE_CHECKING:
    from app.panels.dataset import DatasetPanel
    from app.settings import AppSettings
    from app.views.sound_view import SoundView

log = logging.getLogger(__name__)

LAST_MODEL_KEY = "models/last"
FALLBACK_MODEL = "physical:string"


class StudioWindow(Protocol):
    """What the studio needs of the window that hosts it (:class:`app.main_window.MainWindow`,
    a ``QMainWindow``): declared here so the studio does not import the window that creates it."""

    settings: AppSettings
    file_menu: QMenu
    quit_action: QAction
    dataset_panel: DatasetPanel
    sound_view: SoundView

    def add_panel(
        self,
        panel: QWidget,
        title: str,
        area: Qt.DockWidgetArea = ...,
        *,
        object_name: str | None = None,
        shortcut: QKeySequence | None = None,
    ) -> QDockWidget: ...

    def tabifyDockWidget(self, first: QDockWidget, second: QDockWidget) -> None: ...

    def show_status(self, text: str) -> None: ...

    def show_sound(
        self, samples: np.ndarray, sample_rate: int, *, title: str = "", play: bool = True
    ) -> None: ...

    def open_folder(self, folder: str | Path, *, select: str | Path | None = None) -> None: ...


class Studio(QObject):
    """Everything between "drop sounds" and "export a pack", hosted by ``window``."""

    def __init__(self, window: StudioWindow) -> None:
        super().__init__(window)
        torch.set_num_threads(APP_TORCH_THREADS)  # see synth_core.control_values.APP_TORCH_THREADS
        self.window = window
        self.qsettings = window.settings.qsettings
        self.training = TrainingPanel(window)
        self.explore = ExplorePanel(window, settings=window.settings)
        self.explore_dock = window.add_panel(
            self.explore,
            "Explore",
            Qt.DockWidgetArea.RightDockWidgetArea,
            object_name="explore dock",
            shortcut=QKeySequence("Ctrl+2"),
        )
        self.training_dock = window.add_panel(
            self.training,
            "Train",
            Qt.DockWidgetArea.RightDockWidgetArea,
            object_name="train dock",
            shortcut=QKeySequence("Ctrl+3"),
        )
        window.tabifyDockWidget(self.explore_dock, self.training_dock)
        self.explore_dock.raise_()
        self._loader = LatestOnlyWorker("model-loader", self)
        self._loader.finished.connect(self._model_loaded)
        self._loader.failed.connect(self._model_failed)
        self._builtin_task: BackgroundTask | None = None
        self._closed = False
        self._first_sound_pending = False
        self.export_dialog: ExportDialog | None = None
        self._build_menu()
        self._connect()
        self.refresh_model_list()
        self.start()

    # building ---------------------------------------------------------------------------------

    def _build_menu(self) -> None:
        window = self.window
        menu = window.file_menu
        before = window.quit_action
        self.builtin_action = QAction("Open &Built-in Sounds", self)
        self.builtin_action.setStatusTip("The sounds Timbre Lab ships with, to train on at once")
        self.builtin_action.triggered.connect(self.open_builtin_sounds)
        self.open_model_action = QAction("Open &Model…", self)
        self.open_model_action.setShortcut(QKeySequence("Ctrl+Shift+O"))
        self.open_model_action.setStatusTip("Play a trained model (a run folder)")
        self.open_model_action.triggered.connect(self._choose_model)
        self.save_model_action = QAction("&Save Model As…", self)
        self.save_model_action.setShortcut(QKeySequence("Ctrl+Shift+S"))
        self.save_model_action.setStatusTip(
            "Copy the model being played to a folder of your choice"
        )
        self.save_model_action.triggered.connect(self._save_model_as)
        self.export_action = QAction("&Export…", self)
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_action.setStatusTip("Write the current sound, or variations of it, to files")
        self.export_action.triggered.connect(self.open_export_dialog)
        menu.insertAction(before, self.builtin_action)
        menu.insertSeparator(before)
        for action in (self.open_model_action, self.save_model_action, self.export_action):
            menu.insertAction(before, action)
        menu.insertSeparator(before)
        for action in (self.save_model_action, self.export_action):
            action.setEnabled(False)

    def _connect(self) -> None:
        window, explore, training = self.window, self.explore, self.training
        explore.soundGenerated.connect(self._show_generated)
        explore.generationFailed.connect(window.show_status)
        explore.modelRequested.connect(self.open_model)
        training.useModel.connect(self._use_trained)
        training.previewReady.connect(
            lambda samples, rate: window.show_sound(samples, rate, title="Preview", play=False)
        )
        training.previewPlayRequested.connect(
            lambda samples, rate: window.show_sound(samples, rate, title="Preview", play=True)
        )
        training.runningChanged.connect(self._training_changed)
        window.dataset_panel.folderScanned.connect(self._folder_scanned)

    # models -----------------------------------------------------------------------------------

    def refresh_model_list(self) -> None:
        entries = model_library.all_models(self.qsettings)
        self.explore.set_model_list([(e.id, e.title, e.description) for e in entries])

    def first_model(self) -> str:
        """The model to open on launch: the last one played, else the first starter model."""
        last = self.qsettings.value(LAST_MODEL_KEY, "")
        available = {e.id for e in model_library.all_models(self.qsettings)}
        if last and last in available:
            return str(last)
        starters = model_library.starter_models()
        return starters[0].id if starters else FALLBACK_MODEL

    def start(self) -> None:
        """Load the first model once the window is up (so start-up is not held back)."""
        self._first_sound_pending = True
        QTimer.singleShot(0, lambda: self._closed or self.open_model(self.first_model()))

    def open_model(self, model_id: str) -> None:
        """Load ``model_id`` off the GUI thread and play it in the Explore panel."""
        if self._closed:
            return
        self.window.show_status(f"Opening {model_id}…")
        self._loader.submit(_load, model_id)

    def _model_loaded(self, result: tuple[str, object]) -> None:
        model_id, model = result
        entry_title = next(
            (e.title for e in model_library.all_models(self.qsettings) if e.id == model_id), None
        )
        self.explore.set_model(model, model_id, title=entry_title)
        self.qsettings.setValue(LAST_MODEL_KEY, model_id)
        if Path(model_id).is_dir():
            model_library.remember_run(self.qsettings, model_id)
        self.refresh_model_list()
        self.save_model_action.setEnabled(not model_library.is_builtin(model_id))
        self.export_action.setEnabled(True)
        self.window.show_status(f"Playing {entry_title or model_id}")

    def _model_failed(self, error: Exception) -> None:
        text = str(error) if isinstance(error, TimbreLabError) else f"unexpected error: {error}"
        log.warning("cannot open model: %s", text)
        QMessageBox.warning(self.window, "Cannot open this model", text)

    def _choose_model(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Open a model (a run folder)")
        if folder:
            self.open_model(folder)

    def _save_model_as(self) -> None:
        source = self._model_folder()
        if source is None:
            return
        target, _ = QFileDialog.getSaveFileName(self.window, "Save model as (a new folder)")
        if not target:
            return
        try:
            saved = model_library.save_model_as(source, target)
        except TimbreLabError as error:
            QMessageBox.warning(self.window, "Cannot save the model", str(error))
            return
        model_library.remember_run(self.qsettings, saved)
        self.refresh_model_list()
        self.window.show_status(f"Saved the model to {saved}")

    def _model_folder(self) -> Path | None:
        model_id = self.explore.model_id
        if not model_id or model_library.is_builtin(model_id):
            return None
        path = Path(model_id)
        return path if path.is_dir() else model_library.STARTER_FOLDER / model_id

    def _use_trained(self, run_dir: str) -> None:
        self.explore_dock.show()
        self.explore_dock.raise_()
        self.open_model(run_dir)

    # sounds -----------------------------------------------------------------------------------

    def _show_generated(self, samples: np.ndarray, sample_rate: int) -> None:
        if self._first_sound_pending:
            self._first_sound_pending = False
            if self.window.sound_view.duration_s > 0:
                return  # the user opened a sound while the model loaded: leave it in view
        title = self.explore.title
        self.window.show_sound(
            samples, sample_rate, title=title, play=self.explore.autoplay.isChecked()
        )

    def open_export_dialog(self) -> ExportDialog | None:
        """The export dialog for the sound in the Explore panel (Ctrl+E)."""
        explore = self.explore
        if explore.model is None:
            self.window.show_status("Open a model first: there is nothing to export yet")
            return None
        self.export_dialog = ExportDialog(
            explore.model,
            model_id=explore.model_id,
            values=explore.values,
            seed=explore.seed,
            pitch=explore.pitch if explore.pitch is not None else _slider_pitch(explore),
            parent=self.window,
        )
        self.export_dialog.open()
        return self.export_dialog

    def open_builtin_sounds(self) -> None:
        """Write the built-in sounds to the cache once, then open their training split."""
        from synth_core.paths import cache_dir

        folder = cache_dir(create=True) / "builtin-sounds"
        if (folder / "train").is_dir() and any((folder / "train").glob("*.wav")):
            self.window.open_folder(folder / "train")
            return
        self.window.show_status("Rendering the built-in sounds…")

        def job(progress, should_stop) -> Path:
            from synth_core.builtin import write_starter_data

            write_starter_data(folder)
            return folder / "train"

        self._builtin_task = BackgroundTask(job, self)
        self._builtin_task.succeeded.connect(self.window.open_folder)
        self._builtin_task.failed.connect(
            lambda error: QMessageBox.warning(
                self.window, "Cannot write the built-in sounds", str(error)
            )
        )
        self._builtin_task.start()

    def _folder_scanned(self, report: object) -> None:
        if getattr(report, "usable", None):
            self.training.set_data_folder(report.folder)

    def _training_changed(self, running: bool) -> None:
        if running:
            self.training_dock.show()
            self.training_dock.raise_()

    def confirm_close(self) -> bool:
        """True when the window may close (training, if any, was stopped)."""
        return self.training.confirm_close()

    def shutdown(self) -> None:
        self._closed = True
        self._loader.shutdown()
        if self._builtin_task is not None:
            self._builtin_task.wait(5000)


def _slider_pitch(explore: ExplorePanel) -> float | None:
    # a physical instrument's pitch is a slider; the sidecar's pitch field names it too
    return explore.values.get("pitch")


def _load(model_id: str) -> tuple[str, object]:
    return model_id, model_library.open_model(model_id)
