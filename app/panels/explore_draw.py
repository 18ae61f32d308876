"""The explore panel's draw row: new sounds or variations of a training sound.

Shown for models with a ``novelty`` control (vae, cnn, gan): at novelty 0 each seed gives a
variation of the training sound it starts from; above 0, a new sound drawn around it, as far
from every training sound as a new recording of the same kind is at 1
(:func:`synth_core.latent.novelty_offset`). The row names which of the two the sliders give,
and switches between them in one click.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QPushButton, QWidget

from synth_core.latent import NOVELTY

NEW_SOUNDS = "New sounds"
VARIATIONS = "Variations of a training sound"


class DrawBar(QWidget):
    """ "Draw:" and two exclusive buttons, New sounds and Variations of a training sound.

    Signals
    -------
    noveltyChosen(value: float)
        A button was clicked: the ``novelty`` value it stands for (the default for new sounds,
        0 for variations).
    """

    noveltyChosen = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.new_button = QPushButton(NEW_SOUNDS)
        self.new_button.setToolTip(
            "Each seed draws a new sound, as far from every training sound as a new recording "
            "of the same kind would be (novelty 1; the Novelty slider sets how far)"
        )
        self.variation_button = QPushButton(VARIATIONS)
        self.variation_button.setToolTip(
            "Each seed gives a close variation of one training sound (novelty 0): faithful, "
            "but near a copy"
        )
        self.group = QButtonGroup(self)
        for button in (self.new_button, self.variation_button):
            button.setCheckable(True)
            self.group.addButton(button)
        self.group.setExclusive(True)
        self.new_button.clicked.connect(lambda: self.noveltyChosen.emit(NOVELTY.default))
        self.variation_button.clicked.connect(lambda: self.noveltyChosen.emit(0.0))

        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Draw"))
        row.addWidget(self.new_button)
        row.addWidget(self.variation_button)
        row.addStretch(1)

    def show_novelty(self, value: float | None) -> None:
        """Check the button ``value`` stands for; hide the row when None (no novelty control)."""
        self.setVisible(value is not None)
        if value is None:
            return
        button = self.variation_button if value <= 0 else self.new_button
        button.blockSignals(True)
        button.setChecked(True)
        button.blockSignals(False)


def drawn_as(value: float | None) -> str | None:
    """What a sound drawn at novelty ``value`` is, for the status line (None: no such control)."""
    if value is None:
        return None
    return "variation of a training sound" if value <= 0 else "new sound"
