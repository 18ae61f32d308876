"""The dataset panel: pick a folder of sounds, see which files are usable, audition them.

Scanning runs :func:`synth_core.dataset.scan` on a :class:`~app.workers.BackgroundTask` with a
progress bar and a Cancel button; loading the selected file runs on a
:class:`~app.workers.LatestOnlyWorker`, so holding an arrow key down through a long list loads
only the file the selection stops on.
"""

from __future__ import annotations

import logging
from pathlib import Path

import qtawesome as qta
from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelection,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableView,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible, QElidingLabel

from app.workers import BackgroundTask, LatestOnlyWorker
from synth_core.audio import Audio, load
from synth_core.dataset import ScanReport, SoundFile, scan
from synth_core.errors import TimbreLabError

log = logging.getLogger(__name__)

NOTE_NAMES = ("C", "C♯", "D", "D♯", "E", "F", "F♯", "G", "G♯", "A", "A♯", "B")
COLUMNS = ("Name", "Duration", "Rate", "Ch", "Pitch")
SORT_ROLE = Qt.ItemDataRole.UserRole
PATH_ROLE = Qt.ItemDataRole.UserRole + 1

Index = QModelIndex | QPersistentModelIndex


def note_name(midi: float) -> str:
    """``69.0`` → ``"A4"``; a pitch between notes gets its offset in cents (``"A4 +20¢"``)."""
    nearest = round(midi)
    cents = round((midi - nearest) * 100)
    name = f"{NOTE_NAMES[nearest % 12]}{nearest // 12 - 1}"
    return f"{name} {cents:+d}¢" if cents else name


def format_duration(seconds: float) -> str:
    """``0.532`` → ``"0.53 s"``, ``75`` → ``"1:15.0"``."""
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:04.1f}"


