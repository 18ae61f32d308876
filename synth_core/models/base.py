"""The one interface every model family implements, and the pieces it is built from.

Nothing outside ``synth_core/models`` knows which family it is talking to: the GUI builds sliders
from :meth:`SoundModel.controls`, the CLI calls :meth:`SoundModel.generate`, and the ``Trainer``
only ever calls the :class:`LearnerBase` methods. Every family class derives from
:class:`TrainableModel` (both bases), whose defaults say what a family does not offer, so callers
ask a model (``model.can_encode``) rather than probe it for methods.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

import torch
from torch import Tensor

from synth_core import dsp
from synth_core.errors import ModelConfigError

if TYPE_CHECKING:
    from synth_core.dataset import ClipSet

FAMILY_NAMES = ("physical", "gmm", "hmm", "cnn", "rnn", "vae", "gan")


@dataclass(frozen=True)
class Control:
    """One tunable value, described once so a slider, a preset and ``--set`` read the same thing.

    Parameters
    ----------
    name : str
        Identifier used in code, presets and ``--set NAME=VALUE`` (``decay``, ``axis_1``).
    label : str
        What the GUI shows, in the musician's words ("Decay", "Axis 1 ≈ brightness (r = 0.81)").
    minimum, maximum, default : float
        Range and default, in ``unit``.
    unit : str
        Unit shown next to the value ("s", "Hz", "σ", "").
    curve : {"linear", "log"}
        How the 0–1 slider position maps to the value; "log" needs ``minimum > 0``.
    help : str
        One sentence for the tooltip.
    """

    name: str
    label: str
    minimum: float
    maximum: float
    default: float
    unit: str = ""
    curve: str = "linear"
    help: str = ""

    def __post_init__(self) -> None:
        if not self.minimum < self.maximum:
            raise ModelConfigError(
                f"control {self.name!r}: minimum {self.minimum} must be below maximum {self.maximum}"
            )
        if self.curve not in ("linear", "log"):
            raise ModelConfigError(f"control {self.name!r}: curve must be 'linear' or 'log'")
        if self.curve == "log" and self.minimum <= 0:
            raise ModelConfigError(f"control {self.name!r}: a log curve needs minimum > 0")
        if not self.minimum <= self.default <= self.maximum:
            raise ModelConfigError(
                f"control {self.name!r}: default {self.default} is outside "
                f"[{self.minimum}, {self.maximum}]"
            )

    def to_normalised(self, value: float) -> float:
        """Map a value in ``unit`` to a 0–1 slider position (clamped)."""
        value = min(max(float(value), self.minimum), self.maximum)
        if self.curve == "log":
            return math.log(value / self.minimum) / math.log(self.maximum / self.minimum)
        return (value - self.minimum) / (self.maximum - self.minimum)

    def from_normalised(self, position: float) -> float:
        """Map a 0–1 slider position to a value in ``unit``."""
        position = min(max(float(position), 0.0), 1.0)
        if self.curve == "log":
            return self.minimum * (self.maximum / self.minimum) ** position
        return self.minimum + position * (self.maximum - self.minimum)

    def check(self, value: float) -> float:
        """Return ``value`` as a float, or raise if it is not finite or outside the range."""
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ModelConfigError(f"control {self.name!r}: {value!r} is not a number") from None
        if not math.isfinite(value) or not self.minimum <= value <= self.maximum:
            raise ModelConfigError(
                f"control {self.name!r}: {value} is outside [{self.minimum}, {self.maximum}]"
                + (f" {self.unit}" if self.unit else "")
            )
        return value

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def resolve_values(
    controls: list[Control], values: Mapping[str, float] | None, *, strict: bool = True
) -> dict[str, float]:
    """Fill in defaults and validate ``values`` against ``controls``.

    Unknown names raise :class:`ModelConfigError` listing the known ones (``strict``), or are
    ignored; values outside a control's range raise (``strict``) or are clamped.
    """
    by_name = {c.name: c for c in controls}
    resolved = {c.name: c.default for c in controls}
    for name, value in (values or {}).items():
        control = by_name.get(name)
        if control is None:
            if strict:
                known = ", ".join(by_name) or "none"
                raise ModelConfigError(f"unknown control {name!r}; this model has: {known}")
            continue
        if strict:
            resolved[name] = control.check(value)
        else:
            resolved[name] = control.from_normalised(control.to_normalised(value))
    return resolved


def check_range(
    name: str,
    value: float,
    low: float,
    high: float,
    *,
    unit: str = "",
    open_low: bool = False,
) -> None:
    """Raise :class:`ModelConfigError` unless ``low <= value <= high`` (``low < value`` with
    ``open_low``): the one range check every family config's ``validate`` makes.

    Parameters
    ----------
    name : str
        The setting, as ``--set NAME=VALUE`` and ``model.json`` spell it.
    value : float
        What was asked for; NaN is outside every range.
    low, high : float
        The range, in ``unit``.
    unit : str, keyword-only
        Shown after the range ("s", "frames").
    open_low : bool, keyword-only
        ``low`` itself is not allowed (a learning rate or a floor must be above 0).

    Examples
    --------
    ``check_range("layers", 5, 1, 4)`` raises "layers 5 is outside 1–4";
    ``check_range("learning_rate", 0, 0, 0.1, open_low=True)`` raises
    "learning_rate 0 is outside (0, 0.1]".
    """
    number = float(value)
    inside = (low < number if open_low else low <= number) and number <= high
    if not inside:
        bounds = f"({low:g}, {high:g}]" if open_low else f"{low:g}–{high:g}"
        raise ModelConfigError(f"{name} {value} is outside {bounds}" + (f" {unit}" if unit else ""))


C = TypeVar("C", bound="ModelConfig")

#: The most values one buffer, table or network of a model may hold (512 MiB of float32): far
#: above every preset, far below what would exhaust the machine a model file is opened on.
MAX_MODEL_VALUES = 2**27
#: Whole-number settings beyond this are refused before any range check (64-bit signed).
_MAX_WHOLE = 2**63 - 1


def _typed_value(cls: type, name: str, default: Any, value: Any) -> Any:
    """``value`` for the field ``name`` checked against the type of its ``default``: a bool
    for a bool, a whole number within 64 bits for an int (``3.0`` is 3), a finite number for a
    float, a string for a string, a list for a tuple."""
    where = f"{cls.__name__}.{name}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ModelConfigError(f"{where}: expected true/false, got {value!r:.60}")
        return value
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ModelConfigError(f"{where}: expected a number, got {value!r:.60}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ModelConfigError(f"{where}: expected a finite number, got {value}")
        if abs(value) > _MAX_WHOLE:
            raise ModelConfigError(f"{where}: {str(value)[:40]} is outside any allowed range")
        if isinstance(default, float):
            return float(value)
        if isinstance(value, float):
            if not value.is_integer():
                raise ModelConfigError(f"{where}: expected a whole number, got {value}")
            return int(value)
        return value
    if isinstance(default, str) and not isinstance(value, str):
        raise ModelConfigError(f"{where}: expected a name, got {value!r:.60}")
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)):
            raise ModelConfigError(f"{where}: expected a list, got {value!r:.60}")
        return tuple(value)
    return value


@dataclass(frozen=True)
class ModelConfig:
    """Base of every family's frozen configuration: a plain, JSON round-trippable dataclass.

    Subclasses add fields with defaults, override :meth:`validate` to bound each field (every
    number a file can set has a range) and :meth:`allocations` to name what the sizes add up
    to. :meth:`from_dict` and :meth:`replace` check types, ranges and allocations, so a config
    read from a file cannot ask for more memory than :data:`MAX_MODEL_VALUES` per buffer before
    any tensor is made.
    """

    sample_rate: int = 44100
    clip_seconds: float = 1.0
    #: the shortest clip (seconds) :mod:`synth_core.clip_length` picks for this family from a
    #: folder of short sounds (``clip_seconds`` itself may be set lower by hand)
    min_clip_seconds: ClassVar[float] = 0.25

    def validate(self) -> None:
        """Raise :class:`ModelConfigError` when a field is out of range."""
        if not 8000 <= int(self.sample_rate) <= 192000:
            raise ModelConfigError(f"sample_rate {self.sample_rate} is outside 8000–192000 Hz")
        if not 0.05 <= float(self.clip_seconds) <= 60:
            raise ModelConfigError(f"clip_seconds {self.clip_seconds} is outside 0.05–60 s")

    def allocations(self) -> dict[str, int]:
        """What a model of this config allocates when built, as value counts keyed by what they
        are and which settings size them; families add theirs. Called after :meth:`validate`."""
        return {"a clip (sample_rate × clip_seconds)": self.clip_samples}

    def check_allocations(self) -> None:
        """Raise :class:`ModelConfigError` when an allocation exceeds :data:`MAX_MODEL_VALUES`."""
        for what, count in self.allocations().items():
            if count > MAX_MODEL_VALUES:
                raise ModelConfigError(
                    f"{type(self).__name__}: {what} would hold {count:,} values, more than the "
                    f"{MAX_MODEL_VALUES:,} a model may; lower those settings"
                )

    @property
    def clip_samples(self) -> int:
        return int(round(self.sample_rate * self.clip_seconds))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
        """Build and validate a config; unknown keys, wrong types, values out of range and
        sizes that add up to too much memory raise ModelConfigError."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in set(data) - set(fields))
        if unknown:
            raise ModelConfigError(
                f"{cls.__name__}: unknown setting(s) {', '.join(unknown)[:200]}; "
                f"known: {', '.join(fields)}"
            )
        kwargs = {}
        for name, value in data.items():
            default = (
                getattr(cls, name, None)
                if fields[name].default is not dataclasses.MISSING
                else None
            )
            kwargs[name] = _typed_value(cls, name, default, value)
        config = cls(**kwargs)
        config.validate()
        config.check_allocations()
        return config

    def replace(self: C, **changes: Any) -> C:
        config = dataclasses.replace(self, **changes)
        config.validate()
        config.check_allocations()
        return config


