"""Folders of sounds: which files are usable and why others are not, and fixed-length clips.

The parts, each its own module:

- :mod:`~synth_core.dataset.folder` — :func:`scan` walks a folder and checks every audio file;
- :mod:`~synth_core.dataset.report` — what it finds (:class:`ScanReport`, :class:`SoundFile`,
  :class:`SkippedFile` with a reason a musician can act on);
- :mod:`~synth_core.dataset.level` — :func:`judge_level`, the one decision on a file's samples
  (silent, DC-only, over full scale) that the scan and the clip loader share;
- :mod:`~synth_core.dataset.names` — pitch labels from ``name__pNNN.wav`` and
  :func:`printable_name`, how a file name reaches the terminal;
- :mod:`~synth_core.dataset.clips` — :func:`load_clips`, the usable files as a :class:`ClipSet`
  of onset-aligned mono clips of one length;
- :mod:`~synth_core.dataset.cache` — prepared clips cached by file content (plain ``.npy``).

The names below are the package's public surface; callers import them from here.
"""

from __future__ import annotations

from synth_core.dataset.clips import (
    FADE_OUT_S,
    ONSET_DB,
    PRE_ROLL_S,
    ClipSet,
    LoadingStopped,
    load_clips,
    load_clips_reporting,
    prepare_clip,
)
from synth_core.dataset.folder import (
    DECODE_BLOCK_FRAMES,
    MAX_DURATION_S,
    MIN_DURATION_S,
    Progress,
    ShouldStop,
    scan,
)
from synth_core.dataset.level import SILENCE_DBFS, LevelVerdict, judge_level, measure_level
from synth_core.dataset.names import pitch_from_name, printable_name
from synth_core.dataset.report import (
    ScanReport,
    SkippedFile,
    SoundFile,
    commonest_reason,
    say_skipped,
    skipped_line,
)

__all__ = [
    "DECODE_BLOCK_FRAMES",
    "FADE_OUT_S",
    "MAX_DURATION_S",
    "MIN_DURATION_S",
    "ONSET_DB",
    "PRE_ROLL_S",
    "SILENCE_DBFS",
    "ClipSet",
    "LevelVerdict",
    "LoadingStopped",
    "Progress",
    "ScanReport",
    "ShouldStop",
    "SkippedFile",
    "SoundFile",
    "commonest_reason",
    "judge_level",
    "load_clips",
    "load_clips_reporting",
    "measure_level",
    "pitch_from_name",
    "prepare_clip",
    "printable_name",
    "say_skipped",
    "scan",
    "skipped_line",
]
