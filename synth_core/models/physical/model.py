"""The physical family as a :class:`SoundModel` and :class:`Learner`.

Untrained, a ``PhysicalModel`` is one instrument played from its sliders. Trained on a folder, it
holds a table with one row per training clip: the instrument that matched the clip best and that
instrument's parameters as 0–1 slider positions. ``begin`` fills the table by analysis and random
search, every ``step`` takes one Adam step of multi-resolution STFT loss on the clips of the batch,
and ``generate`` then samples from the table (the folder as a distribution of parameters).

It trains in one process (``--nproc`` refuses it, :data:`synth_core.distributed.
SINGLE_PROCESS_REASONS`): every step moves only the batch's own rows, with no weights shared
between clips, so there is no gradient for processes to average, and ``begin``'s search, most of
a run's time, would be repeated in each.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor

from synth_core.errors import ModelConfigError
from synth_core.models.base import (
    Batch,
    BuiltinModel,
    Control,
    ModelConfig,
    TrainableModel,
    resolve_values,
    seeded_generator,
)
from synth_core.models.physical.common import (
    Instrument,
    finish,
    to_normalised,
)
from synth_core.models.physical.matching import (
    estimate_decay,
    estimate_first_partial,
    estimate_hold,
    mrstft_distance,
    positions_to_params,
    trainable_mask,
)
from synth_core.models.physical.modal import BAR, BELL, MARIMBA, MEMBRANE
from synth_core.models.physical.strings import STRING
from synth_core.models.physical.tube import TUBE

if TYPE_CHECKING:
    from synth_core.dataset import ClipSet
    from synth_core.models.physical.export import PhysicalExport

log = logging.getLogger(__name__)

INSTRUMENT_TABLE: dict[str, Instrument] = {
    i.name: i for i in (STRING, BAR, MARIMBA, BELL, MEMBRANE, TUBE)
}
INSTRUMENTS: tuple[str, ...] = tuple(f"physical:{name}" for name in INSTRUMENT_TABLE)
WIDTH = max(len(i.controls) for i in INSTRUMENT_TABLE.values())
_ADAM = (0.9, 0.999, 1e-8)
NOISE_CONTROLS = {"noise", "snare"}


@dataclass(frozen=True)
class PhysicalConfig(ModelConfig):
    """Settings of the physical family.

    instrument : one of the instrument names, or "auto" to let sound matching choose per clip.
    candidates : random parameter settings tried per instrument and clip before gradient descent.
    learning_rate : Adam step size, in slider positions (0–1) per step.
    match_seconds : how much of each clip the loss looks at, s.
    fit_steps : gradient steps ``reconstruct`` takes on new inputs.
    spread : how far ``generate`` wanders around a fitted clip's settings, in slider positions.
    """

    instrument: str = "auto"
    candidates: int = 6
    learning_rate: float = 0.02
    match_seconds: float = 0.5
    fit_steps: int = 20
    spread: float = 0.04

    def validate(self) -> None:
        super().validate()
        if self.instrument != "auto" and self.instrument not in INSTRUMENT_TABLE:
            raise ModelConfigError(
                f"unknown physical instrument {self.instrument!r}; choose auto or one of: "
                + ", ".join(INSTRUMENT_TABLE)
            )
        if not 1 <= self.candidates <= 256:
            raise ModelConfigError(f"candidates {self.candidates} is outside 1–256")
        if not 0 < self.learning_rate <= 1:
            raise ModelConfigError(f"learning_rate {self.learning_rate} is outside (0, 1]")
        if not 0.05 <= self.match_seconds <= 10:
            raise ModelConfigError(f"match_seconds {self.match_seconds} is outside 0.05–10 s")
        if not 0 <= self.fit_steps <= 1000:
            raise ModelConfigError(f"fit_steps {self.fit_steps} is outside 0–1000")
        if not 0 <= self.spread <= 0.5:
            raise ModelConfigError(f"spread {self.spread} is outside 0–0.5")


# Named presets for ``timbrelab train --preset``; TINY is what the family-matrix tests build.
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"candidates": 4, "match_seconds": 0.4},
    "better": {"candidates": 12, "match_seconds": 1.0, "fit_steps": 40},
}
TINY: dict[str, Any] = {"candidates": 2, "match_seconds": 0.25, "fit_steps": 2}


class PhysicalModel(TrainableModel):
    """Physical instruments behind the common model interface; see the module docstring."""

    family: ClassVar[str] = "physical"
    config_class: ClassVar[type[PhysicalConfig]] = PhysicalConfig
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = PRESETS

    def __init__(self, config: PhysicalConfig | None = None) -> None:
        self.config = config or PhysicalConfig()
        self.config.validate()
        self.sample_rate = int(self.config.sample_rate)
        self._choices = self._allowed()
        # The fitted table: one row per training clip.
        self.table_instrument = torch.zeros(0, dtype=torch.int64)
        self.table_positions = torch.zeros(0, WIDTH)
        self.table_loss = torch.zeros(0)
        self._current = torch.zeros(0, WIDTH)  # where Adam is; table_positions keeps the best
        self._adam_m = torch.zeros(0, WIDTH)
        self._adam_v = torch.zeros(0, WIDTH)
        self._adam_t = torch.zeros(0)

    @classmethod
    def from_config(cls, config: PhysicalConfig | Mapping[str, Any] | None = None, **_: Any):
        if isinstance(config, Mapping):
            config = PhysicalConfig.from_dict(config)
        return cls(config)

    @classmethod
    def builtin_models(cls) -> list[BuiltinModel]:
        """Every instrument, playable in tune before any training."""
        return [
            BuiltinModel(
                id=f"physical:{name}",
                family="physical",
                title=instrument.title,
                description="Physical model, playable without training; "
                f"pitch is its {instrument.pitch_is}",
            )
            for name, instrument in INSTRUMENT_TABLE.items()
        ]

    @classmethod
    def from_builtin(cls, name: str) -> PhysicalModel:
        return instrument_model(name)

    # ----------------------------------------------------------------------------- instruments
    def _allowed(self) -> list[Instrument]:
        if self.config.instrument == "auto":
            return list(INSTRUMENT_TABLE.values())
        return [INSTRUMENT_TABLE[self.config.instrument]]

    @property
    def fitted(self) -> bool:
        return self.table_instrument.numel() > 0

    @property
    def instrument(self) -> Instrument:
        """The instrument the sliders play: the configured one, or the one most clips chose."""
        if self.fitted:
            counts = torch.bincount(self.table_instrument, minlength=len(INSTRUMENT_TABLE))
            return list(INSTRUMENT_TABLE.values())[int(counts.argmax())]
        return self._choices[0]

    def _index(self, instrument: Instrument) -> int:
        return list(INSTRUMENT_TABLE).index(instrument.name)

    def _rows_of(self, instrument: Instrument) -> Tensor:
        return torch.nonzero(self.table_instrument == self._index(instrument)).flatten()

    def controls(self) -> list[Control]:
        """The dominant instrument's parameters; after training the defaults are the median of
        what the clips that chose it were fitted to."""
        instrument = self.instrument
        if not self.fitted:
            return list(instrument.controls)
        median = self.table_positions[self._rows_of(instrument)].median(dim=0).values
        controls = []
        for i, control in enumerate(instrument.controls):
            default = control.from_normalised(float(median[i]))
            default = min(max(default, control.minimum), control.maximum)
            controls.append(
                Control(
                    control.name,
                    control.label,
                    control.minimum,
                    control.maximum,
                    default,
                    control.unit,
                    control.curve,
                    control.help,
                )
            )
        return controls

    # ------------------------------------------------------------------------------- rendering
    def render_positions(
        self,
        instrument: Instrument,
        positions: Tensor,
        *,
        samples: int,
        generator: torch.Generator,
        normalise: bool = True,
    ) -> Tensor:
        """Render ``[batch, width]`` slider positions of one instrument, ``[batch, samples]``."""
        params = positions_to_params(instrument, positions)
        audio = instrument.render(
            params, samples=samples, sample_rate=self.sample_rate, generator=generator
        )
        return finish(audio) if normalise else audio

    def generate(
        self,
        values: Mapping[str, float] | None = None,
        *,
        n: int = 1,
        seed: int | None = None,
        pitch: float | None = None,
    ) -> Tensor:
        """Render ``n`` notes, float32 ``[n, clip_samples]``, peak 0.9, no DC.

        With ``values`` (or untrained) the dominant instrument plays those settings; a trained
        model given no values samples clips' fitted settings, slightly varied.
        """
        if n < 1:
            raise ModelConfigError(f"n must be at least 1, got {n}")
        generator = seeded_generator(seed)
        samples = self.config.clip_samples
        if pitch is not None:
            values = {**(values or {}), "pitch": pitch}
        if self.fitted and not {k for k in (values or {}) if k != "pitch"}:
            return self._sample_table(n, generator, samples, values)
        instrument = self.instrument
        resolved = resolve_values(self.controls(), values)
        row = torch.tensor([c.to_normalised(resolved[c.name]) for c in instrument.controls])
        positions = torch.zeros(n, WIDTH, dtype=torch.float64)
        positions[:, : row.numel()] = row
        with torch.no_grad():
            audio = self.render_positions(
                instrument, positions, samples=samples, generator=generator
            )
        return audio.float()

    def _sample_table(
        self,
        n: int,
        generator: torch.Generator,
        samples: int,
        values: Mapping[str, float] | None,
    ) -> Tensor:
        rows = torch.randint(0, self.table_instrument.numel(), (n,), generator=generator)
        jitter = self.config.spread * torch.randn(n, WIDTH, generator=generator)
        out = torch.zeros(n, samples)
        for instrument in self._choices:
            chosen = torch.nonzero(self.table_instrument[rows] == self._index(instrument)).flatten()
            if chosen.numel() == 0:
                continue
            positions = self.table_positions[rows[chosen]] + jitter[chosen]
            positions[:, 0] = self.table_positions[rows[chosen], 0]  # keep the fitted pitch
            if values and "pitch" in values:
                control = instrument.controls[0]
                positions[:, 0] = control.to_normalised(control.check(values["pitch"]))
            with torch.no_grad():
                out[chosen] = self.render_positions(
                    instrument, positions.clamp(0, 1).double(), samples=samples, generator=generator
                ).float()
        return out

    def reconstruct(self, audio: Tensor) -> Tensor:
        """Fit each input (analysis, search, ``fit_steps`` gradient steps) and re-render it."""
        audio = _as_batch(audio)
        instrument_ids, positions, _ = self.fit(audio, steps=self.config.fit_steps)
        out = torch.zeros(audio.shape[0], audio.shape[-1])
        generator = seeded_generator(0)
        for index, instrument in enumerate(INSTRUMENT_TABLE.values()):
            chosen = torch.nonzero(instrument_ids == index).flatten()
            if chosen.numel():
                with torch.no_grad():
                    out[chosen] = self.render_positions(
                        instrument,
                        positions[chosen].double(),
                        samples=audio.shape[-1],
                        generator=generator,
                    ).float()
        return out

    def export_module(self, *, seed: int = 0) -> PhysicalExport:
        """The sliders' instrument as a standalone module whose notes carry the noise of
        ``seed`` (see :mod:`synth_core.models.physical.export`)."""
        from synth_core.models.physical.export import physical_export

        return physical_export(self, seed=seed)

    # -------------------------------------------------------------------------------- matching
    def fit(
        self, audio: Tensor, *, pitch: Tensor | None = None, steps: int = 0
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Match each clip of ``audio`` ``[n, samples]``: instrument ids ``[n]``, slider
        positions ``[n, width]`` and the final MR-STFT distance ``[n]``."""
        audio = _as_batch(audio)
        ids, best, best_loss = self._search(audio, pitch)
        current = best.clone()
        m = torch.zeros_like(current)
        v = torch.zeros_like(current)
        t = torch.zeros(audio.shape[0])
        with torch.enable_grad():  # callers such as ``reconstruct`` may run under no_grad
            for _ in range(steps):
                before = current.clone()
                loss = self._descend(audio, ids, current, m, v, t)
                _keep_best(best, best_loss, before, loss)
        return ids, best, best_loss

    def _match_length(self, audio: Tensor) -> int:
        return min(audio.shape[-1], int(self.config.match_seconds * self.sample_rate))

    def _search(self, audio: Tensor, pitch: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """Pitch from ``pitch`` (refined by analysis) or analysis alone, the rest by a random
        search over every allowed instrument; defaults are always among the candidates."""
        count = audio.shape[0]
        samples = self._match_length(audio)
        target = audio[:, :samples]
        estimate = estimate_first_partial(audio, self.sample_rate)
        if pitch is not None:
            known = torch.isfinite(pitch.double())
            close = (estimate - pitch.double()).abs() < 0.75
            estimate = torch.where(known & ~close, pitch.double(), estimate)
        estimate = torch.nan_to_num(estimate, nan=60.0)
        decay = estimate_decay(audio, self.sample_rate)
        attack, hold = estimate_hold(audio, self.sample_rate)
        guesses = {"decay": decay, "attack": attack, "hold": hold}
        generator = seeded_generator(0)
        best_loss = torch.full((count,), math.inf)
        best_ids = torch.zeros(count, dtype=torch.int64)
        best_positions = torch.zeros(count, WIDTH)
        for instrument in self._choices:
            defaults = torch.tensor([c.to_normalised(c.default) for c in instrument.controls])
            pitch_control = instrument.controls[0]
            names = [c.name for c in instrument.controls]
            pitch_position = to_normalised(pitch_control, estimate).float()
            for candidate in range(self.config.candidates):
                positions = torch.zeros(count, WIDTH)
                if candidate <= 1:
                    positions[:, : len(defaults)] = defaults
                    if candidate == 1:  # the defaults without breath noise or snare wires
                        for name in NOISE_CONTROLS & set(names):
                            positions[:, names.index(name)] = 0.0
                else:
                    positions[:, : len(defaults)] = torch.rand(
                        count, len(defaults), generator=generator
                    )
                positions[:, 0] = pitch_position
                # Analysis gives envelope times to within a factor of two or so; the first
                # candidate takes them as they are, the others spread around them.
                for name, guess in guesses.items():
                    if name not in names:
                        continue
                    if candidate:
                        guess = guess * torch.exp(0.5 * torch.randn(count, generator=generator))
                    column = names.index(name)
                    positions[:, column] = to_normalised(
                        instrument.controls[column], guess.double()
                    ).float()
                with torch.no_grad():
                    rendered = self.render_positions(
                        instrument, positions.double(), samples=samples, generator=generator
                    )
                    loss = mrstft_distance(rendered, target)
                better = loss < best_loss
                best_loss = torch.where(better, loss, best_loss)
                best_ids = torch.where(better, self._index(instrument), best_ids)
                best_positions[better] = positions[better]
        return best_ids, best_positions, best_loss

    def _descend(
        self, target: Tensor, ids: Tensor, positions: Tensor, m: Tensor, v: Tensor, t: Tensor
    ) -> Tensor:
        """One Adam step (Kingma & Ba 2015) on each row of ``positions``, in place."""
        samples = self._match_length(target)
        losses = torch.zeros(target.shape[0])
        beta1, beta2, eps = _ADAM
        for index, instrument in enumerate(INSTRUMENT_TABLE.values()):
            rows = torch.nonzero(ids == index).flatten()
            if rows.numel() == 0:
                continue
            leaf = positions[rows].clone().requires_grad_(True)
            rendered = self.render_positions(
                instrument, leaf.double(), samples=samples, generator=seeded_generator(0)
            )
            loss = mrstft_distance(rendered, target[rows, :samples])
            (grad,) = torch.autograd.grad(loss.sum(), leaf)
            grad = torch.nan_to_num(grad) * trainable_mask(instrument, WIDTH)
            t[rows] += 1
            m[rows] = beta1 * m[rows] + (1 - beta1) * grad
            v[rows] = beta2 * v[rows] + (1 - beta2) * grad * grad
            m_hat = m[rows] / (1 - beta1 ** t[rows])[:, None]
            v_hat = v[rows] / (1 - beta2 ** t[rows])[:, None]
            step = self.config.learning_rate * m_hat / (v_hat.sqrt() + eps)
            positions[rows] = (positions[rows] - step).clamp(0.0, 1.0)
            losses[rows] = loss.detach()
        return losses

    # --------------------------------------------------------------------------------- Learner
    def begin(self, clips: ClipSet) -> None:
        """Fill the per-clip table: analysis and random search on every training clip."""
        audio = _as_batch(clips.audio)
        pitch = clips.pitch
        ids, positions, loss = [], [], []
        for start in range(0, audio.shape[0], 32):
            part = slice(start, start + 32)
            found = self._search(audio[part], None if pitch is None else pitch[part])
            ids.append(found[0])
            positions.append(found[1])
            loss.append(found[2])
        self.table_instrument = torch.cat(ids)
        self.table_positions = torch.cat(positions)
        self.table_loss = torch.cat(loss)
        self._current = self.table_positions.clone()
        self._adam_m = torch.zeros_like(self.table_positions)
        self._adam_v = torch.zeros_like(self.table_positions)
        self._adam_t = torch.zeros(self.table_positions.shape[0])
        log.info(
            "physical: matched %d clips, mean MR-STFT %.3f",
            len(loss),
            float(self.table_loss.mean()),
        )

    def step(self, batch: Batch) -> dict[str, float]:
        """One Adam step of MR-STFT loss on the fitted settings of the batch's clips."""
        if not self.fitted:
            raise ModelConfigError("physical: step() before begin(); the Trainer calls begin first")
        if batch.index is None:
            raise ModelConfigError("physical: sound matching needs batch.index (clip positions)")
        rows = batch.index.long().cpu()
        if int(rows.max()) >= self.table_instrument.numel():
            raise ModelConfigError(
                f"physical: clip index {int(rows.max())} is beyond the "
                f"{self.table_instrument.numel()} clips matched in begin()"
            )
        positions = self._current[rows].clone()
        before = positions.clone()
        m, v, t = self._adam_m[rows].clone(), self._adam_v[rows].clone(), self._adam_t[rows].clone()
        with torch.enable_grad():
            loss = self._descend(
                batch.audio.detach().float().cpu(), self.table_instrument[rows], positions, m, v, t
            )
        self._current[rows] = positions
        self._adam_m[rows], self._adam_v[rows], self._adam_t[rows] = m, v, t
        best, best_loss = self.table_positions[rows], self.table_loss[rows]
        _keep_best(best, best_loss, before, loss)
        self.table_positions[rows], self.table_loss[rows] = best, best_loss
        return {"loss": float(loss.mean()), "mrstft": float(loss.mean())}

    def end(self, clips: ClipSet) -> None:
        counts = torch.bincount(self.table_instrument, minlength=len(INSTRUMENT_TABLE))
        log.info(
            "physical: instruments chosen %s",
            {name: int(c) for name, c in zip(INSTRUMENT_TABLE, counts, strict=True) if c},
        )

    def state(self) -> dict[str, Tensor]:
        return {
            "instrument": self.table_instrument.clone(),
            "positions": self.table_positions.clone(),
            "current": self._current.clone(),
            "loss": self.table_loss.clone(),
            "adam_m": self._adam_m.clone(),
            "adam_v": self._adam_v.clone(),
            "adam_t": self._adam_t.clone(),
        }

    def load_state(self, state: Mapping[str, Tensor]) -> None:
        """Restore a table of any number of clips; checks that the pieces agree."""
        try:
            instrument = state["instrument"].long()
            positions = state["positions"].float()
        except KeyError as error:
            raise ModelConfigError(f"physical: state lacks {error.args[0]!r}") from None
        count = instrument.numel()
        if positions.shape != (count, WIDTH):
            raise ModelConfigError(
                f"physical: positions have shape {tuple(positions.shape)}, expected ({count}, {WIDTH})"
            )
        if count and (int(instrument.min()) < 0 or int(instrument.max()) >= len(INSTRUMENT_TABLE)):
            raise ModelConfigError("physical: state names an instrument this version lacks")
        zeros = torch.zeros(count, WIDTH)
        self.table_instrument = instrument
        self.table_positions = positions.clamp(0.0, 1.0)
        current = state.get("current", self.table_positions).float()
        self._current = (current if current.shape == positions.shape else positions).clone()
        self.table_loss = state.get("loss", torch.zeros(count)).float()
        self._adam_m = state.get("adam_m", zeros).float()
        self._adam_v = state.get("adam_v", zeros).float()
        self._adam_t = state.get("adam_t", torch.zeros(count)).float()


def _keep_best(best: Tensor, best_loss: Tensor, tried: Tensor, loss: Tensor) -> None:
    """Where ``tried`` (whose distances are ``loss``) beat ``best``, take it; in place. Adam's
    early steps can overshoot, and the table should never end worse than the search left it."""
    better = loss < best_loss
    best[better] = tried[better]
    best_loss[better] = loss[better]


def _as_batch(audio: Tensor) -> Tensor:
    audio = torch.as_tensor(audio).float()
    if audio.dim() == 1:
        audio = audio[None, :]
    if audio.dim() != 2 or audio.shape[-1] < 256:
        raise ModelConfigError(
            f"physical: expected audio [n, samples] with at least 256 samples, got "
            f"{tuple(audio.shape)}"
        )
    return audio


def instrument_model(name: str, **settings: Any) -> PhysicalModel:
    """A playable model of one instrument: ``"string"`` or ``"physical:string"``, etc."""
    short = name.split(":", 1)[1] if name.startswith("physical:") else name
    if short not in INSTRUMENT_TABLE:
        raise ModelConfigError(
            f"unknown physical instrument {name!r}; choose one of: {', '.join(INSTRUMENTS)}"
        )
    return PhysicalModel(PhysicalConfig(instrument=short, **settings))
