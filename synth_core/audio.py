"""Reading, writing, resampling and normalising audio.

Everything is float32 numpy: ``[frames]`` when mono, ``[frames, channels]`` otherwise, values
nominally in -1…1. Files go through libsndfile (``soundfile``), so WAV, FLAC, OGG/Vorbis, AIFF and
MP3 work wherever the installed libsndfile has them. Resampling uses soxr at very high quality and
loudness uses pyloudnorm (ITU-R BS.1770-4); neither is re-implemented here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from synth_core.errors import AudioFileError
from synth_core.paths import new_file_mode

log = logging.getLogger(__name__)

# File name suffix -> libsndfile major format. These are the suffixes ``load`` and ``save`` know.
FORMAT_BY_SUFFIX: dict[str, str] = {
    ".wav": "WAV",
    ".wave": "WAV",
    ".flac": "FLAC",
    ".ogg": "OGG",
    ".oga": "OGG",
    ".opus": "OGG",
    ".aif": "AIFF",
    ".aiff": "AIFF",
    ".aifc": "AIFF",
    ".mp3": "MP3",
    ".caf": "CAF",
    ".w64": "W64",
    ".rf64": "RF64",
    ".au": "AU",
    ".snd": "AU",
}

# Audio formats people have in sample folders that libsndfile cannot decode: a scan reports them
# (with advice) instead of silently ignoring them.
UNSUPPORTED_AUDIO_SUFFIXES = frozenset(
    {".m4a", ".aac", ".alac", ".mp4", ".wma", ".ape", ".wv", ".mka", ".webm", ".mpc", ".ac3"}
)

# What the soundfile metadata API can store (libsndfile "string" fields).
METADATA_FIELDS = frozenset(
    {
        "title",
        "copyright",
        "software",
        "artist",
        "comment",
        "date",
        "album",
        "license",
        "tracknumber",
        "genre",
    }
)

MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 192000


@dataclass(frozen=True)
class Audio:
    """Decoded audio.

    Parameters
    ----------
    samples : np.ndarray
        float32, ``[frames]`` when mono, ``[frames, channels]`` otherwise.
    sample_rate : int
        Hz.
    path : Path or None
        The file it came from, when it came from one.
    """

    samples: np.ndarray
    sample_rate: int
    path: Path | None = None

    @property
    def frames(self) -> int:
        """Length in samples per channel."""
        return int(self.samples.shape[0])

    @property
    def channels(self) -> int:
        """Number of channels (1 for a ``[frames]`` array)."""
        return 1 if self.samples.ndim == 1 else int(self.samples.shape[1])

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / float(self.sample_rate)


def libsndfile_reason(error: Exception) -> str:
    """The useful part of a libsndfile error: no "Error :" prefix, file name or final period."""
    message = error.error_string if isinstance(error, sf.LibsndfileError) else str(error)
    message = message.strip()
    for prefix in ("Error :", "Error:"):
        message = message.removeprefix(prefix).strip()
    return message.rstrip(".") or type(error).__name__


def load(path: str | Path, *, sample_rate: int | None = None, mono: bool = True) -> Audio:
    """Read an audio file into float32.

    Parameters
    ----------
    path : str or Path
        Any file libsndfile can decode.
    sample_rate : int or None, keyword-only
        Resample to this rate, Hz; ``None`` keeps the file's rate.
    mono : bool, keyword-only
        Average the channels into one, ``[frames]``; otherwise a file with several channels gives
        ``[frames, channels]`` (a one-channel file is ``[frames]`` either way).

    Returns
    -------
    Audio

    Raises
    ------
    AudioFileError
        When the file is missing, not audio, damaged, empty, or holds NaN/inf samples.
    """
    path = Path(path)
    if path.is_dir():
        raise AudioFileError("is a folder, not an audio file", path=path)
    if not path.exists():
        raise AudioFileError("no such file", path=path)
    try:
        # Bytes, because soundfile encodes str paths as strict UTF-8 and a file name on Linux
        # can be any bytes (Python keeps those as surrogates in str).
        data, rate = sf.read(os.fsencode(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as error:
        raise AudioFileError(
            f"cannot be read as audio ({libsndfile_reason(error)})", path=path
        ) from error
    if data.shape[0] == 0:
        raise AudioFileError("contains no audio (0 frames)", path=path)
    if not np.isfinite(data).all():
        raise AudioFileError("contains NaN or infinite samples", path=path)
    if data.shape[1] == 1:
        samples = np.ascontiguousarray(data[:, 0])
    elif mono:
        samples = data.mean(axis=1, dtype=np.float32)
    else:
        samples = np.ascontiguousarray(data)
    if sample_rate is not None and int(sample_rate) != rate:
        samples = resample(samples, rate, int(sample_rate))
        rate = int(sample_rate)
    return Audio(samples=samples, sample_rate=int(rate), path=path)


def _format_for(path: Path, format: str | None) -> str:
    if format is not None:
        major = FORMAT_BY_SUFFIX.get("." + format.lower().lstrip("."), format.upper())
    else:
        major = FORMAT_BY_SUFFIX.get(path.suffix.lower(), "")
    if major not in sf.available_formats():
        raise AudioFileError(
            f"cannot write format {format or path.suffix or '(no suffix)'!r}; use one of "
            ".wav, .flac, .ogg, .aiff, .mp3",
            path=path,
        )
    return major


def save(
    audio_or_array: Audio | np.ndarray,
    path: str | Path,
    *,
    sample_rate: int | None = None,
    format: str | None = None,
    subtype: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write audio to a file atomically (a temporary file in the same folder, then a rename).

    Parameters
    ----------
    audio_or_array : Audio or np.ndarray
        ``[frames]`` or ``[frames, channels]``, nominally -1…1. Integer subtypes clip to that range.
    path : str or Path
        Where to write; the folder must exist.
    sample_rate : int or None, keyword-only
        Hz. Required for an array; for an :class:`Audio` it resamples when it differs.
    format : str or None, keyword-only
        ``"wav"``, ``"flac"``, ``"ogg"``, ``"aiff"``, ``"mp3"``…; default from the suffix.
    subtype : str or None, keyword-only
        libsndfile subtype such as ``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``, ``"VORBIS"``;
        default is the format's usual one (16-bit PCM for WAV/FLAC/AIFF).
    metadata : mapping or None, keyword-only
        Text fields among :data:`METADATA_FIELDS` (title, artist, comment, software…).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    AudioFileError
        For an unknown format or subtype, bad samples, unknown metadata or a failed write.
    """
    path = Path(path)
    if isinstance(audio_or_array, Audio):
        samples, rate = audio_or_array.samples, audio_or_array.sample_rate
        if sample_rate is not None and int(sample_rate) != rate:
            samples, rate = resample(samples, rate, int(sample_rate)), int(sample_rate)
    else:
        if sample_rate is None:
            raise AudioFileError("sample_rate is needed to save a plain array", path=path)
        samples, rate = np.asarray(audio_or_array), int(sample_rate)
    if samples.ndim not in (1, 2) or samples.shape[0] == 0:
        raise AudioFileError(
            f"cannot save samples of shape {samples.shape}; need [frames] or [frames, channels]",
            path=path,
        )
    if rate <= 0:
        raise AudioFileError(f"sample rate {rate} Hz must be positive", path=path)
    samples = samples.astype(np.float32, copy=False)
    if not np.isfinite(samples).all():
        raise AudioFileError("refusing to save NaN or infinite samples", path=path)
    major = _format_for(path, format)
    subtype = subtype.upper() if subtype else sf.default_subtype(major)
    if not sf.check_format(major, subtype):
        raise AudioFileError(
            f"format {major} cannot hold subtype {subtype}; choose one of "
            f"{', '.join(sorted(sf.available_subtypes(major)))}",
            path=path,
        )
    unknown = set(metadata or {}) - METADATA_FIELDS
    if unknown:
        raise AudioFileError(
            f"unknown metadata field(s) {sorted(unknown)}; known: {sorted(METADATA_FIELDS)}",
            path=path,
        )
    if subtype not in ("FLOAT", "DOUBLE"):
        # libsndfile wraps rather than clips out-of-range floats when converting to integers.
        samples = np.clip(samples, -1.0, 1.0)
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    if not path.parent.is_dir():
        raise AudioFileError(f"folder {path.parent} does not exist", path=path)
    try:
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".part")
    except OSError as error:  # a read-only folder, a full disk, a name the file system refuses
        raise AudioFileError(f"cannot write here ({error.strerror})", path=path) from error
    os.close(fd)
    try:
        # mkstemp makes the file private (0600); the written sound is shared as the umask says
        os.chmod(temp_name, new_file_mode())
        with sf.SoundFile(
            os.fsencode(temp_name),
            "w",
            samplerate=rate,
            channels=channels,
            format=major,
            subtype=subtype,
        ) as handle:
            for key, value in (metadata or {}).items():
                setattr(handle, key, str(value))
            handle.write(samples)
        os.replace(temp_name, path)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as error:
        cause: BaseException = _system_cause(error, path)
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise AudioFileError(
            f"cannot write {major}/{subtype} at {rate} Hz ({libsndfile_reason(error)})", path=path
        ) from cause
    return path


