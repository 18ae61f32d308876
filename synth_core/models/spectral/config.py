"""The settings of the spectral families (vae, cnn and the gan built on them), and their presets."""

from __future__ import annotations

from dataclasses import dataclass

from synth_core.errors import ModelConfigError
from synth_core.models.base import ModelConfig, check_range

# Presets of the spectral families (vae and cnn): the settings each adds to its config.
SPECTRAL_PRESETS: dict[str, dict] = {
    "quick": {"channels": 64, "latent_channels": 4},
    "better": {"channels": 256, "latent_channels": 32},
}
# The smallest sensible model of either family, for the family test matrix.
SPECTRAL_TINY: dict = {
    "channels": 16,
    "latent_channels": 2,
    "n_controls": 2,
    "render_iterations": 2,
    "pca_components": 4,
    "refine_steps": 3,
    "reconstruct_iterations": 2,
}


@dataclass(frozen=True)
class SpectralConfig(ModelConfig):
    """Settings shared by the spectral families.

    n_fft, hop : STFT layout, samples. latent_channels : latent values per latent frame (one
    latent frame per 4 STFT frames, ~23 ms at 44.1 kHz). channels : width of the convolutions.
    batch_size : clips per step. learning_rate : Adam step size.
    pitch_conditioning : condition on pitch when the data has labels. render_iterations : fast
    Griffin-Lim iterations after the peak-locked phase (4: new sounds score as with 6 or 8 on
    real drums, real notes and the built-in sounds, at 0.6 dB less self-consistency, and one
    second renders in ~6 ms instead of ~8; measured:
    docs/experiments/spectral-training-choices.md).
    n_controls : PCA axes shown as sliders.
    log_floor : magnitude added before the log (sets how far down in level the model cares).
    pca_components : size of the linear "eigen-sound" part of the latent (see the package docs).
    convergence_weight : weight of the linear-magnitude spectral convergence loss term.
    mel_weight : weight of the log-mel loss term (64 mel bands of power, as the two-sample
    test's features see a sound).
    refine_steps : gradient steps ``reconstruct`` takes on each input's latent after the encoder
    (0: the encoder's latent as it is). refine_rate : Adam step size of those steps.
    reconstruct_iterations : fast Griffin-Lim iterations when rendering a reconstruction (not
    on the slider path, so it can afford more than ``render_iterations``).
    texture_bands : mel bands of the texture that new sounds get back (see
    :meth:`SpectralAutoencoder.fit_texture`; 0: none).
    harmonic_axis : with pitch-labelled data, model spectra on the harmonic frequency axis
    (:mod:`~synth_core.models.spectral.harmonic`), so that partials line up across pitches.
    """

    n_fft: int = 1024
    hop: int = 256
    latent_channels: int = 16
    pca_components: int = 32
    convergence_weight: float = 1.0
    mel_weight: float = 0.0
    channels: int = 128
    batch_size: int = 8
    learning_rate: float = 5e-4
    pitch_conditioning: bool = True
    render_iterations: int = 4
    n_controls: int = 8
    log_floor: float = 1e-5
    refine_steps: int = 200
    refine_rate: float = 0.05
    reconstruct_iterations: int = 32
    texture_bands: int = 32
    harmonic_axis: bool = True

    def validate(self) -> None:
        super().validate()
        if not 64 <= self.n_fft <= 16384 or self.n_fft & (self.n_fft - 1):
            raise ModelConfigError(f"n_fft {self.n_fft} must be a power of two from 64 to 16384")
        if not 1 <= self.hop <= self.n_fft // 2:
            raise ModelConfigError(f"hop {self.hop} must be between 1 and n_fft/2")
        if not 0 <= self.pca_components <= 256:
            raise ModelConfigError(f"pca_components {self.pca_components} is outside 0–256")
        check_range("latent_channels", self.latent_channels, 1, 256)
        check_range("channels", self.channels, 1, 2048)
        check_range("batch_size", self.batch_size, 1, 1024)
        check_range("n_controls", self.n_controls, 1, 64)
        if self.n_controls > self.latent_dim:
            raise ModelConfigError(
                f"n_controls {self.n_controls} cannot exceed latent_dim {self.latent_dim}"
            )
        if not 0 < self.learning_rate < 1:
            raise ModelConfigError(f"learning_rate {self.learning_rate} must be in (0, 1)")
        if not 0 <= self.render_iterations <= 500:
            raise ModelConfigError(f"render_iterations {self.render_iterations} is outside 0–500")
        if not 0 < self.log_floor < 1:
            raise ModelConfigError(f"log_floor {self.log_floor} must be in (0, 1)")
        if not 0 <= self.convergence_weight <= 10:
            raise ModelConfigError(f"convergence_weight {self.convergence_weight} is outside 0–10")
        if not 0 <= self.mel_weight <= 10:
            raise ModelConfigError(f"mel_weight {self.mel_weight} is outside 0–10")
        if not 0 <= self.refine_steps <= 2000:
            raise ModelConfigError(f"refine_steps {self.refine_steps} is outside 0–2000")
        if not 0 < self.refine_rate <= 1:
            raise ModelConfigError(f"refine_rate {self.refine_rate} must be in (0, 1]")
        if not 0 <= self.texture_bands <= 128:
            raise ModelConfigError(f"texture_bands {self.texture_bands} is outside 0–128")
        if not 0 <= self.reconstruct_iterations <= 500:
            raise ModelConfigError(
                f"reconstruct_iterations {self.reconstruct_iterations} is outside 0–500"
            )

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def n_frames(self) -> int:
        return 1 + self.clip_samples // self.hop

    @property
    def latent_frames(self) -> int:
        """Frames after the encoder's two stride-2 convolutions (kernel 4, padding 1)."""
        frames = self.n_frames
        for _ in range(2):
            frames = (frames + 2 - 4) // 2 + 1
        return frames

    @property
    def latent_dim(self) -> int:
        """Size of the flattened latent: PCA coefficients, then ``latent_channels ×
        latent_frames``."""
        return self.pca_components + self.latent_channels * self.latent_frames

    def allocations(self) -> dict[str, int]:
        spectrogram = self.n_bins * self.n_frames
        c, bins, lc = int(self.channels), self.n_bins, int(self.latent_channels)
        return super().allocations() | {
            "a spectrogram (n_fft/2+1 bins × clip frames at hop)": spectrogram,
            "the PCA basis (pca_components × spectrogram)": self.pca_components * spectrogram,
            "the slider axes (latent_dim²)": self.latent_dim**2,
            "the network (channels, n_fft, latent_channels)": c * (2 * bins + 18 * c + 6 * lc),
        }
