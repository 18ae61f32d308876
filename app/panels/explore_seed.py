"""The explore panel's seed row: reset, randomise, the seed and auto-play."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QPushButton, QSpinBox, QWidget

MAX_SEED = 2**31 - 1


class SeedBar(QWidget):
    """Reset all, Randomise, the seed box and the Auto-play switch, in one row.

    The panel connects the buttons and the seed box itself; this row only holds them and moves
    the seed on without a signal (:meth:`set_seed_quietly`), as a random draw does.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.reset_button = QPushButton("Reset all")
        self.reset_button.setToolTip("Every slider back to its default")
        self.randomise_button = QPushButton("Randomise")
        self.randomise_button.setToolTip("A random setting within ±2 σ, drawn from the seed")
        self.seed_box = QSpinBox()
        self.seed_box.setRange(0, MAX_SEED)
        self.seed_box.setPrefix("seed ")
        self.seed_box.setKeyboardTracking(False)
        self.seed_box.setToolTip("The seed of the sound and of the next random draw")
        self.seed_box.setAccessibleName("Seed")
        self.autoplay = QCheckBox("Auto-play")
        self.autoplay.setChecked(True)
        self.autoplay.setToolTip("Play every new sound as soon as it is ready")

        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.reset_button)
        row.addWidget(self.randomise_button)
        row.addWidget(self.seed_box)
        row.addStretch(1)
        row.addWidget(self.autoplay)

    @property
    def seed(self) -> int:
        return int(self.seed_box.value())

    def set_seed_quietly(self, seed: int) -> None:
        """Show ``seed`` without asking for a new sound."""
        self.seed_box.blockSignals(True)
        self.seed_box.setValue(seed)
        self.seed_box.blockSignals(False)

    def next_seed(self, seed: int) -> int:
        """The seed after ``seed``, wrapping at the largest one."""
        return (seed + 1) % MAX_SEED
