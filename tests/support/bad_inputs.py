"""A corpus of bad inputs: broken audio, hostile model folders, presets, sidecars, CLI arguments.

:func:`write_corpus` writes every kind into a folder and returns one :class:`BadInput` per kind,
each with the outcome a user must see. ``tests/e2e/test_bad_input_corpus.py`` runs every kind
through each entry point that accepts it (the ``timbrelab`` commands, the core loaders) and
``tests/app/test_bad_input_corpus_app.py`` through the app's panels; both tally the outcomes in
:data:`TALLY`, which ``tests/conftest.py`` prints at the end of the run.

Audio kinds each get a folder holding one good tone next to the bad file, so a command that
needs at least one usable sound (reconstruct) still runs and must report the bad one as skipped.
Everything is generated at test time; no binary is committed.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from synth_core.dataset import printable_name
from synth_core.errors import TimbreLabError
from tests.support.sounds import tone

REFUSED = "refused: exit 2, one line"
"""A typed error (exit code 2) whose message is one line naming the file or value."""
SKIPPED = "skipped and reported"
"""The file is left out of the dataset and the report says why."""
NORMALISED = "used after normalising"
"""The file is used, scaled to full scale, and the report says so."""
USED = "used as is"
"""Nothing is wrong enough to refuse: the input is used (a corner case that must still work)."""
LOADED_REFUSED_AT_RENDER = "loaded, refused before rendering"
"""The model loads, but anything that would render it refuses (NaN weights render silence)."""

OUTCOMES = (REFUSED, SKIPPED, NORMALISED, USED, LOADED_REFUSED_AT_RENDER)

SAMPLE_RATE = 44100
STARTER_GMM = Path(__file__).resolve().parents[2] / "resources" / "models" / "builtin-gmm"
"""The smallest starter model that can render and reconstruct: the base of every model kind."""


@dataclass(frozen=True)
class BadInput:
    """One kind of bad input.

    Parameters
    ----------
    name : str
        Short identifier (used as a pytest id).
    area : str
        ``audio``, ``model``, ``preset``, ``sidecar`` or ``cli``.
    expected : str
        The outcome class a user must meet (one of :data:`OUTCOMES`).
    path : Path or None
        What was written: the audio folder, the model folder, the preset or sidecar file;
        None for CLI kinds.
    bad_file : Path or None
        For audio kinds, the bad file inside ``path``.
    argv : tuple of str
        For CLI kinds, the command line (without ``timbrelab``).
    words : str
        Words the error or skip reason must contain (case-insensitive), or "".
    """

    name: str
    area: str
    expected: str
    path: Path | None = None
    bad_file: Path | None = None
    argv: tuple[str, ...] = ()
    words: str = ""


@dataclass
class Tally:
    """Outcomes seen, per (kind, entry point); filled by the corpus tests."""

    rows: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)

    def record(self, kind: BadInput, entry: str, outcome: str) -> None:
        """Note that ``entry`` met ``kind`` with ``outcome`` ("unexpected: …" when wrong)."""
        self.rows[(kind.name, entry)] = (kind.area, outcome)

    def table(self) -> str:
        """The count table printed at the end of the run."""
        if not self.rows:
            return ""
        kinds = {name for name, _entry in self.rows}
        entries = {entry for _name, entry in self.rows}
        counts = Counter(
            "unexpected" if outcome.startswith("unexpected") else outcome
            for _area, outcome in self.rows.values()
        )
        areas = Counter(
            area for area, _outcome in {(a, n) for (n, _e), (a, _o) in self.rows.items()}
        )
        lines = [
            "bad-input corpus: outcomes per (kind, entry point)",
            f"  kinds tried            {len(kinds):5d}  "
            f"({', '.join(f'{a} {n}' for a, n in sorted(areas.items()))})",
            f"  entry points           {len(entries):5d}",
            f"  cases run              {len(self.rows):5d}",
            f"  refused cleanly        {counts[REFUSED]:5d}",
            f"  skipped and reported   {counts[SKIPPED]:5d}",
            f"  normalised             {counts[NORMALISED]:5d}",
            f"  used as is             {counts[USED]:5d}",
            f"  loaded, refused later  {counts[LOADED_REFUSED_AT_RENDER]:5d}",
            f"  unexpected             {counts['unexpected']:5d}",
        ]
        lines += [
            f"    {name} via {entry}: {outcome}"
            for (name, entry), (_area, outcome) in sorted(self.rows.items())
            if outcome.startswith("unexpected")
        ]
        return "\n".join(lines)


TALLY = Tally()


# --- judging outcomes --------------------------------------------------------------------------


def of(corpus: list[BadInput], area: str) -> list[BadInput]:
    return [kind for kind in corpus if kind.area == area]


def refusal(kind: BadInput, code: object, stderr: str) -> str:
    """The outcome of a case that must be refused: REFUSED, or 'unexpected: why'."""
    lines = stderr.splitlines()
    if "Traceback" in stderr:
        return f"unexpected: a traceback ({lines[-1] if lines else ''})"
    if code != 2:
        return f"unexpected: exit {code} ({stderr.strip()!r:.200})"
    if len(lines) != 1:
        return f"unexpected: {len(lines)} lines on stderr ({stderr!r:.200})"
    if kind.words.lower() not in lines[0].lower():
        return f"unexpected: {kind.words!r} not in {lines[0]!r:.200}"
    return REFUSED


def refused_error(kind: BadInput, load: Callable[[], object]) -> str:
    """The outcome of calling a core loader that must raise a one-line TimbreLabError."""
    try:
        load()
    except TimbreLabError as error:
        return refusal(kind, error.exit_code, f"{printable_name(str(error))}\n")
    except Exception as error:  # noqa: BLE001 (any other exception is the finding)
        return f"unexpected: {type(error).__name__}: {error}"
    return "unexpected: accepted"


def check(entry: str, kinds: list[BadInput], judge: Callable[[BadInput], str]) -> None:
    """Run ``judge`` on each kind, tally the outcomes and fail listing every unexpected one."""
    wrong = []
    for kind in kinds:
        outcome = judge(kind)
        TALLY.record(kind, entry, outcome)
        if outcome != kind.expected:
            wrong.append(f"{kind.name}: expected {kind.expected!r}, got {outcome!r}")
    assert not wrong, f"{entry}:\n" + "\n".join(wrong)


# --- audio ---------------------------------------------------------------------------------------


def _wav_bytes(samples: np.ndarray, *, subtype: str = "PCM_16") -> bytes:
    import io

    buffer = io.BytesIO()
    sf.write(buffer, samples, SAMPLE_RATE, format="WAV", subtype=subtype)
    return buffer.getvalue()


def _float_wav(samples: np.ndarray) -> bytes:
    """A 32-bit float WAV written by hand, so NaN and infinity reach the file untouched."""
    data = samples.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, SAMPLE_RATE, SAMPLE_RATE * 4, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _declared_length_wav(declared_bytes: int, actual: np.ndarray) -> bytes:
    """A PCM WAV whose header promises ``declared_bytes`` of data but holds ``actual``."""
    data = (actual * 32767).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, SAMPLE_RATE, SAMPLE_RATE * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", declared_bytes) + data
    return b"RIFF" + struct.pack("<I", min(len(body) + declared_bytes, 2**32 - 1)) + body


def _audio_kinds() -> list[tuple[str, str, str, str, Callable[[Path], None]]]:
    """(name, file name, expected, words, writer) for each audio kind."""
    good = tone(440.0, seconds=0.3)

    def write(data: bytes) -> Callable[[Path], None]:
        return lambda path: path.write_bytes(data)

    def fifo(path: Path) -> None:
        os.mkfifo(path)

    def loop(path: Path) -> None:
        path.symlink_to(path.name)

    def folder(path: Path) -> None:
        path.mkdir()
        (path / "inner.txt").write_text("not audio")

    header = _wav_bytes(good)
    return [
        ("empty-file", "empty.wav", SKIPPED, "empty", write(b"")),
        ("truncated-header", "truncated.wav", SKIPPED, "unreadable", write(header[:30])),
        ("garbage-bytes", "garbage.wav", SKIPPED, "unreadable", write(os.urandom(4096))),
        (
            "zero-length-data",
            "nodata.wav",
            SKIPPED,
            "no audio",
            write(_wav_bytes(np.zeros(0, dtype=np.float32))),
        ),
        (
            "nan-samples",
            "nan.wav",
            SKIPPED,
            "nan or infinite",
            write(_float_wav(np.where(np.arange(good.size) % 100 == 0, np.nan, good))),
        ),
        (
            "inf-samples",
            "inf.wav",
            SKIPPED,
            "nan or infinite",
            write(_float_wav(np.where(np.arange(good.size) == 50, np.inf, good))),
        ),
        (
            "dc-only",
            "dc.wav",
            SKIPPED,
            "constant",
            write(_float_wav(np.full(good.size, 0.5, dtype=np.float32))),
        ),
        ("float-1000", "loud.wav", NORMALISED, "normalised", write(_float_wav(good * 2000.0))),
        (
            "tenth-of-a-millisecond",
            "blip.wav",
            SKIPPED,
            "too short",
            write(_wav_bytes(good[:4])),
        ),
        (
            "declares-an-hour",
            "hour.wav",
            USED,
            "",
            write(_declared_length_wav(3600 * SAMPLE_RATE * 2, good)),
        ),
        ("folder-named-wav", "folder.wav", USED, "", folder),
        ("fifo-named-wav", "pipe.wav", SKIPPED, "not a regular file", fifo),
        ("symlink-loop", "loop.wav", SKIPPED, "loop", loop),
        ("non-utf8-name", "bad\udcff.wav", USED, "", write(header)),
        ("newline-in-name", "two\nlines.wav", USED, "", write(header)),
        ("escape-in-name", "\x1b[31mred.wav", USED, "", write(header)),
        ("wav-named-m4a", "tone.m4a", SKIPPED, "unsupported format", write(header)),
    ]


# --- model folders -------------------------------------------------------------------------------


def _edit(run: Path, **changes: object) -> None:
    data = json.loads((run / "model.json").read_text())
    data.update(changes)
    (run / "model.json").write_text(json.dumps(data))


def _edit_config(run: Path, **changes: object) -> None:
    data = json.loads((run / "model.json").read_text())
    data["config"].update(changes)
    (run / "model.json").write_text(json.dumps(data))


def _rewrite_weights(run: Path, change: Callable[[dict], None]) -> None:
    from safetensors.torch import load, save

    tensors = load((run / "weights.safetensors").read_bytes())
    change(tensors)
    (run / "weights.safetensors").write_bytes(
        save({k: v.contiguous() for k, v in tensors.items()}, metadata={"step": "60"})
    )


def _first_float(tensors: dict) -> str:
    return next(k for k, v in sorted(tensors.items()) if v.is_floating_point() and v.numel() > 1)


def _wrong_dtype(tensors: dict) -> None:
    import torch

    name = _first_float(tensors)
    tensors[name] = tensors[name].to(torch.int8)


def _wrong_shape(tensors: dict) -> None:
    name = _first_float(tensors)
    tensors[name] = tensors[name].reshape(-1)[:3].clone()


def _nan_weights(tensors: dict) -> None:
    name = _first_float(tensors)
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] = float("nan")


def _model_kinds() -> list[tuple[str, str, str, Callable[[Path], None]]]:
    """(name, expected, words, spoil) for each model-folder kind (spoil edits a good copy)."""

    def replace(name: str, make: Callable[[Path], None]) -> Callable[[Path], None]:
        def spoil(run: Path) -> None:
            (run / name).unlink()
            make(run / name)

        return spoil

    def pickle_weights(path: Path) -> None:
        import pickle

        path.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))

    def truncated(run: Path) -> None:
        data = (run / "weights.safetensors").read_bytes()
        (run / "weights.safetensors").write_bytes(data[: len(data) // 2])

    return [
        ("missing-model-json", REFUSED, "model.json", lambda run: (run / "model.json").unlink()),
        (
            "model-json-not-json",
            REFUSED,
            "json",
            lambda run: (run / "model.json").write_text("{family: gmm,"),
        ),
        (
            "model-json-a-list",
            REFUSED,
            "object",
            lambda run: (run / "model.json").write_text("[1, 2, 3]"),
        ),
        (
            "model-json-nested-deep",
            REFUSED,
            "nested",
            lambda run: (run / "model.json").write_text('{"a":' * 50_000 + "1" + "}" * 50_000),
        ),
        (
            "format-version-negative",
            REFUSED,
            "format_version",
            lambda r: _edit(r, format_version=-1),
        ),
        ("format-version-bool", REFUSED, "format_version", lambda r: _edit(r, format_version=True)),
        (
            "format-version-string",
            REFUSED,
            "format_version",
            lambda r: _edit(r, format_version="1"),
        ),
        ("format-version-future", REFUSED, "newer", lambda r: _edit(r, format_version=99)),
        ("unknown-family", REFUSED, "family", lambda r: _edit(r, family="theremin")),
        ("huge-config-size", REFUSED, "components", lambda r: _edit_config(r, components=10**9)),
        ("config-size-a-string", REFUSED, "dims", lambda r: _edit_config(r, dims="16")),
        ("seed-beyond-64-bits", REFUSED, "seed", lambda r: _edit_config(r, seed=2**70)),
        (
            "weights-wrong-dtype",
            REFUSED,
            "int8",
            lambda r: _rewrite_weights(r, _wrong_dtype),
        ),
        ("weights-wrong-shape", REFUSED, "shape", lambda r: _rewrite_weights(r, _wrong_shape)),
        ("weights-missing", REFUSED, "weights", lambda r: (r / "weights.safetensors").unlink()),
        ("weights-a-fifo", REFUSED, "named pipe", replace("weights.safetensors", os.mkfifo)),
        (
            "weights-a-folder",
            REFUSED,
            "folder",
            replace("weights.safetensors", lambda p: p.mkdir()),
        ),
        ("weights-truncated", REFUSED, "safetensors", truncated),
        (
            "weights-a-pickle",
            REFUSED,
            "safetensors",
            replace("weights.safetensors", pickle_weights),
        ),
        (
            "weights-nan",
            LOADED_REFUSED_AT_RENDER,
            "nan",
            lambda r: _rewrite_weights(r, _nan_weights),
        ),
    ]


# --- presets and sidecars ------------------------------------------------------------------------

PRESET_MODEL = "physical:string"
"""The model every preset is saved for: a physical instrument loads without any file."""


def _preset(**changes: object) -> dict:
    data = {
        "format_version": 1,
        "model": PRESET_MODEL,
        "family": "physical",
        "values": {},
        "seed": 7,
        "pitch": 60.0,
        "name": "p",
    }
    data.update(changes)
    return data


def _sidecar(**changes: object) -> dict:
    data = {
        "format_version": 1,
        "model": PRESET_MODEL,
        "family": "physical",
        "controls": {},
        "seed": 42,
        "pitch": 64.0,
        "n": 1,
        "extra": {},
    }
    data.update(changes)
    return data


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _document_kinds(make: Callable[..., dict]) -> list[tuple[str, str, str]]:
    """(name, JSON text, words) shared by presets and sidecars; ``make`` builds a good one."""
    values = "values" if make is _preset else "controls"
    return [
        ("nan-pitch", json.dumps(make(pitch=float("nan"))), "pitch"),
        ("huge-pitch", json.dumps(make(pitch=1e300)), "pitch"),
        ("nan-control", json.dumps(make(**{values: {"decay": float("nan")}})), values),
        ("infinite-control", json.dumps(make(**{values: {"decay": float("inf")}})), values),
        ("seed-beyond-64-bits", json.dumps(make(seed=2**70)), "seed"),
        ("seed-a-string", json.dumps(make(seed="42")), "seed"),
        ("controls-a-list", json.dumps(make(**{values: [1, 2]})), values),
        ("deep-nesting", '{"model": ' + _nested(100_000) + "}", "nested"),
        ("not-an-object", "[1, 2, 3]", "object"),
        ("not-json", "seed = 4", "json"),
        ("not-utf8", '{"model": "\xff"}'.encode("latin-1").decode("latin-1"), ""),
    ]


# --- command-line arguments ----------------------------------------------------------------------


def _cli_kinds(root: Path, good_folder: Path) -> list[tuple[str, tuple[str, ...], str]]:
    """(name, argv, words) for each CLI kind; every one is refused with exit 2."""
    existing = root / "cli" / "existing-file.wav"
    out = root / "cli" / "out"
    missing = root / "cli" / "missing"
    model = str(STARTER_GMM)
    return [
        ("generate-n-zero", ("generate", model, "--n", "0", "--out", str(out)), "--n"),
        ("generate-n-huge", ("generate", model, "--n", "10000000000", "--out", str(out)), "--n"),
        ("generate-pitch-nan", ("generate", model, "--pitch", "nan", "--out", str(out)), "--pitch"),
        (
            "generate-seconds-inf",
            ("generate", model, "--seconds", "inf", "--out", str(out)),
            "--seconds",
        ),
        (
            "generate-seed-65-bits",
            ("generate", model, "--seed", str(2**65), "--out", str(out)),
            "--seed",
        ),
        (
            "generate-set-nan",
            ("generate", "physical:string", "--set", "decay=nan", "--out", str(out)),
            "decay",
        ),
        (
            "generate-sample-rate-1",
            ("generate", model, "--sample-rate", "1", "--out", str(out)),
            "sample rate",
        ),
        ("generate-out-a-file", ("generate", model, "--out", str(existing)), "not a folder"),
        (
            "reconstruct-out-a-file",
            ("reconstruct", model, str(good_folder), "--out", str(existing)),
            "not a folder",
        ),
        (
            "reconstruct-out-inside-input",
            ("reconstruct", model, str(good_folder), "--out", str(good_folder / "rebuilt")),
            "inside",
        ),
        (
            "train-unknown-family",
            ("train", str(good_folder), "--family", "theremin", "--out", str(out)),
            "theremin",
        ),
        (
            "train-steps-negative",
            ("train", str(good_folder), "--family", "gmm", "--steps", "-5", "--out", str(out)),
            "--steps",
        ),
        (
            "train-minutes-nan",
            (
                "train",
                str(good_folder),
                "--family",
                "gmm",
                "--max-minutes",
                "nan",
                "--out",
                str(out),
            ),
            "--max-minutes",
        ),
        (
            "train-missing-folder",
            ("train", str(missing), "--family", "gmm", "--out", str(out)),
            "no such folder",
        ),
        ("scan-missing-folder", ("scan", str(missing)), "no such folder"),
        ("evaluate-missing-folder", ("evaluate", model, str(missing)), "no such folder"),
        (
            "scan-missing-folder-with-newline",
            ("scan", str(root / "cli" / "two\nlines")),
            "two\\nlines: no such folder",
        ),
        (
            "evaluate-repeats-zero",
            ("evaluate", model, str(good_folder), "--repeats", "0"),
            "--repeats",
        ),
        (
            "generate-missing-model",
            ("generate", str(missing), "--out", str(out)),
            "not a run directory",
        ),
        ("demo-minutes-inf", ("demo", "--max-minutes", "inf", "--out", str(out)), "--max-minutes"),
        ("starter-data-out-a-file", ("starter-data", str(existing)), "not a folder"),
        (
            "export-model-unknown-format",
            ("export-model", model, "--format", "mp3", "--out", str(out)),
            "format",
        ),
        ("unknown-command", ("dance",), "dance"),
    ]


# --- the corpus ----------------------------------------------------------------------------------


def good_sounds(root: Path) -> Path:
    """The folder of three good tones that the CLI and model kinds of ``root``'s corpus use."""
    return root / "cli" / "sounds"


