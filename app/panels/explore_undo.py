"""Undo for the explore panel: every change of the slider values is one command on its stack.

Slider gestures, resets, random draws, pad moves and loaded presets are pushed as
:class:`SetValues`; :func:`undo_actions` gives the panel its Ctrl+Z / Ctrl+Shift+Z actions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QUndoCommand, QUndoStack
from PySide6.QtWidgets import QWidget


class ValuesTarget(Protocol):
    """What a :class:`SetValues` command moves: the explore panel's sliders."""

    def apply_values(self, values: Mapping[str, float]) -> None: ...


class SetValues(QUndoCommand):
    """Set ``target``'s sliders to ``after`` (redo) or back to ``before`` (undo).

    ``text`` is what the Edit menu shows ("Undo Randomise (seed 3)").
    """

    def __init__(
        self,
        target: ValuesTarget,
        before: Mapping[str, float],
        after: Mapping[str, float],
        text: str,
    ) -> None:
        super().__init__(text)
        self._target = target
        self._before = dict(before)
        self._after = dict(after)

    def redo(self) -> None:
        self._target.apply_values(self._after)

    def undo(self) -> None:
        self._target.apply_values(self._before)


def undo_actions(widget: QWidget, stack: QUndoStack) -> tuple[QAction, QAction]:
    """Undo (the platform's undo key) and redo (Ctrl+Shift+Z and the platform's redo key)
    actions for ``stack``, added to ``widget`` with window-wide shortcuts."""
    undo = stack.createUndoAction(widget, "Undo")
    undo.setShortcut(QKeySequence.StandardKey.Undo)
    redo = stack.createRedoAction(widget, "Redo")
    redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence.StandardKey.Redo])
    for action in (undo, redo):
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        widget.addAction(action)
    return undo, redo