class SoundFileTableModel(QAbstractTableModel):
    """The usable files of a scan, one row each: name, duration, rate, channels, pitch."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._files: list[SoundFile] = []
        self._folder = Path()

    def set_files(self, folder: Path, files: list[SoundFile]) -> None:
        """Show ``files``, named relative to ``folder``."""
        self.beginResetModel()
        self._folder = folder
        self._files = list(files)
        self.endResetModel()

    def file_at(self, row: int) -> SoundFile:
        """The file in model row ``row``."""
        return self._files[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._files)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return (
                "File name (relative to the folder)",
                "Length",
                "Sample rate, Hz",
                "Channels",
                "Pitch from a name__pNNN file name (MIDI note)",
            )[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        item = self._files[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(item, column)
        if role == SORT_ROLE:
            return self._sort_value(item, column)
        if role == PATH_ROLE:
            return str(item.path)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{item.path}\n{item.format} {item.subtype}, {item.frames} frames"
        if role == Qt.ItemDataRole.TextAlignmentRole and column > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _name(self, item: SoundFile) -> str:
        try:
            return item.path.relative_to(self._folder).as_posix()
        except ValueError:
            return item.path.name

    def _display(self, item: SoundFile, column: int) -> str:
        if column == 0:
            return self._name(item)
        if column == 1:
            return format_duration(item.duration)
        if column == 2:
            return f"{item.sample_rate}"
        if column == 3:
            return f"{item.channels}"
        return note_name(item.pitch) if item.pitch is not None else "—"

    def _sort_value(self, item: SoundFile, column: int) -> object:
        if column == 0:
            return self._name(item).casefold()
        if column == 1:
            return item.duration
        if column == 2:
            return item.sample_rate
        if column == 3:
            return item.channels
        return item.pitch if item.pitch is not None else -1.0


class DatasetPanel(QWidget):
    """Folder picker, usable-file table, skipped-file report, and file audition.

    Signals
    -------
    folderScanned(report)
        A scan finished (or was cancelled); ``report`` is the :class:`ScanReport`.
    fileSelected(path)
        The user selected a usable file (``Path``); loading starts.
    soundLoaded(audio)
        The selected file is decoded: an :class:`~synth_core.audio.Audio`.
    statusMessage(text)
        A line for the status bar.
    """

    folderScanned = Signal(object)
    fileSelected = Signal(object)
    soundLoaded = Signal(object)
    statusMessage = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder: Path | None = None
        self.report: ScanReport | None = None
        self._task: BackgroundTask | None = None
        self._abandoned: set[BackgroundTask] = set()
        self._loader = LatestOnlyWorker("timbrelab-file-loader", self)
        self._loader.finished.connect(self._on_loaded)
        self._loader.failed.connect(self._on_load_failed)

        self.open_button = QPushButton(qta.icon("fa5s.folder-open", color="#e3e5e8"), "Open…", self)
        self.open_button.setToolTip("Choose a folder of sounds (Ctrl+O)")
        self.open_button.clicked.connect(self.choose_folder)
        self.rescan_button = QPushButton(qta.icon("fa5s.sync", color="#e3e5e8"), "", self)
        self.rescan_button.setToolTip("Scan the folder again")
        self.rescan_button.clicked.connect(self.rescan)
        self.rescan_button.setEnabled(False)
        self.folder_label = QElidingLabel("No folder yet: open one or drop it on the window", self)
        self.folder_label.setElideMode(Qt.TextElideMode.ElideMiddle)

        self.progress = QProgressBar(self)
        self.progress.setFormat("Scanning %v of %m files")
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop scanning and show the files found so far")
        self.cancel_button.clicked.connect(self.cancel_scan)
        self.progress.hide()
        self.cancel_button.hide()

        self.filter_edit = QLineEdit(self)
        self.filter_edit.setPlaceholderText("Filter by name")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setToolTip("Show only files whose name contains this text")

        self.model = SoundFileTableModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setFilterKeyColumn(0)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = QTableView(self)
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setToolTip("Click a sound, or move with the arrow keys, to see and hear it")
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)

        self.skipped_tree = QTreeWidget(self)
        self.skipped_tree.setColumnCount(2)
        self.skipped_tree.setHeaderLabels(["File", "Why it is skipped"])
        self.skipped_tree.setRootIsDecorated(False)
        self.skipped_tree.setAlternatingRowColors(True)
        self.skipped_tree.setMinimumHeight(120)
        self.skipped_tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.skipped_box = QCollapsible("Skipped (0)", self)
        self.skipped_box.addWidget(self.skipped_tree)
        self.skipped_box.setToolTip("Files in the folder that will not be used, and why")
        self.summary_label = QLabel("", self)
        self.summary_label.setWordWrap(True)

        top = QHBoxLayout()
        top.addWidget(self.open_button)
        top.addWidget(self.rescan_button)
        top.addWidget(self.folder_label, 1)
        scanning = QHBoxLayout()
        scanning.addWidget(self.progress, 1)
        scanning.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addLayout(scanning)
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.skipped_box)

    # --- scanning ------------------------------------------------------------------------------
    @property
    def is_scanning(self) -> bool:
        """True while a scan runs."""
        return self._task is not None

    @Slot()
    def choose_folder(self) -> None:
        """Ask for a folder with the system dialog and scan it."""
        start = str(self.folder) if self.folder is not None else str(Path.home())
        chosen = QFileDialog.getExistingDirectory(self, "Open a folder of sounds", start)
        if chosen:
            self.open_folder(Path(chosen))

    def open_folder(self, folder: str | Path) -> None:
        """Scan ``folder`` off the GUI thread and show what it holds (cancels a running scan)."""
        folder = Path(folder)
        self._abandon_scan()
        self.folder = folder
        self.folder_label.setText(str(folder))
        self.folder_label.setToolTip(str(folder))
        self.rescan_button.setEnabled(True)
        self.progress.setRange(0, 0)  # busy until the first count arrives
        self.progress.show()
        self.cancel_button.show()
        self.statusMessage.emit(f"Scanning {folder}…")
        task = BackgroundTask(
            lambda progress, should_stop: scan(folder, progress=progress, should_stop=should_stop),
            self,
        )
        task.progressed.connect(self._on_progress)
        task.succeeded.connect(self._on_scanned)
        task.failed.connect(self._on_scan_failed)
        task.finished.connect(task.deleteLater)
        self._task = task
        task.start()

    @Slot()
    def rescan(self) -> None:
        """Scan the current folder again."""
        if self.folder is not None:
            self.open_folder(self.folder)

    @Slot()
    def cancel_scan(self) -> None:
        """Stop a running scan; its report (the files looked at so far) is still shown."""
        if self._task is not None:
            self._task.cancel()

    def _abandon_scan(self) -> None:
        """Stop a running scan whose results nobody wants any more (a new folder was opened)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        for signal in (task.progressed, task.succeeded, task.failed):
            signal.disconnect()
        self._abandoned.add(task)
        task.finished.connect(lambda: self._abandoned.discard(task))

    def _hide_progress(self) -> None:
        self.progress.hide()
        self.cancel_button.hide()

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    @Slot(object)
    def _on_scanned(self, report: ScanReport) -> None:
        self._task = None
        self._hide_progress()
        self.report = report
        self.table.clearSelection()
        self.model.set_files(report.folder, report.usable)
        self.proxy.sort(self.proxy.sortColumn(), self.proxy.sortOrder())
        self._show_skipped(report)
        self.summary_label.setText(report.summary())
        self.statusMessage.emit(f"{report.folder.name}: {report.summary()}")
        self.folderScanned.emit(report)

    @Slot(object)
    def _on_scan_failed(self, error: object) -> None:
        self._task = None
        self._hide_progress()
        message = str(error) if isinstance(error, TimbreLabError) else f"scan failed: {error}"
        log.warning("%s", message)
        self.summary_label.setText(message)
        self.statusMessage.emit(message)

    def _show_skipped(self, report: ScanReport) -> None:
        self.skipped_tree.clear()
        items = []
        for skipped in report.skipped:
            try:
                name = skipped.path.relative_to(report.folder).as_posix()
            except ValueError:
                name = str(skipped.path)
            item = QTreeWidgetItem([name, skipped.reason])
            item.setToolTip(0, str(skipped.path))
            item.setToolTip(1, skipped.reason)
            items.append(item)
        self.skipped_tree.addTopLevelItems(items)
        self.skipped_box.setText(f"Skipped ({len(report.skipped)})")

    # --- selection and loading -------------------------------------------------------------------
    def selected_file(self) -> SoundFile | None:
        """The usable file selected in the table, or ``None``."""
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.file_at(self.proxy.mapToSource(rows[0]).row())

    def select_row(self, row: int) -> None:
        """Select the file shown in table row ``row`` (in the current sort order)."""
        index = self.proxy.index(row, 0)
        if not index.isValid():
            raise IndexError(f"no row {row}: the table has {self.proxy.rowCount()} rows")
        self.table.setCurrentIndex(index)
        self.table.scrollTo(index)

    @Slot(QItemSelection, QItemSelection)
    def _on_selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        item = self.selected_file()
        if item is None:
            return
        self.fileSelected.emit(item.path)
        self.statusMessage.emit(f"Loading {item.path.name}…")
        self._loader.submit(load, item.path, mono=False)

    @Slot(object)
    def _on_loaded(self, audio: Audio) -> None:
        self.statusMessage.emit(
            f"{audio.path.name if audio.path else 'sound'}: {format_duration(audio.duration)}, "
            f"{audio.sample_rate} Hz, {audio.channels} ch"
        )
        self.soundLoaded.emit(audio)

    @Slot(object)
    def _on_load_failed(self, error: object) -> None:
        message = str(error) if isinstance(error, TimbreLabError) else f"could not load: {error}"
        log.warning("%s", message)
        self.statusMessage.emit(message)

    def shutdown(self) -> None:
        """Stop the scan and loader threads (the window is closing)."""
        self._abandon_scan()
        for task in list(self._abandoned):
            task.wait(5000)
        self._loader.shutdown()
