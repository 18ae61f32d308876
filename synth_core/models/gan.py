"""``gan``: a small adversarial model of DDSP frame features that trains on a CPU in minutes.

The generator turns a latent vector and a conditioning vector (the pitch and partial layout of a
training sound) into a whole sound's frame features — partial and noise-band levels over time,
see :mod:`synth_core.models.frames` — which the DDSP-style synthesiser renders. The discriminator
is a 1-D convolutional network over time with spectral normalisation (Miyato et al., 2018) and a
projection of the conditioning (Miyato & Koyama, 2018). Training uses the hinge loss (Lim & Ye,
2017), feature matching for the generator (Salimans et al., 2016), and differentiable augmentation
of real and generated features alike — time shift, level offset, cutout — for small data (Zhao et
al., 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

Controls are GANSpace directions (Härkönen et al., 2020): principal axes of the generator's first
hidden layer over many random draws, each named after the descriptor it changes most.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from synth_core import dsp
from synth_core.errors import ModelConfigError
from synth_core.models import Family, register
from synth_core.models.base import (
    Batch,
    Control,
    check_range,
    resolve_values,
    seeded_generator,
)
from synth_core.models.frames import (
    NAMED_BELOW_R,
    FrameConfig,
    FrameFamily,
    bench_frame_family,
    level_to_feature,
    name_axes,
    pca,
    transpose,
)

logger = logging.getLogger(__name__)

AXES = 4
GANSPACE_DRAWS = 2048
UPSAMPLINGS = 3


@dataclass(frozen=True)
class GANConfig(FrameConfig):
    """latent : size of the random vector. channels : width of both networks.
    learning_rate : Adam step size of both networks. batch_size : sounds per step.
    feature_matching : weight of the generator's feature-matching term. augment : use DiffAugment.
    """

    latent: int = 32
    channels: int = 48
    learning_rate: float = 2e-4
    batch_size: int = 16
    feature_matching: float = 1.0
    augment: bool = True

    def validate(self) -> None:
        super().validate()
        check_range("latent", self.latent, 4, 512)
        check_range("channels", self.channels, 16, 1024)
        check_range("learning_rate", self.learning_rate, 0, 0.01, open_low=True)
        check_range("batch_size", self.batch_size, 2, 1024)
        check_range("feature_matching", self.feature_matching, 0, 100)


#: Settings of the family test matrix's tiny model.
TINY: dict[str, Any] = {"channels": 16, "latent": 8, "batch_size": 4}

PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"channels": 32, "batch_size": 8},
    "better": {"channels": 128, "latent": 64, "batch_size": 32},
}


class Generator(nn.Module):
    """(latent, condition) → standardised features ``[B, D, T_padded]``."""

    def __init__(self, latent: int, cond_dim: int, channels: int, out_dim: int, frames: int):
        super().__init__()
        self.start_frames = -(-frames // 2**UPSAMPLINGS)
        self.channels = channels
        self.embed = nn.Linear(cond_dim, 32)
        self.project = nn.Linear(latent + 32, channels * self.start_frames)
        blocks = []
        width = channels
        for i in range(UPSAMPLINGS):
            narrower = channels if i == 0 else max(16, channels // 2)
            blocks += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv1d(width, narrower, 5, padding=2),
                nn.LeakyReLU(0.2),
                nn.Conv1d(narrower, narrower, 5, padding=2),
                nn.LeakyReLU(0.2),
            ]
            width = narrower
        self.body = nn.Sequential(*blocks)
        self.out = nn.Conv1d(width, out_dim, 5, padding=2)

    def hidden(self, z: Tensor, condition: Tensor) -> Tensor:
        """The first hidden layer ``[B, channels · start_frames]`` (where GANSpace edits)."""
        return F.leaky_relu(self.project(torch.cat([z, self.embed(condition)], 1)), 0.2)

    def decode(self, hidden: Tensor) -> Tensor:
        x = hidden.reshape(hidden.shape[0], self.channels, self.start_frames)
        return self.out(self.body(x))

    def forward(self, z: Tensor, condition: Tensor) -> Tensor:
        return self.decode(self.hidden(z, condition))


class Discriminator(nn.Module):
    """Spectrally normalised 1-D CNN over ``frames`` time steps with a conditioning projection;
    returns (score, features)."""

    def __init__(self, in_dim: int, cond_dim: int, channels: int, frames: int):
        super().__init__()
        widths = [in_dim, channels // 2, channels, channels, 2 * channels]
        out_frames = frames // 2 ** (len(widths) - 2)
        self.layers = nn.ModuleList(
            spectral_norm(
                nn.Conv1d(a, b, 5, padding=2) if i == 0 else nn.Conv1d(a, b, 4, stride=2, padding=1)
            )
            for i, (a, b) in enumerate(zip(widths, widths[1:], strict=False))
        )
        # The score reads every time position (not a time average), so where the attack sits
        # and how the sound evolves is something the critic can judge.
        self.score = spectral_norm(nn.Linear(widths[-1] * out_frames, 1))
        self.embed = spectral_norm(nn.Linear(cond_dim, widths[-1]))

    def forward(self, x: Tensor, condition: Tensor) -> tuple[Tensor, list[Tensor]]:
        features = []
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2)
            features.append(x)
        pooled = x.mean(dim=-1)
        score = self.score(x.flatten(1))[:, 0] + (self.embed(condition) * pooled).sum(dim=1)
        return score, features


def diff_augment(x: Tensor, silence: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """DiffAugment for feature maps ``[B, D, T]``: shift in time, level offset, cutout.

    ``silence [D]`` is the standardised value of a silent frame, used to fill shifted-in and cut
    frames so augmentation never invents sound.
    """
    b, _, t = x.shape
    device = x.device
    # Level offset: ±6 dB on every partial and band alike, as a gain change would do.
    offset = (torch.rand(b, 1, 1, generator=generator) - 0.5).to(device) * 0.4
    x = x + offset
    # Shift later by up to 1/16 of the length (onsets stay at the start, so only delays).
    shift = torch.randint(0, max(1, t // 16), (b,), generator=generator).to(device)
    position = torch.arange(t, device=device)[None, :] - shift[:, None]  # [B, T]
    source = position.clamp_min(0)[:, None, :].expand_as(x)
    x = torch.where(position[:, None, :] >= 0, torch.gather(x, 2, source), silence[None, :, None])
    # Cutout: silence a random stretch of a quarter of the length.
    width = max(1, t // 4)
    start = torch.randint(0, t - width + 1, (b,), generator=generator).to(device)
    inside = (torch.arange(t, device=device)[None, :] >= start[:, None]) & (
        torch.arange(t, device=device)[None, :] < (start + width)[:, None]
    )
    return torch.where(inside[:, None, :], silence[None, :, None], x)


class GANModel(FrameFamily, nn.Module):
    """Conditional GAN over DDSP frame features; see the module docstring."""

    family = "gan"
    config_class = GANConfig
    PRESETS = PRESETS

    def __init__(self, config: GANConfig) -> None:
        nn.Module.__init__(self)
        FrameFamily.__init__(self, config)
        self.config: GANConfig = config
        d, k = config.feature_dim, int(config.n_partials)
        self.cond_dim = 1 + k
        self.padded_frames = -(-config.n_frames // 2**UPSAMPLINGS) * 2**UPSAMPLINGS
        ch = int(config.channels)
        self.generator = Generator(int(config.latent), self.cond_dim, ch, d, config.n_frames)
        self.discriminator = Discriminator(d, self.cond_dim, ch, self.padded_frames)
        self.register_buffer("feature_mean", torch.zeros(d))
        self.register_buffer("feature_std", torch.ones(d))
        hidden = ch * self.generator.start_frames
        self.register_buffer("space_mean", torch.zeros(hidden))
        self.register_buffer("space_axes", torch.zeros(AXES, hidden))
        self.register_buffer("space_std", torch.zeros(AXES))
        self.register_buffer("axis_names", torch.zeros(AXES, 2))  # descriptor index, r
        lr = float(config.learning_rate)
        self.optimizer = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(0.0, 0.99))
        self.d_optimizer = torch.optim.Adam(
            self.discriminator.parameters(), lr=lr, betas=(0.0, 0.99)
        )

    # features ------------------------------------------------------------------------------

    def _condition(self, layouts: Tensor) -> Tensor:
        pitch = (layouts[:, :1] - math.log2(261.63)) / 2.0
        return torch.cat([pitch, layouts[:, 1:] / 4.0], dim=1)

    def _silence(self) -> Tensor:
        return (level_to_feature(torch.zeros(1)) - self.feature_mean) / self.feature_std

    def _real(self, features: Tensor) -> Tensor:
        """``[B, T, D]`` features → standardised ``[B, D, T_padded]`` (padded with silence)."""
        x = (features.to(self.feature_mean.device) - self.feature_mean) / self.feature_std
        x = x.transpose(1, 2)
        pad = self.padded_frames - x.shape[-1]
        if pad:
            x = torch.cat([x, self._silence()[None, :, None].expand(x.shape[0], -1, pad)], dim=2)
        return x

    def _to_features(self, x: Tensor) -> Tensor:
        x = x[..., : self.config.n_frames].transpose(1, 2)
        return x * self.feature_std + self.feature_mean

    # learning ------------------------------------------------------------------------------

    def begin(self, clips: Any) -> None:
        """Feature statistics and partial layouts of the training sounds."""
        self._fit_statistics(clips.audio, clips.pitch)

    def _fit_statistics(self, audio: Tensor, pitch: Tensor | None) -> None:
        features, layouts = self.analyze(audio, pitch)
        self.remember_training_set(features, layouts)
        flat = features.reshape(-1, features.shape[-1])
        self.feature_mean = flat.mean(dim=0).to(self.feature_mean.device)
        self.feature_std = flat.std(dim=0).clamp_min(0.05).to(self.feature_std.device)

    def _augment(self, x: Tensor) -> Tensor:
        return diff_augment(x, self._silence()) if self.config.augment else x

    def step(self, batch: Batch) -> dict[str, float]:
        """One discriminator and one generator Adam step (hinge loss + feature matching)."""
        if self.layouts.shape[0] == 0:
            self._fit_statistics(batch.audio, batch.pitch)
        features, layouts = self.batch_frames(batch.audio, batch.pitch, batch.index)
        real = self._real(features)
        device = real.device
        condition = self._condition(layouts.to(device))
        b = real.shape[0]
        self.train()

        z = torch.randn(b, int(self.config.latent), device=device)
        with torch.no_grad():
            fake = self.generator(z, condition)
        real_score, _ = self.discriminator(self._augment(real), condition)
        fake_score, _ = self.discriminator(self._augment(fake), condition)
        d_loss = F.relu(1.0 - real_score).mean() + F.relu(1.0 + fake_score).mean()
        self.d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_optimizer.step()

        z = torch.randn(b, int(self.config.latent), device=device)
        fake = self.generator(z, condition)
        fake_score, fake_features = self.discriminator(self._augment(fake), condition)
        with torch.no_grad():
            _, real_features = self.discriminator(self._augment(real), condition)
        # Feature matching per channel and time position (batch means), so the generator is
        # pulled towards the real sounds' average evolution, not only their average content.
        matching = sum(
            (f.mean(dim=0) - r.mean(dim=0)).abs().mean()
            for f, r in zip(fake_features, real_features, strict=True)
        )
        g_loss = -fake_score.mean() + float(self.config.feature_matching) * matching
        self.optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        self.optimizer.step()
        return {
            "d_loss": float(d_loss.detach()),
            "g_loss": float(g_loss.detach()),
            "feature_matching": float(matching.detach()),
        }

    @torch.no_grad()
    def end(self, clips: Any) -> None:
        """GANSpace: principal axes of the first hidden layer over many draws, then their names."""
        self._require_layouts()
        generator = torch.Generator().manual_seed(0)
        device = self.feature_mean.device
        picks = torch.randint(self.layouts.shape[0], (GANSPACE_DRAWS,), generator=generator)
        z = torch.randn(GANSPACE_DRAWS, int(self.config.latent), generator=generator)
        condition = self._condition(self.layouts[picks].to(device))
        hidden = self.generator.hidden(z.to(device), condition)
        mean, axes, variances = pca(hidden.cpu(), AXES)
        self.space_mean = mean.to(device)
        self.space_axes[: axes.shape[0]] = axes.to(device)
        self.space_std[: axes.shape[0]] = variances.sqrt().to(device)
        positions = torch.linspace(-2.0, 2.0, 5)
        renders = {}
        for j in range(axes.shape[0]):
            audio = torch.cat(
                [self.generate({f"axis_{j + 1}": float(x)}, n=4, seed=1) for x in positions]
            )
            renders[j] = (positions.repeat_interleave(4), audio)
        for j, (descriptor, r) in name_axes(renders, self.sample_rate).items():
            self.axis_names[j] = torch.tensor([dsp.DESCRIPTOR_NAMES.index(descriptor), r])

    def state(self) -> dict[str, Tensor]:
        return dict(self.state_dict()) | {"layouts": self.layouts}

    def load_state(self, state: Mapping[str, Tensor]) -> None:
        if "layouts" not in state:
            raise ModelConfigError("gan state lacks layouts")
        self.load_state_dict({k: v for k, v in state.items() if k != "layouts"})
        self.layouts = state["layouts"].clone()

    def optimizer_state(self) -> dict[str, Tensor]:
        """Both Adam optimisers as flat tensors (``g.*`` generator, ``d.*`` discriminator)."""
        flat = {}
        for prefix, optimizer in (("g", self.optimizer), ("d", self.d_optimizer)):
            flat[f"{prefix}.lr"] = torch.tensor(optimizer.param_groups[0]["lr"])
            for index, entry in optimizer.state_dict()["state"].items():
                for key, value in entry.items():
                    flat[f"{prefix}.{index}.{key}"] = torch.as_tensor(value)
        return flat

    def load_optimizer_state(self, state: Mapping[str, Tensor]) -> None:
        for prefix, optimizer in (("g", self.optimizer), ("d", self.d_optimizer)):
            saved = optimizer.state_dict()
            entries: dict[int, dict[str, Tensor]] = {}
            for name, value in state.items():
                head, _, rest = name.partition(".")
                if head != prefix or rest == "lr":
                    continue
                index, _, key = rest.partition(".")
                entries.setdefault(int(index), {})[key] = value.clone()
            if f"{prefix}.lr" in state:
                for group in saved["param_groups"]:
                    group["lr"] = float(state[f"{prefix}.lr"])
            saved["state"] = entries
            optimizer.load_state_dict(saved)

    # playing -------------------------------------------------------------------------------

    def controls(self) -> list[Control]:
        controls = [
            Control(
                "truncation",
                "Variety",
                0.0,
                1.5,
                0.8,
                "σ",
                help="Spread of the random draw: low values give typical sounds, high ones odd",
            )
        ]
        for j in range(AXES):
            descriptor, r = self.axis_names[j].tolist()
            named = abs(r) >= NAMED_BELOW_R
            name = f" ≈ {dsp.DESCRIPTOR_NAMES[int(descriptor)]} (r = {r:+.2f})" if named else ""
            controls.append(
                Control(
                    f"axis_{j + 1}",
                    f"Axis {j + 1}{name}",
                    -3.0,
                    3.0,
                    0.0,
                    "σ",
                    help="Moves along a main direction of the generator's variety (GANSpace)",
                )
            )
        return controls

    @torch.no_grad()
    def generate(
        self,
        values: Mapping[str, float] | None = None,
        *,
        n: int = 1,
        seed: int | None = None,
        pitch: float | None = None,
    ) -> Tensor:
        """Draw ``n`` sounds ``[n, samples]``; partial layouts come from training sounds."""
        self._require_layouts()
        values = resolve_values(self.controls(), values)
        generator = seeded_generator(seed)
        n = int(n)
        picks = torch.randint(self.layouts.shape[0], (n,), generator=generator)
        layouts = transpose(self.layouts[picks], pitch)
        z = torch.randn(n, int(self.config.latent), generator=generator)
        z = z * float(values["truncation"])
        device = self.feature_mean.device
        was_training = self.training
        self.eval()
        hidden = self.generator.hidden(z.to(device), self._condition(layouts.to(device)))
        for j in range(AXES):
            hidden = hidden + values[f"axis_{j + 1}"] * self.space_std[j] * self.space_axes[j]
        features = self._to_features(self.generator.decode(hidden))
        self.train(was_training)
        return self.render(features, layouts, generator=generator)


def bench(options: Any) -> list[Any]:
    """``timbrelab bench --family gan``: see :func:`synth_core.models.frames.bench_frame_family`."""
    return bench_frame_family(GANModel, options, steps=5)


register(
    Family(
        name="gan",
        title="Generative adversarial network",
        summary="A generator of partial and noise levels trained against a critic",
        good_for="Crisp, varied one-shots once it has a few hundred examples to learn from",
        model_class=GANModel,
    )
)
