"""The harmonic frequency axis of the spectral families: partials of notes at different pitches
land on the same bins, a model trained on labelled notes plays and rebuilds pitches it never
heard at their pitch, its export renders what the app renders, and models without labels, with
the axis switched off or saved before it existed keep the linear axis."""

from __future__ import annotations

import math

import pytest
import torch

from synth_core import dsp
from synth_core.dataset import ClipSet
from synth_core.model_export.spectral import generation_input, spectral_export
from synth_core.models.spectral.harmonic import from_harmonic, stretch_ratio, to_harmonic
from synth_core.models.vae import VAEConfig, VAEModel
from synth_core.train import Budget, Trainer

RATE = 22050
SECONDS = 0.3


def _notes(midi: list[float], seed: int = 0) -> ClipSet:
    """Decaying notes with five partials of falling level and a little noise, one per pitch."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(int(RATE * SECONDS)) / RATE
    notes = torch.tensor(midi)
    f0 = dsp.midi_to_hz(notes)[:, None]
    tones = sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in range(1, 6))
    noise = 0.02 * torch.randn(tones.shape, generator=generator)
    audio = 0.3 * (tones + noise) * torch.exp(-6 * t)
    return ClipSet(audio, notes, [f"n{i}" for i in range(len(midi))], RATE)


def _config(**changes) -> VAEConfig:
    settings = dict(
        sample_rate=RATE,
        clip_seconds=SECONDS,
        channels=16,
        latent_channels=2,
        n_controls=2,
        pca_components=4,
        batch_size=4,
        learning_rate=3e-3,
        refine_steps=0,
        render_iterations=4,
        texture_bands=0,
    )
    return VAEConfig(**(settings | changes))


TRAIN_PITCHES = [48.0, 50.0, 52.0, 55.0, 57.0, 59.0, 60.0, 62.0, 64.0, 67.0]


@pytest.fixture(scope="module")
def trained() -> VAEModel:
    torch.manual_seed(0)
    model = VAEModel.from_config(_config())
    Trainer(model, _notes(TRAIN_PITCHES), Budget(steps=40), device="cpu").run()
    model.eval()
    return model


def _pitch_error_cents(audio: torch.Tensor, midi: float) -> torch.Tensor:
    return 100 * (dsp.hz_to_midi(dsp.f0_hz(audio, RATE)) - midi).abs()


def test_a_pitch_the_axis_does_not_know_is_left_unstretched():
    ratios = stretch_ratio(torch.tensor([60.0, 48.0, 72.0, math.nan, -1.0]), reference=60.0)
    assert torch.allclose(ratios, torch.tensor([1.0, 0.5, 2.0, 1.0, 1.0]))


def test_notes_a_fifth_apart_share_their_partials_on_the_harmonic_axis_and_not_on_the_linear():
    notes = _notes([50.0, 57.0])
    log_mag = torch.log(dsp.magnitude(notes.audio) + 1e-5).mean(-1, keepdim=True)
    linear = torch.corrcoef(log_mag[:, :, 0])[0, 1]
    aligned = to_harmonic(log_mag, stretch_ratio(notes.pitch, reference=53.5))
    # compared where both notes' stretched spectra are real data (the lower note covers less)
    top = int(log_mag.shape[1] * float(stretch_ratio(torch.tensor([50.0]), 53.5)))
    harmonic = torch.corrcoef(aligned[:, :top, 0])[0, 1]
    assert linear < 0.6 and harmonic > 0.9, (float(linear), float(harmonic))


def test_stretching_there_and_back_keeps_a_smooth_spectrum_from_bottom_to_top():
    bins = torch.arange(513.0)
    smooth = torch.sin(bins / 40)[None, :, None].expand(4, -1, 2) - bins[None, :, None] / 200
    ratio = torch.tensor([0.3, 0.6, 1.0, 2.5])  # a note an octave and more below the reference
    back = from_harmonic(to_harmonic(smooth, ratio), ratio)
    # read where one harmonic bin spans several linear ones, a level is their maximum: at most
    # the slope (1/40 per bin) times the reach away from the level at the bin itself
    assert (back - smooth).abs().max() <= 2 / 40 + 1e-3
    assert torch.allclose(back[:3], smooth[:3], atol=2e-3)  # no note above the reference
    # below the knee the axis is exactly the stretch: bin b holds linear bin b · ratio
    ramp = to_harmonic(bins[None, :, None].expand(4, -1, 1), ratio)
    assert torch.allclose(ramp[:3, 100, 0], 100 * ratio[:3])


def test_a_clip_reads_back_the_same_alone_and_in_a_batch():
    """Each clip of a batch is read at its own positions (rows of that clip only)."""
    generator = torch.Generator().manual_seed(0)
    log_mag = torch.randn(3, 513, 7, generator=generator)
    ratio = torch.tensor([0.5, 1.0, 1.7])
    together = from_harmonic(log_mag, ratio)
    for i in range(3):
        assert torch.equal(together[i : i + 1], from_harmonic(log_mag[i : i + 1], ratio[i : i + 1]))


def test_a_partial_between_sampled_bins_keeps_its_peak_on_the_axis():
    """A note three times the reference's pitch is read every third bin: a partial that falls
    between two read positions is held at its level, not at the level beside it."""
    log_mag = torch.full((1, 513, 1), -10.0)
    log_mag[0, 301, 0] = 0.0  # 301 is not a multiple of 3: plain sampling would miss it
    on_axis = to_harmonic(log_mag, torch.tensor([3.0]))
    assert float(on_axis.max()) == 0.0 and float(on_axis[0, 100, 0]) == 0.0


def test_labelled_notes_put_the_model_on_the_harmonic_axis_at_their_highest_pitch(trained):
    # the notes it trained on (the trainer holds some of them out to validate)
    heard = trained.train_pitches
    assert trained.harmonic and float(trained.harmonic_reference) == float(heard.max())
    assert float(trained.harmonic_reference) >= 62


@pytest.mark.parametrize("midi", [53.5, 65.0])
def test_a_pitch_between_or_beyond_the_training_notes_plays_and_rebuilds_at_that_pitch(
    trained, midi
):
    played = trained.generate({"variation": 0.0}, n=3, seed=1, pitch=midi)
    assert float(_pitch_error_cents(played, midi).max()) < 30
    unseen = _notes([midi], seed=5)
    rebuilt = trained.reconstruct(unseen.audio, pitch=unseen.pitch)
    assert float(_pitch_error_cents(rebuilt, midi).max()) < 30


def test_the_export_renders_what_the_app_renders_at_the_pitch_it_is_given(trained):
    module = torch.jit.script(spectral_export(trained))
    for midi in (50.0, 66.0):
        x = generation_input(trained, {}, seed=3, pitch=midi)
        app = trained.generate({}, n=1, seed=3, pitch=midi)[0]
        exported = module.decode(x)[0, 0]
        assert float((exported - app).abs().max()) < 1e-4, midi


def test_unlabelled_sounds_the_switch_off_and_older_models_keep_the_linear_axis(trained):
    labelled = _notes(TRAIN_PITCHES[:4])
    unlabelled = ClipSet(labelled.audio, torch.full((4,), math.nan), labelled.paths, RATE)
    for clips, config in ((unlabelled, _config()), (labelled, _config(harmonic_axis=False))):
        model = VAEModel.from_config(config)
        model.begin(clips)
        assert not model.harmonic
    state = {k: v.clone() for k, v in trained.state().items()}
    del state["harmonic_reference"]
    old = VAEModel.from_config(trained.config)
    old.load_state(state)
    assert not old.harmonic and torch.isnan(old.harmonic_reference)
