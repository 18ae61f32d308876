"""The explore panel: play with a model through sliders, a morph pad and a keyboard.

Sliders come from the model's ``controls()``. Every change asks for a new sound on a background
thread (:class:`~app.workers.LatestOnlyWorker`: the newest request wins, stale ones are dropped)
and the result is emitted as ``soundGenerated(samples, sample_rate)`` for the sound view, and
played when auto-play is on. Slider gestures, resets, random draws, pad moves and loaded presets
are undoable (Ctrl+Z / Ctrl+Shift+Z). Models that can continue a recording
(``model.takes_primer``) get a "Primer…" button; the folder it was last chosen from is remembered.

The panel wires its parts together; each part is its own module: the model list
(:mod:`app.widgets.model_picker`), the seed row (:mod:`~app.panels.explore_seed`), the preset row
(:mod:`~app.panels.explore_presets`), the primer row (:mod:`~app.panels.explore_primer`), the
morph pad and its corners (:mod:`~app.panels.explore_morph`), the keyboard
(:mod:`~app.panels.explore_pitch`) and the undo commands (:mod:`~app.panels.explore_undo`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QUndoStack
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.panels.explore_draw import DrawBar, drawn_as
from app.panels.explore_morph import MorphBox
from app.panels.explore_pitch import DEFAULT_PITCH, PITCH_CONTROL, PitchBox, is_pitch_conditioned
from app.panels.explore_presets import PresetBar
from app.panels.explore_primer import PrimerBar
from app.panels.explore_seed import SeedBar
from app.panels.explore_sliders import SliderList
from app.panels.explore_sound import render_setting, values_for_file
from app.panels.explore_undo import SetValues, undo_actions
from app.settings import AppSettings
from app.widgets.model_picker import ModelPicker
from app.widgets.xy_pad import CORNER_NAMES
from app.workers import LatestOnlyWorker
from synth_core.control_values import (
    Preset,
    fill_values,
    load_preset,
    random_values,
    save_preset,
)
from synth_core.errors import TimbreLabError
from synth_core.latent import NOVELTY
from synth_core.models.base import SoundModel, resolve_values

log = logging.getLogger(__name__)

Player = Callable[[np.ndarray, int], None]


class ExplorePanel(QWidget):
    """Sliders, morph pad, keyboard, presets and generation for one loaded model.

    Parameters
    ----------
    player : callable(samples, sample_rate), optional
        Plays a sound (the transport); called for each new sound when auto-play is on.
    settings : AppSettings, optional
        Where the folder of the last primer file is remembered.

    Signals
    -------
    soundGenerated(samples: np.ndarray, sample_rate: int)
        A new sound for the current settings (float32 mono).
    generationFailed(message: str)
    modelRequested(model_id: str)
        The user chose another model in the model list.
    learnRequested(target: str)
        MIDI learn asked for on a slider (``control:<name>``) or a pad axis (``pad:x``).
    """

    soundGenerated = Signal(object, int)
    generationFailed = Signal(str)
    modelRequested = Signal(str)
    learnRequested = Signal(str)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        player: Player | None = None,
        settings: AppSettings | None = None,
    ) -> None:
        super().__init__(parent)
        self._player = player
        self._settings = settings
        self.primer_path: Path | None = None
        self.model: SoundModel | None = None
        self.model_id = ""
        self._values: dict[str, float] = {}
        self._drag_start: dict[str, float] | None = None
        self._last_sound: tuple[np.ndarray, int] | None = None
        self.last_latency_ms: float | None = None
        self._closed = False
        self.undo_stack = QUndoStack(self)
        self._worker = LatestOnlyWorker("explore-generate", self)
        self._worker.finished.connect(self._generated)
        self._worker.failed.connect(self._failed)
        self.setAcceptDrops(True)
        self._build()
        self._set_enabled(False)

    # building ---------------------------------------------------------------------------------

    def _build(self) -> None:
        self.model_box = ModelPicker()
        self.model_box.modelRequested.connect(self.modelRequested)
        self.title = "No model loaded"

        self.sliders = SliderList()
        self._rows = self.sliders.rows

        self.draw_bar = DrawBar()
        self.draw_bar.setVisible(False)
        self.seed_bar = SeedBar()
        self.reset_button = self.seed_bar.reset_button
        self.randomise_button = self.seed_bar.randomise_button
        self.seed_box = self.seed_bar.seed_box
        self.autoplay = self.seed_bar.autoplay
        self.undo_action, self.redo_action = undo_actions(self, self.undo_stack)
        self.preset_bar = PresetBar(self._sound_for_drag)
        self.primer_box = PrimerBar(self._settings)
        self.primer_label = self.primer_box.primer_label
        self.primer_button = self.primer_box.primer_button
        self.clear_primer_button = self.primer_box.clear_primer_button
        self.primer_box.setVisible(False)
        self.morph_box = MorphBox()
        self.pad = self.morph_box.pad
        self.pitch_box = PitchBox()
        self.keyboard = self.pitch_box.keyboard
        self.status = QLabel("Load a model to play with it.")
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        model_row = QHBoxLayout()
        model_row.addWidget(QLabel("Model"))
        model_row.addWidget(self.model_box, 1)

        layout = QVBoxLayout(self)
        layout.addLayout(model_row)
        layout.addWidget(self.sliders, 2)
        layout.addWidget(self.draw_bar)
        layout.addWidget(self.seed_bar)
        layout.addWidget(self.preset_bar)
        layout.addWidget(self.primer_box)
        layout.addWidget(self.morph_box, 3)
        layout.addWidget(self.pitch_box)
        layout.addWidget(self.status)

        self.sliders.valueChanged.connect(self._row_changed)
        self.sliders.valueCommitted.connect(self._row_committed)
        self.sliders.learnRequested.connect(self.learnRequested)
        self.draw_bar.noveltyChosen.connect(self._novelty_chosen)
        self.reset_button.clicked.connect(self.reset_all)
        self.randomise_button.clicked.connect(self.randomise)
        self.seed_box.valueChanged.connect(lambda _seed: self.request_sound())
        self.preset_bar.saveRequested.connect(self._save_preset_chosen)
        self.preset_bar.loadRequested.connect(self._load_preset_chosen)
        self.primer_box.fileChosen.connect(self._primer_chosen)
        self.primer_box.cleared.connect(lambda: self.set_primer_file(None))
        self.pad.moved.connect(self._pad_moved)
        self.pad.released.connect(self._pad_released)
        self.pad.cornerAction.connect(self._corner_action)
        self.pad.fileDropped.connect(self._corner_file)
        self.pad.learnRequested.connect(self.learnRequested)
        self.keyboard.noteChosen.connect(self._note_chosen)

    def _set_enabled(self, enabled: bool) -> None:
        for widget in (
            self.reset_button,
            self.randomise_button,
            self.seed_box,
            self.preset_bar,
            self.pad,
            self.keyboard,
        ):
            widget.setEnabled(enabled)

    def set_model_list(self, entries: list[tuple[str, str, str]]) -> None:
        """Fill the model list with ``(model_id, title, tooltip)`` entries."""
        self.model_box.set_entries(entries)

    def _sound_for_drag(self) -> tuple[np.ndarray, int, str] | None:
        if self._last_sound is None:
            return None
        samples, rate = self._last_sound
        name = f"{Path(self.model_id).name or self.model_id}_seed{self.seed}".replace(":", "-")
        return samples, rate, name

    # model ------------------------------------------------------------------------------------

    def set_model(self, model: SoundModel, model_id: str, *, title: str | None = None) -> None:
        """Show ``model``'s controls and render its default sound.

        ``model_id`` is what presets and export sidecars record (a run directory, a starter
        model name or ``physical:INSTRUMENT``).
        """
        self.model = model
        self.model_id = model_id
        self.title = title or f"{model_id} ({model.family})"
        self.model_box.show_model(model_id, self.title)
        self.undo_stack.clear()
        controls = model.controls()
        self.sliders.build(controls)
        self._values = resolve_values(controls, None)
        self.morph_box.reset(controls, self._values)
        self.draw_bar.show_novelty(self._values.get(NOVELTY.name))
        pitched = is_pitch_conditioned(model)
        self.pitch_box.setVisible(pitched)
        note = self._values.get(PITCH_CONTROL, DEFAULT_PITCH)
        self.keyboard.set_note(round(note) if pitched else None)
        self.pitch_box.show_note()
        self.primer_path = None
        self.primer_box.setVisible(model.takes_primer)
        self.primer_box.show_primer(self.primer_path)
        self._set_enabled(True)
        self.request_sound()

    def set_primer_file(self, path: str | Path | None) -> None:
        """Let the model continue the recording in ``path`` (None: no primer) and render.

        The primer sets the range of the model's controls (the rnn's "Primer length" runs up to
        the recording's length), so the sliders are rebuilt; a control whose description did
        not change keeps its value, the others take their new default (all of the primer).

        Raises
        ------
        TimbreLabError
            When no model is loaded, the model cannot take a primer, or the file cannot be used
            (the message names it); the model's primer is then unchanged.
        """
        model = self.model
        if model is None or not model.takes_primer:
            raise TimbreLabError("this model cannot continue a recording; only rnn models can")
        before = {c.name: c for c in model.controls()}
        model.set_primer(None if path is None else Path(path))
        self.primer_path = None if path is None else Path(path)
        controls = model.controls()
        unchanged = {c.name for c in controls if before.get(c.name) == c}

        def carried(values: Mapping[str, float]) -> dict[str, float]:
            return fill_values(controls, {k: v for k, v in values.items() if k in unchanged})

        self.sliders.build(controls)
        self._values = carried(self._values)
        self.sliders.show_values(self._values)
        self.morph_box.carry(carried)
        self.primer_box.show_primer(self.primer_path)
        self.request_sound()

    @property
    def values(self) -> dict[str, float]:
        """Current slider values, in each control's unit."""
        return dict(self._values)

    @property
    def seed(self) -> int:
        return self.seed_bar.seed

    @property
    def pitch(self) -> float | None:
        """The pitch passed to ``generate`` (MIDI); None when the pitch is a slider or unused."""
        note = self.keyboard.note
        if note is None or self.pitch_box.isHidden() or PITCH_CONTROL in self._rows:
            return None
        return float(note)

    @property
    def last_sound(self) -> tuple[np.ndarray, int] | None:
        """The latest generated sound and its rate, or None before the first."""
        return self._last_sound

    def corner_values(self, corner: int) -> dict[str, float]:
        return self.morph_box.corner_values(corner)

    def apply_values(self, values: Mapping[str, float]) -> None:
        """Set the sliders to ``values`` (not recorded for undo) and render."""
        if self.model is None:
            return
        self._values = fill_values(self.model.controls(), values)
        self.sliders.show_values(self._values)
        self.draw_bar.show_novelty(self._values.get(NOVELTY.name))
        self._follow_pitch_slider()
        self.request_sound()

    def _follow_pitch_slider(self) -> None:
        if PITCH_CONTROL in self._values and not self.pitch_box.isHidden():
            self.keyboard.set_note(round(self._values[PITCH_CONTROL]))
            self.pitch_box.show_note()

    def _change(self, after: Mapping[str, float], text: str) -> None:
        """An undoable change from the current values to ``after``."""
        if dict(after) != self._values:
            self.undo_stack.push(SetValues(self, self._values, after, text))

    # actions ----------------------------------------------------------------------------------

    def reset_all(self) -> None:
        if self.model is not None:
            self._change(resolve_values(self.model.controls(), None), "Reset all")

    def randomise(self) -> None:
        """Draw a random setting from the seed shown, then move the seed on for the next draw."""
        if self.model is None:
            return
        seed = self.seed
        self._change(random_values(self.model.controls(), seed=seed), f"Randomise (seed {seed})")
        self.seed_bar.set_seed_quietly(self.seed_bar.next_seed(seed))

    def set_corner(self, corner: int, values: Mapping[str, float], label: str) -> None:
        """Let ``corner`` of the pad hold ``values``."""
        if self.model is None:
            return
        self.morph_box.set_corner(corner, fill_values(self.model.controls(), values), label)

    def morph_to(self, x: float, y: float) -> None:
        """Move the pad's puck to ``x``, ``y`` and render the morph there (not undoable alone)."""
        if self.model is None:
            return
        self.pad.set_position(x, y)
        self._pad_moved(x, y)

    def save_preset(self, path: str | Path) -> Path:
        if self.model is None:
            raise TimbreLabError("load a model before saving a preset")
        preset = Preset(
            model=self.model_id,
            family=self.model.family,
            values=self.values,
            seed=self.seed,
            pitch=self.pitch,
            name=Path(path).stem,
        )
        return save_preset(preset, path)

    def load_preset(self, path: str | Path) -> Preset:
        if self.model is None:
            raise TimbreLabError("load a model before loading a preset")
        preset = load_preset(
            path, model=self.model_id, family=self.model.family, controls=self.model.controls()
        )
        self.seed_bar.set_seed_quietly(preset.seed)
        if preset.pitch is not None and not self.pitch_box.isHidden():
            self.keyboard.set_note(round(preset.pitch))
            self.pitch_box.show_note()
        if preset.values != self._values:
            self._change(preset.values, f"Load preset {preset.name}")
        else:
            self.request_sound()
        return preset

    def encode_file(self, path: str | Path) -> dict[str, float]:
        """Set the sliders to the sound in ``path`` (families with an encoder)."""
        values = self._values_for_file(path)
        self._change(values, f"Encode {Path(path).name}")
        return values

    def _values_for_file(self, path: str | Path) -> dict[str, float]:
        if self.model is None:
            raise TimbreLabError("load a model before dropping a sound on it")
        return values_for_file(self.model, path)

    # generation -------------------------------------------------------------------------------

    def request_sound(self) -> None:
        """Render the current settings off the GUI thread (the newest request wins)."""
        if self.model is None or self._closed:
            return
        self._worker.submit(
            render_setting,
            self.model,
            dict(self._values),
            self.seed,
            self.pitch,
            time.perf_counter(),
        )

    def _generated(self, result: tuple[np.ndarray, int, float]) -> None:
        samples, rate, started = result
        self.last_latency_ms = (time.perf_counter() - started) * 1000.0
        self._last_sound = (samples, rate)
        drawn = drawn_as(self._values.get(NOVELTY.name))
        self.status.setText(
            (f"{drawn[0].upper()}{drawn[1:]} · " if drawn else "")
            + f"{len(samples) / rate:.2f} s at {rate} Hz · ready in {self.last_latency_ms:.0f} ms"
        )
        self.soundGenerated.emit(samples, rate)
        if self.autoplay.isChecked() and self._player is not None:
            self._player(samples, rate)

    def _failed(self, error: Exception) -> None:
        message = str(error) if isinstance(error, TimbreLabError) else f"generation failed: {error}"
        log.warning("%s", message)
        self.status.setText(message)
        self.generationFailed.emit(message)

    def shutdown(self) -> None:
        """Stop the generation thread (the window calls this when it closes)."""
        self._closed = True
        self._worker.shutdown()

    # signal handlers --------------------------------------------------------------------------

    def _row_changed(self, name: str, value: float) -> None:
        self._values[name] = value
        if name == NOVELTY.name:
            self.draw_bar.show_novelty(value)
        if name == PITCH_CONTROL:
            self._follow_pitch_slider()
        self.request_sound()

    def _novelty_chosen(self, value: float) -> None:
        text = "New sounds" if value > 0 else "Variations of a training sound"
        self._change(dict(self._values, **{NOVELTY.name: value}), text)

    def _row_committed(self, name: str, before: float, after: float) -> None:
        previous = dict(self._values, **{name: before})
        command = SetValues(self, previous, dict(self._values, **{name: after}), f"Set {name}")
        self.undo_stack.push(command)

    def _pad_moved(self, x: float, y: float) -> None:
        if self.model is None:
            return
        if self._drag_start is None:
            self._drag_start = dict(self._values)
        self._values = self.morph_box.values_at(self.model.controls(), x, y)
        self.sliders.show_values(self._values)
        self._follow_pitch_slider()
        self.request_sound()

    def _pad_released(self, x: float, y: float) -> None:
        if self._drag_start is None:
            return
        before, self._drag_start = self._drag_start, None
        if before != self._values:
            after = dict(self._values)
            self._values = before
            self._change(after, "Morph")

    def _corner_action(self, corner: int, action: str) -> None:
        if self.model is None:
            return
        if action == "current":
            self.set_corner(corner, self._values, "current")
        else:
            seed = self.seed
            self.set_corner(corner, random_values(self.model.controls(), seed=seed), f"seed {seed}")
            self.seed_box.setValue(self.seed_bar.next_seed(seed))

    def _corner_file(self, corner: int, path: str) -> None:
        try:
            values = self._values_for_file(path)
        except TimbreLabError as error:
            QMessageBox.warning(self, "Cannot use this sound", str(error))
            return
        self.set_corner(corner, values, Path(path).name)
        self.status.setText(f"Corner {CORNER_NAMES[corner]} holds {Path(path).name}")

    def _note_chosen(self, midi: int) -> None:
        self.pitch_box.show_note()
        if PITCH_CONTROL in self._rows:
            self._change(dict(self._values, **{PITCH_CONTROL: float(midi)}), "Pitch")
        else:
            self.request_sound()

    def _save_preset_chosen(self, path: str) -> None:
        try:
            self.save_preset(path)
        except TimbreLabError as error:
            QMessageBox.warning(self, "Cannot save the preset", str(error))

    def _load_preset_chosen(self, path: str) -> None:
        try:
            self.load_preset(path)
        except TimbreLabError as error:
            QMessageBox.warning(self, "Cannot load the preset", str(error))

    def _primer_chosen(self, path: str) -> None:
        try:
            self.set_primer_file(path)
        except TimbreLabError as error:
            QMessageBox.warning(self, "Cannot use this recording", str(error))
            return
        self.primer_box.remember(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if event.mimeData().hasUrls() and self.model is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if not urls:
            return
        event.acceptProposedAction()
        try:
            self.encode_file(urls[0].toLocalFile())
        except TimbreLabError as error:
            QMessageBox.warning(self, "Cannot use this sound", str(error))
