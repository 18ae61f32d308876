"""How well PCA-32 of training notes rebuilds held-out pitches, on the linear frequency axis and on
the harmonic axis at a few reference pitches (docs/experiments/harmonic-axis.md).

    .venv/bin/python bench/harmonic_axis_pca.py TRAIN_FOLDER TEST_FOLDER [--seconds 1.5]

Both folders hold pitch-labelled notes (``name__p060.wav``). Prints, per axis, the spectral
convergence (dB, of the linear magnitude) and the log-spectral distance (dB, per frame, down to
−100 dB) of the held-out notes' spectrograms against (a) the bare round trip onto the axis and
back and (b) their PCA-32 projection on it, PCA fitted on the training notes. The PCA part of the
spectral families' decoder is this projection; their network learns what it misses.
"""

from __future__ import annotations

import argparse
import math

import torch

from synth_core import dsp
from synth_core.dataset import load_clips
from synth_core.models.spectral.harmonic import from_harmonic, stretch_ratio, to_harmonic

FLOOR = 1e-5  # the spectral families' log floor (−100 dB)
COMPONENTS = 32


def spectral_convergence_db(log_true: torch.Tensor, log_est: torch.Tensor) -> float:
    true, est = log_true.exp() - FLOOR, log_est.exp() - FLOOR
    ratio = (true - est).flatten(1).norm(dim=1) / true.flatten(1).norm(dim=1)
    return float((20 * torch.log10(ratio.clamp_min(1e-6))).mean())


def log_spectral_distance_db(log_true: torch.Tensor, log_est: torch.Tensor) -> float:
    difference = 20 / math.log(10) * (log_true - log_est)
    return float(difference.pow(2).mean(1).sqrt().mean())


def pca_projection(train: torch.Tensor, test: torch.Tensor) -> torch.Tensor:
    flat = train.flatten(1)
    mean = flat.mean(0)
    _, _, vh = torch.linalg.svd(flat - mean, full_matrices=False)
    basis = vh[:COMPONENTS]
    return (((test.flatten(1) - mean) @ basis.T) @ basis + mean).view_as(test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("train")
    parser.add_argument("test")
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--sample-rate", type=int, default=44100)
    args = parser.parse_args()
    train = load_clips(args.train, sample_rate=args.sample_rate, seconds=args.seconds)
    test = load_clips(args.test, sample_rate=args.sample_rate, seconds=args.seconds)
    if not (torch.isfinite(train.pitch).all() and torch.isfinite(test.pitch).all()):
        raise SystemExit("every file needs a pitch label (name__p060.wav)")
    log_train = torch.log(dsp.magnitude(train.audio) + FLOOR)
    log_test = torch.log(dsp.magnitude(test.audio) + FLOOR)
    print(f"{len(train)} training notes, {len(test)} held-out notes")
    print(f"{'axis':<34}{'round trip SC':>15}{'LSD':>7}{'PCA-32 SC':>12}{'LSD':>7}")
    projected = pca_projection(log_train, log_test)
    sc = spectral_convergence_db(log_test, projected)
    lsd = log_spectral_distance_db(log_test, projected)
    print(f"{'linear':<34}{'—':>15}{'—':>7}{sc:12.2f}{lsd:7.2f}")
    for quantile in (0.5, 0.75, 1.0):
        reference = float(torch.quantile(train.pitch, quantile))
        ratio_train = stretch_ratio(train.pitch, reference)
        ratio_test = stretch_ratio(test.pitch, reference)
        on_axis = to_harmonic(log_test, ratio_test)
        back = from_harmonic(on_axis, ratio_test)
        projected = from_harmonic(
            pca_projection(to_harmonic(log_train, ratio_train), on_axis), ratio_test
        )
        name = f"harmonic, reference MIDI {reference:.0f} (q{quantile:.2f})"
        print(
            f"{name:<34}{spectral_convergence_db(log_test, back):15.2f}"
            f"{log_spectral_distance_db(log_test, back):7.2f}"
            f"{spectral_convergence_db(log_test, projected):12.2f}"
            f"{log_spectral_distance_db(log_test, projected):7.2f}"
        )


if __name__ == "__main__":
    main()
