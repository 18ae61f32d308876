"""Exports, `generate` and `reconstruct` never lose or misplace a file.

Every sound a command reports is a distinct file on disk, inside the folder the user chose;
nothing already there is replaced without being asked; files get the permissions the user's
umask gives; a model with corrupt weights is refused instead of writing silence.
"""

from __future__ import annotations

import math
import os
import stat
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synth_core import checkpoint
from synth_core.cli import main
from synth_core.errors import CheckpointError, TimbreLabError
from synth_core.export import (
    STEM_MAX_BYTES,
    ExportError,
    ExportSettings,
    batch_paths,
    export_batch,
    read_recipe,
    recreate,
)
from synth_core.runs import open_model

RATE = 22050
FAST = ExportSettings(sample_rate=44100, normalise="none", fade_out_s=0.0)


@pytest.fixture(scope="module")
def string():
    return open_model("physical:string")


def fast(pattern: str, **fields) -> ExportSettings:
    return ExportSettings(**{**FAST.to_dict(), "pattern": pattern, **fields})


def everything_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


@contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- batch export -------------------------------------------------------------------------------


def test_a_model_with_a_dot_in_its_name_exports_every_variation_to_its_own_file(string, tmp_path):
    out = tmp_path / "pack"
    result = export_batch(
        string, out, model_id="runs/drums.v2", n=4, spread=0.3, seed=5, settings=FAST
    )
    names = [p.name for p in result.files]
    assert names == [f"drums.v2_00{i}_s{4 + i}.wav" for i in range(1, 5)]
    assert sorted(p.name for p in out.glob("*.wav")) == names
    assert len(list(out.glob("*.json"))) == 4
    for path in result.files:  # each sidecar describes its own sound
        assert read_recipe(path).seed == int(path.stem.rsplit("_s", 1)[1])


def test_a_fractional_pitch_in_the_pattern_keeps_every_file(string, tmp_path):
    result = export_batch(
        string, tmp_path, model_id="physical:string", n=3, pitch=60.5, settings=fast("p{pitch}")
    )
    assert [p.name for p in result.files] == ["p60.5.wav", "p60.5-2.wav", "p60.5-3.wav"]
    assert sorted(p.name for p in tmp_path.glob("*.wav")) == sorted(p.name for p in result.files)
    for path in result.files:
        written, _ = sf.read(path, dtype="float32")
        again = recreate(read_recipe(path), string).numpy()
        np.testing.assert_allclose(written, again, atol=1e-6)


def test_exporting_again_into_the_same_folder_keeps_the_first_files(string, tmp_path):
    first = export_batch(string, tmp_path, model_id="physical:string", n=2, settings=FAST)
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    again = export_batch(
        string, tmp_path, model_id="physical:string", n=2, spread=0.5, seed=0, settings=FAST
    )
    assert {p: p.read_bytes() for p in before} == before
    assert [p.name for p in again.files] == [p.stem + "-2.wav" for p in first.files]
    assert len(list(tmp_path.glob("*.wav"))) == 4
    replaced = export_batch(
        string, tmp_path, model_id="physical:string", n=2, settings=FAST, replace_existing=True
    )
    assert replaced.files == first.files and len(list(tmp_path.glob("*.wav"))) == 4


@pytest.mark.parametrize("pattern", [".", "..", "...", " . ", ". .", "{model}", "..{model}"])
def test_a_pattern_of_dots_never_writes_outside_the_chosen_folder(string, tmp_path, pattern):
    inner = tmp_path / "inner"
    try:
        result = export_batch(string, inner, model_id="..", n=2, settings=fast(pattern))
    except ExportError as error:
        assert pattern.strip() in str(error) or "pattern" in str(error)
        assert everything_under(tmp_path) <= {"inner"}
        return
    assert everything_under(tmp_path) - {"inner"} == {
        f"inner/{name}" for p in result.files for name in (p.name, p.stem + ".json")
    }
    for path in result.files:
        assert path.resolve().parent == inner.resolve() and not path.name.startswith(".")


def test_a_link_in_the_folder_pointing_elsewhere_is_not_written_through(string, tmp_path):
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "take.wav").symlink_to(tmp_path / "elsewhere.wav")
    with pytest.raises(ExportError, match="outside the chosen folder"):
        export_batch(string, inner, model_id="physical:string", settings=fast("take"))
    assert not (tmp_path / "elsewhere.wav").exists()


