"""The sound map on the built-in sounds: features cached by content, PCA then t-SNE layouts that
put like sounds together, clusters, and a small vae's latent space as a map to generate from."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from synth_core import maps
from synth_core.builtin import write_starter_data
from synth_core.dataset import load_clips
from synth_core.errors import DatasetError, ModelConfigError
from synth_core.export import ExportSettings
from synth_core.models.physical.model import PhysicalModel
from synth_core.models.vae import VAEConfig, VAEModel
from synth_core.train import Budget, Trainer


@pytest.fixture(scope="module")
def builtin_subset(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Every fifth built-in training sound (all kinds, ~54 files), as links in their own folder."""
    root = tmp_path_factory.mktemp("starter")
    written = sorted(write_starter_data(root / "all")["train"])
    subset = root / "subset"
    subset.mkdir()
    for path in written[::5]:
        (subset / path.name).symlink_to(path)
    return sorted(subset.glob("*.wav"))


def _kind(path: Path) -> str:
    return json.loads(Path(str(path.resolve())[: -len(".wav")] + ".json").read_text())["kind"]


def test_every_sound_gets_its_descriptors_and_reopening_reads_them_from_the_cache(
    builtin_subset, monkeypatch
):
    features = maps.folder_features(builtin_subset)
    assert len(features) == len(builtin_subset)
    assert features.log_mel.shape == (len(builtin_subset), 2 * maps.N_MELS)
    assert np.allclose(features.values["duration"], 1.0, atol=0.01)
    named = [p.stem.rsplit("__p", 1) for p in builtin_subset]
    labelled = np.array([float(parts[1]) if len(parts) == 2 else np.nan for parts in named])
    # pitch comes from the name where it says one, NaN stays NaN through the cache
    has_label = np.isfinite(labelled)
    assert has_label.any() and not has_label.all()
    assert np.allclose(features.values["pitch"][has_label], labelled[has_label])
    for name in ("brightness", "loudness", "noisiness", "decay"):
        assert np.isfinite(features.values[name]).all(), name

    def must_not_analyse(*_args, **_kwargs):
        raise AssertionError("a cached folder was analysed again")

    monkeypatch.setattr(maps, "_clip_rows", must_not_analyse)
    started = time.perf_counter()
    again = maps.folder_features(builtin_subset)
    assert time.perf_counter() - started < 1.0
    assert np.array_equal(again.log_mel, features.log_mel)
    assert np.array_equal(np.isnan(again.values["pitch"]), np.isnan(features.values["pitch"]))


def test_a_changed_file_is_analysed_again(tmp_path, builtin_subset):
    copy = tmp_path / "hit.wav"
    copy.write_bytes(builtin_subset[0].read_bytes())
    before = maps.folder_features([copy])
    audio, rate = sf.read(copy, dtype="float32")
    sf.write(copy, audio * 0.1, rate)
    after = maps.folder_features([copy])
    assert after.keys != before.keys
    assert after.values["loudness"][0] == pytest.approx(before.values["loudness"][0] - 20, abs=0.5)


def test_the_map_puts_sounds_of_one_kind_near_each_other_and_keeps_the_layout(
    builtin_subset, monkeypatch
):
    features = maps.folder_features(builtin_subset)
    kinds = np.array([_kind(p) for p in builtin_subset])
    steps = []
    coords = maps.cached_layout(features, "tsne", progress=lambda d, t: steps.append((d, t)))
    assert coords.shape == (len(builtin_subset), 2) and np.isfinite(coords).all()
    assert steps[-1][0] == steps[-1][1] and len(steps) > 10
    distance = np.hypot(*(coords[:, None] - coords[None, :]).transpose(2, 0, 1))
    same = kinds[:, None] == kinds[None, :]
    off_diagonal = ~np.eye(len(kinds), dtype=bool)
    assert distance[same & off_diagonal].mean() < 0.6 * distance[~same].mean()

    monkeypatch.setattr(maps, "tsne_layout", lambda *a, **k: pytest.fail("layout recomputed"))
    assert np.array_equal(maps.cached_layout(features, "tsne"), coords)
    pca = maps.cached_layout(features, "pca")
    assert pca.shape == coords.shape and not np.array_equal(pca, coords)


def test_stopping_the_layout_says_the_pca_layout_stays(builtin_subset):
    features = maps.folder_features(builtin_subset)
    calls = []

    def stop_soon() -> bool:
        calls.append(1)
        return len(calls) > 2

    started = time.perf_counter()
    with pytest.raises(DatasetError, match="PCA layout stays"):
        maps.cached_layout(features, "tsne", should_stop=stop_soon)
    assert time.perf_counter() - started < 10


