"""Sound matching: the physical family learns which instrument and settings made each sound."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch

from synth_core.errors import ModelConfigError
from synth_core.models.base import Batch
from synth_core.models.physical import INSTRUMENT_TABLE, PhysicalConfig, PhysicalModel
from synth_core.models.physical.common import finish
from synth_core.models.physical.matching import (
    estimate_decay,
    estimate_first_partial,
    mrstft_distance,
    positions_to_params,
)

SR = 44100


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small batches gain nothing from intra-op threads, and on a shared CI machine spinning
    threads slow everything down; restore the setting afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@dataclass
class Clips:
    """The parts of a ClipSet the learner reads."""

    audio: torch.Tensor
    pitch: torch.Tensor


HIDDEN = {
    "string": {
        "pitch": 52.0,
        "decay": 1.2,
        "brightness": 0.6,
        "pick_position": 0.2,
        "stiffness": 0.3,
    },
    "bell": {"pitch": 67.0, "decay": 4.0, "damping": 0.7, "hardness": 0.6, "position": 0.4},
    "marimba": {"pitch": 62.0, "decay": 0.7, "damping": 1.0, "hardness": 0.7, "position": 0.2},
    "tube": {"pitch": 71.0, "pressure": 0.7, "noise": 0.2, "vibrato": 8.0, "hold": 2.0},
}


def hidden_sounds(names: list[str], *, seconds: float = 0.5):
    """One sound per name from the settings in HIDDEN (the learner never sees them)."""
    generator = torch.Generator().manual_seed(5)
    audio = []
    for name in names:
        instrument = INSTRUMENT_TABLE[name]
        params = {
            c.name: torch.tensor([HIDDEN[name].get(c.name, c.default)], dtype=torch.float64)
            for c in instrument.controls
        }
        rendered = instrument.render(
            params, samples=int(seconds * SR), sample_rate=SR, generator=generator
        )
        audio.append(finish(rendered).float())
    return torch.cat(audio), [HIDDEN[name] for name in names]


@pytest.fixture(scope="module")
def matched():
    """A model matched to four hidden-parameter sounds: search in begin, then 8 Adam steps."""
    names = ["string", "bell", "marimba", "tube"]
    audio, truth = hidden_sounds(names)
    config = PhysicalConfig(candidates=3, match_seconds=0.3, clip_seconds=0.5, fit_steps=3)
    model = PhysicalModel(config)
    clips = Clips(audio, torch.full((len(names),), math.nan))
    model.begin(clips)
    searched = model.table_loss.clone()
    for _ in range(8):
        model.step(Batch(audio, None, torch.arange(len(names))))
    model.end(clips)
    return model, names, truth, searched, audio


def test_each_hidden_sound_is_given_to_the_instrument_that_made_it(matched):
    model, names, _, _, _ = matched
    chosen = [list(INSTRUMENT_TABLE)[int(i)] for i in model.table_instrument]
    assert chosen == names


def test_pitch_of_hidden_sounds_is_recovered_within_two_cents(matched):
    model, names, truth, _, _ = matched
    for row, (name, hidden) in enumerate(zip(names, truth, strict=True)):
        fitted = positions_to_params(
            INSTRUMENT_TABLE[name], model.table_positions[row : row + 1].double()
        )
        assert abs(float(fitted["pitch"][0]) - hidden["pitch"]) * 100 < 2.0, name


def test_gradient_steps_bring_the_matches_closer(matched):
    model, _, _, searched, _ = matched
    assert float(model.table_loss.mean()) < float(searched.mean())
    assert (model.table_loss <= searched + 0.05).all()


def test_a_trained_model_plays_the_folder_and_offers_the_dominant_instruments_sliders(matched):
    model, _, _, _, _ = matched
    names = [c.name for c in model.controls()]
    assert names == [c.name for c in model.instrument.controls]
    audio = model.generate(n=6, seed=3)
    assert audio.shape == (6, model.config.clip_samples)
    assert torch.isfinite(audio).all() and float(audio.abs().max()) <= 1.0
    assert torch.equal(audio, model.generate(n=6, seed=3))
    pitched = model.generate(n=2, seed=3, pitch=72)
    assert pitched.shape == (2, model.config.clip_samples)


def test_state_round_trips_into_a_fresh_model_of_any_table_size(matched):
    model, _, _, _, _ = matched
    fresh = PhysicalModel(model.config)
    fresh.load_state(model.state())
    assert torch.equal(fresh.generate(n=3, seed=1), model.generate(n=3, seed=1))
    assert [c.default for c in fresh.controls()] == [c.default for c in model.controls()]


def test_reconstruct_resynthesises_each_input_close_to_it(matched):
    model, _, _, _, audio = matched
    again = model.reconstruct(audio)
    assert again.shape == audio.shape
    distance = mrstft_distance(again, audio)
    unrelated = mrstft_distance(again, audio.roll(1, dims=0))
    assert (distance < unrelated).all()


def test_step_before_begin_and_broken_state_are_refused():
    model = PhysicalModel()
    with pytest.raises(ModelConfigError, match="begin"):
        model.step(Batch(torch.zeros(1, 4410), None, torch.zeros(1, dtype=torch.long)))
    with pytest.raises(ModelConfigError, match="positions"):
        model.load_state({"instrument": torch.zeros(3, dtype=torch.long)})
    with pytest.raises(ModelConfigError, match="shape"):
        model.load_state(
            {"instrument": torch.zeros(3, dtype=torch.long), "positions": torch.zeros(2, 8)}
        )


def test_analysis_finds_the_first_partial_and_the_decay_of_a_plain_tone():
    t = torch.arange(SR, dtype=torch.float64) / SR
    hz = 440.0 * 2 ** ((57.3 - 69) / 12)
    tone = torch.sin(2 * math.pi * hz * t) * torch.exp(-math.log(1000) * t / 0.8)
    assert abs(float(estimate_first_partial(tone[None], SR)[0]) - 57.3) < 0.02
    assert abs(float(estimate_decay(tone[None], SR)[0]) / 0.8 - 1) < 0.05


def test_config_rejects_unknown_instruments_and_bad_settings():
    with pytest.raises(ModelConfigError, match="kazoo.*string"):
        PhysicalConfig(instrument="kazoo").validate()
    with pytest.raises(ModelConfigError, match="candidates"):
        PhysicalConfig.from_dict({"candidates": 0})
