"""A sound designer turns the current sound into a sample pack that a sampler loads.

`timbrelab export-pack` writes samples, their sidecars and an SFZ instrument; the SFZ is checked
with sfzlint (the PyPI linter) and each region's root key against the pitch librosa's YIN
measures in the sample it plays.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from synth_core import audio as audio_io
from synth_core.export import ExportSettings, read_recipe, recreate
from synth_core.packs import export_pack, key_ranges, parse_pitches, velocity_ranges
from synth_core.runs import open_model
from tests.support.toy_family import ToyConfig, ToyModel

SFZLINT = Path(sys.executable).with_name("sfzlint")


def timbrelab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "synth_core", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )


def sfzlint(sfz: Path) -> str:
    """sfzlint's complaints about ``sfz`` (it exits 0 with warnings, so its output is the
    verdict): unknown opcodes, values out of range, sample files not found."""
    done = subprocess.run(
        [str(SFZLINT), "--no-pickle", str(sfz)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return (done.stdout + done.stderr).strip()


def regions(sfz: Path) -> list[dict[str, str]]:
    """Each ``<region>``'s opcodes merged over its ``<global>`` and ``<group>``."""
    scopes: dict[str, dict[str, str]] = {"global": {}, "group": {}}
    found = []
    for line in sfz.read_text().splitlines():
        line = line.split("//", 1)[0].strip()
        match = re.match(r"<(\w+)>\s*(.*)", line)
        if not match:
            continue
        header, rest = match.groups()
        opcodes = dict(pair.split("=", 1) for pair in rest.split())
        if header == "region":
            found.append({**scopes["global"], **scopes["group"], **opcodes})
        else:
            scopes[header] = opcodes
            if header == "global":
                scopes["group"] = {}
    return found


def yin_midi(path: Path) -> float:
    """The pitch of a sample file as a MIDI note: librosa's YIN, median over its loud frames."""
    samples, rate = sf.read(path, dtype="float32")
    f0 = librosa.yin(samples, fmin=40, fmax=3000, sr=rate, frame_length=4096, hop_length=1024)
    frames = librosa.feature.rms(y=samples, frame_length=4096, hop_length=1024)[0][: f0.size]
    loud = f0[frames > 0.3 * frames.max()]
    return float(librosa.hz_to_midi(np.median(loud)))


