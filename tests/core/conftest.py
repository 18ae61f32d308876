"""Shared fixtures for core tests: user folders in tmp, generated sounds, a bad-file corpus.

Everything is generated here at test time with soundfile; no audio binaries are committed.
Other core test authors: add fixtures with small edits, keep each one documented.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Point the cache, config and data folders at fresh temporary folders for every test."""
    root = tmp_path_factory.mktemp("user")
    for name in ("CACHE", "CONFIG", "DATA"):
        monkeypatch.setenv(f"TIMBRELAB_{name}_DIR", str(root / name.lower()))
    return root


def tone(
    frequency: float = 440.0,
    *,
    seconds: float = 0.5,
    sample_rate: int = 44100,
    amplitude: float = 0.5,
    channels: int = 1,
    onset_s: float = 0.0,
    decay_s: float | None = 0.2,
) -> np.ndarray:
    """A sine, optionally with exponential decay and leading silence; ``[frames]`` or
    ``[frames, channels]`` float32 (channels get slightly different levels so they differ)."""
    frames = int(round(seconds * sample_rate))
    t = np.arange(frames) / sample_rate
    start = int(round(onset_s * sample_rate))
    envelope = np.ones(frames)
    if decay_s is not None:
        envelope = np.exp(-np.maximum(t - onset_s, 0.0) / decay_s)
    envelope[:start] = 0.0
    mono = amplitude * envelope * np.sin(2 * np.pi * frequency * (t - onset_s))
    if channels == 1:
        return mono.astype(np.float32)
    gains = np.linspace(1.0, 0.5, channels)
    return (mono[:, None] * gains[None, :]).astype(np.float32)


@pytest.fixture
def make_sound() -> Callable[..., Path]:
    """``make_sound(path, frequency=440, seconds=0.5, sample_rate=44100, subtype=None, ...)``
    writes a decaying sine with soundfile and returns its path (parent folders created)."""

    def write(path: Path, *, subtype: str | None = None, **tone_args: object) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        rate = int(tone_args.get("sample_rate", 44100))  # type: ignore[arg-type]
        sf.write(path, tone(**tone_args), rate, subtype=subtype)  # type: ignore[arg-type]
        return path

    return write


@pytest.fixture
def sound_folder(tmp_path: Path, make_sound: Callable[..., Path]) -> Path:
    """A folder of six good, short one-shots at 44.1 kHz: four pitched (``__pNNN`` names, MIDI
    48/55/60/67) and two unlabelled, one of them stereo in a sub-folder."""
    folder = tmp_path / "sounds"
    for midi in (48, 55, 60, 67):
        hz = 440.0 * 2 ** ((midi - 69) / 12)
        make_sound(folder / f"pluck__p{midi:03d}.wav", frequency=hz, seconds=0.4)
    make_sound(folder / "hit.flac", frequency=200.0, seconds=0.3, onset_s=0.05)
    make_sound(folder / "more" / "wide.wav", frequency=300.0, seconds=0.3, channels=2)
    return folder


def _wav_header(data_bytes: int, *, sample_rate: int = 44100) -> bytes:
    """A canonical 16-bit mono RIFF/WAVE header announcing ``data_bytes`` of samples."""
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


# File name in the corpus -> the start of the reason scan must give for skipping it.
BAD_FILES: dict[str, str] = {
    "empty.wav": "empty file",
    "truncated header.wav": "unreadable",
    "notes.wav": "unreadable",
    "nan.wav": "contains NaN or infinite",
    "inf.wav": "contains NaN or infinite",
    "zero length.wav": "no audio",
    "cut short.flac": "unreadable: damaged audio data",
    "silence.wav": "silent",
    "almost silence.wav": "silent",
    "blip.wav": "too short",
    "broken link.wav": "broken link",
    "loop.wav": "broken link",
    "song.m4a": "unsupported format",
    "slow rate.wav": "sample rate",
}


@pytest.fixture
def bad_corpus(tmp_path: Path, make_sound: Callable[..., Path]) -> tuple[Path, dict[str, str]]:
    """A folder of every kind of bad file scan must survive, next to two good ones.

    Returns the folder and :data:`BAD_FILES` (name -> expected reason prefix). Also holds things
    that are not reported at all: a directory named ``x.wav`` (an empty folder), ``.txt``/``.json``
    sidecars and a hidden ``._resource.wav``. The good files are ``ok kick__p036.wav`` and
    ``ünïcødé 音.flac``.
    """
    folder = tmp_path / "bad corpus"
    folder.mkdir()
    make_sound(folder / "ok kick__p036.wav", frequency=65.4, seconds=0.3)
    make_sound(folder / "ünïcødé 音.flac", frequency=523.3, seconds=0.3)
    (folder / "empty.wav").write_bytes(b"")
    (folder / "truncated header.wav").write_bytes(_wav_header(88200)[:20])
    (folder / "notes.wav").write_text("this is a text file, not a recording\n")
    nan = tone(seconds=0.2)
    nan[100] = np.nan
    sf.write(folder / "nan.wav", nan, 44100, subtype="FLOAT")
    inf = tone(seconds=0.2)
    inf[50] = -np.inf
    sf.write(folder / "inf.wav", inf, 44100, subtype="DOUBLE")
    (folder / "zero length.wav").write_bytes(_wav_header(0))
    cut = folder / "cut short.flac"
    sf.write(cut, tone(seconds=1.0), 44100)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    sf.write(folder / "silence.wav", np.zeros(22050, np.float32), 44100)
    sf.write(
        folder / "almost silence.wav", np.full(22050, 1e-6, np.float32), 44100, subtype="FLOAT"
    )
    make_sound(folder / "blip.wav", seconds=0.005)
    os.symlink(folder / "missing target.wav", folder / "broken link.wav")
    os.symlink("loop.wav", folder / "loop.wav")
    (folder / "song.m4a").write_bytes(b"\x00\x00\x00\x18ftypM4A " + bytes(64))
    make_sound(folder / "slow rate.wav", sample_rate=4000, seconds=0.3)
    (folder / "x.wav").mkdir()
    (folder / "x.wav" / "readme.txt").write_text("a folder with an audio-looking name")
    (folder / "notes.txt").write_text("sidecar")
    (folder / "meta.json").write_text("{}")
    (folder / "._resource.wav").write_bytes(b"\x00\x05\x16\x07")
    return folder, dict(BAD_FILES)
