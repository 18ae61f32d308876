"""Typed errors. Every message names the file or value at fault and what to do about it.

The CLI turns a ``TimbreLabError`` into one line on stderr and exit code 2 (bad input) or 1
(runtime failure); the app shows it in a dialog. Neither ever shows a traceback for these.
"""

from __future__ import annotations

from pathlib import Path


class TimbreLabError(Exception):
    """Base class of every error Timbre Lab raises on purpose.

    ``exit_code`` is what the command line returns: 2 for bad input or usage, 1 for a failure
    while running.
    """

    exit_code: int = 2

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


class AudioFileError(TimbreLabError):
    """An audio file cannot be read or written (unreadable, empty, wrong format, bad samples)."""


class DatasetError(TimbreLabError):
    """A folder of sounds cannot be used for training (missing, empty, nothing usable)."""


class CheckpointError(TimbreLabError):
    """A run directory or model file is missing, corrupt, foreign or from a newer version."""


class ModelConfigError(TimbreLabError):
    """A model configuration, control value or family name is invalid."""


class DeviceError(TimbreLabError):
    """A compute or audio device was asked for but is not available."""

    exit_code = 1


class TrainingError(TimbreLabError):
    """Training failed in a way that retrying the same step cannot fix."""

    exit_code = 1
