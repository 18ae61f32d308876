"""Frame features shared by the gmm, hmm and rnn: levels to features and back."""

from __future__ import annotations

import torch

from synth_core import ddsp
from synth_core.models.frames import (
    DB_SILENT,
    FrameConfig,
    decode,
    feature_to_level,
    level_to_feature,
)


def _db(value: float) -> torch.Tensor:
    return torch.tensor([10.0 ** (value / 20.0)])


def test_levels_round_trip_above_the_silence_gate() -> None:
    levels = torch.tensor([1e-4, 1e-3, 0.01, 0.5, 1.0])
    assert torch.allclose(feature_to_level(level_to_feature(levels)), levels, rtol=1e-4)


def test_levels_near_the_floor_are_silence_not_a_faint_hiss() -> None:
    # what a model writes for "silent" lands near the floor code, not on it
    assert DB_SILENT == -90.0
    assert feature_to_level(level_to_feature(_db(-91.0))).item() == 0.0
    assert feature_to_level(level_to_feature(_db(-100.0)) + 0.2).item() == 0.0  # −94 dB
    assert feature_to_level(level_to_feature(_db(-89.0))).item() > 0.0


def test_features_near_the_floor_render_exact_silence() -> None:
    config = FrameConfig(sample_rate=16000, clip_seconds=0.25)
    settings = config.ddsp_settings
    frames = config.n_frames
    floor = level_to_feature(torch.tensor(ddsp.AMPLITUDE_FLOOR)).item()
    features = torch.full((1, frames, config.feature_dim), floor)
    features += 0.25 * torch.rand(features.shape, generator=torch.Generator().manual_seed(0))
    layouts = torch.zeros(1, config.n_partials + 1)
    layouts[:, 0] = torch.log2(torch.tensor(220.0))
    layouts[:, 1:] = torch.log2(torch.arange(1, config.n_partials + 1).float())
    parts = decode(features, layouts, config.n_partials)
    audio = ddsp.synthesize(parts, config.clip_samples, settings, generator=torch.Generator())
    assert audio.abs().max().item() == 0.0
    features[:, :, 0] = level_to_feature(torch.tensor(0.1)).item()  # one audible partial
    parts = decode(features, layouts, config.n_partials)
    audio = ddsp.synthesize(parts, config.clip_samples, settings, generator=torch.Generator())
    assert audio.abs().max().item() > 0.05
