"""The spectral autoencoders (``vae``, ``cnn``, ``gan``) as standalone TorchScript modules.

``decode``: latent (and, for a pitch-conditioned model, a MIDI pitch) → standardised log
magnitude (eigen-sound part plus the network's correction) → magnitude → peak-locked phase and
fast Griffin-Lim → peak limiter: what ``model.generate`` does once it has drawn its latent, with
the ``grain`` slider at 0 (the texture jitter is random noise drawn by the app's seeded
generator, which a host cannot repeat). ``encode``: audio → the encoder's latent mean (no
refinement steps). ``forward``: ``decode(encode(audio))``, a plain autoencoder pass.

The renderer is rebuilt from the same operations, in the same order, as
:mod:`synth_core.render` (whose cached windows and star-unpacking TorchScript cannot compile),
so an export renders what the app renders to within float32 rounding.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from synth_core import dsp
from synth_core.model_export.nn_tilde import NNTildeModule, frames_to_rows, rows_to_audio
from synth_core.models.base import resolve_values
from synth_core.models.spectral.harmonic import from_harmonic, stretch_ratio

if TYPE_CHECKING:
    from synth_core.models.spectral import SpectralAutoencoder


def peak_limit(audio: Tensor, block: int, blocks_held: int) -> Tensor:
    """:func:`synth_core.dsp.peak_limit` at a ceiling of 1 on ``[n, samples]``, with its block
    sizes passed in (TorchScript cannot read module-level constants) and without its shortcut
    for audio under the ceiling (where the gain it computes is exactly 1 anyway): no branch on
    the data, which ONNX export cannot follow."""
    audio = torch.nan_to_num(audio.float(), nan=0.0, posinf=0.0, neginf=0.0)
    samples = audio.shape[-1]
    blocks = -(-samples // block)
    padded = F.pad(audio.abs(), [0, blocks * block - samples])
    need = (1.0 / padded.clamp_min(1e-12)).clamp(max=1.0)
    need = need.view(audio.shape[0], blocks, block).amin(-1)[:, None]
    hold, smooth = blocks_held, blocks_held // 2
    held = -F.max_pool1d(-need, 2 * hold + 1, stride=1, padding=hold)
    gain = F.avg_pool1d(F.pad(held, [smooth, smooth], mode="replicate"), 2 * smooth + 1, stride=1)
    per_sample = F.interpolate(gain, size=blocks * block, mode="linear")[:, 0, :samples]
    per_sample = torch.where(per_sample > 1 - 1e-6, torch.ones_like(per_sample), per_sample)
    return (audio * per_sample).clamp(-1.0, 1.0)


class SpectralExport(NNTildeModule):
    """A spectral autoencoder's encoder, decoder and renderer in nn~'s layout.

    decode : ``[batch, D (+1), frames]`` → ``[batch, 1, frames · clip_samples]``; channel D, on
        pitch-conditioned models, is the MIDI pitch (below 0: unknown).
    encode : ``[batch, 1, frames · clip_samples]`` → ``[batch, D (+1), frames]`` (pitch −1; a
        model on the harmonic axis reads the clip as if it sounded at its reference pitch).
    forward : audio → audio, ``decode(encode(x))``.
    """

    def __init__(self, model: SpectralAutoencoder) -> None:
        super().__init__(model.sample_rate)
        cfg = model.config
        self.encoder = copy.deepcopy(model.encoder).eval()
        self.decoder = copy.deepcopy(model.decoder).eval()
        self.requires_grad_(False)  # a player needs no gradients (and its outputs then carry none)
        statistics = {
            "bin_mean": model.bin_mean,
            "bin_std": model.bin_std,
            "pca_mean": model.pca_mean,
            "pca_basis": model.pca_basis,
            "pca_scale": model.pca_scale,
        }
        for name, tensor in statistics.items():
            self.register_buffer(name, tensor.detach().float().cpu().clone())
        self.n_fft = int(cfg.n_fft)
        self.hop = int(cfg.hop)
        self.clip_samples = int(cfg.clip_samples)
        self.n_bins = int(cfg.n_bins)
        self.n_frames = int(cfg.n_frames)
        self.latent_channels = int(cfg.latent_channels)
        self.latent_frames = int(cfg.latent_frames)
        self.pca_components = int(cfg.pca_components)
        self.latent_dim = int(cfg.latent_dim)
        self.iterations = int(cfg.render_iterations)
        self.log_floor = float(cfg.log_floor)
        self.pitched = bool(model.pitched)
        self.variational = bool(model.variational)
        # on the harmonic axis the decoded spectrum is stretched back by the pitch asked for
        self.harmonic = bool(model.harmonic)
        self.harmonic_reference = float(model.harmonic_reference) if self.harmonic else 0.0
        window = torch.hann_window(self.n_fft)
        self.register_buffer("window", window)
        squared = window.square().expand(self.n_frames, self.n_fft)[None]
        self.register_buffer("envelope", self._overlap_add(squared)[0].clamp_min(1e-11))
        channels = self.latent_dim + (1 if self.pitched else 0)
        labels = [f"(signal) latent {i + 1}" for i in range(self.latent_dim)]
        if self.pitched:
            labels.append("(signal) pitch, MIDI (below 0: unknown)")
        audio_label = [f"(signal) audio, {self.sample_rate} Hz"]
        clip = self.clip_samples
        self.register_method(
            "decode", in_channels=channels, in_ratio=clip, out_channels=1, out_ratio=1,
            input_labels=labels, output_labels=audio_label,
        )  # fmt: skip
        self.register_method(
            "encode", in_channels=1, in_ratio=1, out_channels=channels, out_ratio=clip,
            input_labels=audio_label, output_labels=labels,
        )  # fmt: skip
        self.register_method(
            "forward", in_channels=1, in_ratio=1, out_channels=1, out_ratio=1,
            input_labels=audio_label, output_labels=audio_label, test_samples=clip,
        )  # fmt: skip

    def example_input(self) -> Tensor:
        """One latent at the origin (at middle C for a pitch-conditioned model)."""
        x = torch.zeros(1, int(self.decode_params[0]), 1)
        if self.pitched:
            x[0, -1, 0] = 60.0
        return x

    def onnx_blocker(self) -> str:
        if self.n_fft % self.hop != 0:
            return (
                f"its hop ({self.hop}) does not divide its FFT size ({self.n_fft}), so it "
                "renders through torch.istft, which ONNX does not have"
            )
        return ""

    def export_notes(self) -> list[str]:
        pitch = (
            f"; channel {self.latent_dim + 1} is the MIDI pitch (below 0: unknown)"
            if self.pitched
            else ""
        )
        return [
            f"decode: [batch, {int(self.decode_params[0])}, frames] latents{pitch} -> "
            f"[batch, 1, frames x {self.clip_samples}] audio at {self.sample_rate} Hz",
            "decode renders as the app does with the grain slider at 0: the texture grain is "
            "noise drawn by the app's seeded generator",
            "encode gives the encoder's latent mean, without the refinement steps the app's "
            "reconstruct takes; forward is decode(encode(audio))",
            f"in nn~, give no buffer size: it then runs one clip ({self.clip_samples} samples) "
            "per buffer",
        ]

    # network -----------------------------------------------------------------------------------

    def _conditioning(self, pitch: Tensor) -> Tensor:
        """``[n, 2]``: (MIDI − 60) / 24 and 1 where the pitch is known; zeros when unpitched."""
        if not self.pitched:
            return torch.zeros(pitch.shape[0], 2)
        known = torch.isfinite(pitch) & (pitch >= 0)
        centred = torch.where(known, (pitch - 60.0) / 24.0, torch.zeros_like(pitch))
        return torch.stack([centred, known.float()], dim=-1)

    def _split(self, rows: Tensor) -> tuple[Tensor, Tensor]:
        if self.pitched:
            return rows[:, : self.latent_dim], rows[:, self.latent_dim]
        return rows, torch.full([rows.shape[0]], -1.0)

    def decode_spectrum(self, z: Tensor, pitch: Tensor) -> Tensor:
        """Latents ``[n, D]`` → standardised log magnitude ``[n, bins, frames]``."""
        n = z.shape[0]
        cond = self._conditioning(pitch)
        k = self.pca_components
        base = self.pca_mean + (z[:, :k] * self.pca_scale) @ self.pca_basis
        h = z[:, k:].reshape(n, self.latent_channels, self.latent_frames)
        h = torch.cat([h, cond[:, :, None].expand(-1, -1, self.latent_frames)], dim=1)
        return base.view(n, self.n_bins, self.n_frames) + self.decoder(h)

    def encode_rows(self, audio: Tensor) -> Tensor:
        """Clips ``[n, clip_samples]`` → latent means ``[n, D]`` (pitch unknown)."""
        spec = torch.stft(
            audio, self.n_fft, self.hop, window=self.window, center=True, return_complex=True
        ).abs()
        spec = (torch.log(spec + self.log_floor) - self.bin_mean[:, None]) / self.bin_std[:, None]
        cond = self._conditioning(torch.full([audio.shape[0]], -1.0))
        cond_frames = cond[:, :, None].expand(-1, -1, spec.shape[-1])
        out = self.encoder(torch.cat([spec, cond_frames], dim=1)).flatten(1)
        coeffs = ((spec.flatten(1) - self.pca_mean) @ self.pca_basis.T) / self.pca_scale
        if self.variational:
            out = out.view(out.shape[0], 2, -1)[:, 0]
        return torch.cat([coeffs, out], -1)

    # renderer ----------------------------------------------------------------------------------

    def _overlap_add(self, frames: Tensor) -> Tensor:
        """``[n, F, n_fft]`` → ``[n, (F − 1)·hop + n_fft]`` by ``n_fft / hop`` shifted adds."""
        n, count = frames.shape[0], frames.shape[1]
        ratio = self.n_fft // self.hop
        chunks = frames.reshape(n, count, ratio, self.hop)
        out = frames.new_zeros(n, count + ratio - 1, self.hop)
        for j in range(ratio):
            out[:, j : j + count, :] += chunks[:, :, j, :]
        return out.flatten(-2)

    def _stft(self, audio: Tensor) -> tuple[Tensor, Tensor]:
        """Frame-major STFT ``[n, frames, bins]`` as real and imaginary parts (ONNX has no
        complex tensors; the FFT itself is the same)."""
        padded = F.pad(audio[:, None, :], [self.n_fft // 2, self.n_fft // 2], mode="reflect")
        padded = padded[:, 0]
        if self.n_fft % self.hop != 0:
            frames = padded.unfold(-1, self.n_fft, self.hop)
        else:  # frames as n_fft / hop shifted slices of hop-sized blocks: no index tables
            count, ratio = self.n_frames, self.n_fft // self.hop
            need = (count + ratio - 1) * self.hop
            if padded.shape[-1] < need:
                padded = F.pad(padded, [0, need - padded.shape[-1]])
            blocks = padded[:, :need].reshape(padded.shape[0], count + ratio - 1, self.hop)
            frames = torch.cat([blocks[:, j : j + count, :] for j in range(ratio)], dim=-1)
        spec = torch.view_as_real(torch.fft.rfft(frames * self.window, dim=-1))
        return spec[..., 0], spec[..., 1]

    def _istft(self, real: Tensor, imag: Tensor) -> Tensor:
        length = self.clip_samples
        spec = torch.view_as_complex(torch.stack([real, imag], dim=-1))
        if self.n_fft % self.hop != 0:
            return torch.istft(
                spec.transpose(-1, -2), self.n_fft, self.hop, window=self.window,
                center=True, length=length,
            )  # fmt: skip
        frames = torch.fft.irfft(spec, n=self.n_fft, dim=-1)
        audio = self._overlap_add(frames * self.window) / self.envelope
        audio = audio[:, self.n_fft // 2 : self.n_fft // 2 + length]
        if audio.shape[-1] < length:
            audio = F.pad(audio, [0, length - audio.shape[-1]])
        return audio

    def _phase(self, mag: Tensor) -> Tensor:
        """Peak-locked initial phase of frame-major ``mag`` ``[n, frames, bins]``."""
        bins = mag.shape[-1]
        log_mag = torch.log(mag + 1e-5)
        padded = F.pad(log_mag, [1, 1], value=-1e30)
        left, centre, right = padded[..., :-2], padded[..., 1:-1], padded[..., 2:]
        curvature = torch.add(left, right).sub_(centre, alpha=2).clamp_(max=-1e-9)
        offset = torch.sub(left, right).div_(curvature).mul_(0.5).clamp_(-0.5, 0.5)
        reach = 2  # bins: half the Hann window's main lobe, as synth_core.render.PEAK_REACH
        wide = F.pad(log_mag, [reach, reach], value=-1e30)
        nearest = wide.unfold(-1, 2 * reach + 1, 1).argmax(-1)
        nearest += torch.arange(-reach, bins - reach)
        true_bin = torch.gather(offset, -1, nearest).add_(nearest)
        phase = true_bin.mul_(2 * math.pi * self.hop / self.n_fft).cumsum(-2)
        phase.sub_(math.pi * torch.arange(bins, dtype=mag.dtype))
        return torch.remainder(phase, 2 * math.pi)

    def render(self, standardised: Tensor, pitch: Tensor) -> Tensor:
        """Standardised log magnitude ``[n, bins, frames]`` → peak-limited audio ``[n, clip]``
        (at MIDI ``pitch`` ``[n]`` for a model on the harmonic axis)."""
        log_mag = standardised * self.bin_std[:, None] + self.bin_mean[:, None]
        if self.harmonic:
            log_mag = from_harmonic(log_mag, stretch_ratio(pitch, self.harmonic_reference))
        mag = (torch.exp(log_mag) - self.log_floor).clamp_min(0.0).transpose(-1, -2).contiguous()
        phase = self._phase(mag)
        # fast Griffin-Lim on real and imaginary parts, step for step as synth_core.render
        real, imag = torch.cos(phase) * mag, torch.sin(phase) * mag
        previous_real, previous_imag = torch.zeros_like(real), torch.zeros_like(imag)
        momentum = 0.99  # as synth_core.render.render_magnitude
        carry = -momentum / (1 + momentum)
        for _ in range(self.iterations):
            rebuilt_real, rebuilt_imag = self._stft(self._istft(real, imag))
            real = previous_real * carry + rebuilt_real
            imag = previous_imag * carry + rebuilt_imag
            previous_real, previous_imag = rebuilt_real, rebuilt_imag
            # the app adds 1e-30 before the root; ONNX Runtime loses that sum, a floor it keeps
            scale = (real * real + imag * imag).clamp_min(1e-30).rsqrt() * mag
            real, imag = real * scale, imag * scale
        audio = self._istft(real, imag)
        return peak_limit(audio, int(dsp.LIMIT_BLOCK), int(dsp.LIMIT_BLOCKS))

    # nn~ methods -------------------------------------------------------------------------------

    @torch.jit.export
    def decode(self, x: Tensor) -> Tensor:
        z, pitch = self._split(frames_to_rows(x))
        return rows_to_audio(self.render(self.decode_spectrum(z, pitch), pitch), x.shape[0])

    @torch.jit.export
    def encode(self, x: Tensor) -> Tensor:
        batch = x.shape[0]
        rows = self.encode_rows(x.reshape(-1, self.clip_samples))
        if self.pitched:
            rows = torch.cat([rows, torch.full([rows.shape[0], 1], -1.0)], dim=1)
        return rows.reshape(batch, -1, rows.shape[1]).permute(0, 2, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))


def spectral_export(model: SpectralAutoencoder) -> SpectralExport:
    """The standalone module of a ``vae``, ``cnn`` or ``gan`` model."""
    return SpectralExport(model)


@torch.no_grad()
def generation_input(
    model: SpectralAutoencoder,
    values: Mapping[str, float] | None,
    *,
    seed: int,
    pitch: float | None = None,
) -> Tensor:
    """``[1, D (+1), 1]``: the latent (and pitch) ``model.generate(values, seed=seed)`` decodes,
    as the exported ``decode`` takes it; the sliders, seed and pitch pick it as the app does."""
    resolved = resolve_values(model.controls(), values)
    generator = torch.Generator().manual_seed(int(seed))
    z, anchors = model.draw_latents(resolved, n=1, seed=seed, generator=generator)
    row = z.float().cpu()
    if bool(model.pitched):
        note = float("nan")
        if pitch is not None:
            note = float(pitch)
        elif anchors is not None and model.train_pitches.numel() == model.train_latents.shape[0]:
            note = float(model.train_pitches.cpu()[anchors][0])
        elif model.train_pitches.numel() > 0:
            pick = torch.randint(0, model.train_pitches.numel(), (1,), generator=generator)
            note = float(model.train_pitches.cpu()[pick][0])
        row = torch.cat([row, torch.tensor([[note if math.isfinite(note) else -1.0]])], dim=1)
    return row[:, :, None]
