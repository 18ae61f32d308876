"""Folders of sounds: which files are usable and why others are not, and fixed-length clips.

:func:`scan` walks a folder, reads each audio file's header and then decodes it in blocks to catch
what a header cannot show (NaN/inf samples, silence, truncated data). Every file it does not use
gets a reason a musician can act on. :func:`load_clips` turns the usable files into a
:class:`ClipSet`: mono, one sample rate, leading silence trimmed so every clip starts at its onset,
cut or zero-padded to one length, with a pitch label from ``name__pNNN.wav`` file names. Prepared
clips are cached by file content in the user cache folder (plain ``.npy``, never pickle).

Whether a readable file's samples are usable is decided in one place, :func:`judge_level`, which
both the scan and the clip loader call: silence and a constant (DC-only) signal are skipped, and
float files that go over full scale (a render at ±1000) are used scaled down to a 0 dBFS peak,
with a note the scan shows. File names reach the terminal through :func:`printable_name`, so a
name that is not UTF-8 or holds a newline or escape sequence prints as one escaped line.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile as sf

from synth_core import paths
from synth_core.audio import (
    FORMAT_BY_SUFFIX,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    UNSUPPORTED_AUDIO_SUFFIXES,
    libsndfile_reason,
    load,
    resample,
)
from synth_core.errors import AudioFileError, DatasetError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

MIN_DURATION_S = 0.02
"""Files shorter than this (seconds) are skipped as too short to learn from."""
MAX_DURATION_S = 600.0
"""Files longer than this (seconds) are skipped: a one-shot dataset is not a place for albums."""
SILENCE_DBFS = -80.0
"""A file whose peak is below this level (dBFS) counts as silent."""
ONSET_DB = -40.0
"""Trimming starts a clip where it first reaches this level relative to its own peak (dB)."""
PRE_ROLL_S = 0.002
"""Kept before the detected onset (seconds) so the attack's rise is not cut off."""
FADE_OUT_S = 0.01
"""Raised-cosine fade (seconds) where a longer sound is cut to the clip length."""
DECODE_BLOCK_FRAMES = 65536
"""Frames decoded at a time while checking a file's samples."""

_PITCH_PATTERN = re.compile(r"__p(\d{1,3}(?:\.\d+)?)$", re.IGNORECASE)
# 2: clips of files over full scale are scaled to a 0 dBFS peak (judge_level)
_CACHE_VERSION = 2
_HASH_BYTES = 65536
_PROGRESS_INTERVAL_S = 0.05

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]


class LoadingStopped(DatasetError):
    """Clip loading was stopped through ``should_stop`` before it finished."""

    exit_code = 1


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


def pitch_from_name(path: str | Path) -> float | None:
    """MIDI note number from a ``name__pNNN.ext`` file name.

    ``"kick__p036.wav"`` gives 36.0 and ``"pad__p60.5.flac"`` gives 60.5; names without the label,
    or with a note outside 0–127, give None.
    """
    match = _PITCH_PATTERN.search(Path(path).stem)
    if match is None:
        return None
    pitch = float(match.group(1))
    return pitch if 0.0 <= pitch <= 127.0 else None


@dataclass(frozen=True)
class LevelVerdict:
    """What :func:`judge_level` decided about a file's samples.

    ``skip`` is the reason the file is not used, or None; ``gain`` the linear gain the clip
    loader applies; ``note`` what the scan shows about a file it uses ("" when nothing).
    """

    skip: str | None
    gain: float = 1.0
    note: str = ""


