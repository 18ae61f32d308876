"""Table models behind the Sounds panel: usable files (sortable, filterable) and skipped files.

Both are plain ``QAbstractTableModel``\\ s over Python lists. Sorting and filtering happen here, in
Python over precomputed keys, rather than in a ``QSortFilterProxyModel`` that would call back
into Python for every comparison: a folder of 10 000 files sorts in milliseconds.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from synth_core.dataset import SkippedFile, SoundFile, printable_name

NOTE_NAMES = ("C", "C♯", "D", "D♯", "E", "F", "F♯", "G", "G♯", "A", "A♯", "B")
COLUMNS = ("Name", "Duration", "Rate", "Ch", "Pitch")
COLUMN_TIPS = (
    "File name (relative to the folder)",
    "Length",
    "Sample rate, Hz",
    "Channels",
    "Pitch from a name__pNNN file name (MIDI note)",
)
SKIPPED_COLUMNS = ("File", "Why it is skipped")

Index = QModelIndex | QPersistentModelIndex
_DISPLAY = Qt.ItemDataRole.DisplayRole
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


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


def relative_names(paths: list[Path], folder: Path) -> list[str]:
    """Each path relative to ``folder`` with forward slashes (its bare name when outside it).

    String prefixes, not ``Path.relative_to``: ten times faster, which matters for 10 000 files.
    """
    prefix = os.path.join(str(folder), "")
    names = []
    for path in paths:
        text = str(path)
        if text.startswith(prefix):
            name = text[len(prefix) :]
            names.append(name.replace(os.sep, "/") if os.sep != "/" else name)
        else:
            names.append(path.name)
    return names


def _sort_key(files: list[SoundFile], folded: list[str], column: int) -> Callable[[int], object]:
    if column == 0:
        return folded.__getitem__
    if column == 1:
        return lambda i: files[i].duration
    if column == 2:
        return lambda i: files[i].sample_rate
    if column == 3:
        return lambda i: files[i].channels
    return lambda i: -1.0 if files[i].pitch is None else files[i].pitch


@dataclass(frozen=True)
class FileTable:
    """Usable files with their display names and one sort order, ready for the table model.

    Built off the GUI thread (:meth:`build`), so showing 10 000 files costs the GUI thread only
    a model reset.
    """

    files: list[SoundFile]
    names: list[str]
    folded: list[str]
    sort_column: int
    sort_order: Qt.SortOrder
    order: list[int]  # indexes into files, sorted by sort_column in sort_order

    @classmethod
    def build(
        cls,
        folder: Path,
        files: list[SoundFile],
        *,
        sort_column: int = 0,
        sort_order: Qt.SortOrder = Qt.SortOrder.AscendingOrder,
    ) -> FileTable:
        """Names relative to ``folder`` and the order for ``sort_column``/``sort_order``."""
        files = list(files)
        names = relative_names([item.path for item in files], folder)
        folded = [name.casefold() for name in names]
        order = sorted(
            range(len(files)),
            key=_sort_key(files, folded, sort_column),
            reverse=sort_order == Qt.SortOrder.DescendingOrder,
        )
        return cls(files, names, folded, sort_column, sort_order, order)


def skipped_rows(folder: Path, skipped: list[SkippedFile]) -> list[tuple[str, str, str]]:
    """(name relative to ``folder``, reason, full path) for each skipped file."""
    names = relative_names([item.path for item in skipped], folder)
    return [(name, item.reason, str(item.path)) for name, item in zip(names, skipped, strict=True)]


class SoundFileTableModel(QAbstractTableModel):
    """The usable files of a scan: name, duration, rate, channels, pitch; sortable, filterable."""

    def __init__(self, parent: object = None) -> None:
        super().__init__(parent)
        self._files: list[SoundFile] = []
        self._names: list[str] = []
        self._folded: list[str] = []
        self._rows: list[int] = []  # indexes into _files, in display order
        self._filter = ""
        self._sort_column = 0
        self._sort_order = Qt.SortOrder.AscendingOrder

    @property
    def sort_state(self) -> tuple[int, Qt.SortOrder]:
        """(column, order) the rows are sorted by."""
        return self._sort_column, self._sort_order

    def set_files(self, folder: Path, files: list[SoundFile]) -> None:
        """Show ``files``, named relative to ``folder``, in the current sort order and filter."""
        column, order = self.sort_state
        self.set_table(FileTable.build(folder, files, sort_column=column, sort_order=order))

    def set_table(self, table: FileTable) -> None:
        """Show a prepared :class:`FileTable` (its order is used when it matches the model's)."""
        self.beginResetModel()
        self._files, self._names, self._folded = table.files, table.names, table.folded
        if (table.sort_column, table.sort_order) == self.sort_state and not self._filter:
            self._rows = list(table.order)
        else:
            self._rows = self._filtered_sorted()
        self.endResetModel()

    def set_filter(self, text: str) -> None:
        """Show only files whose name contains ``text`` (case-insensitive)."""
        self.beginResetModel()
        self._filter = text.casefold()
        self._rows = self._filtered_sorted()
        self.endResetModel()

    def file_at(self, row: int) -> SoundFile:
        """The file shown in row ``row``."""
        return self._files[self._rows[row]]

    def row_of(self, path: Path) -> int | None:
        """The row showing the file at ``path``, or ``None`` (not usable, or filtered out)."""
        wanted = os.path.abspath(path)
        name = os.path.basename(wanted)
        for row, index in enumerate(self._rows):
            candidate = self._files[index].path
            if candidate.name == name and os.path.abspath(candidate) == wanted:
                return row
        return None

    def name_at(self, row: int) -> str:
        """The name shown in row ``row``."""
        return self._names[self._rows[row]]

    def _filtered_sorted(self) -> list[int]:
        text = self._filter
        rows = [i for i, name in enumerate(self._folded) if text in name]
        descending = self._sort_order == Qt.SortOrder.DescendingOrder
        key = _sort_key(self._files, self._folded, self._sort_column)
        return sorted(rows, key=key, reverse=descending)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Order rows by ``column``; the selection stays on the same files."""
        self.layoutAboutToBeChanged.emit()
        self._sort_column, self._sort_order = max(column, 0), order
        persistent = self.persistentIndexList()
        before = [(index, self._rows[index.row()]) for index in persistent if index.isValid()]
        self._rows = self._filtered_sorted()
        if before:
            position = {item: row for row, item in enumerate(self._rows)}
            for index, item in before:
                self.changePersistentIndex(index, self.index(position[item], index.column()))
        self.layoutChanged.emit()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> object:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == _DISPLAY:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMN_TIPS[section]
        return None

    def data(self, index: Index, role: int = _DISPLAY) -> object:
        if not index.isValid():
            return None
        row, column = index.row(), index.column()
        item = self._files[self._rows[row]]
        if role == _DISPLAY:
            if column == 0:
                # a name may hold a newline, an escape or an undecodable byte (which Qt drops)
                return printable_name(self._names[self._rows[row]])
            if column == 1:
                return format_duration(item.duration)
            if column == 2:
                return str(item.sample_rate)
            if column == 3:
                return str(item.channels)
            return note_name(item.pitch) if item.pitch is not None else "—"
        if role == Qt.ItemDataRole.ToolTipRole:
            return (
                f"{printable_name(item.path)}\n{item.format} {item.subtype}, {item.frames} frames"
            )
        if role == Qt.ItemDataRole.TextAlignmentRole and column > 0:
            return _RIGHT
        return None


class SkippedFileTableModel(QAbstractTableModel):
    """Files a scan will not use: name and the reason, in the user's words."""

    def __init__(self, parent: object = None) -> None:
        super().__init__(parent)
        self._items: list[tuple[str, str, str]] = []

    def set_files(self, folder: Path, skipped: list[SkippedFile]) -> None:
        """Show ``skipped``, named relative to ``folder``."""
        self.set_rows(skipped_rows(folder, skipped))

    def set_rows(self, rows: list[tuple[str, str, str]]) -> None:
        """Show prepared :func:`skipped_rows`."""
        self.beginResetModel()
        self._items = list(rows)
        self.endResetModel()

    def rows(self) -> list[tuple[str, str]]:
        """(name, reason) of every row."""
        return [(name, reason) for name, reason, _ in self._items]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(SKIPPED_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> object:
        if orientation == Qt.Orientation.Horizontal and role == _DISPLAY:
            return SKIPPED_COLUMNS[section]
        return None

    def data(self, index: Index, role: int = _DISPLAY) -> object:
        if not index.isValid():
            return None
        name, reason, path = self._items[index.row()]
        if role == _DISPLAY:
            return printable_name(name) if index.column() == 0 else reason
        if role == Qt.ItemDataRole.ToolTipRole:
            return printable_name(path) if index.column() == 0 else reason
        return None
