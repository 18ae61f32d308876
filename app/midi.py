"""A MIDI keyboard in: ports through mido's rtmidi backend, notes to the voices, knobs to sliders.

:class:`MidiHandler` turns mido messages into actions: note-on/off to a note sink (a
:class:`~synth_core.notes.NotePlayer`, thread-safe, so notes skip the GUI thread and its event
queue), the sustain pedal (CC 64) to the sink's ``sustain``, any other controller to a callback.
:class:`MidiInput` owns the open port: rtmidi calls back on its own thread, controllers reach the
GUI thread as a queued ``controlChanged`` signal, and a timer notices a port that disappeared.
A machine without the backend or the ALSA sequencer gets a reason to show, never an exception.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget
from superqt import QElidingLabel

from synth_core.errors import DeviceError
from synth_core.voices import SUSTAIN_CC

log = logging.getLogger(__name__)

PORT_CHECK_MS = 2000
BACKEND = "mido.backends.rtmidi"
ALSA_SEQUENCER = "/dev/snd/seq"


class NoteSink(Protocol):
    """What plays notes (:class:`synth_core.notes.NotePlayer`); called from the MIDI thread."""

    def note_on(self, note: int, velocity: int = 100) -> bool: ...

    def note_off(self, note: int) -> None: ...

    def sustain(self, down: bool) -> None: ...


def _mido() -> Any:
    try:
        import mido

        mido.set_backend(BACKEND, load=True)
    except ImportError as error:
        raise DeviceError(
            f"MIDI needs mido and python-rtmidi ({error}); pip install mido python-rtmidi"
        ) from error
    return mido


def input_port_names() -> list[str]:
    """The MIDI inputs the system offers now.

    Raises
    ------
    DeviceError
        No backend (mido or python-rtmidi missing) or no MIDI system (on Linux, the ALSA
        sequencer ``/dev/snd/seq`` is missing, as in most containers).
    """
    mido = _mido()
    try:
        return list(dict.fromkeys(mido.get_input_names()))
    except Exception as error:  # rtmidi raises its own SystemError subclasses
        if sys.platform.startswith("linux") and not os.path.exists(ALSA_SEQUENCER):
            raise DeviceError(
                f"the ALSA sequencer {ALSA_SEQUENCER} is missing (load the snd-seq kernel "
                "module; containers rarely have it)"
            ) from error
        raise DeviceError(f"no MIDI system on this machine ({_first_line(error)})") from error


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


class MidiHandler:
    """Dispatches one mido message: notes to ``notes``, CC 64 to sustain, other CCs to
    ``on_control(cc, value)``. Safe to call from rtmidi's thread; never raises."""

    def __init__(self, notes: NoteSink, on_control: Callable[[int, int], None]) -> None:
        self.notes = notes
        self.on_control = on_control

    def __call__(self, message: Any) -> None:
        try:
            kind = message.type
            if kind == "note_on":
                self.notes.note_on(message.note, message.velocity)
            elif kind == "note_off":
                self.notes.note_off(message.note)
            elif kind == "control_change" and message.control == SUSTAIN_CC:
                self.notes.sustain(message.value >= 64)
            elif kind == "control_change":
                self.on_control(message.control, message.value)
        except Exception:  # a bad message or a failing sink must not end rtmidi's thread
            log.warning("MIDI message %r not handled", message, exc_info=True)


