"""The frame families' renderer alone on a real folder, with and without the recordings' noise
floor (docs/experiments/frame-noise-floor.md).

    .venv/bin/python bench/frame_noise_floor.py DATA [--seconds 1.0] [--quantiles 0.05 0.1 0.2]

``DATA`` holds ``train/`` and ``test/``. The training clips are analysed into the gmm's, hmm's
and rnn's frames (partials plus noise bands) and synthesised back with no model in between; the
rebuilt clips are scored against the test clips by ``evaluate``'s two-sample test (1-NN over 3
picks of as many clips as the test set holds, mean ± sd) and memorisation ratio, first as the
features play them, then with every noise band kept at least at the floor measured on the
training clips at each quantile (the median over clips of that quantile of a clip's frames).
"""

from __future__ import annotations

import argparse

import torch

from synth_core import ddsp, metrics
from synth_core.dataset import load_clips
from synth_core.models.base import safe_audio
from synth_core.models.frames import FrameConfig, decode, encode

PICKS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data")
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--quantiles", type=float, nargs="*", default=[0.0, 0.05, 0.1, 0.2])
    args = parser.parse_args()
    rate = 44100
    train = load_clips(f"{args.data}/train", sample_rate=rate, seconds=args.seconds)
    test = load_clips(f"{args.data}/test", sample_rate=rate, seconds=args.seconds)
    real = metrics.clip_features(test.audio, rate)
    train_mel = metrics.log_mel_statistics(train.audio, rate)
    test_mel = metrics.log_mel_statistics(test.audio, rate)

    def score(name: str, audio: torch.Tensor) -> None:
        accuracies = []
        for pick in range(PICKS):
            order = torch.randperm(len(audio), generator=torch.Generator().manual_seed(pick))
            features = metrics.clip_features(audio[order[: len(test)]], rate)
            accuracies.append(metrics.one_nn_accuracy(real, features))
        memorisation = metrics.memorisation_ratio(
            metrics.log_mel_statistics(audio, rate), test_mel, train_mel
        )
        found = torch.tensor(accuracies)
        print(
            f"{name:32s} 1-NN {float(found.mean()):.3f} ± {float(found.std()):.3f}  "
            f"memorisation {memorisation:.2f}",
            flush=True,
        )

    pitch = train.pitch if bool(torch.isfinite(train.pitch).any()) else None
    config = FrameConfig(sample_rate=rate, clip_seconds=args.seconds)
    settings = config.ddsp_settings
    parts_of_clips = [
        ddsp.analyse(
            train.audio[start : start + 32],
            settings,
            pitch_midi=None if pitch is None else pitch[start : start + 32],
        )
        for start in range(0, len(train), 32)
    ]
    noise = torch.cat([parts.noise for parts in parts_of_clips])  # [clips, frames, bands]
    encoded = [encode(parts) for parts in parts_of_clips]  # features floored at -100 dB
    features = torch.cat([f for f, _ in encoded])
    layouts = torch.cat([lay for _, lay in encoded])
    frames = decode(features, layouts, config.n_partials)
    samples = train.audio.shape[-1]

    def synthesise(parts: ddsp.Frames) -> torch.Tensor:
        generator = torch.Generator().manual_seed(0)
        return safe_audio(ddsp.synthesize(parts, samples, settings, generator=generator))

    score("real training clips", train.audio)
    score("features as they are", synthesise(frames))
    for quantile in args.quantiles:
        floor = noise.quantile(quantile, dim=1).median(dim=0).values
        lifted = torch.maximum(frames.noise, floor)
        parts = ddsp.Frames(frames.f0_hz, frames.ratios, frames.amplitudes, lifted)
        median_db = float(20 * torch.log10(floor.median() + 1e-12))
        score(f"floor at quantile {quantile} ({median_db:.0f} dB)", synthesise(parts))


if __name__ == "__main__":
    main()
