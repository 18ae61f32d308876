"""Typed errors. Every message names the file or value at fault and what to do about it.

The CLI turns a ``TimbreLabError`` into one line on stderr and exit code 2 (bad input) or 1
(runtime failure: the machine, not the input, failed); the app shows it in a dialog. Neither
ever shows a traceback for these. :func:`from_system_error` gives the same treatment to what the
operating system raises on its own: a full disk, exhausted memory, a file that cannot be
written.
"""

from __future__ import annotations

import errno
from pathlib import Path

#: errno values that mean "no room left": the disk is full, or the user's quota is used up.
DISK_FULL_ERRNOS = frozenset(
    code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if code is not None
)


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


class DiskFullError(TimbreLabError):
    """The disk, or the user's quota, filled up while a file was being written.

    Retrying after freeing space works, so this is a failure of the machine (exit code 1), not
    of the input. ``path`` is the file or folder being written, when known.
    """

    exit_code = 1

    def __init__(
        self, message: str, *, path: str | Path | None = None, reason: str = "disk full"
    ) -> None:
        # the message already says where; the path is kept for callers that act on it
        super().__init__(message)
        self.path = Path(path) if path is not None else None
        self.reason = reason


class OutOfMemoryError(TimbreLabError):
    """The process ran out of memory (RAM, or the accelerator's own)."""

    exit_code = 1


class SystemFailureError(TimbreLabError):
    """The operating system refused a file operation nothing checked beforehand."""

    exit_code = 1


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` is an ``OSError`` saying the disk or the quota is full."""
    return isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS


def disk_full_error(
    error: OSError,
    *,
    path: str | Path | None = None,
    what: str | None = None,
    advice: str = "free some space or choose a folder on another disk, then try again",
) -> DiskFullError:
    """The :class:`DiskFullError` for an ``ENOSPC``/``EDQUOT`` ``error`` raised writing ``path``.

    The message reads "disk full while writing WHAT to PATH; ADVICE". ``what`` names the thing
    in the user's words ("the checkpoint"); without it the message names only the path.
    """
    where = path if path is not None else error.filename
    full = "disk full" if error.errno == errno.ENOSPC else "disk quota exceeded"
    if what and where is not None:
        target = f"{what} to {where}"
    else:
        target = what or (str(where) if where is not None else "a file")
    return DiskFullError(f"{full} while writing {target}; {advice}", path=where, reason=full)


def from_system_error(
    error: BaseException, *, path: str | Path | None = None
) -> TimbreLabError | None:
    """The typed error that explains an operating-system failure in one line, or None.

    ``ENOSPC``/``EDQUOT`` → :class:`DiskFullError`; ``MemoryError`` (and torch's out-of-memory
    errors) → :class:`OutOfMemoryError`; any other ``OSError`` → :class:`SystemFailureError`
    naming the file and the system's reason. All exit with code 1. ``path`` is where the command
    was writing, used when the error itself names no file. Anything else gives None: it is a
    bug and keeps its traceback.
    """
    if isinstance(error, DiskFullError):
        return error
    if isinstance(error, TimbreLabError):
        # a disk that filled up under an error raised on purpose ("cannot write …") is still a
        # full disk: say so, and exit 1 rather than the 2 of bad input
        cause = _disk_full_cause(error)
        if cause is None:
            return error
        return disk_full_error(cause, path=error.path or cause.filename or path)
    if is_disk_full(error):
        return disk_full_error(error, path=error.filename or path)  # type: ignore[arg-type]
    # torch.OutOfMemoryError (a RuntimeError) is matched by name: errors.py does not import torch
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return OutOfMemoryError(
            "out of memory; close other programs, or use fewer or shorter sounds or a smaller "
            "model (e.g. --set batch_size=4), then try again"
        )
    if isinstance(error, OSError):
        reason = error.strerror or type(error).__name__
        where = error.filename or path
        if error.filename2 is not None:
            where = f"{error.filename} → {error.filename2}"
        return SystemFailureError(reason, path=where)
    return None


def _disk_full_cause(error: BaseException) -> OSError | None:
    """The ``ENOSPC``/``EDQUOT`` error in ``error``'s chain of causes and contexts, if any."""
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if is_disk_full(link):
            return link  # type: ignore[return-value]
        link = link.__cause__ or link.__context__
    return None
