"""``rnn``: an autoregressive GRU over compact frames — sounds of any length.

Each training sound is analysed into DDSP frame features (partial and noise-band levels, see
:mod:`synth_core.models.frames`), reduced to their main principal axes at unit variance, and grouped ``group`` frames to a
step (4 × 5.8 ms ≈ 23 ms at the defaults) so the recurrence runs 43 steps per second of sound. A
GRU reads the previous step and a conditioning vector (pitch, loudness, partial layout) and predicts
a diagonal Gaussian over the next step; it learns by teacher forcing, minimising that Gaussian's
negative log-likelihood of the true next step (as in SampleRNN/DDSP-style frame models).

Learning uses β-NLL (see :meth:`RNNModel._nll`), which keeps the predicted means honest where
plain likelihood let them lag a step behind the sound.

Generation samples step after step — for as many seconds as asked (``seconds=``) — at a chosen
temperature, with noise correlated from frame to frame (:func:`correlated_noise`): white noise
fed back through the recurrence makes every partial flicker, which is not how a sound varies
(measured: docs/experiments/rnn-sampling-noise.md). It starts from the first step (≈ 23 ms) of
a training sound picked by the seed and renders with that sound's partial layout, or continues a
*primer*: a recording (a tensor, or an audio file read by :func:`synth_core.audio.load`) whose
first ``primer_seconds`` it takes instead.

A primer is analysed into the model's own frames and fed through the GRU teacher-forced, step by
step, which warms the recurrent state up on it; free sampling continues from the step after it.
The output *starts with the primer*, resynthesised from those frames (so it sounds like the
recording as this model hears it: its partials and noise bands, not the original samples), and
the continuation follows seamlessly. ``seconds`` is the length of the whole output; left out with
a primer, it is the primer's length plus one clip (``clip_seconds``) of continuation.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import scipy.signal
import torch
from torch import Tensor, nn

from synth_core import dsp, latent
from synth_core.errors import AudioFileError, ModelConfigError
from synth_core.models import Family, register
from synth_core.models.base import (
    Batch,
    Control,
    check_range,
    resolve_values,
    seeded_generator,
)
from synth_core.models.frames import (
    FrameConfig,
    FrameFamily,
    padded_pca,
    transpose,
)

if TYPE_CHECKING:
    from synth_core.dataset import ClipSet

logger = logging.getLogger(__name__)

LOG_STD_RANGE = (-4.0, 1.5)
MAX_SECONDS = 120.0


@dataclass(frozen=True)
class RNNConfig(FrameConfig):
    """group : frames per recurrent step. dims : principal axes kept per frame. hidden : GRU width. layers : stacked GRUs.
    learning_rate : Adam step size. batch_size : sounds per step. input_noise : σ of the noise
    added to teacher-forced inputs (in standard deviations), so the model learns to recover from
    its own small mistakes when it runs free. beta_nll : β of the β-NLL loss (0: plain Gaussian
    likelihood; see :meth:`RNNModel._nll`). noise_correlation : correlation from one frame to the
    next of the noise that sampling draws (0: white; see :func:`correlated_noise`)."""

    group: int = 4
    dims: int = 16
    hidden: int = 128
    layers: int = 1
    learning_rate: float = 2e-3
    batch_size: int = 16
    input_noise: float = 0.1
    beta_nll: float = 0.5
    noise_correlation: float = 0.97

    def validate(self) -> None:
        super().validate()
        check_range("dims", self.dims, 2, 128)
        check_range("group", self.group, 1, 16, unit="frames")
        check_range("hidden", self.hidden, 16, 2048)
        check_range("layers", self.layers, 1, 4)
        check_range("learning_rate", self.learning_rate, 0, 0.1, open_low=True)
        check_range("batch_size", self.batch_size, 1, 1024)
        check_range("input_noise", self.input_noise, 0, 1)
        check_range("beta_nll", self.beta_nll, 0, 1)
        check_range("noise_correlation", self.noise_correlation, 0, 0.999)

    def allocations(self) -> dict[str, int]:
        inputs = int(self.dims) * int(self.group) + 2 + int(self.n_partials)
        hidden = int(self.hidden)
        return super().allocations() | {
            "the GRU (hidden, layers, dims × group)": 3 * hidden * (inputs + hidden) * self.layers
        }


#: Settings of the family test matrix's tiny model.
TINY: dict[str, Any] = {"hidden": 32, "batch_size": 4}

PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"hidden": 96, "group": 6},
    "better": {"hidden": 256, "layers": 2},
}


def _pitch_feature(log2_f0: Tensor) -> Tensor:
    return (log2_f0 - math.log2(261.63)) / 2.0  # octaves from middle C, halved


def _loudness_feature(db: Tensor) -> Tensor:
    return (db + 20.0) / 10.0


class RNNModel(FrameFamily, nn.Module):
    """GRU next-step model over grouped DDSP frame features."""

    family = "rnn"
    config_class = RNNConfig
    PRESETS = PRESETS
    export_refusal = (
        "it samples a sound step by step from the GRU's predicted distribution, for as long as "
        "asked; there is no decoder from controls to audio"
    )
    takes_primer = True
    variable_length = True

    def __init__(self, config: RNNConfig) -> None:
        nn.Module.__init__(self)
        FrameFamily.__init__(self, config)
        self.config: RNNConfig = config
        d, g, k = config.feature_dim, int(config.group), int(config.n_partials)
        p = int(config.dims)
        self.step_dim = p * g
        self.cond_dim = 2 + k
        self.gru = nn.GRU(
            self.step_dim + self.cond_dim, int(config.hidden), int(config.layers), batch_first=True
        )
        self.head = nn.Linear(int(config.hidden), 2 * self.step_dim)
        # Frames are modelled on their main principal axes, scaled to unit variance: fewer,
        # decorrelated numbers per step make a diagonal Gaussian a better fit and learning faster.
        self.register_buffer("feature_mean", torch.zeros(d))
        self.register_buffer("frame_axes", torch.eye(p, d))
        self.register_buffer("axis_std", torch.ones(p))
        self.register_buffer("loudness_db", torch.zeros(0))  # per training sound
        # The first step of every training sound (standardised): without a primer, generation
        # starts from the attack of the training sound whose layout it borrows. A diagonal
        # Gaussian cannot choose between a bell's and a drum's attack on its own; after a real
        # first step the GRU knows which kind of sound it is continuing.
        self.register_buffer("openings", torch.zeros(0, self.step_dim))
        self._trained = list(self.parameters())
        self.primer: Tensor | None = None

    @functools.cached_property
    def optimizer(self) -> torch.optim.Optimizer:
        """Made on first use (see :attr:`SpectralAutoencoder.optimizer`)."""
        return torch.optim.Adam(self._trained, lr=float(self.config.learning_rate))

    # features ------------------------------------------------------------------------------

    def _standardise(self, features: Tensor) -> Tensor:
        return ((features - self.feature_mean) @ self.frame_axes.T) / self.axis_std

    def _unstandardise(self, coordinates: Tensor) -> Tensor:
        return (coordinates * self.axis_std) @ self.frame_axes + self.feature_mean

    def _to_steps(self, features: Tensor) -> Tensor:
        """``[B, T, D]`` standardised frames → ``[B, ceil(T / G), G·D]`` steps."""
        b, t, d = features.shape
        g = int(self.config.group)
        pad = (-t) % g
        if pad:
            features = torch.cat([features, features[:, -1:].expand(b, pad, d)], dim=1)
        return features.reshape(b, -1, g * d)

    def _from_steps(self, steps: Tensor, frames: int) -> Tensor:
        b = steps.shape[0]
        return steps.reshape(b, -1, int(self.config.dims))[:, :frames]

    def _condition(self, layouts: Tensor, loudness_db: Tensor) -> Tensor:
        return torch.cat(
            [
                _pitch_feature(layouts[:, :1]),
                _loudness_feature(loudness_db[:, None]),
                layouts[:, 1:] / 4.0,
            ],
            dim=1,
        )

    def _prepare(
        self, audio: Tensor, pitch: Tensor | None, index: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Audio → (standardised steps, conditioning, layouts), all on the model's device."""
        features, layouts = self.batch_frames(audio, pitch, index)
        loudness = dsp.loudness_db(audio.detach().cpu().float())
        device = self.feature_mean.device
        steps = self._to_steps(self._standardise(features.to(device)))
        return steps, self._condition(layouts.to(device), loudness.to(device)), layouts

    # learning ------------------------------------------------------------------------------

    def begin(self, clips: ClipSet) -> None:
        """Feature statistics and the partial layouts of the training sounds."""
        self._fit_statistics(clips.audio, clips.pitch)

    def _fit_statistics(self, audio: Tensor, pitch: Tensor | None) -> None:
        features, layouts = self.analyse_training(audio, pitch)
        self.remember_training_set(features, layouts)
        flat = features.reshape(-1, features.shape[-1])
        device = self.feature_mean.device
        # tiny data may have fewer axes than asked; the rest stay unused (zero rows)
        mean, axes, std = padded_pca(flat, int(self.config.dims), std_floor=1e-3)
        self.feature_mean, self.frame_axes, self.axis_std = (
            mean.to(device),
            axes.to(device),
            std.to(device),
        )
        self.loudness_db = dsp.loudness_db(audio.detach().cpu().float()).to(
            self.feature_mean.device
        )
        self.openings = self._to_steps(self._standardise(features.to(self.feature_mean.device)))[
            :, 0
        ]

    def _nll(self, steps: Tensor, condition: Tensor, *, noise: float, beta: float = 0.0) -> Tensor:
        """Teacher-forced Gaussian negative log-likelihood of ``steps``, mean per dimension.

        With ``beta`` > 0 each term is weighted by the predicted variance to the power β, held
        constant in the gradient (β-NLL, Seitzer et al., 2022, "On the pitfalls of
        heteroscedastic uncertainty estimation"). Plain NLL lets a model explain a hard
        prediction by a wide σ instead of a better mean, since the mean's gradient shrinks as
        1/σ²; this GRU did exactly that where a sound changes fastest, after the attack, and
        learned to repeat the last step (teacher-forced error of the step after the opening 0.52,
        of later steps 0.03–0.12, on the built-in training clips after 4 CPU-minutes). With
        β = 0.5 the same run predicts them with errors 0.07 and ~0.01, and its free-running
        output follows the sound it starts from (error 0.09–0.12 instead of 0.52–0.67).
        """
        inputs = torch.cat([torch.zeros_like(steps[:, :1]), steps[:, :-1]], dim=1)
        if noise > 0:
            inputs = inputs + noise * torch.randn_like(inputs)
        conditioned = torch.cat(
            [inputs, condition[:, None, :].expand(-1, inputs.shape[1], -1)], dim=2
        )
        hidden, _ = self.gru(conditioned)
        mean, log_std = self.head(hidden).chunk(2, dim=-1)
        return gaussian_nll(steps, mean, log_std.clamp(*LOG_STD_RANGE), beta=beta)

    def step(self, batch: Batch) -> dict[str, float]:
        """One Adam step of teacher-forced next-step likelihood on ``batch``."""
        if self.layouts.shape[0] == 0:
            self._fit_statistics(batch.audio, batch.pitch)
        steps, condition, _ = self._prepare(batch.audio, batch.pitch, batch.index)
        self.train()
        loss = self._nll(
            steps,
            condition,
            noise=float(self.config.input_noise),
            beta=float(self.config.beta_nll),
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(self.parameters(), 1.0)
        self.optimizer.step()
        return {"nll": float(loss.detach()), "grad_norm": float(norm)}

    def validate(self, batch: Batch) -> dict[str, float]:
        steps, condition, _ = self._prepare(batch.audio, batch.pitch)
        with torch.no_grad():
            return {"nll": float(self._nll(steps, condition, noise=0.0))}

    def state(self) -> dict[str, Tensor]:
        return dict(self.state_dict()) | {"layouts": self.layouts} | self.floor_state()

    def load_state(self, state: Mapping[str, Tensor]) -> None:
        if "layouts" not in state:
            raise ModelConfigError("rnn state lacks layouts")
        data = {"layouts"} | set(self.floor_state())
        weights = {k: v for k, v in state.items() if k not in data}
        # Data-sized buffers are re-allocated, not copied into.
        self.loudness_db = weights["loudness_db"].clone()
        self.openings = weights["openings"].clone()
        self.load_state_dict(weights)
        self.layouts = state["layouts"].clone()
        self.load_floor(state)

    # playing -------------------------------------------------------------------------------

    def set_primer(self, primer: Tensor | str | Path | None) -> None:
        """Set what generation continues: mono audio ``[samples]`` at ``sample_rate``, an audio
        file (any rate or channel count; resampled and mixed to mono), or None for no primer.

        The ``primer_seconds`` control ("Primer length") then appears, running up to the
        primer's length and defaulting to all of it; None removes it again.

        Raises
        ------
        AudioFileError
            When the file is missing, unreadable, or shorter than one frame (names the file).
        ModelConfigError
            When a tensor is not mono audio of at least one frame.
        """
        self.primer = None if primer is None else self._primer_audio(primer)

    def _primer_audio(self, primer: Tensor | str | Path) -> Tensor:
        if not isinstance(primer, Tensor):
            return read_primer(primer, sample_rate=self.sample_rate, hop=self.config.hop)
        if primer.ndim != 1 or primer.shape[0] < self.config.hop:
            raise ModelConfigError(
                f"a primer must be mono audio [samples] of at least {self.config.hop} samples"
            )
        return primer.detach().float().cpu()

    def controls(self) -> list[Control]:
        return self._controls(self.primer)

    def _controls(self, primer: Tensor | None) -> list[Control]:
        """Temperature and loudness; with a primer set, also "Primer length" (0 to the primer's
        length, default all of it). Without one there is nothing for it to measure, so it is not
        offered (a slider running 0–120 s that does nothing only confuses)."""
        typical = float(self.loudness_db.median()) if self.loudness_db.numel() else -20.0
        typical = min(max(typical, -60.0), 0.0)
        controls = [
            Control(
                "temperature",
                "Temperature",
                0.0,
                1.5,
                0.7,
                help="0 plays the most likely sound; higher values take more chances each step",
            ),
            Control(
                "loudness",
                "Loudness",
                -60.0,
                0.0,
                round(typical, 1),
                "dB",
                help="Asks for a sound as loud as this (loudest 100 ms, dBFS)",
            ),
        ]
        if primer is not None:
            longest = min(primer.shape[0] / self.sample_rate, MAX_SECONDS)
            controls.append(
                Control(
                    "primer_seconds",
                    "Primer length",
                    0.0,
                    longest,
                    longest,
                    "s",
                    help="How much of the primer recording to continue from (0 ignores it)",
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
        seconds: float | None = None,
        primer: Tensor | str | Path | None = None,
    ) -> Tensor:
        """Sample ``n`` sounds of ``seconds``, ``[n, samples]``.

        ``seconds`` defaults to the clip length, or with a primer to the primer's used part
        plus the clip length. ``primer`` (audio ``[samples]`` or a file, as for
        :meth:`set_primer`) overrides the one set, for this call only; ``values`` are read
        against the primer in use (its length is ``primer_seconds``' range).
        """
        self._require_layouts()
        if seconds is not None:
            check_range("seconds", seconds, 0.05, MAX_SECONDS, unit="s")
        # Read once: the GUI may set another primer while this runs on a worker thread.
        primer_audio = self.primer if primer is None else self._primer_audio(primer)
        values = dict(values or {})
        if primer_audio is None and values.get("primer_seconds", 0.0) == 0.0:
            values.pop("primer_seconds", None)  # "none of the primer" needs no primer
        values = resolve_values(self._controls(primer_audio), values)
        generator = seeded_generator(seed)
        prefix, layouts = self._primer_steps(primer_audio, values, int(n), generator, seed)
        if seconds is None:
            seconds = float(self.config.clip_seconds)
            if float(values.get("primer_seconds", 0.0)) > 0:
                primed = prefix.shape[1] * int(self.config.group) * int(self.config.hop)
                seconds = min(primed / self.sample_rate + seconds, MAX_SECONDS)
        samples = int(round(seconds * self.sample_rate))
        frames = self.settings.n_frames(samples)
        g = int(self.config.group)
        n_steps = -(-frames // g)
        layouts = transpose(layouts, pitch)
        loudness = torch.full((int(n),), float(values["loudness"]))
        device = self.feature_mean.device
        condition = self._condition(layouts.to(device), loudness.to(device))
        was_training = self.training
        self.eval()
        steps = self._sample(condition, prefix, n_steps, float(values["temperature"]), generator)
        self.train(was_training)
        features = self._unstandardise(self._from_steps(steps, frames))
        return self.render(features, layouts, generator=generator, samples=samples)

    def _primer_steps(
        self,
        primer: Tensor | None,
        values: Mapping[str, float],
        n: int,
        generator: torch.Generator,
        seed: int | None = None,
    ) -> tuple[Tensor, Tensor]:
        """The known steps generation is teacher-forced through, and the layouts it renders with.

        Without a primer: the opening step of a training sound picked by the seed (consecutive
        seeds, different sounds: :func:`synth_core.latent.seeded_anchors`), and its layout.
        With one: the primer's first ``primer_seconds`` in whole steps, and the layout analysed
        from it.
        """
        keep = float(values.get("primer_seconds", 0.0))
        if primer is None or keep <= 0:
            picks = latent.seeded_anchors(self.layouts.shape[0], seed, n, generator)
            return self.openings[picks][:, None].cpu(), self.layouts[picks]
        audio = primer[: max(self.config.hop, int(keep * self.sample_rate))]
        steps, _, layouts = self._prepare(audio[None], None)
        # Whole steps only, so the continuation starts on a step boundary.
        whole = max(1, (audio.shape[0] // self.config.hop) // int(self.config.group))
        return steps[:, :whole].expand(n, -1, -1).cpu(), layouts.expand(n, -1)

    def _sample(
        self,
        condition: Tensor,
        prefix: Tensor,
        n_steps: int,
        temperature: float,
        generator: torch.Generator,
    ) -> Tensor:
        """Run the GRU free for ``n_steps`` steps (teacher-forced through ``prefix``).

        The cells are unrolled by hand (same equations as ``torch.nn.GRU``) with the constant
        conditioning folded into the input bias: one call of ``nn.GRU`` per step costs several
        times more than the arithmetic at batch 1.
        """
        n = condition.shape[0]
        device = condition.device
        g, dims = int(self.config.group), int(self.config.dims)
        noise = correlated_noise(
            (n, n_steps * g, dims), float(self.config.noise_correlation), generator
        )
        noise = noise.reshape(n, n_steps, self.step_dim).to(device)
        layers = []
        for layer in range(int(self.config.layers)):
            w_ih = getattr(self.gru, f"weight_ih_l{layer}")
            w_hh = getattr(self.gru, f"weight_hh_l{layer}")
            b_ih = getattr(self.gru, f"bias_ih_l{layer}")
            b_hh = getattr(self.gru, f"bias_hh_l{layer}")
            if layer == 0:
                b_ih = b_ih + condition @ w_ih[:, self.step_dim :].T  # [n, 3H]
                w_ih = w_ih[:, : self.step_dim]
            layers.append((w_ih.T.contiguous(), w_hh.T.contiguous(), b_ih, b_hh))
        hidden = [torch.zeros(n, int(self.config.hidden), device=device) for _ in layers]
        head_w, head_b = self.head.weight.T.contiguous(), self.head.bias
        previous = torch.zeros(n, self.step_dim, device=device)
        known = prefix.to(device)
        outputs = []
        for u in range(n_steps):
            x = previous
            for i, (w_ih, w_hh, b_ih, b_hh) in enumerate(layers):
                gi = torch.addmm(b_ih, x, w_ih)
                gh = torch.addmm(b_hh, hidden[i], w_hh)
                i_r, i_z, i_n = gi.chunk(3, dim=1)
                h_r, h_z, h_n = gh.chunk(3, dim=1)
                reset = torch.sigmoid(i_r + h_r)
                update = torch.sigmoid(i_z + h_z)
                candidate = torch.tanh(i_n + reset * h_n)
                hidden[i] = candidate + update * (hidden[i] - candidate)
                x = hidden[i]
            if u < known.shape[1]:
                current = known[:, u]
            else:
                mean, log_std = torch.addmm(head_b, x, head_w).chunk(2, dim=1)
                spread = torch.exp(log_std.clamp(*LOG_STD_RANGE))
                current = torch.addcmul(mean, spread, noise[:, u], value=temperature)
            outputs.append(current)
            previous = current
        return torch.stack(outputs, dim=1)


def gaussian_nll(target: Tensor, mean: Tensor, log_std: Tensor, *, beta: float = 0.0) -> Tensor:
    """Mean Gaussian negative log-likelihood (constant ½ log 2π left out), each term weighted
    by σ^(2β) held constant in the gradient (β-NLL; β = 0 is the plain likelihood, β = 1 gives
    the mean the gradient of squared error whatever σ is)."""
    nll = 0.5 * ((target - mean) * torch.exp(-log_std)).square() + log_std
    if beta > 0:
        nll = nll * torch.exp(2 * beta * log_std).detach()
    return nll.mean()


def correlated_noise(
    shape: tuple[int, int, int], correlation: float, generator: torch.Generator | None
) -> Tensor:
    """Standard Gaussian noise ``[n, frames, dims]`` whose frames follow an AR(1) process,
    ``e_t = ρ e_{t-1} + √(1 − ρ²) w_t``: each value is still N(0, 1), but a draw that comes out
    brighter or louder than the model expects stays so for ~1/(1 − ρ) frames instead of
    flickering from frame to frame (ρ = 0: white noise)."""
    white = torch.randn(*shape, generator=generator)
    if correlation <= 0:
        return white
    rho = float(correlation)
    gain = math.sqrt(1.0 - rho * rho)
    values = white.double().numpy()
    values[:, 0] /= gain  # so the first frame, like every later one, has unit variance
    filtered = scipy.signal.lfilter([gain], [1.0, -rho], values, axis=1)
    return torch.from_numpy(filtered).float()


def read_primer(path: str | Path, *, sample_rate: int, hop: int) -> Tensor:
    """A primer file as mono float32 ``[samples]`` at ``sample_rate``.

    Raises
    ------
    AudioFileError
        When the file is missing or unreadable (from :func:`synth_core.audio.load`), or shorter
        than one analysis frame of ``hop`` samples — both name the file.
    """
    from synth_core import audio as audio_io

    clip = audio_io.load(path, sample_rate=int(sample_rate), mono=True)
    if clip.frames < int(hop):
        raise AudioFileError(
            f"is too short to use as a primer ({clip.frames} samples at {sample_rate} Hz; "
            f"at least {hop} are needed)",
            path=path,
        )
    return torch.from_numpy(clip.samples.copy())


register(
    Family(
        name="rnn",
        title="Recurrent network",
        summary="A GRU that writes a sound frame by frame, for any length",
        good_for="Textures, drones and evolving sounds; continuing a recording you give it",
        model_class=RNNModel,
    )
)
