"""The dataset panel: pick a folder of sounds, see which files are usable, audition them.

Scanning runs :func:`synth_core.dataset.scan` on a :class:`~app.workers.BackgroundTask` with a
progress bar and a Cancel button; loading the selected file runs on a
:class:`~app.workers.LatestOnlyWorker`, so holding an arrow key down through a long list loads
only the file the selection stops on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import qtawesome as qta
from PySide6.QtCore import QItemSelection, Qt, Signal, Slot
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
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible, QElidingLabel

from app.panels.dataset_models import (
    FileTable,
    SkippedFileTableModel,
    SoundFileTableModel,
    format_duration,
    skipped_rows,
)
from app.workers import BackgroundTask, LatestOnlyWorker
from synth_core.audio import Audio, load
from synth_core.dataset import ScanReport, SoundFile, scan
from synth_core.errors import TimbreLabError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanResult:
    """A scan report and its tables, prepared on the scan thread."""

    report: ScanReport
    table: FileTable
    skipped: list[tuple[str, str, str]]


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
        self._select_after_scan: Path | None = None
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
        self.filter_edit.textChanged.connect(self.model.set_filter)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setToolTip("Click a sound, or move with the arrow keys, to see and hear it")
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.skipped_model = SkippedFileTableModel(self)
        self.skipped_table = QTableView(self)
        self.skipped_table.setModel(self.skipped_model)
        self.skipped_table.setMinimumHeight(120)
        self.skipped_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        widths = (None, "00:00.0 s", "192000", "Ch", "C♯4 +50¢")
        for table, column_widths in ((self.table, widths), (self.skipped_table, (None, None))):
            # Fixed row heights and column widths: Qt never measures 10 000 rows.
            table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
            table.setAlternatingRowColors(True)
            table.setShowGrid(False)
            table.setWordWrap(False)
            table.verticalHeader().hide()
            table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
            table.verticalHeader().setDefaultSectionSize(22)
            header = table.horizontalHeader()
            header.setStretchLastSection(False)
            metrics = table.fontMetrics()
            for column, sample in enumerate(column_widths):
                if sample is None:
                    continue
                header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
                header.resizeSection(column, metrics.horizontalAdvance(sample) + 24)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        skipped_header = self.skipped_table.horizontalHeader()
        skipped_header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        skipped_header.resizeSection(0, 150)
        skipped_header.setStretchLastSection(True)
        self.skipped_box = QCollapsible("Skipped (0)", self)
        self.skipped_box.addWidget(self.skipped_table)
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

    def open_folder(self, folder: str | Path, *, select: str | Path | None = None) -> None:
        """Scan ``folder`` off the GUI thread and show what it holds (cancels a running scan).

        Parameters
        ----------
        folder : str or Path
            The folder of sounds.
        select : str, Path or None, keyword-only
            A file in it to select (and so load) once the scan is done.
        """
        folder = Path(folder)
        self._abandon_scan()
        self._select_after_scan = Path(select) if select is not None else None
        self.folder = folder
        self.folder_label.setText(str(folder))
        self.folder_label.setToolTip(str(folder))
        self.rescan_button.setEnabled(True)
        self.progress.setRange(0, 0)  # busy until the first count arrives
        self.progress.show()
        self.cancel_button.show()
        self.statusMessage.emit(f"Scanning {folder}…")
        column, order = self.model.sort_state

        def scan_and_prepare(progress: Callable, should_stop: Callable) -> ScanResult:
            report = scan(folder, progress=progress, should_stop=should_stop)
            table = FileTable.build(
                report.folder, report.usable, sort_column=column, sort_order=order
            )
            return ScanResult(report, table, skipped_rows(report.folder, report.skipped))

        task = BackgroundTask(scan_and_prepare, self)
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
            current = self.selected_file()
            self.open_folder(self.folder, select=current.path if current else None)

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
    def _on_scanned(self, result: ScanResult) -> None:
        self._task = None
        self._hide_progress()
        report = self.report = result.report
        self.table.clearSelection()
        self.model.set_table(result.table)
        self.skipped_model.set_rows(result.skipped)
        self.skipped_box.setText(f"Skipped ({len(report.skipped)})")
        self.summary_label.setText(report.summary())
        self.statusMessage.emit(f"{report.folder.name}: {report.summary()}")
        self.folderScanned.emit(report)
        wanted, self._select_after_scan = self._select_after_scan, None
        row = self.model.row_of(wanted) if wanted is not None else None
        if row is not None:
            self.select_row(row)

    @Slot(object)
    def _on_scan_failed(self, error: object) -> None:
        self._task = None
        self._hide_progress()
        message = str(error) if isinstance(error, TimbreLabError) else f"scan failed: {error}"
        log.warning("%s", message)
        self.summary_label.setText(message)
        self.statusMessage.emit(message)

    # --- selection and loading -------------------------------------------------------------------
    def selected_file(self) -> SoundFile | None:
        """The usable file selected in the table, or ``None``."""
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.file_at(rows[0].row())

    def select_row(self, row: int) -> None:
        """Select the file shown in table row ``row`` (in the current sort order)."""
        index = self.model.index(row, 0)
        if not index.isValid():
            raise IndexError(f"no row {row}: the table has {self.model.rowCount()} rows")
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
