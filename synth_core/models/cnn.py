"""``cnn``: a convolutional autoencoder with a deterministic bottleneck.

Same representation, network, renderer and loss as ``vae`` (:mod:`synth_core.models.spectral`),
without the posterior noise and KL term: reconstructions are as sharp as the bottleneck allows, and
new sounds come from a Gaussian fitted to the training latents (the PCA axes the sliders move).
"""

from __future__ import annotations

from typing import ClassVar

from synth_core.model_export.spectral import SpectralExport, spectral_export
from synth_core.models import Family, register
from synth_core.models.spectral import (
    SPECTRAL_PRESETS,
    SPECTRAL_TINY,
    SpectralAutoencoder,
    SpectralConfig,
)

# vae and cnn share one representation, so they share their presets and the matrix's tiny size
PRESETS: dict[str, dict] = SPECTRAL_PRESETS
TINY: dict = SPECTRAL_TINY


class CNNModel(SpectralAutoencoder):
    family: ClassVar[str] = "cnn"
    config_class: ClassVar[type[SpectralConfig]] = SpectralConfig
    variational: ClassVar[bool] = False
    PRESETS: ClassVar[dict[str, dict]] = PRESETS

    def export_module(self) -> SpectralExport:
        """The standalone encoder, decoder and renderer (see :mod:`synth_core.model_export`)."""
        return spectral_export(self)


register(
    Family(
        name="cnn",
        title="Convolutional autoencoder",
        summary="Spectrogram autoencoder; sliders are the main axes of its bottleneck",
        good_for="faithful reconstructions and morphing between sounds you have",
        model_class=CNNModel,
    )
)