def write_corpus(root: Path) -> list[BadInput]:
    """Write every bad-input kind under ``root`` and return them, audio kinds first.

    Needs named pipes and symbolic links (Linux, macOS); the model kinds are spoiled copies of
    the ``builtin-gmm`` starter model.
    """
    kinds: list[BadInput] = []
    good = tone(330.0, seconds=0.4)
    for name, file_name, expected, words, writer in _audio_kinds():
        folder = root / "audio" / name
        folder.mkdir(parents=True)
        sf.write(folder / "good.wav", good, SAMPLE_RATE)
        bad = folder / file_name
        writer(bad)
        kinds.append(BadInput(name, "audio", expected, folder, bad, words=words))
    for name, expected, words, spoil in _model_kinds():
        run = root / "models" / name
        shutil.copytree(STARTER_GMM, run)
        spoil(run)
        kinds.append(BadInput(name, "model", expected, run, words=words))
    for area, make in (("preset", _preset), ("sidecar", _sidecar)):
        for name, text, words in _document_kinds(make):
            path = root / area / f"{name}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            if name == "not-utf8":
                path.write_bytes(text.encode("latin-1"))
            else:
                path.write_text(text, encoding="utf-8")
            kinds.append(BadInput(name, area, REFUSED, path, words=words))
    good_folder = good_sounds(root)
    good_folder.mkdir(parents=True)
    for index, frequency in enumerate((220.0, 330.0, 440.0)):
        sf.write(good_folder / f"good{index}.wav", tone(frequency, seconds=0.4), SAMPLE_RATE)
    (root / "cli" / "existing-file.wav").write_bytes(b"keep me")
    for name, argv, words in _cli_kinds(root, good_folder):
        kinds.append(BadInput(name, "cli", REFUSED, argv=argv, words=words))
    return kinds
