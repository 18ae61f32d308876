"""The spectral autoencoder that the ``vae`` and ``cnn`` families share.

Representation: the log-magnitude STFT (Hann, 1024/256 at 44.1 kHz), each frequency bin
standardised by its training-set mean and deviation. Frequency bins are the channels of 1-D
convolutions over time, which keeps the network small and fast on a CPU (a decode is some tens
of millions of multiply-adds), while every layer still sees the whole spectrum. With
pitch-labelled data (and ``harmonic_axis``, the default) the frequency axis is the harmonic one
of :mod:`~synth_core.models.spectral.harmonic`: each clip stretched so that its partials sit on
the same bins as every other note's, and stretched back at the pitch asked for when rendered, so
the linear part, the network and the loss learn timbre rather than each pitch's comb, and a
note between or beyond the training pitches comes out with sharp partials.

Latent: ``pca_components`` coefficients of a linear part — the PCA of the training spectrograms,
the "eigen-sounds" baseline, fitted in ``begin`` — then a sequence, ``latent_channels`` values per
4 STFT frames (~23 ms), from which the network decodes a correction to the linear part. The
network's last layer starts at zero, so an untrained model already reconstructs as well as
eigen-sounds and training only has to learn what PCA misses (a few hundred CPU steps do not get a
convolutional decoder from nothing to that level). New sounds are drawn near the training
latents (a training latent moved part-way to one of its neighbours,
:func:`synth_core.latent.neighbour_draw`): a single Gaussian over such a latent would land between
unlike sounds (a bell and a drum) and decode to neither. Sliders are the PCA axes of the
training latents, in σ.

Texture: a decoder trained on a spectral loss predicts the expected magnitude, so the random
part of a sound (the grain of noise, the flicker of a rough tone) comes out smoothed. At the end
of training, :meth:`SpectralAutoencoder.fit_texture` measures, per training clip and mel band,
how much frame-to-frame change the rendered decode lacks, and new sounds get it back as random
band gains sized for the training sound each is drawn near, which makes them markedly harder to
tell from real sounds; reconstructions do not use it (they aim at one recording, not at new
ones). Measured: docs/experiments/spectral-texture.md.

Rendering: the decoded magnitude goes through :func:`synth_core.render.render_magnitude`
(peak-locked phase + a few fast Griffin-Lim iterations), so decode-to-audio stays far under the
30 ms slider budget.

Reconstruction (``reconstruct``, ``timbrelab reconstruct``/``evaluate``): the encoder's latent is
only a starting point; ``refine_steps`` Adam steps on it against the input (weights frozen, see
:meth:`SpectralAutoencoder.refine`) find the latent this decoder needs for that sound, and the
result renders with ``reconstruct_iterations`` Griffin-Lim steps. Noisy hits gain least: the exact
noise pattern of one recording is not something a compact latent holds. Measured:
docs/experiments/spectral-reconstruction.md.

Loss (a multi-resolution spectral loss over time-frequency scales): L1 plus squared error of the
standardised log magnitude at full resolution, L1 at 2× and 4× pooled resolution; L1 of its
frame-to-frame change, which keeps attacks and grain from being averaged away (DESIGN.md: blur is
what gives a spectral model away); and, weighted by ``convergence_weight`` (default 1), spectral
convergence of the linear magnitude, which weights the loud partials.

Defaults: ``log_floor`` 1e-5 (−100 dB), because the two-sample test's features look down to
−100 dB and a model blind below −60 dB leaves a floor of errors there that gives every sound
away; learning rate 5e-4 and no augmentation (``augments = False``), because pitch shifts move
partials off the bins the linear part and the decoder are learning. The convergence term is on
(weight 1): on real recordings most bins lie far below the loud partials (88% more than 80 dB
down on soundfont notes), so the log-domain terms alone spend the loss on the pattern of quiet
bins; with the term, 5-minute vaes reconstructed 0.7–1.6 dB better on real notes, real drums and
the built-in sounds and drew new sounds that a two-sample test told apart less often on both
real sets. Measured: docs/experiments/spectral-training-choices.md and
docs/experiments/loud-partials-loss.md.

The parts: :mod:`~synth_core.models.spectral.config` (settings and presets),
:mod:`~synth_core.models.spectral.model` (the network, representation and data statistics),
:mod:`~synth_core.models.spectral.sounds` (sliders, new sounds, reconstruction),
:mod:`~synth_core.models.spectral.learning` (loss and training step) and
:mod:`~synth_core.models.spectral.texture` (the grain new sounds get back).
"""

from __future__ import annotations

from synth_core.models.spectral.config import SPECTRAL_PRESETS, SPECTRAL_TINY, SpectralConfig
from synth_core.models.spectral.learning import kl_divergence, spectral_loss
from synth_core.models.spectral.model import PITCH_FEATURES, SpectralAutoencoder, pitch_features
from synth_core.models.spectral.texture import GRAIN

__all__ = [
    "GRAIN",
    "PITCH_FEATURES",
    "SPECTRAL_PRESETS",
    "SPECTRAL_TINY",
    "SpectralAutoencoder",
    "SpectralConfig",
    "kl_divergence",
    "pitch_features",
    "spectral_loss",
]
