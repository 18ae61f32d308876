"""The model list: starter models, recent runs and physical instruments in one drop-down."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QWidget


class ModelPicker(QComboBox):
    """A drop-down of models by id, showing the one loaded now.

    A model that is loaded but not in the list (a run opened from its folder) is added under its
    folder name, so the list always shows what plays.

    Signals
    -------
    modelRequested(model_id: str)
        The user chose a model other than the one loaded.
    """

    modelRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.current = ""
        self.setToolTip("Starter models, your recent runs and the physical instruments")
        self.setAccessibleName("Model")
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(16)
        self.activated.connect(self._chosen)

    def set_entries(self, entries: list[tuple[str, str, str]]) -> None:
        """Fill the list with ``(model_id, title, tooltip)`` entries."""
        self.blockSignals(True)
        self.clear()
        for model_id, title, tooltip in entries:
            self.addItem(title, model_id)
            self.setItemData(self.count() - 1, tooltip, Qt.ItemDataRole.ToolTipRole)
        self._select_current()
        self.blockSignals(False)

    def show_model(self, model_id: str, title: str) -> None:
        """Select ``model_id`` (the model just loaded), with ``title`` as the tooltip."""
        self.current = model_id
        self.setToolTip(title)
        self.blockSignals(True)
        self._select_current()
        self.blockSignals(False)

    def _select_current(self) -> None:
        index = self.findData(self.current)
        if index < 0 and self.current:
            self.addItem(Path(self.current).name or self.current, self.current)
            index = self.count() - 1
        self.setCurrentIndex(index)

    def _chosen(self, index: int) -> None:
        model_id = self.itemData(index)
        if model_id and model_id != self.current:
            self.modelRequested.emit(str(model_id))
