"""The rnn family: teacher-forced GRU over frames, any length, temperature, primer."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from synth_core.errors import ModelConfigError
from synth_core.models import get_family
from synth_core.models.base import Batch, Learner, SoundModel
from synth_core.models.rnn import RNNConfig, RNNModel
from tests.core.frame_family_sounds import one_thread, tiny_clip_set

CONFIG = RNNConfig(sample_rate=16000, clip_seconds=0.25, hidden=48, layers=2, batch_size=8)


@pytest.fixture(scope="module")
def trained() -> tuple[RNNModel, object, list[float]]:
    torch.manual_seed(0)
    clips = tiny_clip_set(n=16)
    model = RNNModel.from_config(CONFIG)
    model.begin(clips)
    losses = []
    with one_thread():
        for i in range(40):
            half = slice(i % 2, None, 2)
            index = torch.arange(16)[half]
            losses.append(model.step(Batch(clips.audio[half], clips.pitch[half], index))["nll"])
    return model, clips, losses


def test_rnn_is_registered_and_meets_the_model_interface(trained) -> None:
    model, _, _ = trained
    assert get_family("rnn").model_class is RNNModel
    assert isinstance(model, SoundModel) and isinstance(model, Learner)


def test_teacher_forcing_lowers_the_next_frame_loss(trained) -> None:
    _, _, losses = trained
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.2


def test_fast_sampler_matches_the_torch_gru(trained) -> None:
    model, _, _ = trained
    n_steps = 6
    condition = model._condition(model.layouts[:2], torch.tensor([-20.0, -10.0]))
    fast = model._sample(condition, torch.zeros(2, 0, model.step_dim), n_steps, 0.0, None)
    previous = torch.zeros(2, 1, model.step_dim)
    hidden, reference = None, []
    with torch.no_grad():
        for _ in range(n_steps):
            out, hidden = model.gru(torch.cat([previous, condition[:, None]], dim=2), hidden)
            previous = model.head(out).chunk(2, dim=-1)[0]
            reference.append(previous)
    assert torch.allclose(fast, torch.cat(reference, dim=1), atol=1e-5)


def test_generates_any_length_and_repeats_for_a_seed(trained) -> None:
    model, _, _ = trained
    long = model.generate(n=2, seed=1, seconds=1.5)
    assert long.shape == (2, 24000) and long.abs().max() <= 1.0
    assert torch.equal(long, model.generate(n=2, seed=1, seconds=1.5))
    assert not torch.equal(long, model.generate(n=2, seed=2, seconds=1.5))
    assert model.generate(seed=1).shape == (1, 4000)


def test_temperature_zero_is_the_same_for_every_seed_of_a_layout(trained) -> None:
    model, _, _ = trained
    a = model._sample(
        model._condition(model.layouts[:1], torch.tensor([-20.0])),
        torch.zeros(1, 0, model.step_dim),
        5,
        0.0,
        torch.Generator().manual_seed(1),
    )
    b = model._sample(
        model._condition(model.layouts[:1], torch.tensor([-20.0])),
        torch.zeros(1, 0, model.step_dim),
        5,
        0.0,
        torch.Generator().manual_seed(2),
    )
    assert torch.equal(a, b)


def test_primer_is_continued(trained) -> None:
    model, clips, _ = trained
    pluck = clips.audio[0]
    primed = model.generate({"primer_seconds": 0.1, "temperature": 0.0}, seed=0, primer=pluck)
    # The first 0.1 s are the primer's own frames re-rendered: most of its energy comes back.
    head = slice(0, 1000)
    ratio = primed[0, head].square().sum() / pluck[head].square().sum()
    assert 0.3 < float(ratio) < 3.0
    spectrum = torch.fft.rfft(primed[0, :1600] * torch.hann_window(1600)).abs()
    # The primer's partials (a harmonic series on 130.8 Hz) are what sounds.
    harmonic = float(spectrum.argmax()) * 16000 / 1600 / 130.8
    assert harmonic == pytest.approx(round(harmonic), abs=0.12)
    with pytest.raises(ModelConfigError, match="primer"):
        model.set_primer(torch.zeros(2, 100))


def test_state_round_trips_through_safetensors(trained) -> None:
    model, _, _ = trained
    blob = save_tensors({k: v.contiguous() for k, v in model.state().items()})
    fresh = RNNModel.from_config(RNNConfig.from_dict(model.config.to_dict()))
    fresh.load_state(load_tensors(blob))
    assert torch.equal(fresh.generate(n=2, seed=5), model.generate(n=2, seed=5))
    assert fresh.controls() == model.controls()


def test_bad_lengths_and_settings_are_refused() -> None:
    model = RNNModel.from_config(CONFIG)
    with pytest.raises(ModelConfigError, match="not been trained"):
        model.generate(seed=0)
    model.layouts = torch.zeros(1, CONFIG.n_partials + 1)
    with pytest.raises(ModelConfigError, match="seconds"):
        model.generate(seed=0, seconds=1000.0)
    with pytest.raises(ModelConfigError, match="hidden"):
        RNNConfig.from_dict({"hidden": 4})