def _system_cause(error: BaseException, path: Path) -> BaseException:
    """The operating-system error behind a libsndfile "System error", else ``error`` itself.

    libsndfile reports a failed ``write(2)`` (a full disk, a quota) only as its code 2; the C
    ``errno`` it left is still readable through soundfile's FFI right after the failure, and
    turning it into an ``OSError`` lets the command line say "disk full" instead of "System
    error" (``errors.from_system_error`` looks through the chain of causes).
    """
    if isinstance(error, sf.LibsndfileError) and getattr(error, "code", None) == 2:
        number = int(sf._ffi.errno)
        if number:
            return OSError(number, os.strerror(number), str(path))
    return error


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Band-limited resampling with soxr at very high quality.

    Parameters
    ----------
    samples : np.ndarray
        ``[frames]`` or ``[frames, channels]``.
    from_rate, to_rate : int
        Hz, positive.

    Returns
    -------
    np.ndarray
        float32, ``round(frames * to_rate / from_rate)`` frames, same channel layout.
    """
    if from_rate <= 0 or to_rate <= 0:
        raise AudioFileError(f"sample rates must be positive, got {from_rate} → {to_rate} Hz")
    samples = np.asarray(samples, dtype=np.float32)
    if from_rate == to_rate:
        return samples.copy()
    return soxr.resample(samples, from_rate, to_rate, quality="VHQ").astype(np.float32, copy=False)


def peak_normalise(samples: np.ndarray, *, peak_db: float = -1.0) -> np.ndarray:
    """Scale so the largest absolute sample sits at ``peak_db`` dBFS.

    Parameters
    ----------
    samples : np.ndarray
        Any shape.
    peak_db : float, keyword-only
        Target peak, dBFS (0 dBFS = 1.0).

    Returns
    -------
    np.ndarray
        float32; silence is returned unchanged.
    """
    samples = np.asarray(samples, dtype=np.float32)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak == 0.0 or not np.isfinite(peak):
        return samples.copy()
    return samples * np.float32(10.0 ** (peak_db / 20.0) / peak)


# BS.1770 measures in 400 ms gating blocks; shorter audio cannot be measured as it is.
_LOUDNESS_BLOCK_S = 0.4


def loudness(samples: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness, LUFS (ITU-R BS.1770-4 via pyloudnorm); ``-inf`` for silence.

    Clips shorter than one 400 ms gating block are measured zero-padded to one block: the
    padding is silence, which the absolute gate of -70 LUFS ignores where it fills whole blocks.
    """
    import pyloudnorm

    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim == 2 and samples.shape[1] > 5:
        raise AudioFileError(
            f"loudness of {samples.shape[1]} channels is not defined here (BS.1770 weights cover "
            "up to 5); downmix to stereo first or use peak normalisation"
        )
    block = int(np.ceil(_LOUDNESS_BLOCK_S * sample_rate)) + 1
    if samples.shape[0] < block:
        pad = [(0, block - samples.shape[0])] + [(0, 0)] * (samples.ndim - 1)
        samples = np.pad(samples, pad)
    return float(pyloudnorm.Meter(sample_rate).integrated_loudness(samples))


def loudness_normalise(samples: np.ndarray, sample_rate: int, *, lufs: float = -16.0) -> np.ndarray:
    """Scale to an integrated loudness of ``lufs`` (ITU-R BS.1770-4).

    Parameters
    ----------
    samples : np.ndarray
        ``[frames]`` or ``[frames, channels]``.
    sample_rate : int
        Hz.
    lufs : float, keyword-only
        Target loudness, LUFS.

    Returns
    -------
    np.ndarray
        float32. Not limited: a loud target on a peaky sound can exceed 1.0; follow with
        :func:`peak_normalise` or clip when that matters. Silence is returned unchanged.
    """
    samples = np.asarray(samples, dtype=np.float32)
    measured = loudness(samples, sample_rate)
    if not np.isfinite(measured):
        return samples.copy()
    return samples * np.float32(10.0 ** ((lufs - measured) / 20.0))
