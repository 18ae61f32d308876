"""``vae``: the flagship — a convolutional VAE over log-magnitude spectrograms.

The network, representation, renderer and spectral loss are shared with ``cnn`` (see
:mod:`synth_core.models.spectral`); the VAE adds a Gaussian posterior, a KL term warmed up
linearly from zero over ``kl_warmup_steps`` (Bowman et al., 2016) and free bits per latent
dimension against posterior collapse (Kingma et al., 2016).

Free bits are 1 nat per dimension, not the more usual fraction of a nat: with 0.05 every
dimension's KL sat at the floor and the latent sequence carried nothing the PCA part did not
(its reconstructions equalled PCA alone); 1 nat lets each dimension carry ~1.4 bits unpenalised.
New sounds are drawn near the training latents, not from the prior, so a looser prior match
costs generation nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from synth_core.errors import ModelConfigError
from synth_core.model_export.spectral import SpectralExport, spectral_export
from synth_core.models import Family, register
from synth_core.models.spectral import (
    SPECTRAL_PRESETS,
    SPECTRAL_TINY,
    SpectralAutoencoder,
    SpectralConfig,
)


@dataclass(frozen=True)
class VAEConfig(SpectralConfig):
    """``SpectralConfig`` plus the KL settings.

    kl_weight : weight of the KL term once warmed up. kl_warmup_steps : steps over which the
    weight rises linearly from 0. free_bits : nats per latent dimension below which KL is not
    penalised.
    """

    kl_weight: float = 0.001
    kl_warmup_steps: int = 200
    free_bits: float = 1.0

    def validate(self) -> None:
        super().validate()
        if not 0 <= self.kl_weight <= 10:
            raise ModelConfigError(f"kl_weight {self.kl_weight} is outside 0–10")
        if not 0 <= self.kl_warmup_steps <= 10_000_000:
            raise ModelConfigError(
                f"kl_warmup_steps {self.kl_warmup_steps} is outside 0–10000000 steps"
            )
        if not 0 <= self.free_bits <= 10:
            raise ModelConfigError(f"free_bits {self.free_bits} is outside 0–10 nats")


# vae and cnn share one representation, so they share their presets and the matrix's tiny size
PRESETS: dict[str, dict] = SPECTRAL_PRESETS
TINY: dict = SPECTRAL_TINY


class VAEModel(SpectralAutoencoder):
    family: ClassVar[str] = "vae"
    config_class: ClassVar[type[VAEConfig]] = VAEConfig
    variational: ClassVar[bool] = True
    PRESETS: ClassVar[dict[str, dict]] = PRESETS

    config: VAEConfig

    def export_module(self) -> SpectralExport:
        """The standalone encoder, decoder and renderer (see :mod:`synth_core.model_export`)."""
        return spectral_export(self)

    def kl_free_bits(self) -> float:
        return float(self.config.free_bits)

    def kl_scale(self) -> float:
        warmup = self.config.kl_warmup_steps
        done = int(self.steps_done)
        ramp = 1.0 if warmup == 0 else min(1.0, done / warmup)
        return self.config.kl_weight * ramp

    def total(self, terms: Mapping[str, Tensor]) -> Tensor:
        return super().total(terms) + self.kl_scale() * terms["kl"]


register(
    Family(
        name="vae",
        title="Variational autoencoder",
        summary="Convolutional VAE on spectrograms; sliders are the main axes of its latent space",
        good_for="one-shots of one kind (drums, plucks, bells); the best all-rounder",
        model_class=VAEModel,
    )
)
