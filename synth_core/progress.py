"""The training child process's events: one typed schema for the writer and the reader.

``timbrelab train DATA --family F --out RUN --progress jsonl`` prints one JSON object per line on
stdout (:func:`encode`, written by :mod:`synth_core.commands.train`); the app's training panel
starts that command with :func:`train_argv` and reads each line back with :func:`decode`. Both
sides use the dataclasses below, so an event's name and fields are spelled in one place. Every
object has ``"event"`` (the class's ``KIND``) and the class's fields:

``start`` :class:`StartEvent`
    Once, after the data is loaded and before the first step. ``total`` is the step budget.
``progress`` :class:`ProgressEvent`
    After each of a session's first 10 steps, then at most every 0.25 s, and after the last
    step. ``fraction`` is 0–1 of the budget (steps or minutes, whichever ends first); ``eta_s``
    is null until it can be estimated; ``lr`` is null for families without an optimiser.
``preview`` :class:`PreviewEvent`
    Every 30 s: a WAV file (``RUN/preview.wav``, overwritten) of one sound from the model as it
    is now.
``checkpoint`` :class:`CheckpointEvent`
    After each checkpoint is written (every ``--checkpoint-every`` seconds and at the end).
``warning`` :class:`WarningEvent`
    Something the user should know and training survived (a NaN loss rolled back, the LR
    halved, a preview that could not be written).
``done`` :class:`DoneEvent`
    Last line of a run that finished or was stopped (SIGINT/SIGTERM stop after the current step
    and checkpoint first, ``stopped`` true).
``error`` :class:`ErrorEvent`
    Last line of a run that failed: the same one line ``timbrelab`` writes on stderr. The exit
    code is 1 when the machine failed (disk full, out of memory, a file the system would not
    write) and 2 for bad input.

A line that is not one of these (a stray print, a cut-off write, an event from a newer trainer)
makes :func:`decode` raise :class:`EventLineError` saying why; the reader logs it and goes on.
Fields the schema does not know are ignored, so a trainer may add some without breaking an
older reader. This module imports nothing heavy (no torch, no Qt): the app loads it at start-up.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from synth_core.errors import ModelConfigError, TimbreLabError


class EventLineError(TimbreLabError):
    """A line from the training process that is not a valid event; the message says why.

    ``line`` is the text as read. Exit code 1: it is the child process that misbehaved, not
    the user's input.
    """

    exit_code = 1

    def __init__(self, reason: str, line: str) -> None:
        shown = line if len(line) <= 120 else line[:117] + "..."
        super().__init__(f"not a training event ({reason}): {shown}")
        self.reason = reason
        self.line = line


@dataclass(frozen=True)
class StartEvent:
    """The run has its data and is about to take its first step."""

    KIND: ClassVar[str] = "start"
    run: str
    family: str
    device: str
    clips: int
    held_out: int
    total: int | None
    resumed_from: int | None
    #: the models' clip length, seconds (chosen from the folder unless set; issue 18)
    clip_seconds: float | None = None


@dataclass(frozen=True)
class ProgressEvent:
    """Where the run is: ``fraction`` 0–1 of its budget, times in seconds, the latest losses."""

    KIND: ClassVar[str] = "progress"
    step: int
    total: int | None
    fraction: float
    elapsed_s: float
    eta_s: float | None
    losses: dict[str, float]
    lr: float | None
    device: str


@dataclass(frozen=True)
class PreviewEvent:
    """A WAV file at ``path`` holds one sound from the model at ``step``."""

    KIND: ClassVar[str] = "preview"
    step: int
    path: str
    sample_rate: int


@dataclass(frozen=True)
class CheckpointEvent:
    """The run directory ``path`` now holds the model at ``step``."""

    KIND: ClassVar[str] = "checkpoint"
    step: int
    path: str


@dataclass(frozen=True)
class WarningEvent:
    """Something went wrong at ``step`` and training goes on."""

    KIND: ClassVar[str] = "warning"
    step: int
    message: str


@dataclass(frozen=True)
class DoneEvent:
    """The run ended at ``step``: its budget was spent, or a stop was asked for (``stopped``)."""

    KIND: ClassVar[str] = "done"
    run: str
    step: int
    elapsed_s: float
    stopped: bool
    metrics: dict[str, float]


@dataclass(frozen=True)
class ErrorEvent:
    """The run failed; ``message`` is the one line that says why and what to do."""

    KIND: ClassVar[str] = "error"
    message: str


Event = (
    StartEvent
    | ProgressEvent
    | PreviewEvent
    | CheckpointEvent
    | WarningEvent
    | DoneEvent
    | ErrorEvent
)

EVENT_TYPES: dict[str, type[Event]] = {
    cls.KIND: cls
    for cls in (
        StartEvent,
        ProgressEvent,
        PreviewEvent,
        CheckpointEvent,
        WarningEvent,
        DoneEvent,
        ErrorEvent,
    )
}
"""Every event class by its wire name."""


def encode(event: Event) -> str:
    """``event`` as one line of JSON, without the newline.

    Non-finite floats are written as ``NaN``/``Infinity`` (Python's ``json`` reads them back).
    """
    return json.dumps({"event": event.KIND} | dataclasses.asdict(event))


def decode(line: str | bytes) -> Event:
    """The event one line of the training process's stdout holds.

    Raises
    ------
    EventLineError
        The line is not JSON, not an object, names no known event, or lacks a field or has one
        of the wrong type; the message names which.
    """
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    text = text.strip()
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise EventLineError("not JSON", text) from None
    if not isinstance(data, dict):
        raise EventLineError(f"a JSON {type(data).__name__}, not an object", text)
    kind = data.get("event")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise EventLineError(f"unknown event {kind!r}", text)
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for item in dataclasses.fields(cls):
        if item.name not in data:
            raise EventLineError(f"{kind!r} without {item.name!r}", text)
        try:
            values[item.name] = _checked(data[item.name], hints[item.name])
        except TypeError as error:
            raise EventLineError(f"{kind!r} field {item.name!r}: {error}", text) from None
    return cls(**values)


def _checked(value: Any, hint: Any) -> Any:
    """``value`` as the type ``hint`` says (an int is accepted for a float), or TypeError."""
    origin = typing.get_origin(hint)
    if origin is types.UnionType or origin is typing.Union:
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _checked(value, option)
            except TypeError:
                pass
        raise TypeError(f"expected {hint}, got {value!r}")
    if origin is dict:
        key_type, value_type = typing.get_args(hint)
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {value!r}")
        return {_checked(k, key_type): _checked(v, value_type) for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError(f"expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expected a whole number, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {value!r}")
        return value
    raise TypeError(f"no check for {hint}")  # a field type this module does not handle yet


# The child process's command line ---------------------------------------------------------------


def train_argv(
    data: str | Path,
    family: str,
    out: str | Path,
    *,
    resume: bool = False,
    steps: int | None = None,
    minutes: float | None = None,
    device: str | None = None,
    preset: str | None = None,
    settings: Sequence[str] = (),
    nproc: int = 1,
    python: str = sys.executable,
) -> list[str]:
    """The argv that runs ``timbrelab train`` with JSON-lines progress in a child process.

    ``argv[0]`` is ``python`` (this interpreter by default), then ``-m synth_core.cli train DATA
    --family F --out RUN --progress jsonl`` and the options given: ``steps`` and ``minutes``
    are the budget (neither: the command's default, 5 minutes), ``settings`` the ``NAME=VALUE``
    overrides of ``--set``, ``nproc`` above 1 the number of data-parallel processes
    (``--nproc``).

    Raises
    ------
    ModelConfigError
        ``steps`` or ``nproc`` below 1, ``minutes`` not a positive number, or a preset or
        settings given
        with ``resume`` (a resumed run keeps its config; the command would refuse it too).
    """
    if steps is not None and (isinstance(steps, bool) or steps < 1):
        raise ModelConfigError(f"steps must be at least 1, got {steps}")
    if isinstance(nproc, bool) or nproc < 1:
        raise ModelConfigError(f"nproc must be at least 1, got {nproc}")
    if minutes is not None and not (math.isfinite(minutes) and minutes > 0):
        raise ModelConfigError(f"minutes must be a positive number, got {minutes}")
    if resume and (preset is not None or settings):
        raise ModelConfigError("a preset or settings cannot change a run being resumed")
    argv = [python, "-m", "synth_core.cli", "train", str(data), "--family", family]
    argv += ["--out", str(out), "--progress", "jsonl"]
    if resume:
        argv.append("--resume")
    if steps is not None:
        argv += ["--steps", str(int(steps))]
    if minutes is not None:
        argv += ["--max-minutes", _number(float(minutes))]
    if device:
        argv += ["--device", device]
    if preset is not None:
        argv += ["--preset", preset]
    for pair in settings:
        argv += ["--set", pair]
    if nproc > 1:
        argv += ["--nproc", str(int(nproc))]
    return argv


def _number(value: float) -> str:
    """``2`` for 2.0 and ``0.5`` for 0.5; all the digits where the short form would lose some."""
    short = f"{value:g}"
    return short if float(short) == value else repr(value)
