"""The main window: sound view in the middle, panels in docks, transport on top, menus.

Other parts of the app add their panels with :meth:`MainWindow.add_panel`, which docks the panel,
puts a toggle in the View menu and gives it back its saved place; and they show or play sounds
with :meth:`MainWindow.show_sound`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFileDialog,
    QHeaderView,
    QMainWindow,
    QMenu,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.panels.dataset import DatasetPanel
from app.settings import AppSettings
from app.transport import Player, TransportBar
from app.views.sound_view import SoundView
from synth_core import __version__

if TYPE_CHECKING:
    from app.live import LiveControl
    from app.studio import Studio

log = logging.getLogger(__name__)

STATUS_TIMEOUT_MS = 8000


def _dropped_folder(event: QDragEnterEvent | QDropEvent) -> tuple[Path, Path | None] | None:
    """What a drag carries: (a dropped folder, None), or (a dropped file's folder, the file)."""
    mime = event.mimeData()
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if not url.isLocalFile():
            continue
        path = Path(url.toLocalFile())
        if path.is_dir():
            return path, None
        if path.is_file():
            return path.parent, path
    return None


class MainWindow(QMainWindow):
    """Timbre Lab's main window.

    Parameters
    ----------
    settings : AppSettings
        Where window layout, folders and transport choices are remembered.
    player : Player or None, keyword-only
        Audio player; ``None`` makes one on the saved output device.
    """

    def __init__(
        self, settings: AppSettings, *, player: Player | None = None, studio: bool = True
    ) -> None:
        super().__init__()
        self.settings = settings
        self.setObjectName("timbreLabMainWindow")
        self.setWindowTitle("Timbre Lab")
        self.setAcceptDrops(True)
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks
            | QMainWindow.DockOption.AllowTabbedDocks
            | QMainWindow.DockOption.AllowNestedDocks
        )
        self._layout_restored = False
        self._panels: list[QWidget] = []
        self.live: LiveControl | None = None

        self.player = player if player is not None else Player(device=settings.output_device)
        self.player.loop = settings.loop
        self.player.volume = settings.volume
        self.sound_view = SoundView(self)
        self.setCentralWidget(self.sound_view)
        self.transport = TransportBar(self.player, self)
        self.transport.loop_action.setChecked(settings.loop)
        self.transport_toolbar = QToolBar("Transport", self)
        self.transport_toolbar.setObjectName("transportToolbar")
        self.transport_toolbar.addWidget(self.transport)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.transport_toolbar)

        self._build_menus()
        self.dataset_panel = DatasetPanel(self)
        self.dataset_dock = self.add_panel(
            self.dataset_panel,
            "Sounds",
            Qt.DockWidgetArea.LeftDockWidgetArea,
            shortcut=QKeySequence("Ctrl+1"),
        )
        self._connect()
        self.studio: Studio | None = None
        self._closed = False
        if studio:
            self.attach_studio()
        self.statusBar().showMessage("Open a folder of sounds to begin (File ▸ Open Folder…)")
        self.resize(1280, 800)

    # --- building ----------------------------------------------------------------------------
    def _build_menus(self) -> None:
        menu_bar = self.menuBar()
        file_menu = menu_bar.addMenu("&File")
        self.file_menu = file_menu
        self.open_action = QAction("&Open Folder…", self)
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_action.setStatusTip("Choose a folder of sounds to use")
        self.open_action.triggered.connect(self._choose_folder)
        file_menu.addAction(self.open_action)
        self.recent_menu = QMenu("Open &Recent", self)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addMenu(self.recent_menu)
        file_menu.addSeparator()
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit_action.triggered.connect(self.close)
        file_menu.addAction(self.quit_action)

        playback_menu = menu_bar.addMenu("&Playback")
        self.playback_menu = playback_menu
        for action in (
            self.transport.play_action,
            self.transport.rewind_action,
            self.transport.loop_action,
        ):
            playback_menu.addAction(action)
        self.autoplay_action = QAction("&Play on Select", self)
        self.autoplay_action.setCheckable(True)
        self.autoplay_action.setChecked(True)
        self.autoplay_action.setStatusTip("Play a sound as soon as it is selected")
        playback_menu.addAction(self.autoplay_action)

        self.view_menu = menu_bar.addMenu("&View")
        self.view_menu.addAction(self.transport_toolbar.toggleViewAction())
        self.view_menu.addSeparator()

        help_menu = menu_bar.addMenu("&Help")
        shortcuts_action = QAction("&Keyboard Shortcuts", self)
        shortcuts_action.setShortcut(QKeySequence("F1"))
        shortcuts_action.triggered.connect(self.show_shortcuts)
        help_menu.addAction(shortcuts_action)
        about_action = QAction("&About Timbre Lab", self)
        about_action.setMenuRole(QAction.MenuRole.AboutRole)
        about_action.triggered.connect(self.show_about)
        help_menu.addAction(about_action)

    def _connect(self) -> None:
        panel, view, transport = self.dataset_panel, self.sound_view, self.transport
        panel.statusMessage.connect(self.show_status)
        panel.soundLoaded.connect(self._on_sound_loaded)
        panel.folderScanned.connect(self._on_folder_scanned)
        transport.statusMessage.connect(self.show_status)
        transport.positionChanged.connect(self._on_position)
        view.seekRequested.connect(transport.seek)

    def add_panel(
        self,
        panel: QWidget,
        title: str,
        area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea,
        *,
        object_name: str | None = None,
        shortcut: QKeySequence | None = None,
    ) -> QDockWidget:
        """Dock ``panel`` under ``title`` and add its show/hide toggle to the View menu.

        Parameters
        ----------
        panel : QWidget
            The panel. If it has a ``shutdown()`` method, the window calls it when closing.
        title : str
            Dock title and View-menu entry.
        area : Qt.DockWidgetArea
            Where it goes the first time (later, where the user left it).
        object_name : str or None, keyword-only
            Name its place is saved under; defaults to ``"<title> dock"``. Keep it stable.
        shortcut : QKeySequence or None, keyword-only
            Shortcut of the View-menu toggle.

        Returns
        -------
        QDockWidget
        """
        dock = QDockWidget(title, self)
        dock.setObjectName(object_name or f"{title} dock")
        dock.setWidget(panel)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(area, dock)
        toggle = dock.toggleViewAction()
        toggle.setText(title)
        toggle.setStatusTip(f"Show or hide the {title} panel")
        if shortcut is not None:
            toggle.setShortcut(shortcut)
        self.view_menu.addAction(toggle)
        self._panels.append(panel)
        # A panel added after restore_layout() still gets its saved place and visibility; one
        # the saved layout does not know is shown.
        known = self._layout_restored and dock.objectName() in self.settings.saved_docks
        if not (known and self.restoreDockWidget(dock)):
            dock.show()
        return dock

    def attach_studio(self) -> None:
        """Add the Explore and Train docks and the model and export menu entries.

        The studio imports torch and every model family (seconds on a cold start), so
        :func:`app.main.main` shows the window first and calls this once those imports are done
        on a background thread; a panel added late still gets its saved place.
        """
        if self.studio is not None or self._closed:
            return
        from app.studio import Studio

        self.studio = Studio(self)
        self._attach_live(self.studio)
        self._attach_map(self.studio)
        self._attach_compare(self.studio)

    def _attach_compare(self, studio: Studio) -> None:
        """The Compare dock (View ▸ Compare, File ▸ Compare Families…), tabbed with Train:
        several families trained alike, their scores and their sounds (:mod:`app.panels.compare`)."""
        from app.panels.compare import ComparePanel

        panel = ComparePanel(self)
        self.compare_panel = panel
        self.compare_dock = self.add_panel(panel, "Compare", object_name="compare dock")
        self.tabifyDockWidget(studio.training_dock, self.compare_dock)
        studio.training_dock.raise_()
        self.compare_action = QAction("&Compare Families…", self)
        self.compare_action.setStatusTip(
            "Train several families on the same sounds and hear them side by side"
        )
        self.compare_action.triggered.connect(
            lambda: (self.compare_dock.show(), self.compare_dock.raise_())
        )
        self.file_menu.insertAction(self.quit_action, self.compare_action)
        panel.statusMessage.connect(self.show_status)
        panel.soundChosen.connect(
            lambda samples, rate, title: self.show_sound(samples, rate, title=title)
        )

    def _attach_map(self, studio: Studio) -> None:
        """The Sound Map dock (View ▸ Sound Map), tabbed with Sounds: the open folder's clips
        as points, and the played model's latent space (:mod:`app.panels.map`)."""
        from app.panels.map import MapPanel

        panel = MapPanel(self, model_source=lambda: studio.explore.model)
        self.map_panel = panel
        self.map_dock = self.add_panel(
            panel, "Sound Map", Qt.DockWidgetArea.LeftDockWidgetArea, object_name="sound map dock"
        )
        self.tabifyDockWidget(self.dataset_dock, self.map_dock)
        self.dataset_dock.raise_()
        if not (self._layout_restored and self.map_dock.objectName() in self.settings.saved_docks):
            self.map_dock.hide()  # first run: opened from View ▸ Sound Map, then remembered
        self.dataset_panel.folderScanned.connect(
            lambda report: panel.set_files([item.path for item in report.usable])
        )
        panel.statusMessage.connect(self.show_status)
        panel.soundChosen.connect(
            lambda samples, rate, title: self.show_sound(samples, rate, title=title)
        )
        panel.hoverSound.connect(
            lambda samples, rate: self.transport.available and self.player.play(samples, rate)
        )
        panel.folderRequested.connect(self.open_folder)
        panel.trainRequested.connect(studio.training.set_data_folder)
        panel.trainRequested.connect(lambda _folder: studio.training_dock.raise_())

    def _attach_live(self, studio: Studio) -> None:
        """MIDI keyboard, MIDI learn and OSC for the Explore panel: the port list and how keys
        play go in the transport toolbar, the OSC switch and the mappings table in Playback."""
        from app.live import LiveControl
        from app.midi import MidiPortBox

        live = LiveControl(
            studio.explore, self.player, self.settings, open_model=studio.open_model, parent=self
        )
        self.live = live

        def remember(name: str | None) -> None:
            self.settings.midi_port = name

        self.midi_box = MidiPortBox(live.midi, remember, self)
        self.midi_box.set_mode(*live.mode_text)
        studio.explore.soundGenerated.connect(lambda *_: self.midi_box.set_mode(*live.mode_text))
        self.transport_toolbar.addSeparator()
        self.transport_toolbar.addWidget(self.midi_box)
        live.statusChanged.connect(self.show_status)
        self.playback_menu.addSeparator()
        self.playback_menu.addAction(live.osc_action)
        self.playback_menu.addAction(live.mappings_action)
        saved = self.settings.midi_port
        if saved is not None and live.midi.open(saved):  # else it says why and keeps the choice
            self.midi_box.refresh()

    def restore_layout(self) -> None:
        """Put the window, docks and toolbars where they were last time (once panels exist)."""
        geometry, state = self.settings.window_geometry, self.settings.window_state
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is None or not self.restoreState(state):
            self._default_dock_sizes()
        self._layout_restored = True

    def _default_dock_sizes(self) -> None:
        """First run: side docks a fixed share of the width, the sound view keeps the most."""
        docks = [d for d in self.findChildren(QDockWidget) if not d.isFloating()]
        horizontal = [
            d
            for d in docks
            if self.dockWidgetArea(d)
            in (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea)
        ]
        width = max(self.width(), 1000)
        sizes = [round(width * (0.3 if d is self.dataset_dock else 0.28)) for d in horizontal]
        if horizontal:
            self.resizeDocks(horizontal, sizes, Qt.Orientation.Horizontal)

    def save_layout(self) -> None:
        """Remember the window geometry, docks, toolbars and transport choices."""
        self.settings.window_geometry = self.saveGeometry()
        self.settings.window_state = self.saveState()
        self.settings.saved_docks = [dock.objectName() for dock in self.findChildren(QDockWidget)]
        self.settings.volume = self.player.volume
        self.settings.loop = self.player.loop
        if self.player.device is not None:
            self.settings.output_device = self.player.device.name
        self.settings.sync()

    # --- public API for panels ---------------------------------------------------------------
    def show_status(self, text: str) -> None:
        """Show ``text`` in the status bar for a few seconds."""
        self.statusBar().showMessage(text, STATUS_TIMEOUT_MS)

    def show_sound(
        self, samples: np.ndarray, sample_rate: int, *, title: str = "", play: bool = True
    ) -> None:
        """Draw ``samples`` in the sound view, make it the transport's sound, and play it."""
        self.sound_view.set_audio(samples, sample_rate, title=title)
        if play and self.transport.available:
            self.transport.play(samples, sample_rate)
        else:
            self.transport.set_sound(samples, sample_rate)

    def open_folder(self, folder: str | Path, *, select: str | Path | None = None) -> None:
        """Scan ``folder`` in the Sounds panel (then select the file ``select``), remember it."""
        folder = Path(folder).expanduser()
        self.dataset_dock.show()
        self.dataset_panel.open_folder(folder, select=select)
        self.settings.remember_folder(folder.absolute())
        self.setWindowTitle(f"Timbre Lab — {folder.name or folder}")

    # --- slots -----------------------------------------------------------------------------------
    @Slot()
    def _choose_folder(self) -> None:
        last = self.settings.last_folder
        start = str(last) if last is not None and last.is_dir() else str(Path.home())
        chosen = QFileDialog.getExistingDirectory(self, "Open a folder of sounds", start)
        if chosen:
            self.open_folder(chosen)

    @Slot()
    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_folders
        for index, folder in enumerate(recent, start=1):
            action = self.recent_menu.addAction(f"&{index} {folder}")
            action.setEnabled(folder.is_dir())
            action.triggered.connect(lambda _=False, f=folder: self.open_folder(f))
        if not recent:
            self.recent_menu.addAction("No recent folders").setEnabled(False)
            return
        self.recent_menu.addSeparator()
        self.recent_menu.addAction("Clear Menu", self.settings.clear_recent_folders)

    @Slot(float)
    def _on_position(self, seconds: float) -> None:
        self.sound_view.set_playhead(seconds, follow=self.player.is_playing)

    @Slot(object)
    def _on_sound_loaded(self, audio: object) -> None:
        title = audio.path.name if audio.path is not None else ""
        self.show_sound(
            audio.samples, audio.sample_rate, title=title, play=self.autoplay_action.isChecked()
        )

    @Slot(object)
    def _on_folder_scanned(self, report: object) -> None:
        if report.usable and self.dataset_panel.selected_file() is None:
            self.dataset_panel.table.setFocus()

    def show_about(self) -> None:
        """The About box."""
        QMessageBox.about(
            self,
            "About Timbre Lab",
            f"<h3>Timbre Lab {__version__}</h3>"
            "<p>Train small generative audio models on your own sounds, explore what they "
            "learned, and export new samples.</p>"
            "<p>Drop a folder of sounds on the window to begin.</p>",
        )

    def shortcut_table(self) -> list[tuple[str, str]]:
        """(what it does, keys) for every action with a shortcut, menus and panels alike."""
        rows: dict[str, str] = {}
        for action in self.findChildren(QAction):
            keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            name = action.text().replace("&", "")
            if keys and name:
                rows.setdefault(name, keys)
        return sorted(rows.items(), key=lambda row: row[0].casefold())

    def show_shortcuts(self) -> None:
        """A dialog listing the keyboard shortcuts."""
        dialog = QDialog(self)
        dialog.setWindowTitle("Keyboard Shortcuts")
        rows = self.shortcut_table()
        table = QTableWidget(len(rows), 2, dialog)
        table.setHorizontalHeaderLabels(["Action", "Keys"])
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for row, (name, keys) in enumerate(rows):
            table.setItem(row, 0, QTableWidgetItem(name))
            table.setItem(row, 1, QTableWidgetItem(keys))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dialog)
        buttons.rejected.connect(dialog.reject)
        layout = QVBoxLayout(dialog)
        layout.addWidget(table)
        layout.addWidget(buttons)
        dialog.resize(420, 360)
        dialog.exec()

    # --- drag and drop, closing ----------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _dropped_folder(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        dropped = _dropped_folder(event)
        if dropped is None:
            event.ignore()
            return
        event.acceptProposedAction()
        folder, file = dropped
        self.open_folder(folder, select=file)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.studio is not None and not self.studio.confirm_close():
            event.ignore()
            return
        self._closed = True
        if self.studio is not None:
            self.studio.shutdown()
        self.save_layout()
        self.transport.shutdown()
        for panel in self._panels:
            shutdown = getattr(panel, "shutdown", None)
            if callable(shutdown):
                shutdown()
        self.sound_view.shutdown()
        if self.live is not None:
            self.live.shutdown()
        self.player.close()
        super().closeEvent(event)