def test_a_string_pack_is_valid_sfz_and_every_root_key_is_the_note_it_sounds(tmp_path):
    out = tmp_path / "pack"
    done = timbrelab(
        "export-pack", "physical:string", "--pitches", "36:84:3", "--velocities", "3",
        "--out", str(out), "--set", "decay=2", "--seed", "4",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "17 sample(s)" in done.stderr and "51 region(s)" in done.stderr
    sfz = out / "physical-string.sfz"
    assert sfzlint(sfz) == ""

    found = regions(sfz)
    assert len(found) == 17 * 3
    keys = sorted({(int(r["lokey"]), int(r["hikey"])) for r in found})
    assert keys[0] == (35, 37) and keys[-1] == (83, 85)
    assert all(hi + 1 == lo for (_, hi), (lo, _) in zip(keys, keys[1:], strict=False))
    for region in found:
        sample = out / region["sample"]
        assert sample.is_file() and sample.with_suffix(".json").is_file()
        root = int(region["pitch_keycenter"]) - int(region.get("tune", 0)) / 100
        assert abs(yin_midi(sample) - root) * 100 <= 10, region
        assert region["loop_mode"] == "one_shot"  # a plucked string decays
    # the string has no loudness control: its three layers are one sample at three volumes
    by_sample: dict[str, list[float]] = {}
    for region in found:
        by_sample.setdefault(region["sample"], []).append(float(region.get("volume", 0)))
    assert len(by_sample) == 17
    assert all(sorted(v) == [-12.0, -6.0, 0.0] for v in by_sample.values())
    assert read_recipe(out / found[0]["sample"]).controls["decay"] == 2.0


def test_a_blown_tube_gets_velocity_layers_from_its_pressure_and_loops_its_held_notes(tmp_path):
    result = export_pack(
        open_model("physical:tube"),
        tmp_path,
        model_id="physical:tube",
        values={"hold": 0.8},
        pitches=parse_pitches("48:72:12"),
        velocities=3,
        seed=1,
    )
    assert sfzlint(result.sfz) == ""
    found = regions(result.sfz)
    assert len(found) == 9 and len({r["sample"] for r in found}) == 9
    for region in found:
        samples, _ = sf.read(tmp_path / region["sample"], dtype="float64")
        assert region["loop_mode"] == "loop_continuous"
        start, end = int(region["loop_start"]), int(region["loop_end"])
        assert 0 < start < end < samples.size - 0.02 * 48000  # before the fade-out
        # jumping from the loop's end back to its start continues the waveform
        before, after = samples[start : start + 1024], samples[end + 1 : end + 1025]
        assert np.corrcoef(before, after)[0, 1] > 0.9
        assert abs(yin_midi(tmp_path / region["sample"]) - int(region["pitch_keycenter"])) < 0.1
    pressures = {}
    for region in found:
        recipe = read_recipe(tmp_path / region["sample"])
        pressures[int(region["lovel"])] = recipe.controls["pressure"]
    assert pressures[1] < pressures[43] < pressures[86] == 0.6  # the loudest layer is the sound


def test_a_model_without_pitch_is_one_sample_the_sampler_transposes_or_an_unpitched_one(
    tmp_path,
):
    class FixedPitchToy(ToyModel):
        """The toy voice, which here cannot be asked for a pitch: it always plays A3."""

        @property
        def accepts_pitch(self) -> bool:
            return False

    model = FixedPitchToy(ToyConfig(sample_rate=44100, clip_seconds=1.0))
    tonal = export_pack(
        model, tmp_path / "tonal", model_id="toy-run", values={"noise": 0.0},
        pitches=parse_pitches("36:84:3"), velocities=2,
    )  # fmt: skip
    assert sfzlint(tonal.sfz) == "" and len(tonal.samples) == 1
    found = regions(tonal.sfz)
    assert [(r["lokey"], r["hikey"], r["lovel"], r["hivel"]) for r in found] == [
        ("36", "84", "1", "63"),
        ("36", "84", "64", "127"),
    ]
    root = int(found[0]["pitch_keycenter"]) - int(found[0].get("tune", 0)) / 100
    assert root == pytest.approx(57.0, abs=0.1) and yin_midi(tonal.samples[0]) == pytest.approx(
        root, abs=0.1
    )
    assert found[0]["loop_mode"] == "loop_continuous"  # a steady sine loops

    noise = export_pack(
        model, tmp_path / "noise", model_id="toy-run", values={"noise": 1.0},
        pitches=parse_pitches("36:84:3"),
    )  # fmt: skip
    assert sfzlint(noise.sfz) == ""
    (region,) = regions(noise.sfz)
    assert region["pitch_keytrack"] == "0" and (region["lokey"], region["hikey"]) == ("36", "84")
    assert "measured pitch unpitched" in noise.sfz.read_text()


def test_each_sidecar_recreates_its_sample(tmp_path):
    result = export_pack(
        open_model("physical:bell"), tmp_path, model_id="physical:bell", values={"decay": 1.0},
        pitches=[60, 67], seed=7, settings=ExportSettings(bit_depth="32f", fade_out_s=0.0),
    )  # fmt: skip
    for path in result.samples:
        recipe = read_recipe(path)
        model = open_model(recipe.model)
        again = recreate(recipe, model).numpy().astype(np.float64)
        again = audio_io.resample(again, model.sample_rate, 48000) * 10 ** (
            recipe.extra["gain_db"] / 20
        )
        written, _ = sf.read(path, dtype="float64")
        np.testing.assert_allclose(written, again, atol=1e-5)


def test_a_pack_never_overwrites_without_being_asked(tmp_path):
    args = ["export-pack", "physical:membrane", "--pitches", "40:44:2", "--out", str(tmp_path)]
    assert timbrelab(*args).returncode == 0
    sfz = tmp_path / "physical-membrane.sfz"
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    again = timbrelab(*args)
    assert (
        again.returncode == 2 and "--overwrite" in again.stderr and "Traceback" not in again.stderr
    )
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before
    assert timbrelab(*args, "--overwrite").returncode == 0
    assert sfz.stat().st_mtime_ns > before[sfz.name]


@pytest.mark.parametrize(
    ("text", "message"),
    [("36:84:0", "STEP"), ("84:36", "START"), ("c3:c5", "START:STOP:STEP"), ("0:128", "0–127")],
)
def test_a_bad_key_range_is_refused_with_the_text_named(text, message):
    done = timbrelab("export-pack", "physical:string", "--pitches", text, "--out", "unused")
    assert done.returncode == 2 and message in done.stderr and repr(text) in done.stderr
    assert not Path("unused").exists()


def test_key_and_velocity_ranges_tile_the_keyboard_without_gaps():
    assert key_ranges([36, 39, 42]) == [(35, 37), (38, 40), (41, 43)]
    assert key_ranges([60, 62, 67]) == [(60, 60), (61, 64), (65, 69)]
    assert key_ranges([0, 127]) == [(0, 63), (64, 127)]
    assert velocity_ranges(1) == [(1, 127)]
    assert velocity_ranges(3) == [(1, 42), (43, 85), (86, 127)]