@dataclass
class Batch:
    """What a learner sees at each step.

    audio : Tensor [batch, samples], float32, at the model's sample rate.
    pitch : Tensor [batch] of MIDI note numbers, NaN where unknown; None when no clip has one.
    index : Tensor [batch] of int64 positions of these clips in the training set (lets a learner
        keep per-clip state, as the physical family's sound matching does).
    """

    audio: Tensor
    pitch: Tensor | None = None
    index: Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device)

        return Batch(self.audio.to(device), move(self.pitch), move(self.index))


@dataclass(frozen=True)
class BuiltinModel:
    """A model playable without training, as the model list shows it.

    id : the model id, ``FAMILY:NAME`` ("physical:string"; see :func:`synth_core.runs.open_model`).
    family : the family that builds it. title : what the GUI shows ("Plucked string").
    description : the tooltip.
    """

    id: str
    family: str
    title: str
    description: str


class SoundModel(ABC):
    """What the GUI, CLI and exporter see of any model, with the capabilities it may offer.

    Callers ask a model what it can do (``model.can_encode``, ``model.takes_primer``) instead of
    probing for methods: each capability has a flag and a method whose default here says "not
    offered", and a family that offers it overrides both.
    """

    family: ClassVar[str] = ""
    config_class: ClassVar[type[ModelConfig]] = ModelConfig
    #: named config overrides for ``--preset`` ("quick", "better")
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}
    #: ``encode`` returns a latent code
    can_encode: ClassVar[bool] = False
    #: ``decode_latents`` turns latents as ``encode`` gives them back into audio (the sound map)
    can_decode: ClassVar[bool] = False
    #: ``resynthesize`` renders analysed audio through the family's renderer alone
    can_resynthesize: ClassVar[bool] = False
    #: ``set_primer`` sets a recording that generation continues
    takes_primer: ClassVar[bool] = False
    #: ``generate`` takes ``seconds=``, a length other than the config's ``clip_seconds``
    variable_length: ClassVar[bool] = False
    #: ``reconstruct`` takes ``pitch=``, the MIDI labels ``[n]`` of the clips
    reconstructs_with_pitch: ClassVar[bool] = False
    config: ModelConfig
    sample_rate: int

    @classmethod
    @abstractmethod
    def from_config(cls, config: ModelConfig) -> Self:
        """A fresh, untrained model built from ``config``."""

    @abstractmethod
    def controls(self) -> list[Control]:
        """The sliders this model offers, most important first."""

    @abstractmethod
    def generate(
        self,
        values: Mapping[str, float] | None = None,
        *,
        n: int = 1,
        seed: int | None = None,
        pitch: float | None = None,
    ) -> Tensor:
        """Render ``n`` sounds, float32 ``[n, samples]`` with ``|x| <= 1``, at ``sample_rate``.

        The same ``values``, ``n``, ``seed`` and ``pitch`` give bit-identical output.
        """

    @abstractmethod
    def reconstruct(self, audio: Tensor) -> Tensor:
        """Analyse and resynthesise ``audio`` ``[n, samples]``; same shape out. Families with
        ``reconstructs_with_pitch`` also take ``pitch=`` MIDI labels ``[n]`` (NaN: unknown)."""

    @property
    def accepts_pitch(self) -> bool:
        """``generate(pitch=…)`` is allowed; False makes ``generate --pitch`` a usage error."""
        return True

    @property
    def pitch_conditioned(self) -> bool:
        """The model learnt from pitch labels, so the keyboard and demo packs play it in notes
        (``generate(pitch=…)`` means "this note", not just "transpose")."""
        return False

    def encode(self, audio: Tensor) -> Tensor | None:
        """Latent code of ``audio`` ``[n, samples]``, or None for families without one
        (``can_encode`` False)."""
        return None

    def decode_latents(self, latents: Tensor) -> Tensor:
        """Audio ``[n, samples]`` from latents ``[n, latent_dim]`` as :meth:`encode` gives them
        (a point of the sound map, or a blend of several). Only where ``can_decode``."""
        raise ModelConfigError(f"the {self.family} family cannot turn a latent back into sound")

    def values_from_audio(self, audio: Tensor) -> dict[str, float] | None:
        """Slider values that put the model at the sound ``audio`` ``[samples]`` (what the
        explore panel does with a dropped file), or None when the family cannot say."""
        return None

    def resynthesize(self, audio: Tensor) -> Tensor:
        """The family's renderer alone (analysis, then render; no learnt model): the ceiling
        ``evaluate`` scores generation against. Only where ``can_resynthesize``."""
        raise ModelConfigError(
            f"the {self.family} family has no renderer of its own to resynthesise with"
        )

    def set_primer(self, primer: Tensor | str | Path | None) -> None:
        """Set (or clear, with None) a recording that generation continues. Only where
        ``takes_primer``."""
        raise ModelConfigError(
            f"{self.family} models cannot continue a recording: they take no primer"
        )

    @classmethod
    def builtin_models(cls) -> list[BuiltinModel]:
        """The models of this family that play without training (none by default)."""
        return []

    @classmethod
    def from_builtin(cls, name: str) -> Self:
        """The built-in model ``name`` (the part of its id after ``FAMILY:``)."""
        raise ModelConfigError(f"the {cls.family} family has no built-in model {name!r}")

    #: why :meth:`export_module` gives None, in a few words (``timbrelab export-model`` says it)
    export_refusal: ClassVar[str] = "it has no standalone decoder"

    def export_module(self) -> torch.nn.Module | None:
        """A standalone module in nn~'s layout (:class:`synth_core.model_export.nn_tilde.
        NNTildeModule`: ``decode`` from controls or latents to audio, ``forward``, ``encode`` for
        autoencoders, each on ``[batch, channels, frames]`` signals) that TorchScript compiles,
        or None when the family has none (the exporter then refuses, giving
        :attr:`export_refusal`)."""
        return None


