"""The frame families (gmm, hmm, rnn) render the noise floor of their training recordings."""

from __future__ import annotations

import math

import pytest
import torch

from synth_core.dataset import ClipSet
from synth_core.errors import ModelConfigError
from synth_core.models.frames import NOISE_FLOOR_KEY, FrameFamily
from synth_core.models.gmm import GMMConfig, GMMModel
from synth_core.models.hmm import HMMConfig, HMMModel
from synth_core.models.rnn import RNNConfig, RNNModel

RATE = 16000
SECONDS = 0.5
HISS_DB = -95.0  # below the features' silence gate (−90 dB), above their −100 dB floor

FAMILIES = {
    "gmm": lambda: GMMModel.from_config(
        GMMConfig(sample_rate=RATE, clip_seconds=SECONDS, components=2, dims=6)
    ),
    "hmm": lambda: HMMModel.from_config(
        HMMConfig(sample_rate=RATE, clip_seconds=SECONDS, states=4, types=2, dims=6)
    ),
    "rnn": lambda: RNNModel.from_config(
        RNNConfig(sample_rate=RATE, clip_seconds=SECONDS, hidden=16, layers=1, batch_size=8)
    ),
}


def hits(*, hiss_db: float | None, n: int = 8) -> ClipSet:
    """Noise hits that last the first fifth of each clip; after that, white hiss at
    ``hiss_db`` RMS everywhere (a recording's floor), or exact zeros (``None``)."""
    generator = torch.Generator().manual_seed(7)
    samples = int(RATE * SECONDS)
    t = torch.arange(samples) / RATE
    burst = torch.randn(n, samples, generator=generator) * torch.exp(-60.0 * t)
    burst[:, samples // 5 :] = 0.0
    audio = 0.4 * burst
    if hiss_db is not None:
        audio = audio + 10 ** (hiss_db / 20) * torch.randn(n, samples, generator=generator)
    return ClipSet(audio, torch.full((n,), math.nan), [f"hit{i}" for i in range(n)], RATE)


def tail_db(audio: torch.Tensor) -> float:
    """RMS, dB, of the last half of every clip together."""
    tail = audio[:, audio.shape[-1] // 2 :]
    return 20 * math.log10(float(tail.pow(2).mean().sqrt()) + 1e-12)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_recording_floor_below_the_silence_gate_is_measured_and_rendered(family) -> None:
    clips = hits(hiss_db=HISS_DB)
    model: FrameFamily = FAMILIES[family]()
    model.begin(clips)
    floor_db = 20 * torch.log10(model.noise_floor)
    # white hiss of RMS s has about level s in every band
    assert float(floor_db.median()) == pytest.approx(HISS_DB, abs=3.0)
    assert tail_db(clips.audio) == pytest.approx(HISS_DB, abs=0.5)
    # the renderer alone keeps the tail at the recordings' floor ...
    assert tail_db(model.resynthesize(clips.audio)) == pytest.approx(HISS_DB, abs=4.0)
    # ... which the features alone play as digital silence
    model.noise_floor = torch.zeros_like(model.noise_floor)
    assert tail_db(model.resynthesize(clips.audio)) < HISS_DB - 30


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_truly_silent_data_has_no_floor(family) -> None:
    model: FrameFamily = FAMILIES[family]()
    model.begin(hits(hiss_db=None))
    assert torch.equal(model.noise_floor, torch.zeros_like(model.noise_floor))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_floor_is_saved_and_models_saved_before_it_load_without_one(family) -> None:
    clips = hits(hiss_db=HISS_DB)
    model: FrameFamily = FAMILIES[family]()
    model.begin(clips)
    state = model.state()
    assert torch.equal(state[NOISE_FLOOR_KEY], model.noise_floor)

    fresh: FrameFamily = FAMILIES[family]()
    fresh.load_state(state)
    assert torch.equal(fresh.noise_floor, model.noise_floor)

    older: FrameFamily = FAMILIES[family]()
    older.load_state({k: v for k, v in state.items() if k != NOISE_FLOOR_KEY})
    assert torch.equal(older.noise_floor, torch.zeros_like(model.noise_floor))

    broken = dict(state) | {NOISE_FLOOR_KEY: torch.ones(3)}
    with pytest.raises(ModelConfigError, match=NOISE_FLOOR_KEY):
        FAMILIES[family]().load_state(broken)
