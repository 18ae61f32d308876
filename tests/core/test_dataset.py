"""Scanning folders of sounds and loading them as training clips."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from synth_core import dataset, paths
from synth_core.dataset import (
    ClipSet,
    LoadingStopped,
    ScanReport,
    load_clips,
    pitch_from_name,
    prepare_clip,
    scan,
)
from synth_core.errors import DatasetError


def test_every_bad_file_is_skipped_with_its_reason(bad_corpus):
    folder, expected = bad_corpus
    report = scan(folder)
    assert sorted(item.path.name for item in report.usable) == [
        "ok kick__p036.wav",
        "ünïcødé 音.flac",
    ]
    reasons = {item.path.name: item.reason for item in report.skipped}
    assert set(reasons) == set(expected)
    for name, prefix in expected.items():
        assert reasons[name].startswith(prefix), (name, reasons[name])


def test_usable_files_carry_their_header_facts_and_pitch(sound_folder):
    report = scan(sound_folder)
    by_name = {item.path.name: item for item in report.usable}
    assert len(by_name) == 6 and not report.skipped
    pluck = by_name["pluck__p060.wav"]
    assert pluck.sample_rate == 44100 and pluck.channels == 1
    assert pluck.frames == 17640 and pluck.duration == pytest.approx(0.4)
    assert pluck.pitch == 60.0 and pluck.peak == pytest.approx(0.5, abs=0.01)
    assert by_name["wide.wav"].channels == 2 and by_name["hit.flac"].pitch is None


def test_pitch_labels_come_from_the_file_name():
    assert pitch_from_name("kick__p036.wav") == 36.0
    assert pitch_from_name(Path("pads/warm__P60.5.flac")) == 60.5
    assert pitch_from_name("kick_p036.wav") is None
    assert pitch_from_name("tone__p200.wav") is None


def test_clips_are_mono_fixed_length_and_labelled(sound_folder):
    clips = load_clips(sound_folder, sample_rate=22050, seconds=0.25)
    assert isinstance(clips, ClipSet) and len(clips) == 6
    assert clips.audio.shape == (6, 5512) and clips.audio.dtype == torch.float32
    labelled = {p.name: float(v) for p, v in zip(clips.paths, clips.pitch, strict=True)}
    assert labelled["pluck__p048.wav"] == 48.0 and math.isnan(labelled["hit.flac"])
    assert clips.has_pitch and clips.sample_rate == 22050


def test_leading_silence_is_trimmed_so_clips_start_at_the_onset(sound_folder):
    clips = load_clips(sound_folder, sample_rate=44100, seconds=0.2)
    hit = clips.audio[[p.name for p in clips.paths].index("hit.flac")].numpy()
    first_loud = int(np.argmax(np.abs(hit) > 0.005))
    assert first_loud < 0.005 * 44100  # the 50 ms of silence before the hit is gone


def test_a_folder_of_only_bad_files_raises_with_the_commonest_reason(bad_corpus):
    folder, _ = bad_corpus
    for good in ("ok kick__p036.wav", "ünïcødé 音.flac"):
        (folder / good).unlink()
    with pytest.raises(DatasetError, match=r"no usable sounds: 14 file\(s\) skipped"):
        load_clips(folder)


def test_a_missing_folder_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        scan(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="no such folder"):
        load_clips(tmp_path / "nowhere")


def test_report_converts_to_plain_json_data(sound_folder):
    data = scan(sound_folder).to_dict()
    assert data["summary"]["usable"] == 6 and isinstance(data["usable"][0]["path"], str)
    assert isinstance(ScanReport(folder=sound_folder).to_dict()["usable"], list)


def test_scan_reports_progress_up_to_the_last_file(sound_folder):
    calls: list[tuple[int, int]] = []
    scan(sound_folder, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (6, 6)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_a_scan_can_be_stopped_and_says_so(sound_folder):
    asked = []

    def stop_after_two() -> bool:
        asked.append(1)
        return len(asked) > 2

    report = scan(sound_folder, should_stop=stop_after_two)
    assert report.stopped and len(report.usable) == 2
    assert "scan stopped early" in report.summary()


def test_loading_clips_can_be_stopped(sound_folder):
    report = scan(sound_folder)
    with pytest.raises(LoadingStopped, match="loading stopped after 0 files"):
        load_clips(report, should_stop=lambda: True)


def test_linked_folder_loops_end_and_linked_files_are_not_used_twice(sound_folder):
    os.symlink(sound_folder, sound_folder / "more" / "back to top")
    os.symlink(sound_folder / "hit.flac", sound_folder / "hit again.flac")
    report = scan(sound_folder)
    assert len(report.usable) == 6
    assert [item.reason for item in report.skipped] == ["same file as hit.flac (linked twice)"]


def test_long_files_are_skipped_without_decoding(sound_folder, monkeypatch):
    monkeypatch.setattr(dataset.folder, "MAX_DURATION_S", 0.35)
    report = scan(sound_folder)
    reasons = {item.path.name: item.reason for item in report.skipped}
    assert reasons["pluck__p060.wav"] == "too long (400 ms > 350 ms)"
    assert len(report.usable) == 2


def test_cut_clips_fade_out_and_short_ones_are_zero_padded():
    rate = 8000
    long_sound = np.ones(3 * rate, np.float32)
    cut = prepare_clip(long_sound, rate, length=rate)
    fade = int(dataset.FADE_OUT_S * rate)
    assert cut[0] == 1.0 and cut[-fade - 1] == 1.0 and cut[-1] == 0.0
    assert np.all(np.diff(cut[-fade:]) <= 0)
    padded = prepare_clip(np.ones(100, np.float32), rate, length=rate, trim=False)
    assert padded[:100].all() and not padded[100:].any()


def test_trimming_keeps_a_short_pre_roll_before_the_onset():
    rate = 10000
    sound = np.zeros(rate, np.float32)
    sound[3000:] = 0.8
    clip = prepare_clip(sound, rate, length=500)
    pre_roll = int(dataset.PRE_ROLL_S * rate)
    assert not clip[:pre_roll].any() and clip[pre_roll] == pytest.approx(0.8)


def cache_files() -> list[Path]:
    return sorted((paths.cache_dir() / "clips").rglob("*.npy"))


def test_prepared_clips_are_cached_by_content_and_reused(sound_folder):
    first = load_clips(sound_folder, sample_rate=8000, seconds=0.1)
    stored = cache_files()
    assert len(stored) == 6
    for path in stored:
        assert np.load(path, allow_pickle=False).shape == (800,)
    # Prove the second load reads the cache: mark one entry and find the mark in the result.
    np.save(stored[0], np.full(800, 0.25, np.float32), allow_pickle=False)
    second = load_clips(sound_folder, sample_rate=8000, seconds=0.1)
    marked = [bool(torch.all(clip == 0.25)) for clip in second.audio]
    assert sum(marked) == 1
    assert torch.equal(first.audio[[not m for m in marked]], second.audio[[not m for m in marked]])


def test_other_preparation_settings_and_changed_files_get_their_own_entries(
    sound_folder, make_sound
):
    load_clips(sound_folder, sample_rate=8000, seconds=0.1)
    load_clips(sound_folder, sample_rate=8000, seconds=0.2)
    assert len(cache_files()) == 12
    make_sound(sound_folder / "hit.flac", frequency=900.0, seconds=0.3)
    reloaded = load_clips(sound_folder, sample_rate=8000, seconds=0.1)
    assert len(cache_files()) == 13 and len(reloaded) == 6


def test_a_corrupt_cache_entry_is_ignored_and_rebuilt(sound_folder):
    fresh = load_clips(sound_folder, sample_rate=8000, seconds=0.1)
    damaged = cache_files()
    damaged[0].write_bytes(b"\x93NUMPY garbage")
    damaged[1].write_bytes(b"")
    np.save(damaged[2], np.zeros(3, np.float32))
    rebuilt = load_clips(sound_folder, sample_rate=8000, seconds=0.1)
    assert torch.equal(fresh.audio, rebuilt.audio)
    for path in damaged[:3]:
        assert np.load(path, allow_pickle=False).shape == (800,)


def test_without_cache_nothing_is_written(sound_folder):
    load_clips(sound_folder, sample_rate=8000, seconds=0.1, cache=False)
    assert cache_files() == []


def test_a_file_that_breaks_after_the_scan_is_reported_not_fatal(sound_folder):
    report = scan(sound_folder)
    (sound_folder / "hit.flac").write_text("overwritten by a text editor")
    clips = load_clips(report, sample_rate=8000, seconds=0.1, cache=False)
    assert len(clips) == 5
    assert [item.path.name for item in clips.skipped] == ["hit.flac"]
    assert clips.skipped[0].reason.startswith("failed to load: cannot be read as audio")


@pytest.mark.slow
def test_thousands_of_tiny_files_scan_with_progress(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    rng = np.random.default_rng(1)
    tiny = (0.3 * rng.standard_normal((3000, 441))).astype(np.float32)
    for index, samples in enumerate(tiny):
        sf.write(folder / f"hit {index:05d}.wav", samples, 22050)
    calls: list[tuple[int, int]] = []
    report = scan(folder, progress=lambda done, total: calls.append((done, total)))
    assert len(report.usable) == 3000 and not report.skipped
    assert calls[-1] == (3000, 3000) and len(calls) >= 2


def test_every_supported_format_depth_layout_and_odd_name_scans_as_usable(tmp_path, make_sound):
    folder = tmp_path / "formats"
    make_sound(folder / "low 8 bit.wav", sample_rate=8000, subtype="PCM_U8")
    make_sound(folder / "float.wav", subtype="FLOAT")
    make_sound(folder / "hi res.flac", sample_rate=192000, subtype="PCM_24")
    make_sound(folder / "mac.aiff", sample_rate=48000, subtype="PCM_32")
    make_sound(folder / "vorbis.ogg")
    make_sound(folder / "octo.wav", channels=8, sample_rate=96000)
    expected = {"low 8 bit.wav", "float.wav", "hi res.flac", "mac.aiff", "vorbis.ogg", "octo.wav"}
    if "MP3" in sf.available_formats():
        make_sound(folder / "lossy.mp3")
        expected.add("lossy.mp3")
    # A file name that is not valid UTF-8, as old archives and other OSes leave behind.
    odd = os.path.join(os.fsencode(folder), b"caf\xe9 hit.wav")
    os.rename(make_sound(folder / "latin1.wav"), odd)
    # A header that promises a second of audio, followed by only 2000 samples.
    header = sf.SoundFile(folder / "cut.wav", "w", 44100, 1, subtype="PCM_16")
    header.write(0.25 * np.sin(np.arange(44100, dtype=np.float32) / 10))
    header.close()
    (folder / "cut.wav").write_bytes((folder / "cut.wav").read_bytes()[: 44 + 4000])
    report = scan(folder)
    assert not report.skipped, report.skipped
    by_name = {item.path.name: item for item in report.usable}
    assert expected <= set(by_name) and "caf\udce9 hit.wav" in by_name
    assert by_name["octo.wav"].channels == 8 and by_name["hi res.flac"].sample_rate == 192000
    assert by_name["cut.wav"].frames == 2000
    clips = load_clips(report, sample_rate=16000, seconds=0.1)
    assert len(clips) == len(report.usable) and torch.isfinite(clips.audio).all()


def test_unlabelled_pitched_sounds_can_get_an_estimated_pitch(sound_folder, make_sound):
    rng = np.random.default_rng(3)
    sf.write(
        sound_folder / "noise.wav", (0.3 * rng.standard_normal(8000)).astype(np.float32), 16000
    )
    clips = load_clips(sound_folder, sample_rate=16000, seconds=0.3, estimate_pitch=True)
    pitch = {p.name: float(v) for p, v in zip(clips.paths, clips.pitch, strict=True)}
    assert pitch["pluck__p055.wav"] == 55.0  # a label is kept as it is
    assert pitch["hit.flac"] == pytest.approx(69 + 12 * math.log2(200 / 440), abs=0.1)
    assert pitch["wide.wav"] == pytest.approx(69 + 12 * math.log2(300 / 440), abs=0.1)
    assert math.isnan(pitch["noise.wav"])
    plain = load_clips(sound_folder, sample_rate=16000, seconds=0.3)
    assert math.isnan(float(plain.pitch[[p.name for p in plain.paths].index("hit.flac")]))


def test_the_command_line_loader_reports_every_file_it_does_not_use(sound_folder):
    (sound_folder / "notes.wav").write_text("not audio at all")
    (sound_folder / "hit.flac").write_text("overwritten by a text editor")
    said = []
    clips = dataset.load_clips_reporting(sound_folder, said.append, sample_rate=8000, seconds=0.1)
    assert len(clips) == 5  # the four plucks and wide.wav
    reasons = {item.path.name: item.reason for item in said}
    assert set(reasons) == {"notes.wav", "hit.flac"}
    assert all(reason.startswith("unreadable") for reason in reasons.values())