class LearnerBase(ABC):
    """How a family learns: what :class:`synth_core.train.Trainer` calls, and nothing else.

    ``step``, ``state`` and ``load_state`` are required; the other hooks default to "nothing to
    do" so a family overrides only what it needs. ``begin`` runs once per run, not again on
    ``--resume``: what it computes must be in ``state()``.
    """

    #: pitch-shifted copies of a small training set help; families that learn exact partial
    #: positions opt out
    augments: ClassVar[bool] = True
    #: the optimiser whose learning rate the Trainer halves after a NaN, and which it
    #: checkpoints for ``--resume`` unless :meth:`optimizer_state` does that itself
    optimizer: torch.optim.Optimizer | None = None

    @abstractmethod
    def step(self, batch: Batch) -> dict[str, float]:
        """One optimisation (or EM) step; returns the loss terms by name."""

    @abstractmethod
    def state(self) -> dict[str, Tensor]:
        """Everything needed to rebuild the model (weights, statistics), as named tensors."""

    @abstractmethod
    def load_state(self, state: Mapping[str, Tensor]) -> None:
        """Restore from :meth:`state`; shapes may differ from a fresh model's (data-sized
        buffers such as PCA axes or per-clip tables are re-allocated, not copied into)."""

    def begin(self, clips: ClipSet) -> None:
        """Before the first step: statistics, EM initialisation, per-clip tables."""
        return None

    def end(self, clips: ClipSet) -> None:
        """After the last step (in eval mode, without autograd): latent axes for the sliders."""
        return None

    def validate(self, batch: Batch) -> dict[str, float]:
        """Loss terms on held-out clips without learning (recorded as ``held_out_*``); empty
        for families that have no such measure."""
        return {}

    @property
    def batch_size(self) -> int | None:
        """Clips per step the family's config asks for, or None for the Trainer's default."""
        size = getattr(getattr(self, "config", None), "batch_size", None)
        return None if size is None else int(size)

    def optimizer_state(self) -> dict[str, Tensor] | None:
        """The optimiser state as named tensors, for learners that keep more than
        :attr:`optimizer`; None lets the Trainer checkpoint :attr:`optimizer` itself."""
        return None

    def load_optimizer_state(self, state: Mapping[str, Tensor]) -> bool:
        """Restore what :meth:`optimizer_state` returned; False (the default) lets the Trainer
        restore :attr:`optimizer` itself."""
        return False

    def averaged_modules(self) -> list[torch.nn.Module]:
        """The networks whose gradients data-parallel training (``--nproc``) averages over the
        processes: all of the learner's by default; a family that runs some networks whole in
        every process (the gan's GAN steps) names only the others."""
        return [self] if isinstance(self, torch.nn.Module) else []

    @property
    def is_training(self) -> bool:
        """In training mode (dropout on); learners without layers are never."""
        return isinstance(self, torch.nn.Module) and self.training

    def set_training(self, mode: bool) -> None:
        """Switch training (True) or evaluation mode; nothing to do without layers."""
        if isinstance(self, torch.nn.Module):
            torch.nn.Module.train(self, mode)

    def move_to(self, device: torch.device | str) -> None:
        """Put the weights on ``device``; learners without layers stay on the CPU."""
        if isinstance(self, torch.nn.Module):
            torch.nn.Module.to(self, device)


class TrainableModel(SoundModel, LearnerBase):
    """The base of every family class: a model that plays and learns."""


def seeded_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch generator: seeded when ``seed`` is given, otherwise from fresh entropy."""
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed))
    return generator


def safe_audio(audio: Tensor) -> Tensor:
    """Make model output safe to play: finite, float32, peak at most 1 — by a look-ahead limiter
    (:func:`synth_core.dsp.peak_limit`) that turns down only the moments that go over, so a clip
    keeps its level."""
    return dsp.peak_limit(audio, 1.0)
