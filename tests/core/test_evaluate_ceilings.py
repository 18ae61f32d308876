"""`evaluate` says how novel generated sounds are (memorisation ratio), how far each family's own
representation can get (its ceiling, through its own reconstruction path), and how well an oracle
that cannot hold a recording's noise pattern reconstructs (the fair reference for drums)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Self

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import Tensor

from synth_core import dsp, metrics
from synth_core.dataset import ClipSet, load_clips
from synth_core.evaluate import (
    HOP,
    N_FFT,
    SMOOTHED_ORACLE,
    Report,
    evaluate,
    format_report,
    griffin_lim_of,
    smoothed_magnitude,
)
from synth_core.models.base import Control, ModelConfig, SoundModel

RATE = 16000
SECONDS = 0.3


def plucks(count: int, seed: int) -> Tensor:
    """``count`` decaying tones with noise, each with its own pitch, decay and brightness: one
    population, so two draws of it are as alike as two folders of one kit."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(RATE * SECONDS)) / RATE
    clips = []
    for _ in range(count):
        f0 = 110 * 2 ** rng.uniform(0, 3)
        decay = rng.uniform(0.03, 0.3)
        partials = sum(
            rng.uniform(0.2, 1) / k * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 6)
        )
        noise = rng.uniform(0, 0.5) * rng.normal(size=t.size)
        clips.append(0.4 * (partials + noise) * np.exp(-t / decay))
    return torch.tensor(np.stack(clips), dtype=torch.float32)


def clip_set(audio: Tensor) -> ClipSet:
    paths = [Path(f"clip{i:03d}.wav") for i in range(len(audio))]
    return ClipSet(audio, torch.full((len(audio),), math.nan), paths, RATE)


class PlaybackModel(SoundModel):
    """A stand-in family: generation plays back a fixed set of clips, and reconstruction is
    whatever function it is given, so the right answers are known."""

    family = "playback"

    def __init__(self, clips: Tensor, rebuild=lambda audio: audio) -> None:
        self.config = ModelConfig(sample_rate=RATE, clip_seconds=SECONDS)
        self.sample_rate = RATE
        self.clips = clips
        self.rebuild = rebuild
        self.reconstructed: list[Tensor] = []

    @classmethod
    def from_config(cls, config: ModelConfig) -> Self:
        return cls(torch.zeros(1, int(RATE * SECONDS)))

    def controls(self) -> list[Control]:
        return []

    def generate(
        self,
        values: Mapping[str, float] | None = None,
        *,
        n: int = 1,
        seed: int | None = None,
        pitch: float | None = None,
    ) -> Tensor:
        start = (seed or 0) % len(self.clips)
        return self.clips[torch.arange(start, start + n) % len(self.clips)]

    def reconstruct(self, audio: Tensor) -> Tensor:
        self.reconstructed.append(audio)
        return self.rebuild(audio)


TRAIN, HELD_OUT, NEW = plucks(30, seed=1), plucks(20, seed=2), plucks(20, seed=3)


def muffle(audio: Tensor) -> Tensor:
    """A reconstruction that keeps nothing of the sound but a slow, quiet drift."""
    return 0.05 * torch.tanh(audio.cumsum(-1) / 50)


@pytest.fixture(scope="module")
def copying() -> tuple[PlaybackModel, Report]:
    """A model that plays training clips back and reconstructs perfectly, scored twice."""
    model = PlaybackModel(TRAIN)
    return model, evaluate(model, clip_set(HELD_OUT), clip_set(TRAIN), n=20, repeats=2)


@pytest.fixture(scope="module")
def muffled_without_training_clips() -> Report:
    """A model that makes new sounds and reconstructs badly; its training folder is gone."""
    return evaluate(PlaybackModel(NEW, rebuild=muffle), clip_set(HELD_OUT), None, n=10)


def test_new_real_sounds_are_as_novel_as_held_out_ones_and_copies_are_not():
    train = metrics.log_mel_statistics(TRAIN, RATE)
    held_out = metrics.log_mel_statistics(HELD_OUT, RATE)
    new = metrics.log_mel_statistics(NEW, RATE)
    assert train.shape == (30, 128)
    assert 0.75 <= metrics.memorisation_ratio(new, held_out, train) <= 1.33
    copies = metrics.log_mel_statistics(TRAIN[:20] * 0.999, RATE)
    assert metrics.memorisation_ratio(copies, held_out, train) < 0.1


def test_evaluate_reports_memorisation_beside_every_one_nn_figure(copying):
    _, report = copying
    for name, row in report.generation.items():
        assert math.isfinite(row["memorisation"]) and "memorisation_sd" in row, name
    assert report.generation["model"]["memorisation"] < 0.3  # it plays training clips back
    assert report.generation["eigen-sounds (PCA-32)"]["memorisation"] > 0.5
    text = format_report(report)
    assert "memorisation" in text and "n/a" not in text


def test_without_the_training_folder_memorisation_is_not_available_and_says_why(
    muffled_without_training_clips,
):
    report = muffled_without_training_clips
    assert all("memorisation" not in row for row in report.generation.values())
    lines = format_report(report).splitlines()
    assert any(
        line.startswith("note: memorisation: n/a (training folder not found") for line in lines
    )
    model_row = next(line for line in lines if line.strip().startswith("model") and "n/a" in line)
    assert model_row.split()[-1] == "n/a"


