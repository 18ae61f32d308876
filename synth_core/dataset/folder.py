"""Scanning a folder of sounds: which files are usable and why the others are not.

:func:`scan` walks a folder, reads each audio file's header and then decodes it in blocks to catch
what a header cannot show (NaN/inf samples, silence, truncated data). Every file it does not use
gets a reason a musician can act on (:class:`~synth_core.dataset.report.SkippedFile`).
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from synth_core.audio import (
    FORMAT_BY_SUFFIX,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    UNSUPPORTED_AUDIO_SUFFIXES,
    libsndfile_reason,
)
from synth_core.dataset.level import judge_level, measure_level
from synth_core.dataset.names import pitch_from_name
from synth_core.dataset.report import ScanReport, SkippedFile, SoundFile
from synth_core.errors import DatasetError

log = logging.getLogger(__name__)

MIN_DURATION_S = 0.02
"""Files shorter than this (seconds) are skipped as too short to learn from."""
MAX_DURATION_S = 600.0
"""Files longer than this (seconds) are skipped: a one-shot dataset is not a place for albums."""
DECODE_BLOCK_FRAMES = 65536
"""Frames decoded at a time while checking a file's samples."""
_PROGRESS_INTERVAL_S = 0.05


Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]


class Throttle:
    """Calls ``progress`` at most every 50 ms, and always for the last item."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if done >= total or now - self.last >= _PROGRESS_INTERVAL_S:
            self.last = now
            self.progress(done, total)


def _human_seconds(seconds: float) -> str:
    """``"4.2 ms"``, ``"12.5 s"``, ``"11.0 min"``: a length the way a musician says it."""
    if seconds < 1.0:
        return f"{seconds * 1000:.3g} ms"
    if seconds < 120.0:
        return f"{seconds:.3g} s"
    return f"{seconds / 60:.3g} min"


def _link_problem(path: str) -> str:
    try:
        os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "broken link: it points to itself in a loop"
        if error.errno == errno.ENOENT:
            return f"broken link: its target {os.readlink(path)} does not exist"
        return f"cannot be opened ({error.strerror})"
    return "not a regular file"


def _find_candidates(folder: Path, recursive: bool) -> tuple[list[Path], list[SkippedFile]]:
    """Audio-looking files under ``folder``, plus those that are plainly unusable already.

    Files whose suffix is not audio (``.txt``, ``.json`` sidecars…) and hidden entries
    (``.git``, macOS ``._name.wav`` resource forks) are ignored silently. Linked folders are
    followed once each, so link loops end.
    """
    candidates: list[Path] = []
    skipped: list[SkippedFile] = []
    seen_dirs: set[tuple[int, int]] = set()
    pending = [folder]
    while pending:
        directory = pending.pop()
        try:
            stat = directory.stat()
            if (stat.st_dev, stat.st_ino) in seen_dirs:
                continue
            seen_dirs.add((stat.st_dev, stat.st_ino))
            with os.scandir(directory) as entries:
                listing = list(entries)
        except OSError as error:
            skipped.append(SkippedFile(directory, f"folder cannot be read ({error.strerror})"))
            continue
        for entry in listing:
            if entry.name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if recursive:
                    pending.append(Path(entry.path))
                continue
            suffix = os.path.splitext(entry.name)[1].lower()
            if suffix in UNSUPPORTED_AUDIO_SUFFIXES:
                skipped.append(
                    SkippedFile(
                        Path(entry.path),
                        f"unsupported format: {suffix} cannot be decoded here; "
                        "convert it to WAV or FLAC",
                    )
                )
                continue
            if suffix not in FORMAT_BY_SUFFIX:
                continue
            try:
                is_file = entry.is_file()
            except OSError:
                is_file = False
            if is_file:
                candidates.append(Path(entry.path))
            else:
                skipped.append(SkippedFile(Path(entry.path), _link_problem(entry.path)))
    return candidates, skipped


def _inspect(path: Path) -> SoundFile | SkippedFile:
    """Read one file's header, then decode it in blocks to check the samples themselves."""
    try:
        size = path.stat().st_size
    except OSError as error:
        return SkippedFile(path, f"cannot be opened ({error.strerror})")
    if size == 0:
        return SkippedFile(path, "empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        # libsndfile would only say "System error" for this.
        return SkippedFile(path, "cannot be opened (permission denied)")
    try:
        handle = sf.SoundFile(os.fsencode(path))  # bytes: any file name, see audio.load
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as error:
        return SkippedFile(
            path, f"unreadable: not audio or a damaged header ({libsndfile_reason(error)})"
        )
    with handle:
        rate, channels = int(handle.samplerate), int(handle.channels)
        header_frames = int(handle.frames)
        if header_frames <= 0:
            return SkippedFile(path, "no audio in it (0 frames)")
        if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
            return SkippedFile(
                path,
                f"sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}–{MAX_SAMPLE_RATE} Hz",
            )
        if header_frames / rate > MAX_DURATION_S:
            return SkippedFile(
                path,
                f"too long ({_human_seconds(header_frames / rate)} > "
                f"{_human_seconds(MAX_DURATION_S)})",
            )
        frames = 0
        low = np.full(channels, np.inf, dtype=np.float32)
        high = np.full(channels, -np.inf, dtype=np.float32)
        try:
            for block in handle.blocks(DECODE_BLOCK_FRAMES, dtype="float32", always_2d=True):
                if not np.isfinite(block).all():
                    return SkippedFile(path, "contains NaN or infinite samples")
                frames += block.shape[0]
                if block.size:
                    np.minimum(low, block.min(axis=0), out=low)
                    np.maximum(high, block.max(axis=0), out=high)
        except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as error:
            return SkippedFile(path, f"unreadable: damaged audio data ({libsndfile_reason(error)})")
        format_name, subtype = handle.format, handle.subtype
    if frames == 0:
        return SkippedFile(path, "no audio in it (0 frames decode)")
    if frames < header_frames:
        log.info("%s: header promises %d frames, %d decode", path, header_frames, frames)
    duration = frames / rate
    if duration < MIN_DURATION_S:
        return SkippedFile(
            path, f"too short ({_human_seconds(duration)} < {_human_seconds(MIN_DURATION_S)})"
        )
    peak, swing = measure_level(np.stack([low, high]))
    verdict = judge_level(peak, swing)
    if verdict.skip is not None:
        return SkippedFile(path, verdict.skip)
    return SoundFile(
        path=path,
        duration=duration,
        sample_rate=rate,
        channels=channels,
        frames=frames,
        peak=peak,
        pitch=pitch_from_name(path),
        format=format_name,
        subtype=subtype,
        gain=verdict.gain,
        note=verdict.note,
    )


def _sort_key(folder: Path) -> Callable[[SoundFile | SkippedFile], str]:
    def key(item: SoundFile | SkippedFile) -> str:
        try:
            return item.path.relative_to(folder).as_posix().casefold()
        except ValueError:
            return item.path.as_posix().casefold()

    return key


def scan(
    folder: str | Path,
    *,
    recursive: bool = True,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> ScanReport:
    """Find the usable sounds in a folder and say why the others are skipped.

    Parameters
    ----------
    folder : str or Path
        The folder to look in.
    recursive : bool, keyword-only
        Also look in sub-folders (linked folders are followed, each once).
    progress : callable or None, keyword-only
        ``progress(done, total)`` in files, called at most every 50 ms and once at the end.
    should_stop : callable or None, keyword-only
        Polled before each file; when it returns True the scan ends early with
        ``report.stopped`` set.

    Returns
    -------
    ScanReport
        Usable and skipped files, each sorted by path relative to ``folder``.

    Raises
    ------
    DatasetError
        When ``folder`` does not exist or is not a folder.
    """
    folder = Path(folder).expanduser().absolute()
    if not folder.exists():
        raise DatasetError("no such folder", path=folder)
    if not folder.is_dir():
        raise DatasetError("is a file, not a folder of sounds", path=folder)
    candidates, skipped = _find_candidates(folder, recursive)
    # Files reached through a link come last, so when a file is found twice the real one is kept.
    candidates.sort(
        key=lambda p: (os.path.realpath(p) != os.path.abspath(p), p.as_posix().casefold())
    )
    report = ScanReport(folder=folder, skipped=skipped)
    report_progress = Throttle(progress)
    seen_files: dict[tuple[int, int], Path] = {}
    total = len(candidates)
    for done, path in enumerate(candidates, start=1):
        if should_stop is not None and should_stop():
            report.stopped = True
            break
        try:
            stat = path.stat()
            identity = (stat.st_dev, stat.st_ino)
        except OSError:
            identity = None
        if identity is not None and identity in seen_files:
            report.skipped.append(
                SkippedFile(path, f"same file as {seen_files[identity].name} (linked twice)")
            )
        else:
            if identity is not None:
                seen_files[identity] = path
            result = _inspect(path)
            if isinstance(result, SoundFile):
                report.usable.append(result)
            else:
                report.skipped.append(result)
        report_progress(done, total)
    if total == 0:
        report_progress(0, 0)
    report.usable.sort(key=_sort_key(folder))
    report.skipped.sort(key=_sort_key(folder))
    log.info("scanned %s: %s", folder, report.summary())
    return report
