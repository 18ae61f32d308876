"""What the training panel will train: the folder of sounds, the family, and a panel preset
(Quick, Better) or custom limits, device, data-parallel processes and ``NAME=VALUE``
settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from synth_core import distributed
from synth_core.errors import TimbreLabError
from synth_core.models import Family

# (label, family preset name, minutes); "Custom…" exposes steps, minutes and config overrides
PRESETS = (("Quick: ~2 min", "quick", 2.0), ("Better: ~10 min", "better", 10.0))
CUSTOM = "Custom…"


class TrainingChoices(QWidget):
    """The form above the training panel's buttons.

    Signals
    -------
    dataFolderChanged(folder: str)
        A folder of sounds was chosen.
    """

    dataFolderChanged = Signal(str)

    def __init__(self, families: list[Family], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data_folder: Path | None = None
        self._families = families

        self.data_label = QLabel("No sounds chosen")
        self.data_label.setWordWrap(True)
        self.data_button = QPushButton("Choose folder…")
        self.data_button.setToolTip("The folder of sounds to learn from")

        self.family_box = QComboBox()
        for family in families:
            self.family_box.addItem(family.title, family.name)
            index = self.family_box.count() - 1
            self.family_box.setItemData(
                index, f"{family.summary}\nGood for: {family.good_for}", Qt.ItemDataRole.ToolTipRole
            )
        self.family_summary = QLabel()
        self.family_summary.setWordWrap(True)
        self.family_summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.preset_box = QComboBox()
        for label, _name, _minutes in PRESETS:
            self.preset_box.addItem(label)
        self.preset_box.addItem(CUSTOM)

        self.steps_box = QSpinBox()
        self.steps_box.setRange(0, 10_000_000)
        self.steps_box.setSpecialValueText("no limit")
        self.steps_box.setToolTip("Stop after this many steps (0: no step limit)")
        self.minutes_box = QDoubleSpinBox()
        self.minutes_box.setRange(0.0, 24 * 60)
        self.minutes_box.setValue(5.0)
        self.minutes_box.setSuffix(" min")
        self.minutes_box.setSpecialValueText("no limit")
        self.device_edit = QLineEdit()
        self.device_edit.setPlaceholderText("best available (cuda, mps, cpu)")
        # data-parallel processes (``--nproc``): offered where more than one helps (several
        # GPUs, or at least 4 CPU cores), shown disabled with the reason elsewhere
        self.processes_box = QSpinBox()
        self._useful_processes, self._processes_reason = distributed.useful_processes()
        self.processes_box.setRange(1, max(1, self._useful_processes))
        self.processes_box.setPrefix("processes: ")
        self.settings_edit = QLineEdit()
        self.settings_edit.setPlaceholderText("latent_dim=16 batch_size=32")
        self.settings_edit.setToolTip("Model settings as NAME=VALUE, separated by spaces")
        custom_form = QWidget()
        form = QFormLayout(custom_form)
        form.addRow("Steps", self.steps_box)
        form.addRow("Time limit", self.minutes_box)
        form.addRow("Device", self.device_edit)
        form.addRow("Settings", self.settings_edit)
        self.custom = QCollapsible("Custom settings")
        self.custom.addWidget(custom_form)
        self.custom.setVisible(False)

        data_row = QHBoxLayout()
        data_row.addWidget(self.data_label, 1)
        data_row.addWidget(self.data_button)
        choice = QFormLayout()
        choice.addRow("Sounds", data_row)
        choice.addRow("Family", self.family_box)
        choice.addRow("", self.family_summary)
        choice.addRow("Preset", self.preset_box)
        choice.addRow("Parallel", self.processes_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(choice)
        layout.addWidget(self.custom)

        self.data_button.clicked.connect(self._choose_folder)
        self.family_box.currentIndexChanged.connect(self._family_changed)
        self.preset_box.currentIndexChanged.connect(self._preset_changed)
        self._family_changed()

    def set_data_folder(self, folder: str | Path) -> None:
        self.data_folder = Path(folder)
        self.data_label.setText(self.data_folder.name or str(self.data_folder))
        self.data_label.setToolTip(str(self.data_folder))
        self.dataFolderChanged.emit(str(self.data_folder))

    def set_family(self, name: str) -> None:
        index = self.family_box.findData(name)
        if index < 0:
            raise TimbreLabError(f"model family {name!r} is not available")
        self.family_box.setCurrentIndex(index)

    def set_custom(self, *, steps: int = 0, minutes: float = 0.0, settings: str = "") -> None:
        """Choose "Custom…" with these limits and ``NAME=VALUE`` settings."""
        self.preset_box.setCurrentText(CUSTOM)
        self.steps_box.setValue(steps)
        self.minutes_box.setValue(minutes)
        self.settings_edit.setText(settings)
        self.settings_edit.setCursorPosition(0)

    @property
    def family(self) -> str:
        return str(self.family_box.currentData())

    def set_locked(self, locked: bool) -> None:
        """Freeze the choices while a run is training."""
        for widget in (self.family_box, self.preset_box, self.data_button, self.custom):
            widget.setEnabled(not locked)
        if locked:
            self.processes_box.setEnabled(False)
        else:
            self._offer_processes()

    def train_options(self, family: str, *, resume: bool) -> dict[str, Any]:
        """The budget, device, family preset and settings for
        :func:`synth_core.progress.train_argv`, as chosen for ``family``.

        A panel preset passes its family preset only where ``family`` has one of that name; a
        resumed run keeps its own config, so it gets neither a preset nor settings.
        """
        from synth_core.models import get_family
        from synth_core.train import family_presets

        options: dict[str, Any] = {}
        choice = self.preset_box.currentText()
        if choice == CUSTOM:
            options["steps"] = self.steps_box.value() or None
            options["minutes"] = self.minutes_box.value() or None
            options["device"] = self.device_edit.text().strip() or None
            if not resume:
                options["settings"] = self.settings_edit.text().split()
        else:
            _label, name, options["minutes"] = next(p for p in PRESETS if p[0] == choice)
            if not resume and name in family_presets(get_family(family).model_class):
                options["preset"] = name
        if self.processes_box.isEnabled() and family in distributed.PARALLEL_FAMILIES:
            options["nproc"] = self.processes_box.value()
        return options

    def _family_changed(self) -> None:
        family = next((f for f in self._families if f.name == self.family), None)
        if family is not None:
            self.family_summary.setText(family.summary)
            self.family_summary.setToolTip(f"Good for: {family.good_for}")
            self.family_box.setToolTip(f"{family.summary}\nGood for: {family.good_for}")
        self._offer_processes()

    def _offer_processes(self) -> None:
        """Enable "processes: N" where it helps: several GPUs or cores, a family that trains
        over several processes; otherwise disable it and say why in its tooltip."""
        if self._useful_processes < 2:
            enabled, why = False, f"Training in one process: {self._processes_reason}"
        elif self.family not in distributed.PARALLEL_FAMILIES:
            enabled, why = (
                False,
                (
                    f"{self.family} trains in one process: "
                    + distributed.SINGLE_PROCESS_REASONS.get(
                        self.family, "it has no data-parallel training"
                    )
                    + f". These train over several: {', '.join(distributed.PARALLEL_FAMILIES)}"
                ),
            )
        else:
            enabled, why = (
                True,
                (f"Train data-parallel in this many processes: {self._processes_reason}"),
            )
        self.processes_box.setEnabled(enabled)
        self.processes_box.setToolTip(why)

    def _preset_changed(self) -> None:
        custom = self.preset_box.currentText() == CUSTOM
        self.custom.setVisible(custom)
        if custom:
            self.custom.expand(animate=False)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Sounds to learn from")
        if folder:
            self.set_data_folder(folder)