def judge_level(peak: float, swing: float) -> LevelVerdict:
    """Whether, and at what gain, a file with these sample statistics is used.

    The one decision the scan and the clip loader share, so what ``timbrelab scan`` reports is
    what training loads.

    Parameters
    ----------
    peak : float
        Largest absolute sample over every channel (full scale is 1).
    swing : float
        Largest half peak-to-peak range of any one channel: the level left once a constant
        offset is removed, so a DC-only signal has swing 0 whatever its peak.

    Returns
    -------
    LevelVerdict
        Skipped when silent (peak below :data:`SILENCE_DBFS`) or constant (swing below it: DC
        only, or every sample the same value). A peak over full scale, which only float files
        can hold, is scaled to 0 dBFS (``gain = 1 / peak``) rather than clipped or skipped:
        the recording is intact, only its level is wrong.
    """
    floor = 10.0 ** (SILENCE_DBFS / 20.0)
    if peak == 0.0:
        return LevelVerdict("silent (every sample is zero)")
    if peak < floor:
        return LevelVerdict(
            f"silent (peak {20 * np.log10(peak):.0f} dBFS is below {SILENCE_DBFS:g} dBFS)"
        )
    if swing < floor:
        return LevelVerdict(
            f"constant signal (DC only: every sample is about {peak:.3g}); nothing to hear"
        )
    if peak > 1.0:
        times = f"{peak:,.0f}" if peak >= 10.0 else f"{peak:.2f}"
        return LevelVerdict(
            None,
            gain=1.0 / peak,
            note=f"peaks at {times}× full scale (+{20 * np.log10(peak):.1f} dB): "
            "normalised to 0 dBFS for training",
        )
    return LevelVerdict(None)


def measure_level(samples: np.ndarray) -> tuple[float, float]:
    """``(peak, swing)`` of ``[frames]`` or ``[frames, channels]`` samples, for
    :func:`judge_level`."""
    data = samples.reshape(samples.shape[0], -1)
    if data.size == 0:
        return 0.0, 0.0
    low, high = data.min(axis=0), data.max(axis=0)
    peak = float(max(np.abs(low).max(), np.abs(high).max()))
    return peak, float((high.astype(np.float64) - low).max() / 2.0)


# Invisible characters that reorder the text around them: a name holding one can make a
# terminal line read as something else.
_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable_name(name: str | os.PathLike[str]) -> str:
    """A file name or path as one safe line of terminal text.

    Bytes that are not UTF-8 (kept by Python as surrogates) become ``\\xNN``; control
    characters (newline, escape sequences, line and paragraph separators) and bidirectional
    overrides become ``\\n``, ``\\x1b``, ``\\u202e``…; everything else, accents and CJK
    included, is kept as it is.
    """
    text = os.fspath(name)
    out: list[str] = []
    for char in text:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for an undecodable byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[char])
        elif unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in _BIDI_CONTROLS:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


class _Throttle:
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
    report_progress = _Throttle(progress)
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


@dataclass
class ClipSet:
    """Fixed-length training clips.

    Parameters
    ----------
    audio : torch.Tensor
        ``[N, samples]`` float32, mono, at ``sample_rate``.
    pitch : torch.Tensor
        ``[N]`` float32 MIDI note numbers, NaN where unknown.
    paths : list of Path
        The file each clip came from, in order.
    sample_rate : int
        Hz.
    skipped : list of SkippedFile
        Files the scan accepted but that failed to decode or prepare.
    """

    audio: torch.Tensor
    pitch: torch.Tensor
    paths: list[Path]
    sample_rate: int
    skipped: list[SkippedFile] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.audio.shape[0])

    @property
    def has_pitch(self) -> bool:
        """True when at least one clip has a pitch label."""
        return bool(self.pitch.isfinite().any())


def prepare_clip(
    samples: np.ndarray, sample_rate: int, *, length: int, trim: bool = True
) -> np.ndarray:
    """Onset-align and cut or zero-pad one mono sound to ``length`` samples.

    Parameters
    ----------
    samples : np.ndarray
        ``[frames]`` float32, mono.
    sample_rate : int
        Hz (sets the pre-roll and fade lengths).
    length : int, keyword-only
        Output length, samples.
    trim : bool, keyword-only
        Drop what comes before the onset (the first sample within :data:`ONSET_DB` of the peak,
        less :data:`PRE_ROLL_S`).

    Returns
    -------
    np.ndarray
        ``[length]`` float32; a raised-cosine fade of :data:`FADE_OUT_S` ends a cut sound.
    """
    samples = np.asarray(samples, dtype=np.float32)
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    if trim and peak > 0.0:
        onset = int(np.argmax(np.abs(samples) >= peak * 10.0 ** (ONSET_DB / 20.0)))
        samples = samples[max(0, onset - int(PRE_ROLL_S * sample_rate)) :]
    clip = np.zeros(length, dtype=np.float32)
    if samples.shape[0] > length:
        clip[:] = samples[:length]
        fade = min(length, max(1, int(FADE_OUT_S * sample_rate)))
        clip[length - fade :] *= (0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, fade))).astype(
            np.float32
        )
    else:
        clip[: samples.shape[0]] = samples
    return clip