def test_an_over_long_name_is_a_clear_error_naming_the_pattern(string, tmp_path):
    longest = "é" * (STEM_MAX_BYTES // 2)  # two bytes each in UTF-8
    [path] = export_batch(string, tmp_path, model_id="m", settings=fast(longest)).files
    assert path.name == longest + ".wav" and path.with_suffix(".json").is_file()
    too_long = longest + "é"
    with pytest.raises(ExportError, match=f"{STEM_MAX_BYTES} bytes") as caught:
        export_batch(string, tmp_path, model_id="m", settings=fast(too_long))
    assert too_long in str(caught.value)
    assert len(list(tmp_path.iterdir())) == 2


@pytest.mark.parametrize("pattern", ["{n:d}", "{n:>99999}", "{n:{seed}}", "{seed:s}"])
def test_a_format_spec_that_cannot_make_a_name_is_an_export_error(pattern, tmp_path):
    with pytest.raises(ExportError, match="pattern"):
        batch_paths(tmp_path, model_id="m", n=1, seed=0, pitch=None, settings=fast(pattern))


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_exported_sounds_and_sidecars_follow_the_umask(string, tmp_path, mask, expected):
    with umask(mask):
        [path] = export_batch(string, tmp_path, model_id="physical:string", settings=FAST).files
    assert mode(path) == expected
    assert mode(path.with_suffix(".json")) == expected


# -- generate -----------------------------------------------------------------------------------


def test_generate_refuses_to_replace_its_earlier_files_unless_told(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["generate", "physical:string", "--n", "3", "--seed", "1", "--out", str(out)]
    assert main(args) == 0
    (out / "0001.wav").write_bytes(b"my own take")
    capsys.readouterr()
    assert main([*args[:-4], "--seed", "9", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "0000.wav: already exists" in error and "--overwrite" in error
    assert (out / "0001.wav").read_bytes() == b"my own take"
    assert main([*args, "--overwrite"]) == 0
    assert sf.info(out / "0001.wav").frames > 0


class CountingModel:
    """A real model whose ``generate`` calls are recorded."""

    def __init__(self, model) -> None:
        self._model, self.batches = model, []

    def __getattr__(self, name):
        return getattr(self._model, name)

    def generate(self, values=None, *, n=1, seed=None, pitch=None, **kwargs):
        self.batches.append(n)
        return self._model.generate(values, n=n, seed=seed, pitch=pitch, **kwargs)


def test_generate_renders_a_few_sounds_at_a_time_and_each_is_the_same_for_any_n(
    tmp_path, monkeypatch
):
    import synth_core.runs as runs

    gmm = open_model("builtin-gmm")
    counting = CountingModel(gmm)
    monkeypatch.setattr(runs, "open_model", lambda name: counting)
    many, few = tmp_path / "many", tmp_path / "few"
    assert main(["generate", "x", "--n", "17", "--seed", "7", "--out", str(many)]) == 0
    assert len(list(many.glob("*.wav"))) == 17
    assert max(counting.batches) <= 16
    assert main(["generate", "x", "--n", "3", "--seed", "7", "--out", str(few)]) == 0
    for name in ("0000.wav", "0001.wav", "0002.wav"):
        assert (few / name).read_bytes() == (many / name).read_bytes()
    # sound i is seed + i rendered alone: what the app's export writes for that seed
    alone = gmm.generate(None, n=1, seed=7 + 16)[0].numpy()
    np.testing.assert_allclose(sf.read(many / "0016.wav", dtype="float32")[0], alone, atol=1e-4)


@pytest.fixture(scope="module")
def corrupt_runs(tmp_path_factory):
    """Starter models saved with NaN weights: a torch module (cnn) and an EM family (gmm)."""
    runs = {}
    for family in ("cnn", "gmm"):
        model = open_model(f"builtin-{family}")
        state = model.state()
        model.load_state(
            {k: v.clone().fill_(math.nan) if v.is_floating_point() else v for k, v in state.items()}
        )
        runs[family] = checkpoint.save_model(tmp_path_factory.mktemp(family) / "run", model, step=1)
    return runs


@pytest.mark.parametrize("family", ["cnn", "gmm"])
def test_a_model_with_nan_weights_is_refused_not_rendered_as_silence(
    corrupt_runs, family, tmp_path, capsys
):
    run = corrupt_runs[family]
    out = tmp_path / "out"
    assert main(["generate", str(run), "--n", "2", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert f"model {run} renders NaN: its weights are corrupt" in error
    assert "retrain or reload" in error and "Traceback" not in error
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(CheckpointError, match="renders NaN"):
        export_batch(open_model(run), tmp_path / "pack", model_id=str(run), settings=FAST)
    assert not (tmp_path / "pack").exists() or not any((tmp_path / "pack").iterdir())


def test_generated_files_follow_the_umask(tmp_path):
    for mask, expected in ((0o022, 0o644), (0o077, 0o600)):
        out = tmp_path / f"umask{mask:o}"
        with umask(mask):
            assert main(["generate", "physical:string", "--out", str(out)]) == 0
        assert mode(out / "0000.wav") == expected


# -- reconstruct --------------------------------------------------------------------------------


def write_tone(path: Path, freq_hz: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(0.3 * RATE)) / RATE
    tone = (0.5 * np.sin(2 * np.pi * freq_hz * t) * np.exp(-t * 8)).astype(np.float32)
    sf.write(path, tone, RATE, format="FLAC" if path.suffix == ".flac" else "WAV")


@pytest.fixture
def takes(tmp_path) -> Path:
    """a.wav, a.flac and sub/a.wav: three sounds whose names meet when made WAV files."""
    folder = tmp_path / "takes"
    write_tone(folder / "a.wav", 220.0)
    write_tone(folder / "a.flac", 330.0)
    write_tone(folder / "sub" / "a.wav", 440.0)
    return folder


def originals(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.*")}


def test_reconstruct_keeps_sub_folders_and_gives_each_input_its_own_output(takes, tmp_path, capsys):
    out = tmp_path / "rebuilt"
    assert main(["reconstruct", "builtin-gmm", str(takes), "--out", str(out)]) == 0
    assert "reconstructed 3 file(s)" in capsys.readouterr().err
    assert everything_under(out) == {"a.wav", "a.flac.wav", "sub", "sub/a.wav"}
    for name in ("a.wav", "a.flac.wav", "sub/a.wav"):
        assert sf.info(out / name).frames > 0


def test_reconstruct_into_its_own_input_is_refused_and_the_originals_stay(takes, tmp_path, capsys):
    before = originals(takes)
    link = tmp_path / "link-to-takes"
    link.symlink_to(takes)
    for out, relation in (
        (takes, "is the input"),
        (takes / "rebuilt", "is inside the input"),
        (tmp_path, "contains the input"),
        (link, "is the input"),
        (takes / "sub" / ".." / "rebuilt", "is inside the input"),
    ):
        assert main(["reconstruct", "builtin-gmm", str(takes), "--out", str(out)]) == 2, out
        error = capsys.readouterr().err
        assert relation in error and "Traceback" not in error
    assert originals(takes) == before
    assert not (takes / "rebuilt").exists()


def test_reconstruct_keeps_files_already_in_the_output_unless_told(takes, tmp_path, capsys):
    out = tmp_path / "rebuilt"
    (out / "sub").mkdir(parents=True)
    (out / "sub" / "a.wav").write_bytes(b"keep me")
    assert main(["reconstruct", "builtin-gmm", str(takes), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "sub/a.wav: already exists" in error and "--overwrite" in error
    assert (out / "sub" / "a.wav").read_bytes() == b"keep me"
    assert everything_under(out) == {"sub", "sub/a.wav"}
    assert main(["reconstruct", "builtin-gmm", str(takes), "--out", str(out), "--overwrite"]) == 0
    assert sf.info(out / "sub" / "a.wav").frames > 0


def test_reconstruct_refuses_a_model_with_nan_weights(corrupt_runs, takes, tmp_path, capsys):
    out = tmp_path / "rebuilt"
    assert main(["reconstruct", str(corrupt_runs["gmm"]), str(takes), "--out", str(out)]) == 2
    assert "renders NaN" in capsys.readouterr().err
    assert not out.exists() or not any(out.rglob("*.wav"))


# -- the path builder, on any input -------------------------------------------------------------

PIECES = ["{model}", "{seed}", "{n}", "{pitch}", ".", "..", "/", "\\", "{", "}", " ", "é", "~"]
text_with_traps = st.lists(
    st.one_of(st.sampled_from(PIECES), st.characters(exclude_categories=())), max_size=24
).map("".join)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("chosen")


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pattern=text_with_traps,
    model=text_with_traps,
    seed=st.integers(-(2**64), 2**64),
    pitch=st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.integers(-200, 200),
    n=st.integers(1, 6),
)
def test_every_planned_export_path_is_a_distinct_file_inside_the_folder(
    folder, pattern, model, seed, pitch, n
):
    settings_ = fast(pattern)
    try:
        paths = batch_paths(folder, model_id=model, n=n, seed=seed, pitch=pitch, settings=settings_)
    except ExportError as error:
        assert isinstance(error, TimbreLabError) and str(error)
        return
    base = folder.resolve()
    assert len(paths) == n
    assert len({p.name.casefold() for p in paths}) == n
    for path in paths:
        for written in (path, path.with_suffix(".json")):
            assert written.resolve().relative_to(base) == Path(written.name)
            assert written.resolve().parent == base
        assert path.name.endswith(".wav") and not path.name.startswith(".")
        assert len(path.name[: -len(".wav")].encode("utf-8")) <= STEM_MAX_BYTES
    assert not list(folder.iterdir())  # planning writes nothing
