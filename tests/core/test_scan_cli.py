"""`timbrelab scan` and `timbrelab info` as a user runs them, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def timbrelab(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "synth_core", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_scan_lists_every_bad_file_with_its_reason_and_exits_0(bad_corpus):
    folder, expected = bad_corpus
    result = timbrelab("scan", str(folder))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for name, reason in expected.items():
        assert any(line.strip().startswith(name) and reason in line for line in lines), name
    assert "USED (2)" in result.stdout and "ünïcødé 音.flac" in result.stdout
    assert lines[-1].startswith(f"2 usable (0.6 s in total), {len(expected)} skipped")


def test_scan_json_is_machine_readable(bad_corpus):
    folder, expected = bad_corpus
    result = timbrelab("scan", str(folder), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["summary"] == {"usable": 2, "skipped": len(expected), "total_duration_s": 0.6}
    reasons = {Path(item["path"]).name: item["reason"] for item in report["skipped"]}
    assert reasons.keys() == expected.keys()
    kick = next(item for item in report["usable"] if "kick" in item["path"])
    assert kick["pitch"] == 36.0 and kick["sample_rate"] == 44100


def test_scan_without_recursion_leaves_sub_folders_out(sound_folder):
    result = timbrelab("scan", str(sound_folder), "--json", "--no-recursive")
    names = {Path(item["path"]).name for item in json.loads(result.stdout)["usable"]}
    assert len(names) == 5 and "wide.wav" not in names


def test_scanning_a_missing_folder_exits_2_with_one_line(tmp_path):
    result = timbrelab("scan", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"timbrelab scan: {tmp_path / 'nowhere'}: no such folder"
    ]
    assert result.stdout == ""


def test_scanning_an_empty_folder_says_so_and_exits_0(tmp_path):
    result = timbrelab("scan", str(tmp_path))
    assert result.returncode == 0
    assert "No audio files found." in result.stdout


def test_info_shows_versions_device_audio_and_paths(tmp_path):
    result = timbrelab("info", env={"TIMBRELAB_CACHE_DIR": str(tmp_path / "c")})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for label in ("Timbre Lab 0.1.0", "Python", "torch", "Device", "Threads", "Audio out"):
        assert label in out
    assert f"Cache       {tmp_path / 'c'}" in out


@pytest.mark.parametrize(
    ("shim", "reason"),
    [
        ("raise OSError('PortAudio library not found')", "PortAudio library not found"),
        (
            "class PortAudioError(Exception): pass\n"
            "def query_devices():\n"
            "    raise PortAudioError('Error querying device -1')\n"
            "def query_hostapis():\n"
            "    return []\n",
            "PortAudio cannot list devices (Error querying device -1)",
        ),
    ],
    ids=["no-portaudio-library", "no-sound-server"],
)
def test_info_explains_why_there_is_no_audio_output(tmp_path, shim, reason):
    # A stand-in sounddevice module reproduces what the real one raises on such machines.
    (tmp_path / "sounddevice.py").write_text(shim + "\n")
    # first on the path, ahead of (not instead of) whatever the environment already needs there
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    result = timbrelab("info", env={"PYTHONPATH": path})
    assert result.returncode == 0, result.stderr
    assert f"Audio out   none: {reason}" in result.stdout
