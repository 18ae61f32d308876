"""Hostile and careless input to the dataset and the command line (issue 16).

Folders with file names that are not UTF-8 or that hold newlines and escape sequences, material
that is readable but broken (DC only, float samples at ±1000), ``--out`` naming a file, and
numbers out of range on every command. Each must be used, skipped or refused with one clear
line and exit code 2: never a traceback, never a raw control character on the terminal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from synth_core import cli, dataset
from synth_core.commands.scan import format_report
from synth_core.dataset import (
    ClipSet,
    SkippedFile,
    load_clips,
    load_clips_reporting,
    say_skipped,
    scan,
)
from synth_core.errors import ModelConfigError
from synth_core.evaluate import evaluate
from synth_core.runs import open_model
from synth_core.train import split_held_out

from .conftest import tone

NOT_UTF8 = b"\xff\xfe hit.wav"


def timbrelab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "synth_core", *args],
        capture_output=True,
        text=True,
        errors="surrogateescape",
        timeout=120,
    )


def run_main(argv: list[str]) -> int:
    """``timbrelab ARGV`` in this process: the exit code, whether the parser or the command
    ended it (any other exception fails the test, as a traceback would)."""
    try:
        return cli.main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in text
    return lines[0]


def write_tones(folder: Path, count: int, *, rate: int = 16000) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        sf.write(folder / f"tone{i:02d}.wav", tone(220.0 * (1 + i / 8), seconds=0.3), rate)


def write_bytes_name(folder: Path, name: bytes, samples: np.ndarray, rate: int = 16000) -> bytes:
    """A sound under a file name given as raw bytes (any bytes a Linux file name can hold)."""
    path = os.path.join(os.fsencode(folder), name)
    sf.write(path, samples, rate, format="WAV")
    return path


# --- file names -----------------------------------------------------------------------------


def test_a_training_folder_with_a_name_that_is_not_utf8_is_split_and_kept(tmp_path):
    folder = tmp_path / "sounds"
    write_tones(folder, 11)
    write_bytes_name(folder, NOT_UTF8, tone(300.0, seconds=0.3))
    clips = load_clips(folder, sample_rate=16000, seconds=0.2, cache=False)
    train, held = split_held_out(clips)
    again_train, again_held = split_held_out(clips)
    assert len(train) + len(held) == 12 and len(held) == 1
    assert held.paths == again_held.paths and train.paths == again_train.paths
    names = {os.fsencode(p.name) for p in [*train.paths, *held.paths]}
    assert NOT_UTF8 in names


def test_scan_prints_every_odd_name_escaped_on_one_line(tmp_path):
    folder = tmp_path / "odd names"
    folder.mkdir()
    sf.write(folder / "a\nb.wav", tone(seconds=0.3), 16000)
    sf.write(folder / "\x1b[31mred.wav", tone(seconds=0.3), 16000)
    write_bytes_name(folder, NOT_UTF8, tone(seconds=0.3))
    (folder / "c\rd\u202egnp.wav").write_text("not audio")
    result = timbrelab("scan", str(folder))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "\x1b" not in out and "\r" not in out and "\u202e" not in out
    lines = out.splitlines()
    assert any(line.strip().startswith("a\\nb.wav") for line in lines)
    assert any(line.strip().startswith("\\x1b[31mred.wav") for line in lines)
    assert any(line.strip().startswith("\\xff\\xfe hit.wav") for line in lines)
    skipped = [line for line in lines if line.strip().startswith("c\\rd\\u202egnp.wav")]
    assert len(skipped) == 1 and "unreadable" in skipped[0]
    assert not any(line.startswith(("b.wav", "d")) for line in lines)


def test_skipped_lines_and_the_scan_table_never_break_a_line(tmp_path, capsys):
    say_skipped(SkippedFile(Path("x\ny\x07.wav"), "same file as p\nq.wav (linked twice)"))
    err = capsys.readouterr().err
    assert one_line(err) == "skipped x\\ny\\x07.wav: same file as p\\nq.wav (linked twice)"
    folder = tmp_path / "new\nline"
    write_tones(folder, 1)
    assert format_report(scan(folder)).startswith(f"Folder: {tmp_path}/new\\nline\n")
    # ordinary names, accents and CJK included, stay as they are
    assert dataset.printable_name("café 音 ☃.wav") == "café 音 ☃.wav"


# --- readable but broken material ---------------------------------------------------------


@pytest.fixture
def level_corpus(tmp_path: Path) -> Path:
    """Two good tones, a float file peaking at 1,000× full scale, and three constant files."""
    folder = tmp_path / "levels"
    write_tones(folder, 2)
    loud = tone(330.0, seconds=0.3)
    sf.write(folder / "loud.wav", loud * (1000 / np.abs(loud).max()), 16000, subtype="FLOAT")
    sf.write(folder / "dc.wav", np.full(8000, 0.5, np.float32), 16000)
    sf.write(folder / "stuck.flac", np.full(8000, -0.25, np.float32), 16000, subtype="PCM_24")
    stereo = np.stack([np.full(8000, 0.3), np.full(8000, -0.7)], axis=1).astype(np.float32)
    sf.write(folder / "stereo dc.wav", stereo, 16000, subtype="FLOAT")
    return folder


def test_dc_only_files_are_skipped_and_float_overs_normalised_by_scan_and_loader_alike(
    level_corpus,
):
    report = scan(level_corpus)
    skipped = {item.path.name: item.reason for item in report.skipped}
    assert set(skipped) == {"dc.wav", "stuck.flac", "stereo dc.wav"}
    assert all(reason.startswith("constant signal (DC only") for reason in skipped.values())
    usable = {item.path.name: item for item in report.usable}
    assert set(usable) == {"tone00.wav", "tone01.wav", "loud.wav"}
    assert "1,000× full scale" in usable["loud.wav"].note
    assert usable["loud.wav"].gain == pytest.approx(1 / 1000, rel=1e-3)

    said: list[SkippedFile] = []
    clips = load_clips_reporting(level_corpus, said.append, sample_rate=16000, seconds=0.2)
    assert sorted(p.name for p in clips.paths) == sorted(usable)
    assert {item.path.name: item.reason for item in said} == skipped
    loud = clips.audio[[p.name for p in clips.paths].index("loud.wav")]
    assert 0.99 <= float(loud.abs().max()) <= 1.0


def test_a_file_that_turns_constant_after_the_scan_is_refused_with_the_scans_reason(
    level_corpus,
):
    report = scan(level_corpus)
    sf.write(level_corpus / "tone00.wav", np.full(8000, 0.5, np.float32), 16000)
    clips = load_clips(report, sample_rate=16000, seconds=0.2, cache=False)
    assert [item.path.name for item in clips.skipped] == ["tone00.wav"]
    assert "constant signal (DC only" in clips.skipped[0].reason


def test_scan_table_says_why_a_loud_file_is_used_and_a_dc_file_is_not(level_corpus):
    result = timbrelab("scan", str(level_corpus))
    assert result.returncode == 0, result.stderr
    loud = next(line for line in result.stdout.splitlines() if "loud.wav" in line)
    assert "60.0dB" in loud and "normalised to 0 dBFS" in loud
    dc = next(line for line in result.stdout.splitlines() if line.strip().startswith("dc.wav"))
    assert "constant signal (DC only" in dc


def test_training_loads_what_the_scan_reports_and_says_what_it_skips_on_one_line(
    level_corpus, tmp_path
):
    write_tones(level_corpus / "more", 8)
    write_bytes_name(level_corpus, NOT_UTF8, tone(500.0, seconds=0.3))
    (level_corpus / "broken\nname.wav").write_text("not audio")
    usable = len(scan(level_corpus).usable)
    assert usable == 12
    result = timbrelab(
        "train", str(level_corpus), "--family", "gmm", "--out", str(tmp_path / "run"),
        "--steps", "1", "--progress", "jsonl", "--set", "sample_rate=16000",
        "--set", "clip_seconds=0.25",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    start = next(event for event in events if event["event"] == "start")
    assert start["clips"] + start["held_out"] == usable
    said = [line for line in result.stderr.splitlines() if "skipped" in line]
    assert len(said) == 4, result.stderr
    assert any("broken\\nname.wav: unreadable" in line for line in said)
    assert any("dc.wav: constant signal" in line for line in said)


# --- --out naming a file ------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["generate", "physical:string", "--out", "{file}"],
        ["generate", "physical:string", "--out", "{file}/inside"],
        ["starter-data", "{file}"],
        ["demo", "--max-minutes", "0.01", "--out", "{file}"],
        ["train", "{data}", "--family", "gmm", "--steps", "1", "--out", "{file}"],
    ],
    ids=["generate", "generate-inside", "starter-data", "demo", "train"],
)
def test_out_naming_an_existing_file_is_one_line_and_exit_2(command, tmp_path, capsys):
    file = tmp_path / "notes.txt"
    file.write_text("keep me")
    write_tones(tmp_path / "data", 2)
    argv = [arg.format(file=file, data=tmp_path / "data") for arg in command]
    assert run_main(argv) == 2
    line = one_line(capsys.readouterr().err)
    assert "notes.txt" in line and "not a folder" in line
    assert file.read_text() == "keep me"


def test_train_out_naming_a_file_says_so_in_the_apps_json_lines_too(tmp_path, capsys):
    file = tmp_path / "run"
    file.write_text("x")
    write_tones(tmp_path / "data", 2)
    argv = ["train", str(tmp_path / "data"), "--family", "gmm", "--out", str(file)]
    assert run_main([*argv, "--progress", "jsonl"]) == 2
    out, err = capsys.readouterr()
    event = json.loads(out.splitlines()[-1])
    assert event["event"] == "error" and "not a folder" in event["message"]
    assert "choose another --out" in one_line(err)


def test_generate_out_naming_a_file_in_a_real_process_is_one_line(tmp_path):
    file = tmp_path / "pack.wav"
    file.write_bytes(b"RIFF")
    result = timbrelab("generate", "physical:string", "--out", str(file))
    assert result.returncode == 2 and result.stdout == ""
    assert "pack.wav" in one_line(result.stderr)


# --- numbers out of range -----------------------------------------------------------------

HUGE = "99999999999999999999999"
BAD_NUMBERS = [
    ("train", "--seed", HUGE),
    ("train", "--seed", "-1"),
    ("train", "--checkpoint-every", "0"),
    ("train", "--checkpoint-every", "-5"),
    ("train", "--checkpoint-every", "nan"),
    ("train", "--checkpoint-every", "inf"),
    ("train", "--max-minutes", "0"),
    ("train", "--max-minutes", "nan"),
    ("train", "--max-minutes", "1e999"),
    ("train", "--steps", "0"),
    ("train", "--steps", "-3"),
    ("train", "--steps", "1.5"),
    ("generate", "--seed", HUGE),
    ("generate", "--sample-rate", "4000"),
    ("generate", "--sample-rate", "400000"),
    ("generate", "--n", "0"),
    ("generate", "--n", "-1"),
    ("generate", "--n", "100001"),
    ("generate", "--pitch", "nan"),
    ("generate", "--pitch", "inf"),
    ("generate", "--pitch", "-1"),
    ("generate", "--pitch", "128"),
    ("generate", "--seconds", "0"),
    ("generate", "--seconds", "nan"),
    ("generate", "--seconds", "601"),
    ("evaluate", "--n", "0"),
    ("evaluate", "--n", "-2"),
    ("evaluate", "--seed", HUGE),
    ("evaluate", "--repeats", "0"),
    ("evaluate", "--repeats", "1001"),
]


def command_line(command: str, tmp_path: Path) -> list[str]:
    missing = str(tmp_path / "no such folder")
    return {
        "train": ["train", missing, "--family", "gmm", "--out", str(tmp_path / "run")],
        "generate": ["generate", "physical:string", "--out", str(tmp_path / "pack")],
        "evaluate": ["evaluate", "physical:string", missing],
    }[command]


@pytest.mark.parametrize(
    ("command", "option", "value"), BAD_NUMBERS, ids=[" ".join(case) for case in BAD_NUMBERS]
)
def test_a_number_out_of_range_is_refused_with_one_line_naming_the_option(
    command, option, value, tmp_path, capsys
):
    assert run_main([*command_line(command, tmp_path), f"{option}={value}"]) == 2
    line = one_line(capsys.readouterr().err)
    assert f"argument {option}" in line and repr(value) in line
    assert not (tmp_path / "pack").exists() and not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "case",
    [("train", "--seed", HUGE), ("generate", "--pitch", "nan"), ("evaluate", "--n", "0")],
    ids=lambda case: " ".join(case),
)
def test_numbers_out_of_range_in_a_real_process_exit_2_without_a_traceback(case, tmp_path):
    command, option, value = case
    result = timbrelab(*command_line(command, tmp_path), option, value)
    assert result.returncode == 2 and result.stdout == ""
    assert option in one_line(result.stderr)


def test_the_largest_seed_and_extreme_but_valid_numbers_still_work(tmp_path, capsys):
    out = tmp_path / "pack"
    argv = ["generate", "physical:string", "--out", str(out), "--n", "2"]
    assert run_main([*argv, "--seed", str(2**63 - 1), "--sample-rate", "8000"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["0000.wav", "0001.wav"]
    assert sf.info(out / "0000.wav").samplerate == 8000


def test_a_control_value_that_is_not_finite_is_refused(tmp_path, capsys):
    model = open_model("physical:string")
    name = model.controls()[0].name
    argv = ["generate", "physical:string", "--out", str(tmp_path / "pack")]
    assert run_main([*argv, "--set", f"{name}=nan"]) == 2
    assert name in one_line(capsys.readouterr().err)


def test_evaluate_refuses_zero_generated_clips_instead_of_using_the_default():
    clips = ClipSet(
        audio=torch.zeros(2, 800), pitch=torch.full((2,), float("nan")), paths=[], sample_rate=8000
    )
    with pytest.raises(ModelConfigError, match="n must be at least 1"):
        evaluate(open_model("physical:string"), clips, None, n=0)
