"""Drive Timbre Lab from code: an OSC server on 127.0.0.1 (python-osc's packet codec over UDP).

Addresses (all under ``/timbrelab``):

``/control/<name> <value>``  set a slider, in the control's unit
``/xy <x> <y>``              move the morph pad's puck, 0–1 each
``/play [pitch] [velocity]`` play a note (MIDI 0–127, default 60 and 100)
``/randomize [seed]``        a random setting (from ``seed`` when given)
``/model <name>``            open a model by id or by the title the model list shows
``/controls``                answered, to the sender, by ``/timbrelab/controls`` with
                             ``name, minimum, maximum`` for each slider

:func:`parse_message` checks an address and its arguments; :class:`OscServer` decodes packets on
its own thread and hands each valid command to the GUI thread through a queued signal, so no
widget is touched off the GUI thread. What it cannot use is logged with the reason and dropped.
"""

from __future__ import annotations

import logging
import math
import socketserver
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket, ParseError

from synth_core.errors import DeviceError

log = logging.getLogger(__name__)

PREFIX = "/timbrelab"
HOST = "127.0.0.1"


class OscRejected(ValueError):
    """A message the server cannot use; the text says why."""


@dataclass(frozen=True)
class OscCommand:
    """A checked OSC request: ``kind`` (control, xy, play, randomize, model, controls), its
    arguments and the sender's (host, port) for a reply."""

    kind: str
    args: tuple
    sender: tuple[str, int]


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise OscRejected(f"{what} must be a finite number, not {value!r}")
    return float(value)


def _whole(value: Any, what: str, low: int, high: int) -> int:
    number = _number(value, what)
    if number != int(number) or not low <= number <= high:
        raise OscRejected(f"{what} must be a whole number {low}–{high}, not {value!r}")
    return int(number)


def _count(args: Sequence[Any], address: str, low: int, high: int) -> None:
    if not low <= len(args) <= high:
        wanted = str(low) if low == high else f"{low}–{high}"
        raise OscRejected(f"{address} takes {wanted} arguments, not {len(args)}")


def parse_message(address: str, args: Sequence[Any], sender: tuple[str, int]) -> OscCommand:
    """The command ``address`` with ``args`` asks for.

    Raises
    ------
    OscRejected
        Unknown address, wrong number of arguments or a value of the wrong type or range.
    """
    if not address.startswith(PREFIX + "/"):
        raise OscRejected(f"unknown address {address!r}: everything is under {PREFIX}/")
    path = address[len(PREFIX) + 1 :]
    if path.startswith("control/"):
        name = path[len("control/") :]
        if not name or "/" in name:
            raise OscRejected(f"{address!r} names no control: use {PREFIX}/control/<name>")
        _count(args, address, 1, 1)
        return OscCommand("control", (name, _number(args[0], f"{name} value")), sender)
    if path == "xy":
        _count(args, address, 2, 2)
        x, y = (_number(a, axis) for a, axis in zip(args, ("x", "y"), strict=True))
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise OscRejected(f"x and y must be within 0–1, not {x:g}, {y:g}")
        return OscCommand("xy", (x, y), sender)
    if path == "play":
        _count(args, address, 0, 2)
        pitch = _whole(args[0], "pitch", 0, 127) if args else 60
        velocity = _whole(args[1], "velocity", 1, 127) if len(args) > 1 else 100
        return OscCommand("play", (pitch, velocity), sender)
    if path == "randomize":
        _count(args, address, 0, 1)
        seed = _whole(args[0], "seed", 0, 2**31 - 1) if args else None
        return OscCommand("randomize", (seed,), sender)
    if path == "model":
        _count(args, address, 1, 1)
        if not isinstance(args[0], str) or not args[0].strip():
            raise OscRejected(f"{address} takes a model name (a string), not {args[0]!r}")
        return OscCommand("model", (args[0].strip(),), sender)
    if path == "controls":
        _count(args, address, 0, 0)
        return OscCommand("controls", (), sender)
    raise OscRejected(f"unknown address {address!r}")


class _Datagram(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, _socket = self.request
        self.server.osc.receive(data, self.client_address)  # type: ignore[attr-defined]


class OscServer(QObject):
    """UDP OSC server on 127.0.0.1; off until :meth:`start`.

    Signals
    -------
    commandReceived(command: OscCommand)
        A valid request (emitted on the server thread; connect it queued to GUI code).
    messageRejected(reason: str)
        A packet or message that was dropped, and why (also logged).
    """

    commandReceived = Signal(object)
    messageRejected = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._server: socketserver.UDPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int | None:
        """The UDP port listened on (useful after ``start(0)``), None when stopped."""
        return None if self._server is None else int(self._server.server_address[1])

    def start(self, port: int) -> int:
        """Listen on 127.0.0.1:``port`` (0: a free one); returns the port.

        Raises
        ------
        DeviceError
            The port is taken or not allowed; the message names it.
        """
        self.stop()
        try:
            server = socketserver.UDPServer((HOST, int(port)), _Datagram)
        except OSError as error:
            raise DeviceError(
                f"cannot listen for OSC on {HOST}:{port} ({error.strerror or error}); choose "
                "another port in the settings"
            ) from error
        server.osc = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="timbrelab-osc"
        )
        self._thread.start()
        log.info("OSC listening on %s:%d", HOST, self.port)
        return int(server.server_address[1])

    def stop(self) -> None:
        """Stop listening and end the server thread."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(2.0)

    def reply(self, sender: tuple[str, int], address: str, args: Sequence[Any]) -> None:
        """Send ``address`` with ``args`` to ``sender`` from the server's socket."""
        server = self._server
        if server is None:
            return
        builder = OscMessageBuilder(address=address)
        for arg in args:
            builder.add_arg(arg)
        try:
            server.socket.sendto(builder.build().dgram, sender)
        except OSError as error:
            log.warning("OSC reply to %s:%s failed: %s", *sender, error)

    # --- the server thread -------------------------------------------------------------------
    def receive(self, data: bytes, sender: tuple[str, int]) -> None:
        """Decode one datagram and hand its messages on (runs on the server thread)."""
        try:
            messages = [timed.message for timed in OscPacket(data).messages]
        except (ParseError, ValueError, IndexError) as error:
            self._reject(f"OSC packet from {sender[0]}:{sender[1]} is not OSC ({error})")
            return
        for message in messages:
            try:
                command = parse_message(message.address, list(message.params), sender)
            except OscRejected as error:
                self._reject(f"OSC {message.address}: {error}")
                continue
            self.commandReceived.emit(command)

    def _reject(self, reason: str) -> None:
        log.warning("ignored %s", reason)
        self.messageRejected.emit(reason)