def test_the_representation_ceiling_goes_through_the_models_own_reconstruction(
    copying, muffled_without_training_clips
):
    model, report = copying
    # first the held-out clips are reconstructed (the distances), then training clips, whose
    # rebuilds stand in for generated clips in the ceiling rows
    first, ceiling_input = torch.cat(model.reconstructed[:2]), torch.cat(model.reconstructed[2:])
    assert torch.equal(first, HELD_OUT)
    assert len(ceiling_input) == 20
    assert all(any(torch.equal(clip, t) for t in TRAIN) for clip in ceiling_input)
    ceiling = report.ceilings["representation (model.reconstruct)"]
    # faithful rebuilds of other clips of the same population: as good as a perfect generator
    assert ceiling["one_nn"] <= 0.75
    assert set(report.ceilings) == {
        "representation (model.reconstruct)",
        "eigen-sounds (PCA-32)",
        "Griffin-Lim of true magnitudes",
    }
    assert "Ceilings" in format_report(report)

    # without training clips the held-out clips are rebuilt and scored with pairs left out
    muffled = muffled_without_training_clips
    assert muffled.ceilings["representation (model.reconstruct)"]["one_nn"] >= 0.9
    assert any(note.startswith("ceilings: DATA rebuilt") for note in muffled.notes)


def test_leaving_pairs_out_makes_faithful_rebuilds_of_the_same_clips_indistinguishable():
    features = metrics.clip_features(HELD_OUT, RATE)
    assert metrics.one_nn_accuracy(features, features.clone(), paired=True) <= 0.55
    assert metrics.one_nn_accuracy(features, features.clone()) == 0.0  # each finds its twin


def test_a_smoothed_magnitude_oracle_cannot_hold_a_noise_pattern(copying):
    noise = 0.3 * torch.randn(6, int(RATE * SECONDS), generator=torch.Generator().manual_seed(0))
    magnitude = dsp.magnitude(noise, n_fft=N_FFT, hop=HOP)
    plain = metrics.spectral_convergence_db(noise, griffin_lim_of(magnitude, noise.shape[-1]))
    smoothed = griffin_lim_of(smoothed_magnitude(magnitude), noise.shape[-1])
    oracle = metrics.spectral_convergence_db(noise, smoothed)
    assert float(oracle.mean()) > float(plain.mean()) + 3.0

    rows = copying[1].reconstruction  # noisy plucks: the oracle is the harder reference there too
    assert rows[SMOOTHED_ORACLE]["sc_db"] > rows["Griffin-Lim of true magnitudes"]["sc_db"]
    assert SMOOTHED_ORACLE in format_report(copying[1])


def test_smoothing_keeps_a_steady_spectrum_as_it_is():
    steady = torch.full((1, 40, 30), 0.7)
    assert torch.allclose(smoothed_magnitude(steady), steady)


def test_new_sounds_against_a_real_split_on_disk_score_as_novel(tmp_path):
    for name, clips in (("train", TRAIN), ("test", HELD_OUT)):
        (tmp_path / name).mkdir()
        for i, clip in enumerate(clips.numpy()):
            sf.write(tmp_path / name / f"s{i:03d}.wav", clip, RATE)
    train = load_clips(tmp_path / "train", sample_rate=RATE, seconds=SECONDS)
    test = load_clips(tmp_path / "test", sample_rate=RATE, seconds=SECONDS)
    report = evaluate(PlaybackModel(NEW), test, train, n=20)
    assert 0.75 <= report.generation["model"]["memorisation"] <= 1.33


def test_scoring_the_training_clips_themselves_says_memorisation_cannot_be_measured():
    report = evaluate(PlaybackModel(NEW), clip_set(TRAIN[:8]), clip_set(TRAIN[:8]), n=4, repeats=2)
    assert math.isnan(report.generation["model"]["memorisation"])
    assert math.isnan(report.generation["model"]["memorisation_sd"])
    assert report.generation["model"]["one_nn_sd"] >= 0.0
    assert "DATA clips are themselves training clips" in format_report(report)
    assert report.to_dict()["generation"]["model"]["memorisation"] is None  # null in --json


def test_repeated_scoring_is_the_mean_and_spread_of_the_single_seed_reports():
    """Seed S with two repeats scores seeds S and S + 1000, each as it would be scored alone."""
    model = PlaybackModel(plucks(23, seed=4))  # 1000 % 23 ≠ 0: the two seeds play other clips
    data, train = clip_set(HELD_OUT[:8]), clip_set(TRAIN)
    repeated = evaluate(model, data, train, n=8, seed=0, repeats=2)
    alone = [evaluate(model, data, train, n=8, seed=seed).generation for seed in (0, 1000)]
    assert repeated.repeats == 2 and set(repeated.generation) == set(alone[0])
    assert alone[0]["model"]["one_nn"] != alone[1]["model"]["one_nn"] or (
        alone[0]["model"]["frechet"] != alone[1]["model"]["frechet"]
    ), "the two seeds must score different draws, or the mean below checks nothing"
    for name, row in repeated.generation.items():
        for key in ("frechet", "one_nn", "memorisation"):
            scores = [single[name][key] for single in alone]
            assert row[key] == pytest.approx(statistics.fmean(scores)), (name, key)
            assert row[f"{key}_sd"] == pytest.approx(statistics.stdev(scores)), (name, key)
