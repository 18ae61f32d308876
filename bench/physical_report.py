"""Accuracy and sound-matching numbers for the physical family (printed, never asserted).

    .venv/bin/python bench/physical_report.py [--quick]

1. Worst pitch error (cents) over MIDI 36–96 in semitone steps and worst T60 error (%) per
   instrument, measured with the estimators of synth_core/benchmarks/physical.py (as the tests).
2. Sound matching on sounds the instruments made with hidden settings: chosen instrument, pitch
   error (cents) and multi-resolution STFT distance after search and after gradient steps.
3. Sound matching on clips no instrument made (additive, FM, filtered noise, a sawtooth pluck).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synth_core.benchmarks.physical import cents, hz, measured_hz, measured_t60  # noqa: E402
from synth_core.models.base import Batch  # noqa: E402
from synth_core.models.physical import INSTRUMENT_TABLE, PhysicalConfig, PhysicalModel  # noqa: E402
from synth_core.models.physical.common import finish  # noqa: E402
from synth_core.models.physical.matching import positions_to_params  # noqa: E402

SR = 44100


def accuracy(notes: list[int]) -> None:
    print(f"1. tuning and decay (worst case over MIDI {notes[0]}-{notes[-1]}, {len(notes)} notes)")
    for name, instrument in INSTRUMENT_TABLE.items():
        settings = [{}]
        if name == "string":
            settings = [
                {"stiffness": s, "brightness": b} for s in (0.0, 0.5, 1.0) for b in (0.0, 1.0)
            ]
        if name == "tube":
            settings = [{"vibrato": 0.0, "hold": 2.0, "pressure": p} for p in (0.2, 0.9)]
        worst_cents, worst_decay = 0.0, 0.0
        for extra in settings:
            for decay in (0.3, 1.0, 3.0) if name != "tube" else (None,):
                params = {}
                for control in instrument.controls:
                    value = extra.get(control.name, control.default)
                    if control.name == "decay":
                        value = min(decay, control.maximum)
                    params[control.name] = torch.full(
                        (len(notes),), float(value), dtype=torch.float64
                    )
                params["pitch"] = torch.tensor(notes, dtype=torch.float64)
                audio = instrument.render(
                    params, samples=int(1.5 * SR), sample_rate=SR, generator=torch.Generator()
                ).numpy()
                start = 0.05 if name == "string" else 0.3
                for row, note in zip(audio, notes, strict=True):
                    error = cents(measured_hz(row, hz(note), start=start), hz(note))
                    worst_cents = max(worst_cents, abs(error))
                    if decay is not None:
                        t60 = measured_t60(row, hz(note))
                        worst_decay = max(worst_decay, abs(t60 / decay - 1) * 100)
        decay_text = f"{worst_decay:.3f} %" if name != "tube" else "n/a (sustained)"
        print(f"   {name:<9} pitch {worst_cents:.4f} cents   decay {decay_text}")


def match(audio: torch.Tensor, labels: list[str], pitches: list[float], steps: int) -> None:
    model = PhysicalModel(PhysicalConfig(clip_seconds=audio.shape[-1] / SR))

    class Clips:
        pass

    clips = Clips()
    clips.audio, clips.pitch = audio, torch.full((len(audio),), math.nan)
    started = time.perf_counter()
    model.begin(clips)
    searched = model.table_loss.clone()
    for _ in range(steps):
        model.step(Batch(audio, None, torch.arange(len(audio))))
    elapsed = time.perf_counter() - started
    names = list(INSTRUMENT_TABLE)
    for row, label in enumerate(labels):
        instrument = INSTRUMENT_TABLE[names[int(model.table_instrument[row])]]
        fitted = positions_to_params(instrument, model.table_positions[row : row + 1].double())
        pitch = float(fitted["pitch"][0])
        error = "" if math.isnan(pitches[row]) else f"{100 * (pitch - pitches[row]):+7.2f} c"
        print(
            f"   {label:<22} -> {instrument.name:<9} pitch {error:>10}   MR-STFT "
            f"{float(searched[row]):.3f} (search) -> {float(model.table_loss[row]):.3f} "
            f"({steps} steps)"
        )
    print(
        f"   mean MR-STFT {float(searched.mean()):.3f} -> {float(model.table_loss.mean()):.3f}; "
        f"{elapsed:.1f} s for {len(audio)} clips"
    )


def hidden_parameter_sounds(per_instrument: int) -> tuple[torch.Tensor, list[str], list[float]]:
    generator = torch.Generator().manual_seed(2024)
    audio, labels, pitches = [], [], []
    for name, instrument in INSTRUMENT_TABLE.items():
        positions = torch.rand(per_instrument, 8, generator=generator, dtype=torch.float64)
        positions = 0.1 + 0.8 * positions
        positions[:, 0] = 0.25 + 0.4 * torch.rand(per_instrument, generator=generator)
        params = positions_to_params(instrument, positions)
        if "vibrato" in params:
            params["vibrato"] = params["vibrato"].clamp_max(15.0)  # see the report on vibrato
        rendered = instrument.render(params, samples=SR, sample_rate=SR, generator=generator)
        audio.append(finish(rendered).float())
        labels += [f"{name} (hidden)"] * per_instrument
        pitches += params["pitch"].tolist()
    return torch.cat(audio), labels, pitches


def foreign_sounds() -> tuple[torch.Tensor, list[str], list[float]]:
    """Clips made without the physical models: what a user's folder might hold."""
    rng = np.random.default_rng(7)
    t = np.arange(SR) / SR
    clips, labels, pitches = [], [], []

    def add(signal: np.ndarray, label: str, midi: float) -> None:
        signal = signal - signal.mean()
        clips.append(0.9 * signal / np.abs(signal).max())
        labels.append(label)
        pitches.append(midi)

    f = hz(48)  # additive piano-like: stretched partials, faster decay up high
    add(
        sum(
            np.sin(2 * np.pi * f * k * math.sqrt(1 + 0.0004 * k * k) * t) / k * np.exp(-t * 2 * k)
            for k in range(1, 16)
        ),
        "additive piano-like C3",
        48,
    )
    f = hz(69)  # two-operator FM bell
    index = 4 * np.exp(-t * 3)
    add(
        np.sin(2 * np.pi * f * t + index * np.sin(2 * np.pi * 1.4 * f * t)) * np.exp(-t * 2),
        "FM bell A4",
        69,
    )
    f = hz(57)  # clarinet-ish: odd harmonics, sustained then released
    envelope = np.clip(t / 0.05, 0, 1) * np.where(t < 0.7, 1.0, np.exp(-(t - 0.7) * 20))
    add(
        sum(np.sin(2 * np.pi * f * k * t) / k for k in range(1, 20, 2)) * envelope,
        "odd-harmonic wind A3",
        57,
    )
    saw = 2 * ((hz(43) * t) % 1.0) - 1  # sawtooth pluck through a closing one-pole lowpass
    out, state = np.zeros_like(saw), 0.0
    coefficient = np.exp(-2 * np.pi * (200 + 4000 * np.exp(-t * 8)) / SR)
    for i in range(len(saw)):
        state = (1 - coefficient[i]) * saw[i] + coefficient[i] * state
        out[i] = state
    add(out * np.exp(-t * 3), "filtered saw pluck G2", 43)
    noise = rng.normal(size=t.size) * np.exp(-t * 25)  # snare-like noise hit with a body tone
    add(
        noise + 2 * np.sin(2 * np.pi * 180 * t) * np.exp(-t * 15),
        "noise hit + 180 Hz body",
        math.nan,
    )
    return torch.tensor(np.stack(clips), dtype=torch.float32), labels, pitches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every 5th note, fewer clips")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--matching-only", action="store_true", help="skip the tuning section")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if not args.matching_only:
        accuracy(list(range(36, 97, 5 if args.quick else 1)))
    print("2. sound matching, sounds the instruments made with hidden settings")
    match(*hidden_parameter_sounds(1 if args.quick else 3), steps=args.steps)
    print("3. sound matching, clips no physical model made")
    match(*foreign_sounds(), steps=args.steps)


if __name__ == "__main__":
    main()
