"""A trained spectral run's new sounds as saved, then with its texture (and, with
``--novelty``, its novelty scale) fitted again by this code (docs/experiments/harmonic-axis.md,
"The built-in cost was the texture").

    .venv/bin/python bench/texture_refit.py RUN TEST_FOLDER [--novelty]

Training never touches the texture: ``end`` fits it after the last step, then the novelty scale
from renders that carry it. So fitting both again gives what a run trained with this code would
draw, without training again. Each row is the generation row of ``timbrelab evaluate RUN
TEST_FOLDER --repeats 3`` (the same seeds and batches): 1-NN mean ± sd, Fréchet distance and
memorisation ratio against the folder the run's model.json names.
"""

from __future__ import annotations

import argparse

import torch

from synth_core import evaluate, metrics
from synth_core.dataset import load_clips
from synth_core.runs import open_model

REPEATS = 3


def generation_rows(model, test, train) -> str:
    """The model row of ``evaluate`` over ``REPEATS`` seeds, as one line."""
    rate = model.sample_rate
    real = evaluate.RealFeatures(
        metrics.clip_features(test.audio, rate),
        metrics.log_mel_statistics(test.audio, rate),
        metrics.log_mel_statistics(train.audio, rate),
    )
    rows = []
    for repeat in range(REPEATS):
        seed = 1000 * repeat
        with torch.no_grad():
            audio = torch.cat(
                [
                    model.generate(None, n=min(16, len(test) - i), seed=seed + i)
                    for i in range(0, len(test), 16)
                ]
            )
        rows.append(evaluate._generation_row(real, audio, rate))
    one_nn = torch.tensor([row["one_nn"] for row in rows])
    frechet = sum(row["frechet"] for row in rows) / REPEATS
    memorisation = sum(row["memorisation"] for row in rows) / REPEATS
    return (
        f"1-NN {float(one_nn.mean()):.3f} ± {float(one_nn.std()):.3f}  Fréchet {frechet:.1f}  "
        f"memorisation {memorisation:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run")
    parser.add_argument("test")
    parser.add_argument("--novelty", action="store_true", help="fit the novelty scale again too")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the app renders
    model = open_model(args.run)
    seconds = model.config.clip_seconds
    test = load_clips(args.test, sample_rate=model.sample_rate, seconds=seconds)
    train = evaluate.training_clips(args.run, model.sample_rate, seconds)
    if train is None or len(train) != model.train_latents.shape[0]:
        raise SystemExit(f"{args.run}: its training folder is gone or changed; cannot refit")
    print(f"saved texture:  {generation_rows(model, test, train)}")
    model.fit_texture(train.audio)
    if args.novelty:
        model.fit_novelty(train)
    print(f"fitted again:   {generation_rows(model, test, train)}")


if __name__ == "__main__":
    main()
