"""The gmm family: EM over whole sounds, seeded generation, controls, save and load."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from synth_core.errors import ModelConfigError
from synth_core.models import get_family
from synth_core.models.base import Batch, LearnerBase, SoundModel, resolve_values
from synth_core.models.gmm import GMMConfig, GMMModel, _log_gaussian
from tests.core.frame_family_sounds import tiny_clip_set


@pytest.fixture(scope="module")
def trained() -> tuple[GMMModel, object]:
    clips = tiny_clip_set(n=16)
    model = GMMModel.from_config(
        GMMConfig(sample_rate=16000, clip_seconds=0.25, components=2, dims=6)
    )
    model.begin(clips)
    for _ in range(5):
        losses = model.step(Batch(clips.audio))
    assert set(losses) == {"nll_per_dim", "components"}
    return model, clips


def test_gmm_is_registered_and_meets_the_model_interface(trained) -> None:
    model, _ = trained
    assert get_family("gmm").model_class is GMMModel
    assert isinstance(model, SoundModel) and isinstance(model, LearnerBase)


def _types(model: GMMModel, clips) -> torch.Tensor:
    codes = model.encode(clips.audio).double()
    return _log_gaussian(codes, model.means, model.covariances).argmax(dim=1)


def test_components_separate_plucks_from_noise_hits(trained) -> None:
    model, clips = trained
    component = _types(model, clips)
    pitched = torch.isfinite(clips.pitch)
    assert len(set(component[pitched].tolist())) == 1
    assert len(set(component[~pitched].tolist())) == 1
    assert component[pitched][0] != component[~pitched][0]


def test_choosing_a_sound_type_gives_that_kind_of_sound(trained) -> None:
    model, _ = trained
    flatness = []
    for kind in (1, 2):
        audio = model.generate({"sound_type": kind, "variation": 0.0}, n=1, seed=0)[0]
        spectrum = torch.stft(audio, 1024, 256, window=torch.hann_window(1024), return_complex=True)
        power = spectrum.abs().square().mean(dim=-1) + 1e-12
        flatness.append(float(torch.exp(torch.log(power).mean()) / power.mean()))
    # One type is the tonal pluck (peaky spectrum), the other the noise hit (flat spectrum).
    assert max(flatness) > 5 * min(flatness)


def test_same_seed_same_sound_and_other_seed_another(trained) -> None:
    model, _ = trained
    first = model.generate(n=3, seed=11)
    assert first.shape == (3, 4000) and first.dtype == torch.float32
    assert first.abs().max() <= 1.0
    assert torch.equal(first, model.generate(n=3, seed=11))
    assert not torch.equal(first, model.generate(n=3, seed=12))


def test_axis_slider_changes_the_sound(trained) -> None:
    model, _ = trained
    centre = model.generate({"sound_type": 1, "variation": 0.0}, seed=0)
    moved = model.generate({"sound_type": 1, "variation": 0.0, "axis_1": 3.0}, seed=0)
    assert not torch.allclose(centre, moved)


def test_pitch_moves_the_partials(trained) -> None:
    model, clips = trained
    pluck = int(_types(model, clips)[torch.isfinite(clips.pitch)][0]) + 1
    low = model.generate({"sound_type": pluck, "variation": 0.0}, seed=0, pitch=48.0)[0]
    high = model.generate({"sound_type": pluck, "variation": 0.0}, seed=0, pitch=60.0)[0]
    window = torch.hann_window(4000)
    low_peak = float(torch.fft.rfft(low * window).abs().argmax())
    high_peak = float(torch.fft.rfft(high * window).abs().argmax())
    assert high_peak / low_peak == pytest.approx(2.0, rel=0.05)


def test_state_round_trips_through_safetensors(trained) -> None:
    model, _ = trained
    blob = save_tensors({k: v.contiguous() for k, v in model.state().items()})
    fresh = GMMModel.from_config(GMMConfig.from_dict(model.config.to_dict()))
    fresh.load_state(load_tensors(blob))
    assert torch.equal(fresh.generate(n=2, seed=5), model.generate(n=2, seed=5))
    assert [c.name for c in fresh.controls()] == [c.name for c in model.controls()]


def test_reconstruction_keeps_length_and_level(trained) -> None:
    model, clips = trained
    rebuilt = model.reconstruct(clips.audio[:4])
    assert rebuilt.shape == clips.audio[:4].shape
    ratio = rebuilt.square().mean(dim=1).sqrt() / clips.audio[:4].square().mean(dim=1).sqrt()
    assert torch.all((ratio > 0.5) & (ratio < 2.0))


def test_every_weight_at_zero_plays_the_mixture_as_if_all_were_equal(trained) -> None:
    model, _ = trained
    weights = [c.name for c in model.controls() if c.name.startswith("weight_")]
    assert len(weights) == 2
    silent = model.generate({name: 0.0 for name in weights}, n=4, seed=7)
    assert torch.isfinite(silent).all() and silent.abs().max() > 0.1
    assert torch.equal(silent, model.generate({name: 1.0 for name in weights}, n=4, seed=7))
    # One weight above 0 is still obeyed: only that type is drawn (at its centre, no variation).
    values = resolve_values(model.controls(), {weights[0]: 0.5, weights[1]: 0.0, "variation": 0.0})
    codes = model._sample_codes(values, 8, torch.Generator().manual_seed(7))
    assert torch.allclose(codes, model.means[0].expand(8, -1))


def test_untrained_model_and_bad_values_are_refused_clearly(trained) -> None:
    with pytest.raises(ModelConfigError, match="not been trained"):
        GMMModel.from_config(GMMConfig()).generate(seed=0)
    model, _ = trained
    with pytest.raises(ModelConfigError, match="variation"):
        model.generate({"variation": 9.0}, seed=0)
    with pytest.raises(ModelConfigError, match="components"):
        GMMConfig.from_dict({"components": 0})


def test_a_gmm_fitted_to_a_small_folder_loads_from_its_run_directory(tmp_path) -> None:
    """Five clips keep fewer PCA axes than ``dims`` asks for; the saved run must still load."""
    from synth_core import checkpoint

    clips = tiny_clip_set(n=5)
    model = GMMModel.from_config(
        GMMConfig(sample_rate=16000, clip_seconds=0.25, components=2, dims=16)
    )
    model.begin(clips)
    model.step(Batch(clips.audio))
    assert model.state()["means"].shape[1] < 16
    checkpoint.save_model(tmp_path / "run", model)
    loaded = checkpoint.read_model(tmp_path / "run")
    assert torch.equal(loaded.generate(n=1, seed=3), model.generate(n=1, seed=3))


def test_a_gmm_whose_tables_disagree_is_refused_naming_the_tensor(trained, tmp_path) -> None:
    from synth_core import checkpoint
    from synth_core.errors import CheckpointError

    model, _ = trained
    run = checkpoint.save_model(tmp_path / "run", model)
    state = load_tensors((run / "weights.safetensors").read_bytes())
    state["means"] = state["means"][:, :-1].contiguous()
    (run / "weights.safetensors").write_bytes(save_tensors(state, metadata={"step": "0"}))
    with pytest.raises(CheckpointError, match="tensor 'covariances' has shape"):
        checkpoint.read_model(run)
