"""The rnn family: teacher-forced GRU over frames, any length, temperature, primer."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from synth_core import checkpoint
from synth_core.cli import main
from synth_core.errors import AudioFileError, ModelConfigError
from synth_core.models import get_family
from synth_core.models.base import Batch, LearnerBase, SoundModel
from synth_core.models.rnn import RNNConfig, RNNModel, correlated_noise, gaussian_nll
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
    assert isinstance(model, SoundModel) and isinstance(model, LearnerBase)


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
    # --set beta_nll=2 or noise_correlation=1 (noise that never changes) is named, not run
    with pytest.raises(ModelConfigError, match="beta_nll"):
        RNNConfig.from_dict({"beta_nll": 2.0})
    with pytest.raises(ModelConfigError, match="noise_correlation"):
        RNNConfig.from_dict({"noise_correlation": 1.0})
    with pytest.raises(ModelConfigError, match="noise_correlation"):
        RNNConfig.from_dict({"noise_correlation": -0.5})


@pytest.fixture()
def primer_wav(tmp_path, trained):
    """A real stereo WAV at 22.05 kHz: a pluck and a noise hit, so loading resamples and mixes."""
    _, clips, _ = trained
    pluck = torch.cat([clips.audio[0], clips.audio[1]]).numpy()
    resampled = np.interp(np.arange(0, len(pluck), 16000 / 22050), np.arange(len(pluck)), pluck)
    path = tmp_path / "primer.wav"
    sf.write(path, np.stack([resampled, 0.5 * resampled], axis=1).astype(np.float32), 22050)
    return path


def test_a_primer_file_warms_the_gru_up_and_generation_continues_it(trained, primer_wav) -> None:
    model, _, _ = trained
    plain = model.generate(seed=3)
    primed = model.generate(seed=3, primer=primer_wav)
    # The primer (0.5 s) is all used by default, in whole steps (7 × 4 frames × 256 samples),
    # then one clip (0.25 s) of continuation.
    assert primed.shape == (1, 7168 + 4000) and primed.abs().max() <= 1.0
    assert torch.equal(model.generate(seed=3), plain)  # a primer passed to one call only
    try:
        model.set_primer(primer_wav)
        assert model.controls()[2].maximum == pytest.approx(0.5, abs=1e-3)
        assert torch.equal(primed, model.generate(seed=3))  # same seed, same primer: same sound
        assert not torch.equal(primed[:, :4000], plain)
        # The continuation depends on the primed state, not only on the seed.
        shorter = model.generate({"primer_seconds": 0.25}, seed=3, seconds=0.75)
        assert not torch.equal(shorter[:, 8192:11168], primed[:, 8192:])
        # 0 ignores the primer: the sound without one comes back.
        assert torch.equal(model.generate({"primer_seconds": 0.0}, seed=3), plain)
    finally:
        model.set_primer(None)
    # without a primer there is no Primer length to set, but "none of it" is still accepted
    assert [c.name for c in model.controls()] == ["temperature", "loudness"]
    assert torch.equal(model.generate({"primer_seconds": 0.0}, seed=3), plain)
    with pytest.raises(ModelConfigError, match="primer_seconds"):
        model.generate({"primer_seconds": 0.2}, seed=3)


def test_a_missing_or_too_short_primer_file_is_named(trained, tmp_path) -> None:
    model, _, _ = trained
    with pytest.raises(AudioFileError, match="nowhere.wav.*no such file"):
        model.set_primer(tmp_path / "nowhere.wav")
    click = tmp_path / "click.wav"
    sf.write(click, np.zeros(40, dtype=np.float32), 16000)
    with pytest.raises(AudioFileError, match="click.wav.*too short"):
        model.set_primer(click)
    assert model.primer is None


def test_generate_command_takes_a_primer_file(trained, primer_wav, tmp_path, capsys) -> None:
    model, _, _ = trained
    run = checkpoint.save_model(tmp_path / "run", model, step=40)
    out = tmp_path / "out"
    args = ["generate", str(run), "--out", str(out), "--seed", "4", "--primer", str(primer_wav)]
    assert main(args) == 0
    first, rate = sf.read(out / "0000.wav", dtype="float32")
    assert rate == 16000 and len(first) == 7168 + 4000
    assert main([*args, "--set", "primer_seconds=0.25", "--seconds", "1", "--overwrite"]) == 0
    assert len(sf.read(out / "0000.wav")[0]) == 16000
    capsys.readouterr()

    assert main([*args[:-1], str(tmp_path / "missing.wav")]) == 2
    assert "missing.wav: no such file" in capsys.readouterr().err
    (tmp_path / "notes.wav").write_text("not audio")
    assert main([*args[:-1], str(tmp_path / "notes.wav")]) == 2
    assert "notes.wav: cannot be read as audio" in capsys.readouterr().err
    assert main([*args, "--set", "primer_seconds=9"]) == 2
    assert "primer_seconds" in capsys.readouterr().err


def test_primer_with_a_family_that_cannot_continue_is_a_usage_error(
    primer_wav, tmp_path, capsys
) -> None:
    out = tmp_path / "out"
    code = main(["generate", "physical:string", "--out", str(out), "--primer", str(primer_wav)])
    assert code == 2
    assert "--primer needs an rnn model; physical models cannot" in capsys.readouterr().err
    assert not out.exists()


def test_beta_nll_gives_the_mean_a_gradient_that_a_wide_sigma_cannot_hide() -> None:
    target = torch.zeros(4, 3)
    grads = {}
    for beta in (0.0, 1.0):
        for log_std in (-1.0, 1.0):
            mean = torch.ones(4, 3, requires_grad=True)
            gaussian_nll(target, mean, torch.full((4, 3), log_std), beta=beta).backward()
            grads[beta, log_std] = float(mean.grad.mean())
    # plain likelihood: a σ e² times wider makes the pull on the mean e⁴ times weaker
    assert grads[0.0, 1.0] == pytest.approx(grads[0.0, -1.0] * np.exp(-4.0), rel=1e-5)
    # β = 1: the same pull as squared error, (mean − target) / count, whatever σ is
    assert grads[1.0, 1.0] == pytest.approx(1 / 12, rel=1e-5)
    assert grads[1.0, -1.0] == pytest.approx(1 / 12, rel=1e-5)


def test_sampling_noise_is_unit_gaussian_and_correlated_from_frame_to_frame() -> None:
    white = correlated_noise((400, 200, 2), 0.0, torch.Generator().manual_seed(3))
    assert torch.equal(white, torch.randn(400, 200, 2, generator=torch.Generator().manual_seed(3)))
    noise = correlated_noise((400, 200, 2), 0.9, torch.Generator().manual_seed(3))
    assert noise.shape == (400, 200, 2)
    # every frame, the first included, is N(0, 1) over draws
    assert noise.std(dim=0).sub(1.0).abs().max() < 0.15
    assert noise.mean(dim=0).abs().max() < 0.2
    lag1 = (noise[:, 1:] * noise[:, :-1]).mean()
    assert lag1 == pytest.approx(0.9, abs=0.03)
    assert (white[:, 1:] * white[:, :-1]).mean().abs() < 0.03
    again = correlated_noise((400, 200, 2), 0.9, torch.Generator().manual_seed(3))
    assert torch.equal(noise, again)
