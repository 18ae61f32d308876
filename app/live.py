"""Playing the explore panel's model live: a MIDI keyboard, MIDI learn and OSC.

:class:`LiveControl` sits between the outside world and the explore panel. Notes go to a
:class:`~synth_core.notes.NotePlayer` that sounds through the player's voice mixer; controller
moves and OSC requests arrive on the GUI thread (queued signals) and change the panel the way
its own widgets do. Learnt MIDI mappings and the OSC switch and port live in
:class:`~app.settings.AppSettings`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from app import model_library
from app.midi import MidiInput
from app.osc import PREFIX, OscCommand, OscServer
from app.panels.explore import ExplorePanel
from app.player import Player
from app.settings import AppSettings
from synth_core.errors import DeviceError
from synth_core.models.base import Control
from synth_core.notes import TRANSPOSED, NotePlayer

log = logging.getLogger(__name__)

PAD_AXES = {"pad:x": "Morph pad X", "pad:y": "Morph pad Y"}
MODE_TEXT = {
    "pitched": ("keys: notes", "The keyboard plays this model at each key's pitch"),
    TRANSPOSED: (
        "keys: transposed",
        "This model has no pitch of its own: keys play its current sound transposed "
        "(resampled from C4, higher keys are shorter)",
    ),
}


class LiveControl(QObject):
    """MIDI in, MIDI learn and the OSC server for ``explore``.

    Parameters
    ----------
    explore : ExplorePanel
        The panel whose model, sliders and pad are played.
    player : Player
        Its :attr:`~app.player.Player.voices` sound the notes.
    settings : AppSettings
        MIDI port, learnt mappings, OSC switch and port.
    open_model : callable(model_id)
        Opens a model (the studio's loader), for ``/timbrelab/model``.

    Signals
    -------
    statusChanged(text)
        Something to show in the status bar.
    """

    statusChanged = Signal(str)

    def __init__(
        self,
        explore: ExplorePanel,
        player: Player,
        settings: AppSettings,
        *,
        open_model: Callable[[str], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.explore = explore
        self.player = player
        self.settings = settings
        self.open_model = open_model
        self.mappings = settings.midi_mappings
        self.learning: str | None = None
        self.notes = NotePlayer(player.voices, on_error=self._note_error)
        self._sample_rate = 0
        self.midi = MidiInput(self, self)
        self.midi.controlChanged.connect(self._control_changed)
        self.midi.statusChanged.connect(self.statusChanged)
        self.osc = OscServer(self)
        self.osc.commandReceived.connect(self.run_osc, Qt.ConnectionType.QueuedConnection)
        self.osc.messageRejected.connect(
            lambda reason: self.statusChanged.emit(f"Ignored {reason}"),
            Qt.ConnectionType.QueuedConnection,
        )
        explore.soundGenerated.connect(lambda *_: self.sync_sound())
        explore.learnRequested.connect(self.learn)

        self.osc_action = QAction("Listen for &OSC", self)
        self.osc_action.setCheckable(True)
        self.osc_action.setStatusTip(
            f"Let other programs drive Timbre Lab with OSC on 127.0.0.1:{settings.osc_port}"
        )
        self.osc_action.toggled.connect(self.set_osc_enabled)
        self.mappings_action = QAction("MIDI &Mappings…", self)
        self.mappings_action.setStatusTip("Which MIDI knob drives which slider; forget them here")
        self.mappings_action.triggered.connect(lambda: self.show_mappings())
        if settings.osc_enabled:
            self.osc_action.setChecked(True)

    # --- notes (called on the MIDI thread too) ------------------------------------------------
    def note_on(self, note: int, velocity: int = 100) -> bool:
        """Play ``note`` of the current sound; True when it came from the cache."""
        if self._sample_rate:
            self.player.start_voices(self._sample_rate)
        return self.notes.note_on(note, velocity)

    def note_off(self, note: int) -> None:
        self.notes.note_off(note)

    def sustain(self, down: bool) -> None:
        self.notes.sustain(down)

    def sync_sound(self) -> None:
        """Notes follow the panel's current model, sliders and seed (a change empties the note
        cache, which refills in the background)."""
        model = self.explore.model
        if model is None:
            return
        self._sample_rate = model.sample_rate
        self.notes.set_sound(model, self.explore.values, self.explore.seed)

    @property
    def mode_text(self) -> tuple[str, str]:
        """(short label, tooltip) saying how the keys play the current model."""
        mode = self.notes.mode
        if mode is None:
            return "keys: no model", "Open a model to play it from a MIDI keyboard"
        return MODE_TEXT[mode]

    def _note_error(self, message: str) -> None:
        self.statusChanged.emit(message)  # from the note worker: queued to the GUI thread

    # --- MIDI learn ------------------------------------------------------------------------
    def target_label(self, target: str) -> str:
        """What ``target`` (``control:NAME``, ``pad:x``) is called in the window."""
        if target in PAD_AXES:
            return PAD_AXES[target]
        control = self._control(target.removeprefix("control:"))
        return control.label if control is not None else target.removeprefix("control:")

    @Slot(str)
    def learn(self, target: str) -> None:
        """The next controller moved on the MIDI keyboard drives ``target``."""
        self.learning = target
        port = self.midi.port_name
        where = f" on {port}" if port else " (choose a MIDI input in the toolbar first)"
        self.statusChanged.emit(
            f"MIDI learn: move a knob{where} to drive {self.target_label(target)}"
        )

    def forget(self, cc: int | None = None) -> None:
        """Forget the mapping of controller ``cc`` (None: all of them)."""
        if cc is None:
            self.mappings.clear()
        else:
            self.mappings.pop(cc, None)
        self.settings.midi_mappings = self.mappings

    @Slot(int, int)
    def _control_changed(self, cc: int, value: int) -> None:
        if self.learning is not None:
            target, self.learning = self.learning, None
            self.mappings = {c: t for c, t in self.mappings.items() if t != target}
            self.mappings[cc] = target
            self.settings.midi_mappings = self.mappings
            self.statusChanged.emit(f"MIDI CC {cc} drives {self.target_label(target)}")
        target = self.mappings.get(cc)
        if target is not None:
            self.drive(target, value / 127.0)

    def drive(self, target: str, fraction: float) -> None:
        """Move ``target`` to ``fraction`` (0–1) of its travel."""
        explore = self.explore
        if explore.model is None:
            return
        fraction = min(max(fraction, 0.0), 1.0)
        if target in PAD_AXES:
            x, y = explore.pad.position
            explore.morph_to(fraction, y) if target == "pad:x" else explore.morph_to(x, fraction)
            return
        control = self._control(target.removeprefix("control:"))
        if control is None:
            log.info("MIDI mapping to %s: the current model has no such control", target)
            return
        explore.apply_values(
            dict(explore.values, **{control.name: control.from_normalised(fraction)})
        )

    def _control(self, name: str) -> Control | None:
        model = self.explore.model
        controls = model.controls() if model is not None else []
        return next((c for c in controls if c.name == name), None)

    def show_mappings(self, parent: QWidget | None = None) -> QWidget:
        """The table of learnt mappings, with buttons to forget them."""
        from app.dialogs.midi_mappings import MidiMappingsDialog

        dialog = MidiMappingsDialog(self, parent or self.explore.window())
        dialog.open()
        return dialog

    # --- OSC -------------------------------------------------------------------------------
    @Slot(bool)
    def set_osc_enabled(self, enabled: bool) -> None:
        """Start or stop the OSC server on the port in the settings; remembered."""
        self.settings.osc_enabled = enabled
        if not enabled:
            self.osc.stop()
            self.statusChanged.emit("OSC off")
            return
        try:
            port = self.osc.start(self.settings.osc_port)
        except DeviceError as error:
            self.statusChanged.emit(f"No OSC: {error}")
            self.osc_action.blockSignals(True)
            self.osc_action.setChecked(False)
            self.osc_action.blockSignals(False)
            return
        self.statusChanged.emit(f"OSC listening on 127.0.0.1:{port} ({PREFIX}/…)")

    @Slot(object)
    def run_osc(self, command: OscCommand) -> None:
        """Carry out a checked OSC request (on the GUI thread); what cannot be done is logged."""
        try:
            getattr(self, f"_osc_{command.kind}")(*command.args, sender=command.sender)
        except ValueError as reason:
            log.warning("ignored OSC %s%s: %s", PREFIX, f"/{command.kind}", reason)
            self.statusChanged.emit(f"Ignored OSC /{command.kind}: {reason}")

    def _osc_control(self, name: str, value: float, *, sender: tuple[str, int]) -> None:
        control = self._control(name)
        if control is None:
            names = ", ".join(c.name for c in self._controls()) or "none: no model is open"
            raise ValueError(f"no control named {name!r} (controls: {names})")
        if not control.minimum <= value <= control.maximum:
            raise ValueError(
                f"{value:g} is outside {name}'s range {control.minimum:g}–{control.maximum:g}"
            )
        self.explore.apply_values(dict(self.explore.values, **{name: value}))

    def _osc_xy(self, x: float, y: float, *, sender: tuple[str, int]) -> None:
        if self.explore.model is None:
            raise ValueError("no model is open")
        self.explore.morph_to(x, y)

    def _osc_play(self, pitch: int, velocity: int, *, sender: tuple[str, int]) -> None:
        self.sync_sound()
        if self.explore.model is None:
            raise ValueError("no model is open")
        self.note_on(pitch, velocity)

    def _osc_randomize(self, seed: int | None, *, sender: tuple[str, int]) -> None:
        if self.explore.model is None:
            raise ValueError("no model is open")
        if seed is not None:
            self.explore.seed_box.setValue(seed)
        self.explore.randomise()

    def _osc_model(self, name: str, *, sender: tuple[str, int]) -> None:
        entries = model_library.all_models(self.settings.qsettings)
        for entry in entries:
            if name in (entry.id, entry.title):
                self.open_model(entry.id)
                return
        known = ", ".join(e.id for e in entries)
        raise ValueError(f"no model called {name!r} (models: {known})")

    def _osc_controls(self, *, sender: tuple[str, int]) -> None:
        args: list[object] = []
        for control in self._controls():
            args += [control.name, float(control.minimum), float(control.maximum)]
        self.osc.reply(sender, f"{PREFIX}/controls", args)

    def _controls(self) -> list[Control]:
        model = self.explore.model
        return model.controls() if model is not None else []

    # --- closing ---------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Close the MIDI port, stop the OSC server and the note worker (window closing)."""
        self.midi.close()
        self.osc.stop()
        self.notes.close()
