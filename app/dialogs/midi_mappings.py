"""The learnt MIDI mappings in a small table: which controller drives what, and a way to forget.

Mappings are made by right-clicking a slider or the morph pad (MIDI learn) and are kept in the
settings by :class:`~app.live.LiveControl`; this dialog only shows and removes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from app.live import LiveControl


class MidiMappingsDialog(QDialog):
    """Table of controller → target, with Forget and Forget All."""

    def __init__(self, live: LiveControl, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.live = live
        self.setWindowTitle("MIDI Mappings")
        self.table = QTableWidget(0, 2, self)
        self.table.setHorizontalHeaderLabels(["Controller", "Drives"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        hint = QLabel("Right-click a slider or the morph pad and choose MIDI Learn to add one.")
        hint.setWordWrap(True)
        self.forget_button = QPushButton("Forget")
        self.forget_button.setToolTip("Forget the selected mappings")
        self.forget_all_button = QPushButton("Forget All")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.addButton(self.forget_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.forget_all_button, QDialogButtonBox.ButtonRole.ResetRole)
        buttons.rejected.connect(self.reject)
        self.forget_button.clicked.connect(self.forget_selected)
        self.forget_all_button.clicked.connect(self.forget_all)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(hint)
        layout.addWidget(buttons)
        self.resize(380, 300)
        self.fill()

    def fill(self) -> None:
        """Show the mappings as they are now."""
        mappings = sorted(self.live.mappings.items())
        self.table.setRowCount(len(mappings))
        for row, (cc, target) in enumerate(mappings):
            item = QTableWidgetItem(f"CC {cc}")
            item.setData(Qt.ItemDataRole.UserRole, cc)
            self.table.setItem(row, 0, item)
            self.table.setItem(row, 1, QTableWidgetItem(self.live.target_label(target)))
        self.forget_all_button.setEnabled(bool(mappings))
        self.forget_button.setEnabled(bool(mappings))

    def forget_selected(self) -> None:
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        for row in rows:
            self.live.forget(int(self.table.item(row, 0).data(Qt.ItemDataRole.UserRole)))
        self.fill()

    def forget_all(self) -> None:
        self.live.forget(None)
        self.fill()
