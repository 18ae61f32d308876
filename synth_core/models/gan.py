"""``gan``: a spectrogram autoencoder whose new sounds come from an instance-conditioned GAN.

Representation and decoder: those of ``cnn`` (:mod:`synth_core.models.spectral`: standardised
log-magnitude STFT, an eigen-sound linear part plus a convolutional correction, Griffin-Lim
rendering, texture), trained on the same spectral loss. What the GAN learns is *where new sounds
lie* among the training sounds' latents.

Generator: ``G(z, c_i)``, with ``c_i`` the latent of training sound i (standardised per
dimension) and z Gaussian noise, writes how far a draw moves from sound i towards each of its
``neighbours`` nearest sounds: ``α = reach · softmax(g)`` over the sound and its neighbours,
without the sound's own share, so a draw ``l_i + Σ_j α_j (l_j − l_i)`` stays among them and
goes at most ``reach`` of the way. The sound's own logit starts 3 higher, so an untrained
generator makes near-copies. Critic: ``D(l, c_i)``, which sees sound i itself or one of its
neighbours as real examples for ``c_i`` (instance conditioning, Casanova et al., 2021,
"IC-GAN"). Loss: the non-saturating GAN loss with an R1 penalty on real examples (Mescheder et
al., 2018), and a mode-seeking term (Mao et al., 2019, "MSGAN", weight ``diversity``) that
rewards two noise draws for one sound for landing apart; without it the generator ignores z.
Sounds are drawn from an exponential moving average of the generator's weights (``ema``), which
smooths the oscillation of its last steps (Yazıcı et al., 2019).

Training: each step is one autoencoder step on a batch, whose encoder latents replace those
clips' rows of the table the GAN learns from, then ``gan_steps`` critic + generator steps on
that table (two small MLPs). The GAN so follows the latents as the autoencoder learns them, a
run resumes from its checkpoint alone, and one budget covers both. The GAN's draws come from a
generator seeded by the step, so they are the same in every process of a data-parallel run and
after a resume (see :meth:`GANModel.step`).

Why moves towards neighbours, bounded to a quarter of the way: a few hundred points do not teach
a GAN the shape of a latent of hundreds of dimensions, so a free generator draws between kinds of
sound, and with the whole way in reach it learns to copy a neighbour exactly. With a few hundred
training sounds the GAN does not make sounds more real than the autoencoder's own neighbour
draws (the decoder sets how real they sound); what it learns is, per sound, which neighbours to
move towards and how far. Measured: docs/experiments/gan-latent-gan.md.

Controls: "Variety" (the spread of z: 0 gives each sound's most typical move), the main axes
of the latent over the generator's draws (GANSpace, Härkönen et al., 2020, taken at the output
rather than a hidden layer, so a slider moves the sound the same way for every seed), named by
the descriptor each changes most, and "Grain" (texture). Pitch-conditioned when labels exist
(the decoder is); a seed picks the training sound to vary.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synth_core import distributed, dsp, latent
from synth_core.errors import ModelConfigError
from synth_core.model_export.spectral import SpectralExport, spectral_export
from synth_core.models import Family, register
from synth_core.models.base import Batch, Control, check_range, safe_audio
from synth_core.models.spectral import (
    GRAIN,
    SPECTRAL_PRESETS,
    SPECTRAL_TINY,
    SpectralAutoencoder,
    SpectralConfig,
)

if TYPE_CHECKING:
    from synth_core.dataset import ClipSet

# draws whose latents give the sliders' axes (their PCA) and names (descriptors of their renders)
AXIS_DRAWS = 256
# the sound's own softmax logit starts 3 above its neighbours': an untrained generator makes
# near-copies (each move 4 % of the reach), not blends
ANCHOR_LOGIT = 3.0
# the GAN's draws at autoencoder step s, GAN step i come from a generator seeded with
# DRAW_SEED + s * 64 + i (gan_steps is at most 64)
DRAW_SEED = 0x6A4E


@dataclass(frozen=True)
class GANConfig(SpectralConfig):
    """``SpectralConfig`` (the autoencoder) plus the GAN's settings.

    noise : size of the generator's random input z. hidden : width of both MLPs' layers.
    neighbours : nearest training sounds (by latent) that a draw may move towards, and that the
    critic sees as real examples for a sound. gan_steps : critic + generator steps per
    autoencoder step. gan_learning_rate : Adam step size of both. gan_batch : draws per GAN
    step. r1 : weight of the critic's gradient penalty. diversity : weight of the mode-seeking
    term. ema : decay of the moving average of the generator's weights that draws come from.
    reach : the farthest a draw moves from its training sound, as a fraction of the way to its
    neighbours (all its moves added up).
    """

    noise: int = 16
    hidden: int = 256
    neighbours: int = 3
    gan_steps: int = 2
    gan_learning_rate: float = 2e-4
    gan_batch: int = 32
    r1: float = 5.0
    diversity: float = 0.3
    ema: float = 0.999
    reach: float = 0.25

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GANConfig:
        if "n_partials" in data:  # both earlier designs rendered DDSP frames; this one does not
            raise ModelConfigError(
                "this gan model was saved by an earlier Timbre Lab, whose GAN wrote DDSP frame "
                "features; the gan is now a spectrogram model: train it again"
            )
        return super().from_dict(data)

    def validate(self) -> None:
        super().validate()
        check_range("noise", self.noise, 1, 512)
        check_range("hidden", self.hidden, 8, 4096)
        check_range("neighbours", self.neighbours, 1, 64)
        check_range("gan_steps", self.gan_steps, 0, 64)
        check_range("gan_learning_rate", self.gan_learning_rate, 0, 0.01, open_low=True)
        check_range("gan_batch", self.gan_batch, 2, 1024)
        check_range("r1", self.r1, 0, 1000)
        check_range("diversity", self.diversity, 0, 10)
        check_range("ema", self.ema, 0, 0.99999)
        check_range("reach", self.reach, 0, 1, open_low=True)

    def allocations(self) -> dict[str, int]:
        hidden, dim = int(self.hidden), self.latent_dim
        generator = (int(self.noise) + dim + hidden + int(self.neighbours) + 1) * hidden
        critic = (2 * dim + hidden + 1) * hidden
        return super().allocations() | {
            "the GAN networks (hidden, noise, latent_dim)": 2 * generator + critic
        }


# the autoencoder's presets (a quick model has smaller GAN networks too: they are a fifth of a
# quick starter's weights at width 256) and the matrix's tiny size, plus a small GAN for the latter
PRESETS: dict[str, dict[str, Any]] = SPECTRAL_PRESETS | {
    "quick": SPECTRAL_PRESETS["quick"] | {"hidden": 128}
}
TINY: dict[str, Any] = SPECTRAL_TINY | {"hidden": 16, "noise": 4, "neighbours": 2, "gan_batch": 4}

VARIETY = Control(
    "variety",
    "Variety",
    0.0,
    2.0,
    1.0,
    "σ",
    help="Spread of the generator's random draw: 0 gives each sound's most typical variation, "
    "higher values wander further among its neighbours",
)


def _mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, outputs),
    )


class GANModel(SpectralAutoencoder):
    """The cnn's autoencoder plus an instance-conditioned GAN over its latents; see the module
    docstring."""

    family: ClassVar[str] = "gan"
    config_class: ClassVar[type[SpectralConfig]] = GANConfig
    variational: ClassVar[bool] = False
    PRESETS: ClassVar[dict[str, dict]] = PRESETS

    config: GANConfig

    def __init__(self, config: GANConfig) -> None:
        super().__init__(config)
        dim, width = config.latent_dim, int(config.hidden)
        self.generator = _mlp(int(config.noise) + dim, width, int(config.neighbours) + 1)
        # every move starts at the same small α, whatever the noise and the sound
        nn.init.zeros_(self.generator[-1].weight)
        nn.init.zeros_(self.generator[-1].bias)
        self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
        self.critic = _mlp(2 * dim, width, 1)
        # per-dimension centre and scale of the latents, for the networks' inputs
        self.register_buffer("latent_shift", torch.zeros(dim))
        self.register_buffer("latent_scale", torch.ones(dim))
        self._near: Tensor | None = None
        self._last_latents: Tensor | None = None
        self._autoencoder = [
            p for name, p in self.named_parameters() if name.startswith(("encoder", "decoder"))
        ]

    # the optimisers are made on first use (see SpectralAutoencoder.optimizer): playing never
    # steps them
    @functools.cached_property
    def optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self._autoencoder, lr=self.config.learning_rate)

    @functools.cached_property
    def g_optimizer(self) -> torch.optim.Optimizer:
        lr = float(self.config.gan_learning_rate)
        return torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(0.5, 0.9))

    @functools.cached_property
    def d_optimizer(self) -> torch.optim.Optimizer:
        lr = float(self.config.gan_learning_rate)
        return torch.optim.Adam(self.critic.parameters(), lr=lr, betas=(0.5, 0.9))

    # the latent table ------------------------------------------------------------------------

    def begin(self, clips: ClipSet) -> None:
        """The autoencoder's statistics, then every clip's latent under the untrained encoder
        (the GAN's first table; training steps refresh it)."""
        super().begin(clips)
        device = self.bin_mean.device
        latents = []
        for start in range(0, len(clips), 64):
            audio = clips.audio[start : start + 64].to(device)
            latents.append(self.encode(audio, pitch=clips.pitch[start : start + 64]))
        self.train_latents = torch.cat(latents)
        self._refresh_table()

    def _refresh_table(self) -> None:
        """Recompute the latents' scale and each sound's nearest neighbours."""
        table = self.train_latents
        self._near = None
        if table.shape[0] < 2:
            return
        self.latent_shift = table.mean(0)
        self.latent_scale = table.std(0).clamp_min(1e-3)
        k = min(int(self.config.neighbours), table.shape[0] - 1)
        distances = torch.cdist(table, table)
        distances.fill_diagonal_(float("inf"))
        self._near = distances.topk(k, largest=False).indices

    def neighbours(self) -> Tensor:
        """``[N, k]``: each training sound's nearest training sounds by latent."""
        if self._near is None or self._near.shape[0] != self.train_latents.shape[0]:
            self._refresh_table()
        assert self._near is not None, "neighbours need two or more training latents"
        return self._near

    def _condition(self, latents: Tensor) -> Tensor:
        return (latents - self.latent_shift) / self.latent_scale

    def moves(self, net: nn.Module, anchors: Tensor, z: Tensor) -> Tensor:
        """``[n, k]``: how far each draw moves towards each of its sound's ``k`` neighbours,
        ``reach`` × a softmax over the sound and its neighbours (the sound's own share is how
        much stays put), so the moves add up to at most ``reach``."""
        k = self.neighbours().shape[1]
        logits = net(torch.cat([z, self._condition(self.train_latents[anchors])], dim=1))
        logits = torch.cat([logits[:, :1] + ANCHOR_LOGIT, logits[:, 1 : k + 1]], dim=1)
        return float(self.config.reach) * torch.softmax(logits, dim=1)[:, 1:]

    def place(self, anchors: Tensor, alpha: Tensor) -> Tensor:
        """Latents ``[n, D]``: each anchor's latent moved by ``alpha`` towards its neighbours."""
        table = self.train_latents
        start = table[anchors]
        towards = table[self.neighbours()[anchors]] - start[:, None]
        return start + torch.einsum("nk,nkd->nd", alpha, towards)

    # learning --------------------------------------------------------------------------------

    def encode_spectrum(self, spec: Tensor, cond: Tensor) -> tuple[Tensor, Tensor | None]:
        mean, logvar = super().encode_spectrum(spec, cond)
        self._last_latents = mean.detach()  # what a training step's batch encoded to
        return mean, logvar

    def step(self, batch: Batch) -> dict[str, float]:
        """One autoencoder step, whose latents replace those clips' rows of the table, then
        ``gan_steps`` GAN steps on the table.

        Over several processes (``--nproc``) each encodes its share of the batch, the
        autoencoder's gradients are averaged (:class:`~synth_core.distributed.GradientSync`),
        and the encoded rows of every share are gathered (:func:`~synth_core.distributed.
        all_gather_rows`) so every process writes the rows of the whole batch: the table, and
        the neighbours and scale taken from it, stay the same everywhere. The GAN steps then
        run whole in every process, on the same table with the same step-seeded draws, so they
        make the same updates without any reduction (:meth:`averaged_modules`): at the default
        size the critic and generator hold 0.7 M weights to the autoencoder's 0.44 M, and
        reducing their gradients, twice for the critic, in each of ``gan_steps`` steps would
        send 6 times what the autoencoder's gradients do, for two small MLPs on ``gan_batch``
        draws that cost little to compute. Each time the neighbours are recomputed (about once
        an epoch) every process takes rank 0's GAN weights, so kernels that are not bit-exact
        (GPUs of different kinds) cannot make the processes drift apart.
        """
        self._last_latents = None
        out = super().step(batch)
        rows, encoded = batch.index, self._last_latents
        if rows is not None and encoded is not None and len(rows) == len(encoded):
            rows, encoded = distributed.all_gather_rows(rows, encoded)
            rows = rows.to(self.train_latents.device)
            if len(rows) and int(rows.max()) < self.train_latents.shape[0]:
                self.train_latents[rows] = encoded
        # the neighbours follow the latents about once an epoch
        epoch = self.train_latents.shape[0] // int(self.config.batch_size)
        if int(self.steps_done) % max(1, epoch) == 0:
            self._refresh_table()
            for net in (self.generator, self.generator_ema, self.critic):
                distributed.broadcast_module(net)
        gan: dict[str, float] = {}
        for i in range(int(self.config.gan_steps)):
            draws = torch.Generator().manual_seed(DRAW_SEED + int(self.steps_done) * 64 + i)
            gan = self.adversarial_step(draws)
        return out | gan

    def averaged_modules(self) -> list[nn.Module]:
        """The networks whose gradients ``--nproc`` averages over processes: the autoencoder's
        (the GAN steps are the same in every process; see :meth:`step`)."""
        return [self.encoder, self.decoder]

    def adversarial_step(self, draws: torch.Generator | None = None) -> dict[str, float]:
        """One critic and one generator step on the latent table; the moving average follows.

        ``draws`` (a CPU generator; torch's global one when None) picks the anchors, examples
        and noise.
        """
        table = self.train_latents
        if table.shape[0] < 2:
            return {}
        cfg = self.config
        device = table.device
        near = self.neighbours()
        b, k = int(cfg.gan_batch), near.shape[1]
        anchors = torch.randint(table.shape[0], (b,), generator=draws).to(device)
        # the real example for each anchor: itself or one of its neighbours
        pick = torch.randint(k + 1, (b,), generator=draws).to(device)
        examples = torch.where(pick == 0, anchors, near[anchors, (pick - 1).clamp_min(0)])
        condition = self._condition(table[anchors])
        real = self._condition(table[examples]).requires_grad_(True)
        with torch.no_grad():
            z = torch.randn(b, int(cfg.noise), generator=draws).to(device)
            fake = self._condition(self.place(anchors, self.moves(self.generator, anchors, z)))
        real_score = self.critic(torch.cat([real, condition], dim=1))
        fake_score = self.critic(torch.cat([fake, condition], dim=1))
        (gradient,) = torch.autograd.grad(real_score.sum(), real, create_graph=True)
        penalty = gradient.square().sum(dim=1).mean()
        d_loss = F.softplus(-real_score).mean() + F.softplus(fake_score).mean()
        self.d_optimizer.zero_grad(set_to_none=True)
        (d_loss + 0.5 * float(cfg.r1) * penalty).backward()
        self.d_optimizer.step()

        z = torch.randn(2, b, int(cfg.noise), generator=draws).to(device)
        alpha = self.moves(self.generator, anchors.repeat(2), z.flatten(0, 1))
        fake = self._condition(self.place(anchors, alpha[:b]))
        g_loss = F.softplus(-self.critic(torch.cat([fake, condition], dim=1))).mean()
        # mode seeking: two draws for one sound should differ as their noise does (capped at 1)
        spread = (alpha[:b] - alpha[b:]).abs().mean(1) / (z[0] - z[1]).abs().mean(1)
        seeking = spread.clamp(max=1.0).mean()
        self.g_optimizer.zero_grad(set_to_none=True)
        (g_loss - float(cfg.diversity) * seeking).backward()
        self.g_optimizer.step()
        with torch.no_grad():
            for average, current in zip(
                self.generator_ema.parameters(), self.generator.parameters(), strict=True
            ):
                average.lerp_(current, 1.0 - float(cfg.ema))
        return {
            "d_loss": float(d_loss.detach()),
            "g_loss": float(g_loss.detach()),
            "r1": float(penalty.detach()),
            "move": float(alpha.detach().mean()),
        }

    @torch.no_grad()
    def fit_sliders(self, clips: ClipSet) -> None:
        """The sliders: main axes of the generator's draws from the final latents, each named
        after the descriptor its renders follow most."""
        self._refresh_table()
        if self.train_latents.shape[0] < 2:
            return
        generator = torch.Generator().manual_seed(0)
        anchors = torch.randint(self.train_latents.shape[0], (AXIS_DRAWS,), generator=generator)
        z = torch.randn(AXIS_DRAWS, int(self.config.noise), generator=generator)
        device = self.bin_mean.device
        anchors = anchors.to(device)
        draws = self.place(anchors, self.moves(self.generator_ema, anchors, z.to(device)))
        pitches = self.train_pitches[anchors] if bool(self.pitched) else None
        parts: dict[str, list[Tensor]] = {}
        for i in range(0, AXIS_DRAWS, 32):  # rendered and described 32 at a time (memory)
            pitch = None if pitches is None else pitches[i : i + 32]
            audio = safe_audio(self.render(self.decode(draws[i : i + 32], pitch), pitch)).cpu()
            known = torch.full((audio.shape[0],), float("nan")) if pitch is None else pitch.cpu()
            for name, value in dsp.descriptors(audio, self.sample_rate, known).items():
                parts.setdefault(name, []).append(value.cpu())
        values = {name: torch.cat(value) for name, value in parts.items()}
        self.axes = latent.fit_axes(draws, values)
        self.axes = latent.LatentAxes(*(t.to(device) for t in vars(self.axes).values()))

    # playing ---------------------------------------------------------------------------------

    def controls(self) -> list[Control]:
        shown = latent.axis_controls(self.axes, self.config.n_controls) + [VARIETY]
        shown += [latent.NOVELTY] if self.draws_new_sounds else []
        return shown + ([GRAIN] if self._has_texture() else [])

    def draw_latents(
        self, values: Mapping[str, float], *, n: int, seed: int | None, generator: torch.Generator
    ) -> tuple[Tensor, Tensor | None]:
        """The generator's moves from the training sounds the seed picks, then the novelty
        offset (:func:`synth_core.latent.novelty_offset`) and the sliders."""
        count = self.train_latents.shape[0]
        if count < 2:
            return super().draw_latents(values, n=n, seed=seed, generator=generator)
        device = self.bin_mean.device
        anchors = latent.seeded_anchors(count, seed, n, generator).to(device)
        z = torch.randn(n, int(self.config.noise), generator=generator) * float(values["variety"])
        draws = self.place(anchors, self.moves(self.generator_ema, anchors, z.to(device)))
        table, amount = self.train_latents, self.novelty_amount(values)
        draws = draws + latent.novelty_offset(table, self.axes, anchors, amount, generator)
        return draws + latent.slider_offset(self.axes, values).to(device), anchors.cpu()

    def export_module(self) -> SpectralExport:
        """The standalone encoder, decoder and renderer (see :mod:`synth_core.model_export`)."""
        return spectral_export(self)

    # state -----------------------------------------------------------------------------------

    def load_state(self, state: Mapping[str, Tensor]) -> None:
        super().load_state(state)
        self._near = None

    def optimizer_state(self) -> dict[str, Tensor]:
        """The three Adam optimisers as flat tensors (``ae.*``, ``g.*``, ``d.*``)."""
        flat = {}
        for prefix, optimizer in self._optimizers():
            flat[f"{prefix}.lr"] = torch.tensor(optimizer.param_groups[0]["lr"])
            for index, entry in optimizer.state_dict()["state"].items():
                for key, value in entry.items():
                    flat[f"{prefix}.{index}.{key}"] = torch.as_tensor(value)
        return flat

    def load_optimizer_state(self, state: Mapping[str, Tensor]) -> bool:
        for prefix, optimizer in self._optimizers():
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
        return True

    def _optimizers(self) -> tuple[tuple[str, torch.optim.Optimizer], ...]:
        return (("ae", self.optimizer), ("g", self.g_optimizer), ("d", self.d_optimizer))


register(
    Family(
        name="gan",
        title="Generative adversarial network",
        summary="Spectrogram autoencoder whose new sounds a GAN places among the training sounds",
        good_for="New takes on each sound of a set of one-shots, close to what you gave it",
        model_class=GANModel,
    )
)
