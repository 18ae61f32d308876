"""The built-in starter dataset: a few hundred one-shots rendered by the physical instruments.

Seven kinds of sound (plucks, bars, marimba notes, bells, drums, blown-tube notes, noise hits),
each played at 8 pitches with 6 timbre presets. A pitch/preset combination goes to the test split
when ``(pitch_index + 2 * preset_index) % 5 == 0``, so every pitch and every preset is heard in
training but the test split holds combinations the training split never has: later families can
report honest held-out numbers on it. Everything is deterministic; rendering all of it takes
seconds.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from synth_core.errors import DatasetError

if TYPE_CHECKING:
    from synth_core.dataset import ClipSet

log = logging.getLogger(__name__)

SAMPLE_RATE = 44100
SECONDS = 1.0
SPLITS = ("train", "test")


@dataclass(frozen=True)
class Kind:
    """One kind of starter sound: which instrument, which pitches, which parameter ranges.

    ranges : per control, (low, high) in the control's unit; presets are drawn log-uniformly for
        log controls, uniformly otherwise. Controls left out keep their defaults.
    named_pitch : whether the pitch goes into the file name (noise hits have none worth naming).
    """

    name: str
    instrument: str
    pitches: tuple[int, ...]
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    named_pitch: bool = True


KINDS: tuple[Kind, ...] = (
    Kind(
        "pluck",
        "string",
        (40, 45, 50, 55, 60, 65, 72, 79),
        {
            "decay": (0.6, 4.0),
            "brightness": (0.2, 0.95),
            "pick_position": (0.05, 0.4),
            "stiffness": (0.0, 0.6),
        },
    ),
    Kind(
        "bar",
        "bar",
        (60, 64, 67, 72, 76, 79, 84, 88),
        {
            "decay": (0.8, 3.0),
            "damping": (0.5, 1.5),
            "hardness": (0.3, 0.9),
            "position": (0.05, 0.3),
        },
    ),
    Kind(
        "marimba",
        "marimba",
        (45, 50, 55, 60, 64, 69, 76, 84),
        {
            "decay": (0.3, 1.2),
            "damping": (0.8, 1.6),
            "hardness": (0.1, 0.6),
            "position": (0.2, 0.45),
        },
    ),
    Kind(
        "bell",
        "bell",
        (48, 52, 55, 60, 64, 67, 72, 79),
        {
            "decay": (2.0, 10.0),
            "damping": (0.3, 1.0),
            "hardness": (0.4, 0.9),
            "position": (0.0, 0.6),
        },
    ),
    Kind(
        "drum",
        "membrane",
        (36, 40, 43, 45, 48, 52, 55, 60),
        {
            "decay": (0.2, 1.0),
            "damping": (0.4, 1.2),
            "hardness": (0.3, 0.9),
            "position": (0.05, 0.7),
            "tension": (0.0, 4.0),
            "snare": (0.0, 0.3),
        },
    ),
    Kind(
        "tube",
        "tube",
        (50, 55, 57, 62, 64, 69, 74, 81),
        {
            "pressure": (0.3, 0.9),
            "noise": (0.05, 0.4),
            "vibrato": (0.0, 20.0),
            "vibrato_rate": (4.5, 6.5),
            "attack": (0.02, 0.12),
            "hold": (0.5, 0.8),
            "brightness": (0.2, 0.8),
        },
    ),
    Kind(
        "hit",
        "membrane",
        (40, 44, 48, 52, 56, 60, 64, 70),
        {
            "decay": (0.05, 0.25),
            "damping": (1.0, 2.0),
            "hardness": (0.7, 1.0),
            "position": (0.3, 0.8),
            "tension": (0.0, 8.0),
            "snare": (0.6, 1.0),
        },
        named_pitch=False,
    ),
)
PRESETS = 6


@dataclass(frozen=True)
class StarterSound:
    """One sound of the starter set and everything needed to render it again."""

    name: str
    kind: str
    instrument: str
    split: str
    pitch: float
    parameters: dict[str, float]
    named_pitch: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "instrument": self.instrument,
            "split": self.split,
            "pitch": self.pitch if self.named_pitch else None,
            "parameters": self.parameters,
            "sample_rate": SAMPLE_RATE,
            "seconds": SECONDS,
        }


def _split_of(pitch_index: int, preset_index: int) -> str:
    return "test" if (pitch_index + 2 * preset_index) % 5 == 0 else "train"


def starter_sounds(split: str = "train") -> list[StarterSound]:
    """The recipes of one split, in a fixed order.

    Parameters
    ----------
    split : {"train", "test", "all"}
    """
    if split not in (*SPLITS, "all"):
        raise DatasetError(f"unknown split {split!r}; choose train, test or all")
    from synth_core.models.physical import INSTRUMENT_TABLE

    sounds = []
    for kind_number, kind in enumerate(KINDS):
        instrument = INSTRUMENT_TABLE[kind.instrument]
        rng = np.random.default_rng(1000 + kind_number)
        presets = []
        for _ in range(PRESETS):
            preset = {}
            for control in instrument.controls[1:]:
                low, high = kind.ranges.get(control.name, (control.default, control.default))
                if control.curve == "log" and low != high:
                    value = math.exp(rng.uniform(math.log(low), math.log(high)))
                else:
                    value = rng.uniform(low, high)
                preset[control.name] = round(float(value), 4)
            presets.append(preset)
        count = 0
        for preset_index, preset in enumerate(presets):
            for pitch_index, pitch in enumerate(kind.pitches):
                count += 1
                which = _split_of(pitch_index, preset_index)
                if split not in ("all", which):
                    continue
                suffix = f"__p{pitch:03d}" if kind.named_pitch else ""
                sounds.append(
                    StarterSound(
                        name=f"{kind.name}_{count:04d}{suffix}",
                        kind=kind.name,
                        instrument=kind.instrument,
                        split=which,
                        pitch=float(pitch),
                        parameters=dict(preset),
                        named_pitch=kind.named_pitch,
                    )
                )
    return sounds


def render_builtin(
    split: str = "train", *, sample_rate: int = SAMPLE_RATE, seconds: float = SECONDS
) -> tuple[torch.Tensor, list[StarterSound]]:
    """Render one split: float32 audio ``[N, samples]`` (peak 0.9 each) and its recipes.

    Parameters
    ----------
    split : {"train", "test", "all"}
    sample_rate : int, Hz
    seconds : float, length of every clip in s
    """
    from synth_core.models.physical import INSTRUMENT_TABLE
    from synth_core.models.physical.common import finish

    everything = starter_sounds("all")
    wanted = [i for i, s in enumerate(everything) if split in ("all", s.split)]
    samples = int(round(sample_rate * seconds))
    audio = torch.zeros(len(everything), samples)
    for kind_number, kind in enumerate(KINDS):
        rows = [i for i, s in enumerate(everything) if s.kind == kind.name]
        instrument = INSTRUMENT_TABLE[kind.instrument]
        params = {
            "pitch": torch.tensor([everything[i].pitch for i in rows], dtype=torch.float64),
            **{
                name: torch.tensor(
                    [everything[i].parameters[name] for i in rows], dtype=torch.float64
                )
                for name in everything[rows[0]].parameters
            },
        }
        # Each kind is rendered whole, from its own seed, so a sound is the same whichever split
        # is asked for.
        generator = torch.Generator().manual_seed(7919 * (kind_number + 1))
        with torch.no_grad():
            rendered = instrument.render(
                params, samples=samples, sample_rate=sample_rate, generator=generator
            )
        audio[rows] = finish(rendered).float()
    sounds = [everything[i] for i in wanted]
    audio = audio[wanted]
    return audio, sounds


def builtin_clips(split: str = "train", *, sample_rate: int = SAMPLE_RATE) -> ClipSet:
    """The starter set as an in-memory :class:`~synth_core.dataset.ClipSet` (no files written).

    ``paths`` are bare file names (``pluck_0001__p040.wav``); ``pitch`` is NaN for noise hits.
    """
    from synth_core.dataset import ClipSet

    audio, sounds = render_builtin(split, sample_rate=sample_rate)
    pitch = torch.tensor(
        [s.pitch if s.named_pitch else math.nan for s in sounds], dtype=torch.float32
    )
    return ClipSet(
        audio=audio,
        pitch=pitch,
        paths=[Path(f"{s.name}.wav") for s in sounds],
        sample_rate=sample_rate,
    )


def write_starter_data(out: str | Path, *, sample_rate: int = SAMPLE_RATE) -> dict[str, list[Path]]:
    """Write ``out/train/*.wav`` and ``out/test/*.wav``, each with a JSON sidecar.

    Returns the written WAV paths per split. Existing files of the same names are replaced.
    """
    from synth_core.audio import save

    out = Path(out)
    audio, sounds = render_builtin("all", sample_rate=sample_rate)
    written: dict[str, list[Path]] = {split: [] for split in SPLITS}
    for split in SPLITS:
        try:
            (out / split).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DatasetError(
                f"cannot create the folder: {error.strerror}", path=out / split
            ) from None
    for clip, sound in zip(audio.numpy(), sounds, strict=True):
        path = save(
            clip,
            out / sound.split / f"{sound.name}.wav",
            sample_rate=sample_rate,
            subtype="PCM_24",
            metadata={"software": "Timbre Lab starter data", "comment": sound.kind},
        )
        path.with_suffix(".json").write_text(json.dumps(sound.to_dict(), indent=1) + "\n")
        written[sound.split].append(path)
    return written
