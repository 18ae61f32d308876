"""The comparison's pieces: what may be compared, the lesson preset and its time budget, the
scores (those of ``timbrelab evaluate``, on a gmm trained for three steps), the PNG spectrograms
and the HTML page built from a compare.json."""

from __future__ import annotations

import base64
import io
import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from synth_core.compare import (
    COMPARE_FILE,
    EIGEN_ROW,
    FIRST_OVERHEAD_S,
    MIN_TRAIN_SECONDS,
    CompareSettings,
    Scorer,
    compare,
    family_minutes,
    lesson_settings,
    parse_families,
    read_compare,
    scoring_model,
)
from synth_core.errors import DatasetError, ModelConfigError
from synth_core.report_html import png_bytes, spectrogram_rgb, write_report


def _decode_png(data: bytes) -> np.ndarray:
    """Read back an 8-bit RGB PNG, checking every chunk's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body)
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
            assert body[8:10] == bytes([8, 2])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, 1 + 3 * width)
    assert not rows[:, 0].any()  # filter type 0 on every row
    return rows[:, 1:].reshape(height, width, 3)


def test_png_writer_round_trips_an_image() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    assert np.array_equal(_decode_png(png_bytes(image)), image)


def test_a_high_tone_is_drawn_higher_in_the_spectrogram_than_a_low_one() -> None:
    t = np.arange(22050) / 44100
    rows = []
    for hz in (200.0, 4000.0):
        image = spectrogram_rgb(np.sin(2 * np.pi * hz * t), 44100)
        rows.append(int(np.argmax(image[..., 0].mean(axis=1))))
    assert rows[1] < rows[0]  # row 0 is the top of the picture: high frequencies


def test_unknown_or_repeated_families_and_a_missing_budget_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelConfigError, match="flute"):
        CompareSettings(data=tmp_path, families=("gmm", "flute"), out=tmp_path, steps=1)
    with pytest.raises(ModelConfigError, match="twice"):
        CompareSettings(data=tmp_path, families=("gmm", "gmm"), out=tmp_path, steps=1)
    with pytest.raises(ModelConfigError, match="--minutes or --steps"):
        CompareSettings(data=tmp_path, families=("gmm",), out=tmp_path)
    assert parse_families("all") == ("physical", "gmm", "hmm", "cnn", "rnn", "vae", "gan")
    assert parse_families(" vae, gmm ,") == ("vae", "gmm")


def test_the_lesson_is_the_starter_data_all_seven_families_within_ten_minutes(
    tmp_path: Path,
) -> None:
    lesson = lesson_settings(tmp_path / "lesson")
    assert lesson.families == parse_families("all") and lesson.minutes == 1.0
    assert lesson.total_minutes is not None and lesson.total_minutes < 10
    assert lesson.test_clips == 16  # scoring all 70 test clips would cost minutes a family
    assert len(list(lesson.data.glob("*.wav"))) > 200
    assert lesson.test is not None and len(list(lesson.test.glob("*.wav"))) > 50
    # the lighter lesson settings (docs/experiments/lesson-timing.md, run 3)
    assert lesson.presets == {"physical": "quick"}
    assert lesson.scoring["physical"] == {"fit_steps": 4}
    for family in ("cnn", "vae", "gan"):
        assert lesson.scoring[family] == {"refine_steps": 20}


def test_presets_and_scoring_settings_are_checked_before_any_training(tmp_path: Path) -> None:
    def settings(**kw: object) -> CompareSettings:
        return CompareSettings(data=tmp_path, families=("gmm", "vae"), out=tmp_path, steps=1, **kw)

    with pytest.raises(ModelConfigError, match="no preset 'tiny'"):
        settings(presets={"gmm": "tiny"})
    with pytest.raises(ModelConfigError, match="hmm, which is not compared"):
        settings(scoring={"hmm": {"states": 3}})
    with pytest.raises(ModelConfigError, match="unknown setting"):
        settings(scoring={"gmm": {"refine_steps": 20}})  # a gmm does not refine
    with pytest.raises(ModelConfigError, match="refine_steps"):
        settings(scoring={"vae": {"refine_steps": -1}})
    ok = settings(presets={"gmm": "quick"}, scoring={"vae": {"refine_steps": 20}})
    assert ok.presets["gmm"] == "quick"


def test_scoring_settings_change_the_reconstruction_and_say_so() -> None:
    import dataclasses

    import torch

    from synth_core.builtin import builtin_clips
    from synth_core.models.spectral.config import SPECTRAL_TINY
    from synth_core.train.learners import build_learner

    model = build_learner("vae", settings=SPECTRAL_TINY | {"clip_seconds": 0.25})
    clips = builtin_clips("test", sample_rate=model.sample_rate)
    clips = dataclasses.replace(clips, audio=clips.audio[:, : model.config.clip_samples])
    audio = clips.audio[:2]
    model.begin(clips)
    refined = model.reconstruct(audio)  # SPECTRAL_TINY: 3 steps
    same, said = scoring_model(model, {"refine_steps": 3})
    assert same is model and said == []  # a setting already so is not named
    model, said = scoring_model(model, {"refine_steps": 0})
    assert model.config.refine_steps == 0
    assert said == ["reconstruction refined 0 steps, not 3"]
    assert not torch.allclose(model.reconstruct(audio), refined)
    with pytest.raises(ModelConfigError):
        scoring_model(model, {"refine_steps": 5000})


def test_a_total_budget_shares_the_time_left_among_the_families_to_come(tmp_path: Path) -> None:
    seven = parse_families("all")
    free = CompareSettings(data=tmp_path, families=seven, out=tmp_path, minutes=1.0)
    assert family_minutes(free, 3, 5000.0, [300.0]) == 1.0  # no total: the minute, however late
    lesson = CompareSettings(
        data=tmp_path, families=seven, out=tmp_path, minutes=1.0, total_minutes=9.5
    )
    # the first family: 570 s for 7, less the guessed overhead
    assert family_minutes(lesson, 0, 0.0, []) * 60 == pytest.approx(570 / 7 - FIRST_OVERHEAD_S)
    # a fast machine: capped at the minute
    assert family_minutes(lesson, 1, 30.0, [5.0]) == 1.0
    # families that cost 50 s beyond training each: the 4 left share 300 s, 25 s each
    assert family_minutes(lesson, 3, 270.0, [50.0, 50.0, 50.0]) * 60 == pytest.approx(25.0)
    # no time left: the floor, and the run goes over (its notes say so)
    assert family_minutes(lesson, 6, 600.0, [80.0] * 6) * 60 == MIN_TRAIN_SECONDS
    # what the families train plus what they cost beyond it stays near the total: only the
    # overheads' estimate errs (here the last family costs more than the mean), which the half
    # minute between 9.5 and the promised 10 absorbs; a fixed minute each would take 12
    spent, overheads = 0.0, []
    for index, cost in enumerate((90.0, 30.0, 30.0, 35.0, 30.0, 40.0, 45.0)):
        spent += family_minutes(lesson, index, spent, overheads) * 60 + cost
        overheads.append(cost)
    assert 9 * 60 < spent < 9.6 * 60


def test_compare_scores_a_family_as_evaluate_does_and_says_where_the_time_went(
    tmp_path: Path,
) -> None:
    from synth_core import checkpoint
    from synth_core.dataset import load_clips
    from synth_core.evaluate import evaluate
    from tests.support.compare_data import write_compare_data

    data, test_folder = write_compare_data(tmp_path / "data")
    out = tmp_path / "out"
    settings = CompareSettings(
        data=data, test=test_folder, families=("gmm",), steps=3, out=out, total_minutes=5.0
    )
    result = compare(settings)
    (row,) = result.rows
    timings = row["timings"]
    assert set(timings) == {"prepare_s", "train_wall_s", "score_s", "hear_s"}
    assert all(v >= 0 for v in timings.values()) and timings["score_s"] > 0
    assert timings["train_wall_s"] >= row["train_seconds"]
    assert sum(timings.values()) <= result.wall_seconds <= 5 * 60
    assert read_compare(out)["wall_seconds"] == result.wall_seconds

    # the row's numbers are the ones `timbrelab evaluate` gives the same model, clips and seed
    model = checkpoint.read_model(out / row["run"])
    rate, seconds = int(model.sample_rate), row["clip_seconds"]
    test = load_clips(test_folder, sample_rate=rate, seconds=seconds)
    train = load_clips(data, sample_rate=rate, seconds=seconds)
    report = evaluate(model, test, train, seed=0)
    scores, _ = Scorer(seed=0).score(model, test, train)
    expected = report.generation["model"] | report.reconstruction["model"]
    assert set(scores) == set(expected)
    for key, value in expected.items():
        assert scores[key] == pytest.approx(value, rel=1e-6, nan_ok=True), key
    baseline = Scorer(seed=0).baseline(test, train)
    for key, value in report.generation[EIGEN_ROW].items():
        assert baseline["generation"][key] == pytest.approx(value, rel=1e-6), key
    assert baseline["reconstruction"]["sc_db"] == pytest.approx(
        report.reconstruction[EIGEN_ROW]["sc_db"], rel=1e-6
    )


def test_a_preset_trains_the_run_and_scoring_settings_leave_it_as_saved(tmp_path: Path) -> None:
    from synth_core import checkpoint
    from tests.support.compare_data import write_compare_data

    data, test_folder = write_compare_data(tmp_path / "data")
    out = tmp_path / "out"
    settings = CompareSettings(
        data=data,
        test=test_folder,
        families=("gmm",),
        steps=2,
        out=out,
        presets={"gmm": "quick"},
        scoring={"gmm": {"covariance_floor": 0.5}},
    )
    (row,) = compare(settings).rows
    model = checkpoint.read_model(out / row["run"])
    assert model.config.components == 4  # the quick preset's, not the default 6
    assert model.config.covariance_floor == 0.01  # scored with 0.5, saved as trained
    assert row["preset"] == "quick"
    assert row["scored_with"] == ["covariance_floor 0.5, not 0.01"]
    written = read_compare(out)
    assert written["presets"] == {"gmm": "quick"}
    assert written["scoring"] == {"gmm": {"covariance_floor": 0.5}}
    assert "gmm: trained with the 'quick' preset" in written["notes"]
    assert "gmm: scored with covariance_floor 0.5, not 0.01" in written["notes"]


def test_reading_a_folder_without_a_comparison_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="timbrelab compare"):
        read_compare(tmp_path)
    (tmp_path / COMPARE_FILE).write_text("[1, 2]")
    with pytest.raises(DatasetError, match="not a comparison"):
        read_compare(tmp_path)


def _fake_comparison(out: Path) -> dict:
    """A compare.json and its sounds as compare() lays them out, written by hand."""
    rate = 16000
    tone = (0.3 * np.sin(2 * np.pi * 330 * np.arange(rate // 2) / rate)).astype(np.float32)

    def strip(name: str) -> list[str]:
        (out / "sounds" / name).mkdir(parents=True, exist_ok=True)
        paths = [f"sounds/{name}/{name}_{i}.wav" for i in (1, 2)]
        for p in paths:
            sf.write(out / p, tone, rate)
        return paths

    (out / "runs" / "gmm").mkdir(parents=True)
    (out / "runs" / "gmm" / "history.jsonl").write_text(
        "".join(
            json.dumps({"step": s, "elapsed_s": s / 10, "lr": None, "nll": 3.0 / s}) + "\n"
            for s in range(1, 6)
        )
    )
    data = {
        "format_version": 1, "data": "/sounds/<train>", "test": None, "families": ["gmm"],
        "minutes": 0.5, "steps": None, "stopped": False, "notes": ["a note & more"],
        "rows": [{
            "family": "gmm", "title": "Gaussian mixture", "run": "runs/gmm", "steps": 5,
            "train_seconds": 1.25, "one_nn": 0.8125, "frechet": 12.34, "memorisation": None,
            "sc_db": -3.5, "pitch_cents": None, "realtime_factor": 40.0,
            "model_bytes": 2048, "sounds": strip("gmm"),
        }],
        "baseline": {"name": "eigen-sounds (PCA-32)", "one_nn": 0.9, "frechet": 30.0,
                     "sc_db": -2.0, "sounds": strip("eigen-sounds")},
        "real": {"clips": 4, "source": "held-out split", "sounds": strip("real")},
    }  # fmt: skip
    (out / COMPARE_FILE).write_text(json.dumps(data))
    return data


def test_the_report_embeds_every_sound_and_spectrogram_and_shows_the_table(
    tmp_path: Path,
) -> None:
    _fake_comparison(tmp_path)
    page = write_report(tmp_path).read_text()

    sounds = re.findall(r'<audio[^>]*src="data:audio/wav;base64,([^"]+)"', page)
    assert len(sounds) == 6
    audio, rate = sf.read(io.BytesIO(base64.b64decode(sounds[0])))
    assert rate == 16000 and len(audio) == 8000
    images = re.findall(r'<img[^>]*src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 6
    assert _decode_png(base64.b64decode(images[0])).shape[0] == 96
    row = re.search(r'<tr data-family="gmm">(.*?)</tr>', page).group(1)
    cells = dict(re.findall(r'data-key="(\w+)">([^<]*)<', row))
    assert cells["one_nn"] == "0.812" or cells["one_nn"] == "0.813"
    assert cells["frechet"] == "12.3" and cells["memorisation"] == "—"
    assert cells["model_bytes"] == "2 KiB" and cells["steps"] == "5"
    assert "nll: 3 → 0.6 over 5 steps" in page and "<polyline" in page
    assert "a note &amp; more" in page and "&lt;train&gt;" in page  # text is escaped
    assert 'src="sounds/' not in page  # nothing to fetch next to the page
