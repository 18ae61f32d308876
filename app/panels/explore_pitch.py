"""The explore panel's pitch: a keyboard strip for models that play notes."""

from __future__ import annotations

from PySide6.QtWidgets import QGroupBox, QVBoxLayout, QWidget

from app.widgets.keyboard import KeyboardStrip, note_name
from synth_core.models.base import SoundModel

PITCH_CONTROL = "pitch"
"""The control name of a pitch slider (physical instruments); the keyboard then sets it."""
DEFAULT_PITCH = 60
"""The note the keyboard shows for a model without a pitch slider (MIDI, middle C)."""


def is_pitch_conditioned(model: SoundModel) -> bool:
    """True when the model plays notes: it has a ``pitch`` slider (physical instruments) or it
    learnt from pitch labels (``model.pitch_conditioned``)."""
    if any(c.name == PITCH_CONTROL for c in model.controls()):
        return True
    return model.pitch_conditioned


class PitchBox(QGroupBox):
    """A "Pitch" box holding the keyboard; its title names the note chosen."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Pitch", parent)
        self.keyboard = KeyboardStrip()
        layout = QVBoxLayout(self)
        layout.addWidget(self.keyboard)

    @property
    def note(self) -> int | None:
        return self.keyboard.note

    def show_note(self) -> None:
        """Name the keyboard's note in the title ("Pitch: C4 (MIDI 60)")."""
        note = self.keyboard.note
        self.setTitle("Pitch" if note is None else f"Pitch: {note_name(note)} (MIDI {note})")
