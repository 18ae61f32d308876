"""``gan``: an instance-conditioned GAN over compact codes of whole sounds; minutes on a CPU.

Representation: each sound's DDSP frame features (partial and noise-band levels over time, see
:mod:`synth_core.models.frames`), flattened and projected on their ``code_dims`` principal axes
at unit variance — a *code* per sound, as the gmm uses. A code decodes linearly back to frame
features, which the DDSP-style synthesiser renders with a training sound's partial layout.

Model: a generator MLP ``G(z, c_i) → code`` and a discriminator MLP ``D(code, c_i)``, both
*instance-conditioned* (Casanova et al., 2021, "Instance-Conditioned GAN"): ``c_i`` is the code
of training sound i, and the real examples the critic sees for ``c_i`` are sound i itself or one
of its ``neighbours`` nearest sounds by code. The generator so learns the variety *around* each
training sound — which a few hundred clips can teach in CPU-minutes — rather than the whole set
at once. Loss: the non-saturating GAN loss (Goodfellow et al., 2014) with an R1 gradient penalty
on real examples (Mescheder et al., 2018), which keeps training stable without normalising the
critic. A training step is two small MLP updates (~2 ms), so thousands fit in a minute.

Why codes and not whole feature maps: a 1-D convolutional GAN over the frame-feature maps
(spectral norm, hinge loss, feature matching, DiffAugment, with or without the instance
conditioning) trained 10 minutes on the built-in sounds gave generations the 1-NN two-sample test
told apart from real ones 99–100 % of the time, whatever its latent draw (it had learned to ignore
z). This model reaches 0.87 ± 0.02 on the built-in test split (``timbrelab evaluate --repeats
3`` after ``--max-minutes 10``: 0.867 ± 0.018; 0.871 ± 0.012 with 32 code axes), at its
representation's own ceiling (the training codes rendered back: 0.857; 0.829 with 32 code axes,
0.812 with 64), with draws about one nearest-neighbour distance away
from the sound they vary — new sounds, not copies. It was 0.914 until near-floor levels played
as silence (:data:`synth_core.models.frames.DB_SILENT`).

Why not a GAN over the spectral autoencoder's latents, whose rendered training latents score
about 0.69: an instance-conditioned GAN like this one over a trained cnn's latents (their first
32 or 128 principal axes, 3 000–20 000 steps, with or without a residual generator) scored
0.88–0.96, its draws pulled halfway to the mean of the latents (norm 6 against 11), where the
decoder makes sounds between kinds; a few hundred points in a latent of hundreds of dimensions
do not teach a GAN their shape. The vae and cnn draw between neighbours instead.

Controls: "Variety" (the spread of z) and GANSpace directions (Härkönen et al., 2020): principal
axes of the generator's first hidden layer over many random draws, each named after the
descriptor it changes most. A seed picks the training sound to vary; ``pitch`` transposes its
partial layout.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synth_core import dsp, latent
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
    name_axes,
    padded_pca,
    pca,
    transpose,
)

logger = logging.getLogger(__name__)

AXES = 4
GANSPACE_DRAWS = 2048


@dataclass(frozen=True)
class GANConfig(FrameConfig):
    """latent : size of the random vector. hidden : width of both networks' layers.
    code_dims : principal axes in a sound's code. neighbours : nearest training sounds (by code)
    that count as real examples for a sound's code. learning_rate : Adam step size of both
    networks. batch_size : codes per step. r1 : weight of the critic's gradient penalty.
    """

    latent: int = 16
    hidden: int = 256
    code_dims: int = 16
    neighbours: int = 5
    learning_rate: float = 2e-4
    batch_size: int = 32
    r1: float = 5.0

    def validate(self) -> None:
        super().validate()
        check_range("latent", self.latent, 2, 512)
        check_range("hidden", self.hidden, 16, 4096)
        check_range("code_dims", self.code_dims, 2, 128)
        check_range("neighbours", self.neighbours, 0, 64)
        check_range("learning_rate", self.learning_rate, 0, 0.01, open_low=True)
        check_range("batch_size", self.batch_size, 2, 1024)
        check_range("r1", self.r1, 0, 1000)


#: Settings of the family test matrix's tiny model.
TINY: dict[str, Any] = {"hidden": 32, "latent": 4, "code_dims": 4, "batch_size": 4}

PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"hidden": 128},
    "better": {"hidden": 512, "latent": 32},
}


def _mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, outputs),
    )


class Generator(nn.Module):
    """(z, instance code) → code; ``hidden`` is the first layer, where GANSpace edits."""

    def __init__(self, latent: int, code_dims: int, width: int) -> None:
        super().__init__()
        self.net = _mlp(latent + code_dims, width, code_dims)

    def hidden(self, z: Tensor, instance: Tensor) -> Tensor:
        return self.net[0](torch.cat([z, instance], dim=1))

    def decode(self, hidden: Tensor) -> Tensor:
        return self.net[1:](hidden)

    def forward(self, z: Tensor, instance: Tensor) -> Tensor:
        return self.decode(self.hidden(z, instance))


class GANModel(FrameFamily, nn.Module):
    """Instance-conditioned GAN over sound codes; see the module docstring."""

    family = "gan"
    config_class = GANConfig
    PRESETS = PRESETS

    def __init__(self, config: GANConfig) -> None:
        nn.Module.__init__(self)
        FrameFamily.__init__(self, config)
        self.config: GANConfig = config
        p, width = int(config.code_dims), int(config.hidden)
        self.generator = Generator(int(config.latent), p, width)
        self.discriminator = _mlp(2 * p, width, 1)
        flat = config.n_frames * config.feature_dim
        self.register_buffer("code_mean", torch.zeros(flat))
        self.register_buffer("code_axes", torch.zeros(p, flat))
        self.register_buffer("code_std", torch.ones(p))
        # the code of every training sound (data-sized, like the layouts)
        self.register_buffer("instances", torch.zeros(0, p))
        self.register_buffer("space_mean", torch.zeros(width))
        self.register_buffer("space_axes", torch.zeros(AXES, width))
        self.register_buffer("space_std", torch.zeros(AXES))
        self.register_buffer("axis_names", torch.zeros(AXES, 2))  # descriptor index, r
        self._neighbours: Tensor | None = None
        lr = float(config.learning_rate)
        self.optimizer = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(0.5, 0.9))
        self.d_optimizer = torch.optim.Adam(
            self.discriminator.parameters(), lr=lr, betas=(0.5, 0.9)
        )

    # codes ---------------------------------------------------------------------------------

    def _codes(self, features: Tensor) -> Tensor:
        """Features ``[N, T, D]`` → codes ``[N, code_dims]`` (unit variance per axis)."""
        flat = features.flatten(1).to(self.code_mean.device)
        return ((flat - self.code_mean) @ self.code_axes.T) / self.code_std

    def _features(self, codes: Tensor) -> Tensor:
        """Codes ``[N, code_dims]`` → features ``[N, T, D]``."""
        flat = (codes * self.code_std) @ self.code_axes + self.code_mean
        return flat.reshape(codes.shape[0], self.config.n_frames, self.config.feature_dim)

    def _neighbour_table(self) -> Tensor:
        """``[N, 1 + neighbours]``: each training sound, then its nearest sounds by code."""
        if self._neighbours is None or self._neighbours.shape[0] != self.instances.shape[0]:
            codes = self.instances.detach().cpu()
            k = min(int(self.config.neighbours), codes.shape[0] - 1)
            distances = torch.cdist(codes, codes)
            distances.fill_diagonal_(-1.0)  # the sound itself comes first
            self._neighbours = distances.topk(k + 1, largest=False).indices
        return self._neighbours

    # learning ------------------------------------------------------------------------------

    def begin(self, clips: Any) -> None:
        """Codes and partial layouts of the training sounds."""
        self._fit_codes(clips.audio, clips.pitch)

    def _fit_codes(self, audio: Tensor, pitch: Tensor | None) -> None:
        features, layouts = self.analyze(audio, pitch)
        self.remember_training_set(features, layouts)
        flat = features.flatten(1)
        mean, axes, std = padded_pca(flat, int(self.config.code_dims), std_floor=1e-4)
        device = self.code_mean.device
        self.code_mean, self.code_axes, self.code_std = (
            mean.to(device),
            axes.to(device),
            std.to(device),
        )
        self.instances = self._codes(features)
        self._neighbours = None
        logger.info("gan: %d sounds, codes of %d numbers", features.shape[0], axes.shape[0])

    def step(self, batch: Batch) -> dict[str, float]:
        """One critic and one generator Adam step on ``batch_size`` training sounds' codes."""
        if self.instances.shape[0] == 0:
            self._fit_codes(batch.audio, batch.pitch)
        self.train()
        codes = self.instances
        device = codes.device
        b, table = int(self.config.batch_size), self._neighbour_table()
        anchors = torch.randint(codes.shape[0], (b,))
        # the real example for each anchor: itself or one of its nearest sounds
        examples = table[anchors, torch.randint(table.shape[1], (b,))]
        condition = codes[anchors.to(device)]
        real = codes[examples.to(device)].requires_grad_(True)
        z = torch.randn(b, int(self.config.latent), device=device)
        with torch.no_grad():
            fake = self.generator(z, condition)
        real_score = self.discriminator(torch.cat([real, condition], dim=1))
        fake_score = self.discriminator(torch.cat([fake, condition], dim=1))
        (gradient,) = torch.autograd.grad(real_score.sum(), real, create_graph=True)
        penalty = gradient.square().sum(dim=1).mean()
        d_loss = F.softplus(-real_score).mean() + F.softplus(fake_score).mean()
        self.d_optimizer.zero_grad(set_to_none=True)
        (d_loss + 0.5 * float(self.config.r1) * penalty).backward()
        self.d_optimizer.step()

        z = torch.randn(b, int(self.config.latent), device=device)
        fake = self.generator(z, condition)
        g_loss = F.softplus(-self.discriminator(torch.cat([fake, condition], dim=1))).mean()
        self.optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        self.optimizer.step()
        return {
            "d_loss": float(d_loss.detach()),
            "g_loss": float(g_loss.detach()),
            "r1": float(penalty.detach()),
        }

    @torch.no_grad()
    def end(self, clips: Any) -> None:
        """GANSpace: principal axes of the first hidden layer over many draws, then their names."""
        self._require_layouts()
        generator = torch.Generator().manual_seed(0)
        device = self.instances.device
        picks = torch.randint(self.instances.shape[0], (GANSPACE_DRAWS,), generator=generator)
        z = torch.randn(GANSPACE_DRAWS, int(self.config.latent), generator=generator)
        hidden = self.generator.hidden(z.to(device), self.instances[picks.to(device)])
        mean, axes, variances = pca(hidden.cpu(), AXES)
        self.space_mean = mean.to(device)
        self.space_axes = torch.zeros_like(self.space_axes)
        self.space_axes[: axes.shape[0]] = axes.to(device)
        self.space_std = torch.zeros_like(self.space_std)
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
        weights = {k: v for k, v in state.items() if k != "layouts"}
        if "instances" not in weights or "code_axes" not in weights:
            raise ModelConfigError(
                "this gan model was saved by an earlier Timbre Lab (a GAN over whole feature "
                "maps); train it again"
            )
        self.instances = weights["instances"].clone()  # data-sized: re-allocated, not copied into
        self._neighbours = None
        self.load_state_dict(weights)
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
                1.0,
                "σ",
                help="Spread of the random draw: low values stay close to typical variations of "
                "the chosen sound, high ones wander further",
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

    def encode(self, audio: Tensor) -> Tensor:
        """Codes ``[n, code_dims]`` of ``audio`` ``[n, samples]``."""
        self._require_layouts()
        features, _ = self.analyze(self.fit_length(audio))
        return self._codes(features).cpu()

    def reconstruct(self, audio: Tensor, *, pitch: Tensor | None = None) -> Tensor:
        """Each sound through its code and back, rendered with its own partials (a GAN has no
        encoder: this is what its representation keeps of a sound)."""
        self._require_layouts()
        features, layouts = self.analyze(self.fit_length(audio), pitch)
        with torch.no_grad():
            rebuilt = self._features(self._codes(features)).cpu()
        out = self.render(
            rebuilt, layouts, generator=torch.Generator().manual_seed(0), samples=audio.shape[-1]
        )
        return out

    @torch.no_grad()
    def generate(
        self,
        values: Mapping[str, float] | None = None,
        *,
        n: int = 1,
        seed: int | None = None,
        pitch: float | None = None,
    ) -> Tensor:
        """Draw ``n`` sounds ``[n, samples]``: each a variation of a training sound picked by the
        seed, rendered with that sound's partial layout (transposed to ``pitch`` when given)."""
        self._require_layouts()
        values = resolve_values(self.controls(), values)
        generator = seeded_generator(seed)
        n = int(n)
        # consecutive seeds vary different training sounds
        picks = latent.seeded_anchors(self.instances.shape[0], seed, n, generator)
        layouts = transpose(self.layouts[picks], pitch)
        z = torch.randn(n, int(self.config.latent), generator=generator)
        z = z * float(values["truncation"])
        device = self.instances.device
        was_training = self.training
        self.eval()
        hidden = self.generator.hidden(z.to(device), self.instances[picks.to(device)])
        for j in range(AXES):
            hidden = hidden + values[f"axis_{j + 1}"] * self.space_std[j] * self.space_axes[j]
        features = self._features(self.generator.decode(hidden))
        self.train(was_training)
        return self.render(features, layouts, generator=generator)


def bench(options: Any) -> list[Any]:
    """``timbrelab bench --family gan``: see :func:`synth_core.models.frames.bench_frame_family`."""
    return bench_frame_family(GANModel, options, steps=20)


register(
    Family(
        name="gan",
        title="Generative adversarial network",
        summary="A generator of variations of each training sound, trained against a critic",
        good_for="New takes on each sound of a set of one-shots; trains in a minute or two",
        model_class=GANModel,
    )
)