def _content_key(path: Path, *parameters: object) -> str:
    """Hash of what identifies a file's content cheaply (size, mtime, first and last bytes)."""
    stat = path.stat()
    digest = hashlib.sha256()
    digest.update(repr((_CACHE_VERSION, stat.st_size, stat.st_mtime_ns, parameters)).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(_HASH_BYTES))
        if stat.st_size > _HASH_BYTES:
            handle.seek(max(_HASH_BYTES, stat.st_size - _HASH_BYTES))
            digest.update(handle.read(_HASH_BYTES))
    return digest.hexdigest()


class _ClipCache:
    """Prepared clips as ``.npy`` files under the user cache folder, one per file and settings.

    Entries are read with ``allow_pickle=False``; one that does not load as the expected float32
    vector is deleted and rebuilt. A cache that cannot be written only costs speed.
    """

    def __init__(self, root: Path, length: int) -> None:
        self.root = root
        self.length = length

    def file(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npy"

    def read(self, key: str) -> np.ndarray | None:
        cached = self.file(key)
        if not cached.exists():
            return None
        try:
            clip = np.load(cached, allow_pickle=False)
            if (
                clip.dtype == np.float32
                and clip.shape == (self.length,)
                and np.isfinite(clip).all()
            ):
                return clip
            reason = f"holds {clip.dtype} {clip.shape}"
        except (OSError, ValueError, EOFError) as error:
            reason = str(error)
        log.warning("ignoring corrupt cache entry %s (%s); rebuilding it", cached, reason)
        with contextlib.suppress(OSError):
            cached.unlink()
        return None

    def write(self, key: str, clip: np.ndarray) -> None:
        cached = self.file(key)
        temp = cached.with_name(f".{cached.name}.{os.getpid()}.part")
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            with open(temp, "wb") as handle:
                np.save(handle, clip, allow_pickle=False)
            os.replace(temp, cached)
        except OSError as error:
            log.warning("cannot write clip cache %s (%s); continuing without it", cached, error)
            with contextlib.suppress(OSError):
                temp.unlink()


def load_clips(
    source: str | Path | ScanReport,
    *,
    sample_rate: int = 44100,
    seconds: float = 1.0,
    trim: bool = True,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    cache: bool = True,
    estimate_pitch: bool = False,
) -> ClipSet:
    """Load a folder of sounds as fixed-length mono clips for training.

    Parameters
    ----------
    source : str, Path or ScanReport
        A folder (scanned first) or the report of an earlier :func:`scan`.
    sample_rate : int, keyword-only
        Rate of the clips, Hz (files are resampled with soxr).
    seconds : float, keyword-only
        Clip length, seconds.
    trim : bool, keyword-only
        Onset-align each clip (see :func:`prepare_clip`).
    progress : callable or None, keyword-only
        ``progress(done, total)``: first for the scan (when ``source`` is a folder), then again
        for preparing clips.
    should_stop : callable or None, keyword-only
        Polled before each file; True raises :class:`LoadingStopped`.
    cache : bool, keyword-only
        Reuse and store prepared clips in the user cache folder, keyed by file content and these
        parameters.
    estimate_pitch : bool, keyword-only
        Give clips without a ``__pNNN`` label the pitch a YIN estimate finds
        (:func:`synth_core.dsp.f0_hz`); sounds with no clear period (noise, most drums) stay NaN.

    Returns
    -------
    ClipSet

    Raises
    ------
    DatasetError
        When the folder is missing or no file is usable (the message says how many were skipped
        and the commonest reason); :class:`LoadingStopped` when stopped.
    """
    import torch  # here, not at the top: `timbrelab scan` starts a second faster without it

    if not MIN_SAMPLE_RATE <= int(sample_rate) <= MAX_SAMPLE_RATE:
        raise DatasetError(
            f"sample_rate {sample_rate} Hz is outside {MIN_SAMPLE_RATE}–{MAX_SAMPLE_RATE} Hz"
        )
    length = int(round(float(seconds) * int(sample_rate)))
    if length < 1:
        raise DatasetError(f"clip length {seconds} s is too short at {sample_rate} Hz")
    if isinstance(source, ScanReport):
        report = source
    else:
        report = scan(source, progress=progress, should_stop=should_stop)
        if report.stopped:
            raise LoadingStopped("loading stopped before the scan finished", path=report.folder)
    # One preallocated array, filled in place: stacking 10 000 clips afterwards would copy them all.
    clips = np.empty((len(report.usable), length), dtype=np.float32)
    clip_cache = _ClipCache(paths.cache_dir() / "clips", length) if cache else None
    pitches: list[float] = []
    used: list[Path] = []
    failed: list[SkippedFile] = []
    report_progress = _Throttle(progress)
    for done, sound in enumerate(report.usable, start=1):
        if should_stop is not None and should_stop():
            raise LoadingStopped(f"loading stopped after {done - 1} files", path=report.folder)
        try:
            clips[len(used)] = _prepared_clip(
                sound.path, int(sample_rate), length, trim, clip_cache
            )
        except (AudioFileError, OSError) as error:
            reason = str(error).removeprefix(f"{sound.path}: ")
            failed.append(SkippedFile(sound.path, f"failed to load: {reason}"))
        else:
            pitches.append(np.nan if sound.pitch is None else sound.pitch)
            used.append(sound.path)
        report_progress(done, len(report.usable))
    if not used:
        all_skipped = report.skipped + failed
        if not all_skipped:
            raise DatasetError(
                "no audio files found (looked for "
                f"{', '.join(sorted({s.lstrip('.') for s in FORMAT_BY_SUFFIX}))})",
                path=report.folder,
            )
        raise DatasetError(
            f"no usable sounds: {len(all_skipped)} file(s) skipped, most often "
            f"{commonest_reason(all_skipped)!r}; run `timbrelab scan` on it for the full list",
            path=report.folder,
        )
    audio = torch.from_numpy(clips if not failed else clips[: len(used)].copy())
    pitch = torch.tensor(pitches, dtype=torch.float32)
    unlabelled = pitch.isnan()
    if estimate_pitch and bool(unlabelled.any()):
        from synth_core import dsp

        hz = dsp.f0_hz(audio[unlabelled], int(sample_rate))
        pitch[unlabelled] = dsp.hz_to_midi(hz).float()
        log.info("estimated pitch for %d of %d unlabelled clips", int(hz.isfinite().sum()), len(hz))
    return ClipSet(
        audio=audio,
        pitch=pitch,
        paths=used,
        sample_rate=int(sample_rate),
        skipped=failed,
    )


def skipped_line(item: SkippedFile) -> str:
    """``"skipped PATH: REASON"``, one line whatever the file's name holds."""
    return f"skipped {printable_name(item.path)}: {printable_name(item.reason)}"


def say_skipped(item: SkippedFile) -> None:
    """The command line's line for a file it does not use, on stderr."""
    sys.stderr.write(skipped_line(item) + "\n")


def load_clips_reporting(
    folder: str | Path,
    report: Callable[[SkippedFile], None],
    *,
    sample_rate: int,
    seconds: float,
) -> ClipSet:
    """:func:`load_clips` for the command line: every file of ``folder`` that is not used —
    rejected by the scan (not audio, too short, a duplicate link…) or failing to load — is handed
    to ``report``, so a corrupt file in a dataset is skipped *and said*.
    (``ClipSet.skipped`` alone holds only the load failures.)"""
    scanned = scan(folder)
    clips = load_clips(scanned, sample_rate=sample_rate, seconds=seconds)
    for item in [*scanned.skipped, *clips.skipped]:
        report(item)
    return clips


def _prepared_clip(
    path: Path, sample_rate: int, length: int, trim: bool, cache: _ClipCache | None
) -> np.ndarray:
    key = _content_key(path, sample_rate, length, trim) if cache is not None else ""
    if cache is not None:
        cached = cache.read(key)
        if cached is not None:
            return cached
    # Every channel at the file's own rate, judged as the scan judged it; then mono and resampled
    # exactly as ``load(path, sample_rate=..., mono=True)`` would.
    audio = load(path, mono=False)
    verdict = judge_level(*measure_level(audio.samples))
    if verdict.skip is not None:
        raise AudioFileError(verdict.skip, path=path)
    samples = audio.samples
    if samples.ndim == 2:
        samples = samples.mean(axis=1, dtype=np.float32)
    if verdict.gain != 1.0:
        samples = samples * np.float32(verdict.gain)
    if audio.sample_rate != sample_rate:
        samples = resample(samples, audio.sample_rate, sample_rate)
    clip = prepare_clip(samples, sample_rate, length=length, trim=trim)
    if cache is not None:
        cache.write(key, clip)
    return clip


def _display(path: Path, folder: Path) -> str:
    """A path relative to the scanned folder, as one escaped line (see :func:`printable_name`)."""
    try:
        text = path.relative_to(folder).as_posix()
    except ValueError:
        text = str(path)
    return printable_name(text)


def _text_width(text: str) -> int:
    """Terminal columns ``text`` takes: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _text_width(text))


def format_report(report: ScanReport) -> str:
    """The human-readable table ``timbrelab scan`` prints."""
    lines = [f"Folder: {printable_name(report.folder)}", ""]
    if report.usable:
        names = [_display(item.path, report.folder) for item in report.usable]
        width = min(60, max(len("File"), *(_text_width(name) for name in names)))
        lines.append(f"USED ({len(report.usable)})")
        lines.append(
            f"  {'File':<{width}}  {'Length':>8}  {'Rate':>6}  {'Ch':>2}  {'Peak':>7}  Pitch"
            + ("  Note" if any(item.note for item in report.usable) else "")
        )
        for name, item in zip(names, report.usable, strict=True):
            peak = f"{20 * np.log10(item.peak):.1f}dB" if item.peak else "-"
            pitch = f"{item.pitch:g}" if item.pitch is not None else "-"
            lines.append(
                f"  {_pad(name, width)}  {item.duration:>7.3f}s  {item.sample_rate:>6}  "
                f"{item.channels:>2}  {peak:>7}  {pitch:<5}  {item.note}".rstrip()
            )
        lines.append("")
    if report.skipped:
        names = [_display(item.path, report.folder) for item in report.skipped]
        width = min(60, max(len("File"), *(_text_width(name) for name in names)))
        lines.append(f"SKIPPED ({len(report.skipped)})")
        lines.append(f"  {'File':<{width}}  Reason")
        for name, item in zip(names, report.skipped, strict=True):
            lines.append(f"  {_pad(name, width)}  {printable_name(item.reason)}")
        lines.append("")
    if not report.usable and not report.skipped:
        lines += ["No audio files found.", ""]
    lines.append(printable_name(report.summary()))
    return "\n".join(lines)


def cli_scan(args: Any) -> int:
    """``timbrelab scan DATA [--json] [--no-recursive]``: what would be used or skipped, and why.

    Exits 0 whenever the folder exists, even when every file in it is bad; a missing folder is a
    :class:`DatasetError` (exit 2, one line on stderr).
    """
    folder = Path(args.data)
    progress: Progress | None = None
    bar = None
    if not args.json and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=0, unit="file", desc="Scanning", leave=False, file=sys.stderr)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

    try:
        report = scan(folder, recursive=not args.no_recursive, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(format_report(report) + "\n")
    return 0
