"""The spectral families' renderer alone on a real folder at several Griffin-Lim iteration counts
(docs/experiments/spectral-training-choices.md, "Griffin-Lim iterations on the slider path").

    .venv/bin/python bench/render_iterations.py DATA [--seconds 1.0] [--iterations 2 3 4 6 8]

``DATA`` holds ``test/``. The test clips' true magnitudes are rendered as a slider move renders a
decoded spectrum (peak-locked phase, then fast Griffin-Lim), and each count reports how far the
render's magnitudes are from the ones asked for (spectral convergence, mean over clips: what the
iterations buy), the 1-NN two-sample accuracy of the renders against the clips they were
rendered from, each pair left out together as ``evaluate``'s ceiling rows do (0.5: the test
cannot hear the renderer), and the time per second of audio at batch 1 on one thread.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from synth_core import dsp, metrics, render
from synth_core.dataset import load_clips
from synth_core.models.base import safe_audio

N_FFT, HOP = 1024, 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data")
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--iterations", type=int, nargs="*", default=[2, 3, 4, 6, 8])
    args = parser.parse_args()
    torch.set_num_threads(1)
    rate = 44100
    test = load_clips(f"{args.data}/test", sample_rate=rate, seconds=args.seconds)
    samples = test.audio.shape[-1]
    magnitude = dsp.magnitude(test.audio, n_fft=N_FFT, hop=HOP)
    real = metrics.clip_features(test.audio, rate)
    print(f"{len(test)} test clips of {args.seconds:g} s from {args.data}/test")
    for count in args.iterations:
        audio = safe_audio(
            render.render_magnitude(magnitude, n_fft=N_FFT, hop=HOP, length=samples, n_iter=count)
        )
        convergence = float(metrics.spectral_convergence_db(test.audio, audio).mean())
        accuracy = metrics.one_nn_accuracy(real, metrics.clip_features(audio, rate), paired=True)
        one = magnitude[:1]
        times = []
        for _ in range(30):
            began = time.perf_counter()
            render.render_magnitude(one, n_fft=N_FFT, hop=HOP, length=samples, n_iter=count)
            times.append(time.perf_counter() - began)
        per_second = 1000 * statistics.median(times[5:]) / args.seconds
        print(
            f"{count:2d} iterations  spectral convergence {convergence:6.2f} dB  "
            f"1-NN {accuracy:.3f}  {per_second:.2f} ms per second of audio",
            flush=True,
        )


if __name__ == "__main__":
    main()
