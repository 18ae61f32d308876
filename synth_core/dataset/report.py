"""What a scan finds in a folder: the files it uses, the files it skips and why.

Every skipped file carries a reason a musician can act on; :func:`skipped_line` is how the
command line says it, one line whatever the file's name holds.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from synth_core.dataset.names import printable_name


@dataclass(frozen=True)
class SoundFile:
    """A usable audio file, as found by :func:`scan`.

    Parameters
    ----------
    path : Path
        Where it is (as found under the scanned folder; links are not resolved).
    duration : float
        Seconds of decodable audio.
    sample_rate : int
        Hz.
    channels : int
        1–8 typically.
    frames : int
        Samples per channel that decode.
    peak : float or None
        Largest absolute sample, 0–1 for integer formats; None when not measured.
    pitch : float or None
        MIDI note number from a ``name__pNNN`` file name, else None.
    format, subtype : str
        libsndfile's names, e.g. ``"WAV"`` and ``"PCM_16"``.
    gain : float
        Linear gain the clip loader applies (below 1 only for a float file over full scale).
    note : str
        What the scan wants the user to know about a file it uses ("" when nothing), e.g. that
        it peaks at 1,000× full scale and is scaled down for training.
    """

    path: Path
    duration: float
    sample_rate: int
    channels: int
    frames: int
    peak: float | None
    pitch: float | None
    format: str = ""
    subtype: str = ""
    gain: float = 1.0
    note: str = ""


@dataclass(frozen=True)
class SkippedFile:
    """A file :func:`scan` or :func:`load_clips` will not use, and why, in the user's words."""

    path: Path
    reason: str


@dataclass
class ScanReport:
    """What :func:`scan` found in a folder.

    ``stopped`` is True when ``should_stop`` ended the scan early; the lists then hold only the
    files looked at so far.
    """

    folder: Path
    usable: list[SoundFile] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    stopped: bool = False

    @property
    def total_duration(self) -> float:
        """Seconds of usable audio."""
        return float(sum(item.duration for item in self.usable))

    def summary(self) -> str:
        """One line: how many files are usable, how long they are, how many were skipped."""
        text = (
            f"{len(self.usable)} usable ({self.total_duration:.1f} s in total), "
            f"{len(self.skipped)} skipped"
        )
        if self.skipped:
            text += f" (most often: {commonest_reason(self.skipped)})"
        return text + (" — scan stopped early" if self.stopped else "")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: paths as strings, one dict per file."""

        def plain(item: SoundFile | SkippedFile) -> dict[str, Any]:
            data = asdict(item)
            data["path"] = str(item.path)
            return data

        return {
            "folder": str(self.folder),
            "usable": [plain(item) for item in self.usable],
            "skipped": [plain(item) for item in self.skipped],
            "stopped": self.stopped,
            "summary": {
                "usable": len(self.usable),
                "skipped": len(self.skipped),
                "total_duration_s": round(self.total_duration, 6),
            },
        }


def commonest_reason(skipped: list[SkippedFile]) -> str:
    """The most frequent kind of skip reason (the text before any detail in parentheses)."""
    kinds = Counter(item.reason.split(" (")[0] for item in skipped)
    return kinds.most_common(1)[0][0] if kinds else ""


def skipped_line(item: SkippedFile) -> str:
    """``"skipped PATH: REASON"``, one line whatever the file's name holds."""
    return f"skipped {printable_name(item.path)}: {printable_name(item.reason)}"


def say_skipped(item: SkippedFile) -> None:
    """The command line's line for a file it does not use, on stderr."""
    sys.stderr.write(skipped_line(item) + "\n")
