"""Fixed-length training clips from the usable files of a folder.

:func:`load_clips` turns the usable files into a :class:`ClipSet`: mono, one sample rate, leading
silence trimmed so every clip starts at its onset, cut or zero-padded to one length, with a pitch
label from ``name__pNNN.wav`` file names. Files are judged by the same
:func:`~synth_core.dataset.level.judge_level` as the scan, so what ``timbrelab scan`` reports is
what training loads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from synth_core import paths
from synth_core.audio import FORMAT_BY_SUFFIX, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, load, resample
from synth_core.dataset.cache import ClipCache, content_key
from synth_core.dataset.folder import Progress, ShouldStop, Throttle, scan
from synth_core.dataset.level import judge_level, measure_level
from synth_core.dataset.report import ScanReport, SkippedFile, commonest_reason
from synth_core.errors import AudioFileError, DatasetError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

ONSET_DB = -40.0
"""Trimming starts a clip where it first reaches this level relative to its own peak (dB)."""
PRE_ROLL_S = 0.002
"""Kept before the detected onset (seconds) so the attack's rise is not cut off."""
FADE_OUT_S = 0.01
"""Raised-cosine fade (seconds) where a longer sound is cut to the clip length."""


class LoadingStopped(DatasetError):
    """Clip loading was stopped through ``should_stop`` before it finished."""

    exit_code = 1


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
    clip_cache = ClipCache(paths.cache_dir() / "clips", length) if cache else None
    pitches: list[float] = []
    used: list[Path] = []
    failed: list[SkippedFile] = []
    report_progress = Throttle(progress)
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
    path: Path, sample_rate: int, length: int, trim: bool, cache: ClipCache | None
) -> np.ndarray:
    key = content_key(path, sample_rate, length, trim) if cache is not None else ""
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