def test_clusters_and_an_unknown_layout(builtin_subset):
    features = maps.folder_features(builtin_subset)
    labels = maps.clusters(features.embedding_input(), 6)
    assert labels.shape == (len(builtin_subset),) and len(set(labels.tolist())) == 6
    with pytest.raises(ModelConfigError, match="unknown map layout 'umap'"):
        maps.cached_layout(features, "umap")
    with pytest.raises(DatasetError, match="no sounds to map"):
        maps.folder_features([])


def test_blends_are_exact_at_a_point_and_even_halfway_between_two():
    coords = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0]])
    latents = torch.tensor([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    assert torch.equal(maps.blend_latents(coords[1], coords, latents)[0], latents[1])
    nearest, weights = maps.blend_weights([1.0, 0.0], coords, k=2)
    assert set(nearest.tolist()) == {0, 1} and np.allclose(weights, 0.5)
    halfway = maps.blend_latents(np.array([[1.0, 0.0]]), coords, latents, k=2)
    assert torch.allclose(halfway, torch.tensor([[0.5, 0.5]]))
    path = maps.resample_path(np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0]]), 5)
    assert np.allclose(path, [[0, 0], [1, 0], [2, 0], [2, 1], [2, 2]])


@pytest.fixture(scope="module")
def small_vae(builtin_subset) -> VAEModel:
    """A vae trained for two steps on the built-in subset: the map needs its latents, not its quality."""
    clips = load_clips(builtin_subset[0].parent, sample_rate=22050, seconds=0.5, cache=False)
    config = VAEConfig(
        sample_rate=22050, clip_seconds=0.5, channels=16, latent_channels=4, pca_components=8,
        batch_size=8, n_controls=2, refine_steps=0, texture_bands=0, render_iterations=2,
    )  # fmt: skip
    torch.manual_seed(0)
    model = VAEModel.from_config(config)
    Trainer(model, clips, Budget(steps=2), device="cpu").run()
    return model


def test_a_click_between_training_sounds_plays_a_blend_and_a_path_exports_as_one_file(
    small_vae, builtin_subset, tmp_path
):
    latents = maps.encode_files(small_vae, builtin_subset)
    assert latents.shape[0] == len(builtin_subset)
    coords = maps.pca_layout(latents.numpy())
    at_clip = small_vae.decode_latents(maps.blend_latents(coords[3], coords, latents))
    assert torch.allclose(at_clip, small_vae.decode_latents(latents[3:4]), atol=1e-5)
    between = small_vae.decode_latents(
        maps.blend_latents((coords[3] + coords[9]) / 2, coords, latents)
    )
    assert between.shape == (1, small_vae.config.clip_samples)
    assert torch.isfinite(between).all() and between.abs().max() <= 1.0
    assert not torch.allclose(between, at_clip)

    sounds = maps.morph(small_vae, coords[[3, 9, 20]], coords, latents, steps=4)
    assert sounds.shape == (4, small_vae.config.clip_samples)
    settings = ExportSettings(sample_rate=48000, normalise="none", fade_out_s=0.0)
    written = maps.write_sequence(sounds, small_vae.sample_rate, tmp_path / "morph", settings)
    info = sf.info(written)
    assert written.suffix == ".wav" and info.samplerate == 48000
    assert info.frames == pytest.approx(4 * 0.5 * 48000, abs=8)


def test_a_model_without_latents_says_it_has_none_to_map(builtin_subset):
    string = PhysicalModel.from_builtin("string")
    assert not string.can_decode
    with pytest.raises(ModelConfigError, match="no latent space to map"):
        maps.encode_files(string, builtin_subset[:2])
    with pytest.raises(ModelConfigError, match="cannot turn a latent back into sound"):
        string.decode_latents(torch.zeros(1, 4))


def test_a_lasso_selects_what_it_encloses_and_becomes_a_folder_of_links(tmp_path, make_sound):
    points = np.array([[0.0, 0.0], [1.0, 1.0], [3.0, 3.0], [0.5, 2.5]])
    lasso = np.array([[-1.0, -1.0], [2.0, -1.0], [2.0, 2.0], [-1.0, 2.0]])
    assert maps.inside_polygon(points, lasso).tolist() == [True, True, False, False]
    assert not maps.inside_polygon(points, lasso[:2]).any()  # a line encloses nothing

    first = make_sound(tmp_path / "a" / "kick.wav", frequency=60.0)
    second = make_sound(tmp_path / "b" / "kick.wav", frequency=90.0)
    folder = maps.selection_folder([first, second], root=tmp_path / "selections")
    made = sorted(folder.iterdir())
    assert [p.name for p in made] == ["kick-2.wav", "kick.wav"]
    assert all(p.is_symlink() for p in made)
    assert (folder / "kick.wav").resolve() == first.resolve()
    copied = maps.copy_files([first, second], tmp_path / "out")
    assert [p.name for p in copied] == ["kick.wav", "kick-2.wav"]
    with pytest.raises(DatasetError, match="nothing is selected"):
        maps.selection_folder([])
