"""What limits a spectral run's reconstructions: the latent search or the decoder
(docs/experiments/spectral-reconstruction.md, "What limits real notes").

    .venv/bin/python bench/reconstruction_limit.py RUN DATA [--clips 45]

``DATA`` holds ``train/`` and ``test/``. Up to ``--clips`` clips of each, picked evenly, are
rebuilt by ``reconstruct`` and scored by spectral convergence (dB, as ``evaluate`` scores
reconstructions): test clips with 0 refine steps (the encoder alone), the run's own count, and
four times that; training clips with the run's own count. If four times the steps gain little,
the search has converged. If the training clips rebuild little better than the test clips, the
decoder limits reconstruction, not how far new sounds lie from the training set.
"""

from __future__ import annotations

import argparse
import dataclasses

import torch

from synth_core import metrics
from synth_core.dataset import load_clips
from synth_core.runs import open_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run")
    parser.add_argument("data")
    parser.add_argument("--clips", type=int, default=45)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = open_model(args.run)
    steps = int(model.config.refine_steps)
    for split, counts in (("test", (0, steps, 4 * steps)), ("train", (steps,))):
        clips = load_clips(
            f"{args.data}/{split}", sample_rate=model.sample_rate, seconds=model.config.clip_seconds
        )
        pick = torch.linspace(0, len(clips) - 1, min(args.clips, len(clips))).round().long()
        audio, pitch = clips.audio[pick], clips.pitch[pick]
        for count in counts:
            model.config = dataclasses.replace(model.config, refine_steps=count)
            rebuilt = torch.cat(
                [
                    model.reconstruct(audio[i : i + 16], pitch=pitch[i : i + 16])
                    for i in range(0, len(audio), 16)
                ]
            )
            score = float(metrics.spectral_convergence_db(audio, rebuilt).mean())
            print(f"{split:5s} {len(audio):3d} clips, refine {count:4d}: SC {score:.2f} dB")


if __name__ == "__main__":
    main()
