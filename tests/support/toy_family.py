"""A toy model family, defined outside ``synth_core`` to show that a family is one file plus one
registry line: importing this module registers ``toy`` and every tool (the Trainer, the CLI, the
explore panel) can then build, train, save, load and play it.

The toy plays a sine (at ``pitch``, default A3) mixed with noise by its one control, ``noise``;
its one learnt parameter is the amplitude, fitted by Adam to the peak level of the training clips.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from synth_core.models import Family, register
from synth_core.models.base import (
    Batch,
    Control,
    ModelConfig,
    TrainableModel,
    check_range,
    resolve_values,
    safe_audio,
    seeded_generator,
)

#: What the family matrix builds (clip length and sample rate are set by the test).
TINY: dict[str, Any] = {}
NOISE = Control("noise", "Noise", 0.0, 1.0, 0.25, help="How much of the sound is noise")
DEFAULT_PITCH = 57.0


@dataclass(frozen=True)
class ToyConfig(ModelConfig):
    """The toy's settings: the learning rate of its one parameter."""

    learning_rate: float = 0.05

    def validate(self) -> None:
        super().validate()
        check_range("learning_rate", self.learning_rate, 0, 1, open_low=True)


class ToyModel(TrainableModel, nn.Module):
    """A sine-and-noise voice whose amplitude is learnt from the training clips."""

    family = "toy"
    config_class = ToyConfig
    PRESETS = {"quick": {}, "better": {"learning_rate": 0.02}}

    def __init__(self, config: ToyConfig) -> None:
        nn.Module.__init__(self)
        config.validate()
        self.config = config
        self.sample_rate = int(config.sample_rate)
        self.amplitude = nn.Parameter(torch.tensor(0.1))
        self.optimizer = torch.optim.Adam([self.amplitude], lr=config.learning_rate)

    @classmethod
    def from_config(cls, config: ToyConfig) -> ToyModel:
        return cls(config)

    def controls(self) -> list[Control]:
        return [NOISE]

    def generate(
        self,
        values: Mapping[str, float] | None = None,
        *,
        n: int = 1,
        seed: int | None = None,
        pitch: float | None = None,
    ) -> Tensor:
        noise = resolve_values(self.controls(), values)["noise"]
        frequency = 440.0 * 2 ** (((DEFAULT_PITCH if pitch is None else pitch) - 69.0) / 12.0)
        t = torch.arange(self.config.clip_samples, dtype=torch.float32) / self.sample_rate
        phases = 2 * math.pi * torch.rand(n, 1, generator=seeded_generator(seed))
        hiss = torch.randn(n, t.numel(), generator=seeded_generator(seed))
        tone = torch.sin(2 * math.pi * frequency * t + phases)
        level = float(self.amplitude.detach().abs().cpu())
        return safe_audio(level * ((1 - noise) * tone + noise * 0.3 * hiss))

    def reconstruct(self, audio: Tensor) -> Tensor:
        """A sine at each input's peak level (the toy analyses nothing else)."""
        peaks = audio.abs().amax(dim=-1, keepdim=True)
        t = torch.arange(audio.shape[-1], dtype=torch.float32) / self.sample_rate
        return safe_audio(peaks * torch.sin(2 * math.pi * 220.0 * t))

    def step(self, batch: Batch) -> dict[str, float]:
        target = batch.audio.abs().amax(dim=-1).mean()
        loss = (self.amplitude - target).square()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": float(loss.detach())}

    def state(self) -> dict[str, Tensor]:
        return {"amplitude": self.amplitude.detach().cpu().clone()}

    def load_state(self, state: Mapping[str, Tensor]) -> None:
        with torch.no_grad():
            self.amplitude.copy_(state["amplitude"])


FAMILY = register(Family("toy", "Toy", "A sine and noise", "tests of the model contract", ToyModel))