class MidiInput(QObject):
    """The MIDI input port the app listens to.

    Parameters
    ----------
    notes : NoteSink
        Plays note-on/off and the sustain pedal (called on rtmidi's thread).

    Signals
    -------
    controlChanged(cc: int, value: int)
        A controller other than the sustain pedal moved (queued to the GUI thread).
    statusChanged(text: str)
        What the transport should show ("MIDI: Keystation 49", "MIDI port … disappeared").
    """

    controlChanged = Signal(int, int)
    statusChanged = Signal(str)

    def __init__(self, notes: NoteSink, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.handler = MidiHandler(notes, self.controlChanged.emit)
        self.port_name: str | None = None
        self.status = "MIDI off"
        self._port: Any = None
        self._timer = QTimer(self)
        self._timer.setInterval(PORT_CHECK_MS)
        self._timer.timeout.connect(self._check_port)

    def ports(self) -> tuple[list[str], str]:
        """(input port names, "" ) or ([], why there are none)."""
        try:
            names = input_port_names()
        except DeviceError as error:
            return [], str(error)
        return names, "" if names else "no MIDI input ports found"

    def open(self, name: str | None) -> bool:
        """Listen to the port ``name`` (None: stop listening). False, with the reason in
        :attr:`status`, when it cannot be opened; the app carries on without MIDI."""
        self.close()
        if name is None:
            return True
        try:
            mido = _mido()
            self._port = mido.open_input(name, callback=self.handler)
        except DeviceError as error:
            self._set_status(f"No MIDI: {error}")
            return False
        except Exception as error:  # rtmidi: the port vanished, the sequencer is gone…
            self._set_status(f"Cannot open MIDI port {name!r}: {_first_line(error)}")
            return False
        self.port_name = name
        self._timer.start()
        self._set_status(f"MIDI: {name}")
        return True

    def close(self) -> None:
        """Stop listening (no-op when no port is open)."""
        self._timer.stop()
        port, self._port = self._port, None
        self.port_name = None
        if port is not None:
            try:
                port.close()
            except Exception as error:
                log.info("closing the MIDI port: %s", error)
            self._set_status("MIDI off")

    @Slot()
    def _check_port(self) -> None:
        name = self.port_name
        if name is None:
            return
        names, reason = self.ports()
        if name in names:
            return
        self.close()
        why = f" ({reason})" if reason and reason != "no MIDI input ports found" else ""
        self._set_status(f"MIDI port {name!r} disappeared{why}; playing on without it")

    def _set_status(self, text: str) -> None:
        self.status = text
        log.info("%s", text)
        self.statusChanged.emit(text)


class _PortCombo(QComboBox):
    aboutToShow = Signal()

    def showPopup(self) -> None:  # noqa: N802 (Qt override)
        self.aboutToShow.emit()  # ports come and go: list them when the user looks
        super().showPopup()


class MidiPortBox(QWidget):
    """The transport's MIDI corner: an input port list, how keys play, and what went wrong.

    Parameters
    ----------
    midi : MidiInput
        The input the chosen port opens on.
    remember : callable(str or None)
        Called with the chosen port (None: MIDI off), to save it in the settings.
    """

    OFF = "MIDI off"

    def __init__(
        self, midi: MidiInput, remember: Callable[[str | None], None], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.midi = midi
        self._remember = remember
        self.combo = _PortCombo(self)
        self.combo.setToolTip(
            "MIDI input: a keyboard plays the current model, its knobs drive "
            "sliders after MIDI learn (right-click a slider)"
        )
        self.combo.setMinimumContentsLength(10)
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.mode_label = QLabel(self)
        self.mode_label.setObjectName("midiMode")
        self.status_label = QElidingLabel(self)
        self.status_label.setObjectName("midiStatus")
        self.status_label.setMinimumWidth(120)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.combo)
        layout.addWidget(self.mode_label)
        layout.addWidget(self.status_label, 1)
        self.combo.aboutToShow.connect(self.refresh)
        self.combo.activated.connect(self._chosen)
        midi.statusChanged.connect(self._show_status)
        self.refresh()

    def refresh(self) -> None:
        """List the ports again (the open one stays chosen); say why when there are none."""
        names, reason = self.midi.ports()
        current = self.midi.port_name
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItem(self.OFF, None)
        for name in names:
            self.combo.addItem(name, name)
        if current is not None and current not in names:
            self.combo.addItem(f"{current} (gone)", current)
        self.combo.setCurrentIndex(max(0, self.combo.findData(current)) if current else 0)
        self.combo.blockSignals(False)
        if current is None and reason:
            self._show_status(f"No MIDI: {reason}")

    def choose(self, name: str | None) -> bool:
        """Open ``name`` (None: MIDI off) as if chosen in the list; False when it failed."""
        opened = self.midi.open(name)
        self._remember(name if opened else None)
        self.refresh()
        if not opened:
            self._show_status(self.midi.status)
        return opened

    def set_mode(self, text: str, tooltip: str) -> None:
        """How the keys play the current model ("keys: transposed")."""
        self.mode_label.setText(text)
        self.mode_label.setToolTip(tooltip)

    @Slot(int)
    def _chosen(self, index: int) -> None:
        self.choose(self.combo.itemData(index))

    @Slot(str)
    def _show_status(self, text: str) -> None:
        self.status_label.setText(text)
        self.status_label.setToolTip(text)
