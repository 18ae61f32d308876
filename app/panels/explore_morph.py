"""The explore panel's morph pad and the four settings at its corners.

The corners start as the default setting and random settings from seeds 1–3; a corner can take
the current setting, a new random one or a dropped sound's encoding. Moving the puck blends them
(:func:`synth_core.control_values.morph_values`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from PySide6.QtWidgets import QGroupBox, QVBoxLayout, QWidget

from app.widgets.xy_pad import XYPad
from synth_core.control_values import morph_values, random_values
from synth_core.models.base import Control

Values = dict[str, float]


class MorphBox(QGroupBox):
    """A "Morph" box holding the :class:`~app.widgets.xy_pad.XYPad` and its corner settings.

    The panel connects the pad's signals; this box keeps what each corner holds and its label.
    """

    CORNER_SEEDS = (0, 1, 2, 3)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Morph", parent)
        self.pad = XYPad()
        self._corners: list[Values] = [{}, {}, {}, {}]
        layout = QVBoxLayout(self)
        layout.addWidget(self.pad)

    def reset(self, controls: list[Control], defaults: Mapping[str, float]) -> None:
        """Corners for a newly loaded model: its defaults, then seeds 1–3; the puck at 0, 0."""
        self._corners = [dict(defaults)] + [
            random_values(controls, seed=s) for s in self.CORNER_SEEDS[1:]
        ]
        for k in range(4):
            self.pad.set_corner_label(k, "default" if k == 0 else f"seed {self.CORNER_SEEDS[k]}")
        self.pad.set_position(0.0, 0.0)

    def corner_values(self, corner: int) -> Values:
        return dict(self._corners[corner])

    def set_corner(self, corner: int, values: Values, label: str) -> None:
        """Let ``corner`` hold ``values`` (complete: one value per control), labelled ``label``."""
        self._corners[corner] = values
        self.pad.set_corner_label(corner, label)

    def carry(self, convert: Callable[[Mapping[str, float]], Values]) -> None:
        """Replace each corner's setting by ``convert(setting)`` (when the controls change)."""
        self._corners = [convert(corner) for corner in self._corners]

    def values_at(self, controls: list[Control], x: float, y: float) -> Values:
        """The blend of the corners at pad position ``x``, ``y``."""
        return morph_values(controls, self._corners, x, y)
