"""Every kind of bad input meets its expected outcome at every entry point that accepts it.

The corpus (``tests/support/bad_inputs.py``) holds broken and hostile audio files, model folders,
presets, sidecars and command lines. Each kind runs through the core loaders and through the
``timbrelab`` commands that take it (in-process, so each case costs milliseconds, plus one real
subprocess per command to check what a shell sees). A refusal must be exit code 2 with exactly
one line on stderr that names the fault and holds no traceback; a skipped file must be named in
the report with its reason; a usable one must be used. Each outcome is tallied and the table is
printed at the end of the test run (``tests/conftest.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from synth_core import control_values, dataset, export
from synth_core.cli import main
from synth_core.runs import open_model
from tests.support.bad_inputs import (
    LOADED_REFUSED_AT_RENDER,
    NORMALISED,
    PRESET_MODEL,
    REFUSED,
    SKIPPED,
    TALLY,
    USED,
    BadInput,
    check,
    good_sounds,
    of,
    refusal,
    refused_error,
    write_corpus,
)

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="the corpus needs named pipes"),
    pytest.mark.timeout(120),
]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bad-inputs")


@pytest.fixture(scope="module")
def corpus(corpus_root: Path) -> list[BadInput]:
    return write_corpus(corpus_root)


def run_cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[object, str, str]:
    """``timbrelab ARGV`` in-process: (exit code, stdout, stderr); a traceback is kept as text."""
    capsys.readouterr()
    try:
        code: object = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    except Exception as error:  # noqa: BLE001 (a crash is an outcome to report)
        code = None
        print(f"Traceback: {type(error).__name__}: {error}", file=sys.stderr)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- audio ---------------------------------------------------------------------------------------


def _scan_outcome(kind: BadInput, report: dataset.ScanReport) -> str:
    bad = kind.bad_file
    skipped = {item.path.name: item.reason for item in report.skipped}
    usable = {item.path.name: item for item in report.usable}
    if "good.wav" not in usable:
        return "unexpected: the good file next to it was not used"
    if bad.name in skipped:
        reason = skipped[bad.name]
        return SKIPPED if kind.words.lower() in reason.lower() else f"unexpected: reason {reason!r}"
    if bad.name in usable:
        return NORMALISED if usable[bad.name].gain < 1.0 else USED
    if bad.is_dir():
        return USED  # a folder named like a sound is only a sub-folder
    return "unexpected: neither used nor reported as skipped"


def test_every_audio_kind_is_skipped_normalised_or_used_by_the_scan(corpus):
    check("dataset.scan", of(corpus, "audio"), lambda k: _scan_outcome(k, dataset.scan(k.path)))


def test_every_audio_kind_loads_as_clips_or_is_left_out(corpus):
    def judge(kind: BadInput) -> str:
        clips = dataset.load_clips(kind.path, sample_rate=22050, seconds=0.25, cache=False)
        names = [Path(p).name for p in clips.paths]
        if not np.isfinite(clips.audio.numpy()).all() or float(clips.audio.abs().max()) > 1.0:
            return "unexpected: clips hold NaN or exceed full scale"
        if "good.wav" not in names:
            return "unexpected: the good file was not loaded"
        if kind.bad_file.name in names:
            return NORMALISED if kind.expected == NORMALISED else USED
        # a folder named like a sound is only a sub-folder: nothing in it to load
        return USED if kind.bad_file.is_dir() else SKIPPED

    check("dataset.load_clips", of(corpus, "audio"), judge)


def test_timbrelab_scan_names_each_bad_file_on_one_line_with_its_reason(corpus, capsys):
    def judge(kind: BadInput) -> str:
        code, out, err = run_cli(capsys, ["scan", str(kind.path)])
        name = dataset.printable_name(kind.bad_file.name)
        if code != 0 or err.strip():
            return f"unexpected: exit {code}, stderr {err!r:.200}"
        line = next((row for row in out.splitlines() if name in row), None)
        if kind.bad_file.name != name and kind.bad_file.name in out:
            return "unexpected: the raw name (control characters) reached the terminal"
        if kind.bad_file.is_dir():
            return USED if line is None else f"unexpected: a folder listed as a file: {line!r}"
        if line is None:
            return f"unexpected: {name!r} not in the report"
        used_part = out.split("SKIPPED (")[0]
        if kind.expected == SKIPPED:
            in_skipped = name not in used_part and kind.words.lower() in line.lower()
            return SKIPPED if in_skipped else f"unexpected: {line!r}"
        if name not in used_part:
            return f"unexpected: skipped: {line!r}"
        return NORMALISED if "normalised" in line else USED

    check("timbrelab scan", of(corpus, "audio"), judge)


def test_timbrelab_reconstruct_reports_each_skipped_file_and_rebuilds_the_rest(
    corpus, capsys, tmp_path
):
    def judge(kind: BadInput) -> str:
        out = tmp_path / kind.name
        code, _out, err = run_cli(
            capsys, ["reconstruct", "builtin-gmm", str(kind.path), "--out", str(out)]
        )
        lines = err.splitlines()
        if code != 0 or "Traceback" in err:
            return f"unexpected: exit {code}, {err!r:.300}"
        skipped = [line for line in lines if line.startswith("skipped ")]
        rebuilt = sorted(p.name for p in out.rglob("*.wav"))
        if len(lines) != len(skipped) + 1 or not lines[-1].startswith("reconstructed "):
            return f"unexpected: stderr {err!r:.300}"
        if kind.expected == SKIPPED:
            ok = len(skipped) == 1 and dataset.printable_name(kind.bad_file.name) in skipped[0]
            return SKIPPED if ok and rebuilt == ["good.wav"] else f"unexpected: {err!r:.300}"
        if skipped:
            return f"unexpected: {skipped}"
        if kind.bad_file.is_dir():
            return USED if rebuilt == ["good.wav"] else f"unexpected: wrote {rebuilt}"
        wanted = sorted(["good.wav", Path(kind.bad_file.name).stem + ".wav"])
        if rebuilt != wanted:
            return f"unexpected: wrote {rebuilt}, wanted {wanted}"
        return NORMALISED if kind.expected == NORMALISED else USED

    check("timbrelab reconstruct (audio)", of(corpus, "audio"), judge)


# --- model folders -------------------------------------------------------------------------------


def test_every_model_kind_is_refused_by_open_model_or_refused_before_rendering(corpus):
    def judge(kind: BadInput) -> str:
        if kind.expected == LOADED_REFUSED_AT_RENDER:
            try:
                open_model(kind.path)
            except Exception as error:  # noqa: BLE001
                return f"unexpected: {type(error).__name__}: {error}"
            return LOADED_REFUSED_AT_RENDER
        return refused_error(kind, lambda: open_model(kind.path))

    check("runs.open_model", of(corpus, "model"), judge)


@pytest.mark.parametrize(
    "command",
    [
        ("generate", "{run}", "--out", "{out}"),
        ("reconstruct", "{run}", "{sounds}", "--out", "{out}"),
        ("evaluate", "{run}", "{sounds}", "--n", "2"),
        ("export-model", "{run}", "--format", "onnx", "--out", "{out}/model.onnx"),
    ],
    ids=lambda command: command[0],
)
def test_every_command_taking_a_model_refuses_each_bad_model_folder_in_one_line(
    corpus, corpus_root, capsys, tmp_path, command
):
    sounds = good_sounds(corpus_root)

    def judge(kind: BadInput) -> str:
        out = tmp_path / kind.name
        argv = [a.format(run=kind.path, sounds=sounds, out=out) for a in command]
        code, _out, err = run_cli(capsys, argv)
        outcome = refusal(kind if kind.expected == REFUSED else _nan_words(kind), code, err)
        if out.exists() and any(out.iterdir()):
            return f"unexpected: wrote {sorted(p.name for p in out.iterdir())}"
        if kind.expected == LOADED_REFUSED_AT_RENDER and outcome == REFUSED:
            return LOADED_REFUSED_AT_RENDER
        return outcome

    check(f"timbrelab {command[0]} (model)", of(corpus, "model"), judge)


def _nan_words(kind: BadInput) -> BadInput:
    """A NaN-weight model is refused by what renders it; export-model refuses the gmm family."""
    return BadInput(kind.name, kind.area, REFUSED, kind.path, words="")


# --- presets and sidecars ------------------------------------------------------------------------


def test_every_bad_preset_is_refused_naming_the_field(corpus):
    controls = open_model(PRESET_MODEL).controls()

    def judge(kind: BadInput) -> str:
        return refused_error(
            kind,
            lambda: control_values.load_preset(
                kind.path, model=PRESET_MODEL, family="physical", controls=controls
            ),
        )

    check("control_values.load_preset", of(corpus, "preset"), judge)


def test_every_bad_sidecar_is_refused_naming_the_field(corpus):
    check(
        "export.read_recipe",
        of(corpus, "sidecar"),
        lambda kind: refused_error(kind, lambda: export.read_recipe(kind.path)),
    )


# --- command lines -------------------------------------------------------------------------------


def test_every_bad_command_line_exits_2_with_one_line_in_process(corpus, capsys):
    def judge(kind: BadInput) -> str:
        code, _out, err = run_cli(capsys, list(kind.argv))
        return refusal(kind, code, err)

    check("timbrelab (in-process)", of(corpus, "cli"), judge)


def test_one_real_subprocess_per_command_exits_2_with_one_line(corpus):
    """What a shell sees: the same refusals from a real ``python -m synth_core`` process."""
    firsts: dict[str, BadInput] = {}
    for kind in of(corpus, "cli"):
        firsts.setdefault(kind.argv[0], kind)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }

    def judge(kind: BadInput) -> str:
        try:
            done = subprocess.run(
                [sys.executable, "-m", "synth_core", *kind.argv],
                capture_output=True, text=True, timeout=60, env=env, cwd=REPO,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return "unexpected: still running after 60 s"
        return refusal(kind, done.returncode, done.stderr)

    check("timbrelab (subprocess)", list(firsts.values()), judge)


def test_the_corpus_covers_every_area_and_every_case_met_its_expected_outcome(corpus):
    """The count table (also printed at the end of the run) shows no unexpected outcome."""
    areas = {area: len(of(corpus, area)) for area in ("audio", "model", "preset", "sidecar", "cli")}
    assert len(corpus) >= 30
    assert areas["audio"] >= 8 and areas["model"] >= 8 and areas["cli"] >= 6, areas
    assert areas["preset"] >= 5 and areas["sidecar"] >= 5, areas
    print("\n" + TALLY.table())
    unexpected = [row for row in TALLY.rows.values() if row[1].startswith("unexpected")]
    assert not unexpected, TALLY.table()
